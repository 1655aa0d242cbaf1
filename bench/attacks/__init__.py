"""Attack kinds (registered on import) and their backends."""

from bench.attacks import kinds as _kinds  # noqa: F401  (registers every kind)
from bench.attacks.base import BACKENDS, KINDS, AttackKind, Context, get_kind, kind_names

__all__ = ["BACKENDS", "KINDS", "AttackKind", "Context", "get_kind", "kind_names"]
