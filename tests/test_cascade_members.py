"""scripts/cascade_members.py: member rows summed over an unfinished cell's finished shards."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import torch
from safetensors.torch import save_file

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "cascade_members.py"


def _script():
    spec = importlib.util.spec_from_file_location("cascade_members", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _shard(path: Path, broken_by: list[int], stats: dict[str, float]) -> None:
    tensors = {"x_cand": torch.zeros(len(broken_by), 1), "t/broken_by": torch.tensor(broken_by, dtype=torch.int8)}
    tensors.update({f"s/{k}": torch.tensor([v], dtype=torch.float64) for k, v in stats.items()})
    save_file(tensors, str(path))


def test_rows_sum_over_shards(tmp_path: Path) -> None:
    # -2: clean wrong, -1: unbroken, j: broken by member j
    _shard(tmp_path / "000000-000004.safetensors", [-2, 0, 1, -1],
           {"attempted/A": 3, "time_s/A": 1.5, "attempted/B": 2, "time_s/B": 4.0})
    _shard(tmp_path / "000004-000008.safetensors", [0, 0, -1, -1],
           {"attempted/A": 4, "time_s/A": 2.0, "attempted/B": 2, "time_s/B": 3.0})
    (tmp_path / "stages").mkdir()  # resumable member state of the shard in progress: not counted
    rows, shards, examples = _script().from_shards(tmp_path, ["A", "B"])
    assert (shards, examples) == (2, 8)
    assert rows["A"] == {"attempted": 7, "time_s": 3.5, "broke": 3}
    assert rows["B"] == {"attempted": 4, "time_s": 7.0, "broke": 1}


def test_not_a_results_folder(tmp_path: Path, capsys) -> None:
    assert _script().main(tmp_path, "MadrySmall", "cascade_e03") == 2
    assert "suite.yaml: not found" in capsys.readouterr().err
