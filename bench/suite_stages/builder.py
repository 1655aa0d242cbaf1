"""Building a suite from the merged files: the top-level keys, the attacks and the leaderboard,
each checked by its own stage, then the resolved form and its sha256."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

from bench.suite_stages.attacks import AttackChecks
from bench.suite_stages.leaderboard import LeaderboardChecks
from bench.suite_stages.model import AttackConfig, Suite, matrix_kind, selection, suite_digest
from bench.suite_stages.schema import OUTPUT_KEYS
from bench.suite_stages.top import TopChecks


class Builder(TopChecks, AttackChecks, LeaderboardChecks):
    """Checks the merged suite stage by stage and builds it; each problem names the file that set the key."""

    def build(self) -> tuple[Suite | None, list[str]]:
        top = self.top_keys()
        configs = [self.attack_config(aid, body) for aid, body in self.state.attacks.items()]
        board = self.leaderboard({c.id: c for c in configs if c is not None})
        out_dir, formats = self.outputs(self.section(self.state.top.get("outputs"), "outputs", OUTPUT_KEYS), top["name"])
        if not self.problems:
            self.fits_split(selection(top["examples"], {}), top["dataset"], ("examples",))
            for c in configs:
                if c is not None and "examples" in self.state.attacks[c.id]:
                    self.fits_split(c.examples, top["dataset"], ("attacks", c.id, "examples"))
        if self.problems:
            return None, self.problems
        return self.suite(top, [c for c in configs if c is not None], board, out_dir, formats), []

    def suite(self, top: dict[str, Any], built: list[AttackConfig], board: dict[str, Any], out_dir: str,
              formats: list[str]) -> Suite:
        """The valid suite, with the resolved form its sha256 identifies."""
        chosen = selection(top["examples"], {})
        extra_columns, headline_for = board["extra_columns"], board["headline_for"]
        resolved = copy.deepcopy({
            "name": top["name"], "version": top["version"], "description": top["description"], "dataset": top["dataset"],
            "seed": top["seed"], "device": top["device"], "batch_size": top["batch_size"], "examples": chosen.as_dict(),
            "models": top["models"], "attacks": [c.as_dict() for c in built],
            "leaderboard": {"columns": board["columns"] or [c.id for c in built if not matrix_kind(c.kind)],
                            "worst_case": board["worst_case"],
                            **({"extra_columns": extra_columns} if extra_columns else {}),
                            **({"headline_for": list(headline_for)} if headline_for else {})},
            "outputs": {"dir": out_dir, "formats": formats},
        })
        return Suite(
            name=top["name"], version=top["version"], description=top["description"], dataset=top["dataset"], seed=top["seed"],
            device=top["device"], batch_size=top["batch_size"], examples=chosen, models=copy.deepcopy(top["models"]),
            attacks=built, columns=list(resolved["leaderboard"]["columns"]), worst_case=board["worst_case"],
            out_dir=Path.cwd() / out_dir, formats=formats, path=self.path, resolved=resolved, sha256=suite_digest(resolved),
            batch_size_explicit="batch_size" in self.state.top,
        )
