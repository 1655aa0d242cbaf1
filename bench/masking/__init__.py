"""Gradient-masking diagnostics: does a model's robustness number come from robustness, or from an
attack that cannot see through the model? (Carlini et al. 2019 checklist; AutoAttack's checks;
Zimmermann et al. 2022's binarization test.)"""
