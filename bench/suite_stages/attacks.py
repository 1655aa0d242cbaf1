"""The attacks stage: each attack resolved against its kind (parameters validated by the kind's
Param spec, backends asked what they run), problems re-anchored to the file that set each key."""

from __future__ import annotations

from typing import Any

from bench.attacks.backends import problems as backend_problems
from bench.attacks.base import BACKENDS, KINDS, AttackKind, get_kind
from bench.suite_stages.checks import Checker
from bench.suite_stages.model import AttackConfig, selection

TOKEN = "\x00"  # placeholder prefix for kind-reported problems, re-anchored per key


class AttackChecks(Checker):
    """``attacks``: one AttackConfig per valid entry."""

    def attack_config(self, aid: str, body: dict[str, Any]) -> AttackConfig | None:
        """The attack resolved against its kind, or None (with problems recorded)."""
        here = ("attacks", aid)
        kind_name, backend = body.get("kind"), body.get("backend")
        kind: AttackKind | None = None
        if "kind" not in body:
            self.problem(self.at(*here), "missing required key 'kind'")
        elif isinstance(kind_name, str) and kind_name in KINDS:
            kind = get_kind(kind_name)
        else:
            self.problem(self.at(*here, via=("kind",)), f"unknown attack kind {kind_name!r} (known: {', '.join(KINDS) or 'none'})")
        if backend is not None and backend not in BACKENDS:
            self.problem(self.at(*here, "backend"), f"unknown backend {backend!r} (known: {', '.join(BACKENDS)})")
        elif kind is not None:
            if kind.backends and backend is None:
                self.problem(self.at(*here), f"missing required key 'backend' (kind '{kind_name}' runs on: {', '.join(kind.backends)})")
            elif not kind.backends and backend is not None:
                self.problem(self.at(*here, "backend"), f"kind '{kind_name}' takes no backend, got {backend!r}")
            elif backend is not None and backend not in kind.backends:
                self.problem(self.at(*here, "backend"), f"kind '{kind_name}' does not run on '{backend}' (supported: {', '.join(kind.backends)})")
        params: dict[str, Any] = {}
        if kind is not None:
            params = self.kind_params(kind, body.get("params"), aid)
            if params and kind.backend_op and backend in kind.backends:  # what the chosen backend can run
                for key, message in backend_problems(backend, kind.backend_op, params):
                    where = self.at(*here, "params", key) if key else self.at(*here, "backend")
                    self.problem(where, f"attack '{aid}': {message}")
        label = body.get("label", aid)
        if not isinstance(label, str) or not label:
            self.problem(self.at(*here, "label"), f"must be a non-empty string, got {label!r}")
        examples = body.get("examples", {})
        self.check_examples(examples, (*here, "examples"))
        if self.problems or kind is None:  # only a valid suite is built
            return None
        return AttackConfig(
            id=aid, kind=kind.name, backend=backend, params=params,
            examples=selection(self.state.top.get("examples", {}), examples), label=label,
        )


    def kind_params(self, kind: AttackKind, params: Any, aid: str) -> dict[str, Any]:
        """Resolved params; the kind's problems are re-anchored to the file that set each key."""
        lines = kind.validate(params, TOKEN)
        for line in lines:
            rest = line[len(TOKEN):] if line.startswith(TOKEN) else f": {line}"
            key = rest[1:].split(":", 1)[0].split(".", 1)[0] if rest.startswith(".") else None
            self.problems.append(self.at("attacks", aid, "params", via=(key,) if key else ()) + rest)
        if lines:
            return {}
        resolved = kind.resolve(params)
        others = ", ".join(a for a in self.state.attacks if a != aid) or "none"
        for key, param in kind.params.items():  # parameters that name other attacks of the suite
            if not param.ref:
                continue
            value = resolved.get(key)
            names = value if isinstance(value, list) else [value]
            for name in names:
                if not isinstance(name, str) or (param.type is str and name == "" and key != "source_attack"):
                    continue
                if name == aid or name not in self.state.attacks:
                    self.problem(self.at("attacks", aid, "params", key), f"must name another attack of this suite, got {name!r} (attacks: {others})")
        return resolved
