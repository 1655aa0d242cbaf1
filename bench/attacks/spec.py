"""Declarative parameter specs, so every attack kind validates its YAML params the same way."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable


@dataclass(frozen=True)
class Param:
    """One attack parameter: type, default, and a check returning an error string or None."""

    type: type | tuple[type, ...]
    default: Any
    check: Callable[[Any], str | None] | None = None
    doc: str = ""
    ref: bool = False  # the value (a str or list of str) names other attacks of the suite
    # Added after results existed, with a default that reproduces them: left out of a cell's
    # config hash while at its default, so those cells stay valid (bench.runner.config_hash).
    late: bool = False


def positive(v: Any) -> str | None:
    return None if v > 0 else "must be > 0"


def non_negative(v: Any) -> str | None:
    return None if v >= 0 else "must be >= 0"


def unit_interval_open_closed(v: Any) -> str | None:
    return None if 0 < v <= 1 else "must be in (0, 1]"


def open_unit_interval(v: Any) -> str | None:
    return None if 0 < v < 1 else "must be in (0, 1)"


def unit_interval(v: Any) -> str | None:
    return None if 0 <= v <= 1 else "must be in [0, 1]"


def one_of(*choices: Any) -> Callable[[Any], str | None]:
    def check(v: Any) -> str | None:
        return None if v in choices else f"must be one of {', '.join(map(str, choices))}"

    return check


def validate_params(spec: dict[str, Param], params: Any, where: str) -> list[str]:
    """Problems with ``params`` against ``spec``, one line each, prefixed by ``where``."""
    if params is None:
        params = {}
    if not isinstance(params, dict):
        return [f"{where}: must be a mapping"]
    problems = []
    for key, value in params.items():
        if key not in spec:
            known = ", ".join(sorted(spec)) or "none"
            problems.append(f"{where}.{key}: unknown parameter (known: {known})")
            continue
        p = spec[key]
        types = p.type if isinstance(p.type, tuple) else (p.type,)
        ok = isinstance(value, types) and not (isinstance(value, bool) and bool not in types)
        if not ok and float in types and isinstance(value, int) and not isinstance(value, bool):
            ok = True
        if not ok:
            names = " or ".join(t.__name__ for t in types)
            problems.append(f"{where}.{key}: must be {names}, got {value!r}")
            continue
        if p.check is not None:
            msg = p.check(value)
            if msg:
                problems.append(f"{where}.{key}: {msg}, got {value!r}")
    return problems


def resolve_params(spec: dict[str, Param], params: dict[str, Any] | None) -> dict[str, Any]:
    """Defaults filled in; assumes ``validate_params`` passed."""
    out = {k: p.default for k, p in spec.items()}
    out.update(params or {})
    return out


def hashed_params(spec: dict[str, Param], params: dict[str, Any]) -> dict[str, Any]:
    """``params`` as a cell's config hash sees them: ``late`` parameters at their default left out."""
    return {k: v for k, v in params.items() if not (k in spec and spec[k].late and v == spec[k].default)}
