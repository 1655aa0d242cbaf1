#!/usr/bin/env bash
# Train (or resume) every ECOC zoo model in sequence. Each run continues from the state committed
# under zoo/<id>/training/. Background use:
#   nohup nice -n 10 bash scripts/train_zoo.sh > train.log 2>&1 &
set -u
for id in Softmax Logistic Tanh16 Learnable16 Learnable16-l0.3 LogisticEns10 TanhEns16 TanhEns32; do
  bench zoo train "$id"
done
