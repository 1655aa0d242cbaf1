"""scripts/compare_flags.py: two runs of one cell compared example by example, with the tolerance."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import torch
from safetensors.torch import save_file

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "compare_flags.py"


def _script():
    spec = importlib.util.spec_from_file_location("compare_flags", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _cell(root: Path, index: list[int], robust: list[bool], members: dict[str, tuple[int, float]]) -> None:
    folder = root / "cells" / "M"
    folder.mkdir(parents=True)
    save_file({"index": torch.tensor(index), "robust": torch.tensor(robust)}, str(folder / "cascade.safetensors"))
    extra = {"members": {k: {"broke": b, "time_s": t} for k, (b, t) in members.items()}}
    (folder / "cascade.json").write_text(json.dumps({"kind": "cascade", "extra": extra}))


def test_weaker_examples_are_counted_on_common_indices_and_judged(tmp_path: Path, capsys) -> None:
    n = 200  # tolerance: 2 examples
    a_robust = [i % 2 == 0 for i in range(n)]
    b_robust = list(a_robust)
    b_robust[1] = b_robust[3] = True  # robust in B, broken in A: B weaker on 2 (allowed)
    b_robust[0] = False  # the reverse
    _cell(tmp_path / "a", list(range(n)), a_robust, {"X": (100, 10.0)})
    _cell(tmp_path / "b", list(reversed(range(n))), list(reversed(b_robust)), {"X": (99, 5.0)})  # other order
    row, ok = _script().compare(tmp_path / "a", tmp_path / "b", "M", "cascade")
    assert row[2] == n and (row[5], row[6]) == (2, 1) and ok
    assert "A/B 2.00x" in capsys.readouterr().out
    b_robust[5] = True  # a third: beyond 1 in 100
    (tmp_path / "b2").mkdir()
    _cell(tmp_path / "b2", list(range(n)), b_robust, {"X": (98, 5.0)})
    assert _script().main([str(tmp_path / "a"), str(tmp_path / "b2"), "M", "cascade"]) == 1


def test_a_missing_cell_is_one_line_and_exit_2(tmp_path: Path, capsys) -> None:
    _cell(tmp_path / "a", [0], [True], {})
    assert _script().main([str(tmp_path / "a"), str(tmp_path / "nothing"), "M", "cascade"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no finished cell" in err
