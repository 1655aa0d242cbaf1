#!/usr/bin/env bash
# Train every ECOC zoo model in sequence, resumably (re-run to continue). Background use:
#   nohup nice -n 10 bash scripts/train_zoo.sh > train.log 2>&1 &
set -u
for id in Softmax Logistic Tanh16 Learnable16 Learnable16-l0.3 LogisticEns10 TanhEns16 TanhEns32; do
  bench zoo train "$id" || python -c "
import sys, torch; torch.set_num_threads(2)
from bench import zoo; from bench.train import train_model
print(train_model(zoo.get_card(sys.argv[1])))" "$id"
done
