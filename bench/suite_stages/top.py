"""The top-level stage: required keys, name, version, seed, device, batch size, examples,
models and outputs."""

from __future__ import annotations

from typing import Any

from bench.suite_stages.checks import Checker
from bench.suite_stages.schema import (
    DATASETS, DEFAULT_BATCH_SIZE, DEFAULT_SEED, DEVICES, MAX_SEED, MODEL_KEYS, NAME_RE, REQUIRED_KEYS, Key,
)


class TopChecks(Checker):
    """The keys outside ``attacks`` and ``leaderboard``."""

    def top_keys(self) -> dict[str, Any]:
        """The top-level values, checked (defaults filled in); problems recorded."""
        top, attacks = self.state.top, self.state.attacks
        for key in REQUIRED_KEYS:
            present = ("attacks",) in self.state.origins if key == "attacks" else key in top
            if not present:
                self.problem(self.state.main, f"missing required key '{key}'")
        if ("attacks",) in self.state.origins and not attacks:
            self.problem(self.at("attacks"), "must list at least one attack")

        name = top.get("name")
        if "name" in top and not (isinstance(name, str) and NAME_RE.fullmatch(name)):
            self.problem(self.at("name"), f"must match [A-Za-z0-9_.-]+, got {name!r}")
        version = top.get("version")
        if "version" in top and (isinstance(version, bool) or not isinstance(version, (int, str))):
            self.problem(self.at("version"), f"must be an integer or a string, got {version!r}")
        description = top.get("description") or ""
        if not isinstance(description, str):
            self.problem(self.at("description"), f"must be a string, got {description!r}")
        if "dataset" in top:
            self.choice(top["dataset"], ("dataset",), DATASETS)
        seed = top.get("seed", DEFAULT_SEED)
        self.integer(seed, ("seed",), 0, MAX_SEED)
        device = top.get("device")
        if device is not None:
            self.choice(device, ("device",), DEVICES)
        batch_size = top.get("batch_size", DEFAULT_BATCH_SIZE)
        self.integer(batch_size, ("batch_size",), 1)
        top_examples = top.get("examples", {})
        self.check_examples(top_examples, ("examples",))
        models = top.get("models", "all")
        self.check_models(models)
        return {"name": name, "version": version, "description": description, "dataset": top.get("dataset"), "seed": seed,
                "device": device, "batch_size": batch_size, "examples": top_examples, "models": models}

    def check_models(self, models: Any) -> None:
        if models == "all":
            return
        lists: dict[Key, Any]
        if isinstance(models, list):
            lists = {("models",): models}
        elif isinstance(models, dict):
            self.unknown_keys(models, ("models",), MODEL_KEYS)
            lists = {("models", k): models[k] for k in MODEL_KEYS if k in models}
            if not lists:
                self.problem(self.at("models"), "must give ids or tags")
        else:
            self.problem(self.at("models"), f"must be 'all', a list of model ids or a mapping with ids and tags, got {models!r}")
            return
        for path, items in lists.items():
            if not isinstance(items, list) or not items or not all(isinstance(i, str) for i in items):
                self.problem(self.at(*path), f"must be a non-empty list of strings, got {items!r}")
            elif path[-1] != "tags" and self.known_models is not None:
                known = ", ".join(sorted(self.known_models)) or "none"
                for model_id in items:
                    if model_id not in self.known_models:
                        self.problem(self.at(*path), f"unknown model '{model_id}' (registered: {known})")


    def outputs(self, outputs: dict[str, Any], name: Any) -> tuple[str, list[str]]:
        """(results dir as given, formats), defaults filled in."""
        out_dir = outputs.get("dir", f"results/{name}")
        if not isinstance(out_dir, str) or not out_dir:
            self.problem(self.at("outputs", "dir"), f"must be a non-empty path, got {out_dir!r}")
        from bench.report.writers import names  # the registry of report writers: the only list of formats

        known = names()
        formats = outputs.get("formats", list(known))
        if not isinstance(formats, list) or not formats:
            self.problem(self.at("outputs", "formats"), f"must be a non-empty list of {', '.join(known)}, got {formats!r}")
            return out_dir, list(known)
        for fmt in formats:
            if fmt not in known:
                self.problem(self.at("outputs", "formats"), f"unknown format {fmt!r} (known: {', '.join(known)})")
        return out_dir, formats
