"""One module per attack family; importing this package registers them all."""

from bench.attacks.kinds import blind_spot, clean, cw, lbfgs, noise, pgd, random_inputs, transfer  # noqa: F401
