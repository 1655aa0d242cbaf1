"""The keys of a card's ``reported`` mapping: the paper's figures keyed by what the harness
measures, never by a column's display label (a suite that relabels a column must not lose them).

- ``<attack id>``: the attack's value (``pgd: 0.34``);
- ``<attack id>.<field>``: an extra column, ``error`` (1 - value) or a key of the cell's ``extra``
  (``clean_test.error``, ``lbfgs.av_min_distortion``), and a transfer row's ``av_distortion`` on
  the source's card (``transfer.av_distortion``);
- ``<attack id>[<source>]``: a transfer matrix entry on the target's card (``transfer[softmax1]``);
- ``worst_case`` / ``worst_case@<eps>``: a worst-case column.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from bench.yaml_file import YamlFileError, read_yaml

KEY = re.compile(r"(?P<attack>[A-Za-z0-9_-]+)(?:\.(?P<field>[A-Za-z0-9_]+)|\[(?P<source>[^\[\]]+)\]|@(?P<eps>[0-9.]+))?")
SUITES = Path(__file__).resolve().parents[2] / "suites"


def suite_attacks(folders: Iterable[Path] = (SUITES,)) -> tuple[set[str], dict[str, str]]:
    """(attack ids, display label -> attack id) of every suite file in ``folders``."""
    ids: set[str] = set()
    labels: dict[str, str] = {}
    for folder in folders:
        for path in sorted(Path(folder).glob("*.yaml")):
            try:
                data = read_yaml(path) or {}
            except YamlFileError:
                continue
            for entry in data.get("attacks") or [] if isinstance(data, dict) else []:
                if isinstance(entry, dict) and isinstance(entry.get("id"), str):
                    ids.add(entry["id"])
                    if isinstance(entry.get("label"), str):
                        labels.setdefault(entry["label"], entry["id"])
    return ids, labels


def key_problems(reported: Any, where: str, folders: Iterable[Path] = (SUITES,)) -> list[str]:
    """One line per ``reported`` key that is not an attack-id key, naming the file and key."""
    if not isinstance(reported, dict):
        return []
    ids, labels = suite_attacks(folders)
    problems = []
    for key, value in reported.items():
        at = f"{where}: reported.{key}"
        match = KEY.fullmatch(str(key))
        if key in labels and key not in ids:
            problems.append(f"{at}: a column's display label; key it by the attack id ('{labels[key]}')")
        elif not _well_formed(match):
            problems.append(f"{at}: not an attack-id key (<attack>, <attack>.<field>, <attack>[<source>], worst_case[@<eps>])")
        elif isinstance(value, bool) or not isinstance(value, (int, float)):
            problems.append(f"{at}: must be a number, got {value!r}")
    return problems


def _well_formed(match: re.Match[str] | None) -> bool:
    """``@<eps>`` only on ``worst_case``, and ``worst_case`` takes nothing else."""
    if match is None:
        return False
    if match["attack"] == "worst_case":
        return match["field"] is None and match["source"] is None
    return match["eps"] is None
