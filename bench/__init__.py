"""bench: an adversarial-robustness benchmark harness."""

__version__ = "0.1.0"
