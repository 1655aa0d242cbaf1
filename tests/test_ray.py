"""The Ray executor on a local 2-CPU instance (loopback only): the same numbers as in process,
sharded cells equal to unsharded ones, a killed worker retried, a killed driver resumed."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import torch
import yaml
from safetensors.torch import load_file

ray = pytest.importorskip("ray", reason="Ray is an optional extra: pip install -e '.[ray]' (.ci/run installs it)")

from bench.cli import main  # noqa: E402
from conftest import run_killed_after_first_shard  # noqa: E402

SUITE = {
    "name": "tiny_ray", "version": 1, "dataset": "mnist", "seed": 4, "batch_size": 20,
    "examples": {"split": "test", "count": 60, "offset": 400},
    "models": {"tags": ["tiny"]},
    "attacks": [
        {"id": "benign", "kind": "benign", "examples": {"count": 200, "offset": 0}},
        {"id": "pgd", "kind": "pgd_linf", "backend": "native", "params": {"eps": 0.1, "steps": 10, "step_size": 0.02}},
        {"id": "cw", "kind": "cw_l2", "backend": "native", "params": {"steps": 30, "binary_search_steps": 2, "lr": 0.05}},
        {"id": "uniform", "kind": "uniform_noise", "params": {"gamma": 0.5}},
        {"id": "rand", "kind": "random_inputs", "params": {"count": 40}},
        {"id": "transfer", "kind": "transfer", "params": {"source_attack": "pgd"}},
    ],
}


@pytest.fixture(scope="module")
def local_ray(tiny_zoo: Path):  # type: ignore[no-untyped-def]
    from bench.ray_executor import RayExecutor

    RayExecutor(workers=2).start()
    yield
    ray.shutdown()


def write(tmp_path: Path, name: str, **changes: object) -> Path:
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump({**SUITE, **changes, "outputs": {"dir": str(tmp_path / name)}}))
    return path


def run(path: Path, *extra: str) -> int:
    return main(["run", str(path), "--device", "cpu", "--no-progress", "--no-leaderboard", *extra])


def cells(folder: Path) -> dict[str, object]:
    """Every cell's figures and per-example tensors (provenance aside: where it ran differs)."""
    out: dict[str, object] = {}
    for f in sorted((folder / "cells").glob("*/*.json")):
        cell = json.loads(f.read_text())
        out[f"{f.parent.name}/{f.stem}"] = (cell["value"], cell["n"], cell["count"], cell["config_hash"], cell["extra"])
    for f in sorted((folder / "cells").glob("*/*.safetensors")):
        out[f"{f.parent.name}/{f.stem}.t"] = {k: v.tolist() for k, v in load_file(str(f)).items()}
    return out


def test_ray_run_gives_exactly_the_in_process_numbers(local_ray: None, tmp_path: Path) -> None:
    assert run(write(tmp_path, "local")) == 0
    assert run(write(tmp_path, "ray"), "--executor", "ray") == 0
    a, b = cells(tmp_path / "local"), cells(tmp_path / "ray")
    assert a.keys() == b.keys() and a == b
    cw = json.loads((tmp_path / "ray" / "cells" / "tiny-linear" / "cw.json").read_text())
    assert cw["provenance"]["executor"] == "ray" and cw["provenance"]["shards"] == 3  # 60 CW examples, 25 a shard
    assert len(cw["provenance"]["ran_on"]) == 3 and all("pid" in w for w in cw["provenance"]["ran_on"])
    # peak memory: each worker's own, and the cell's is the largest process's (driver or worker)
    workers = [w["peak_rss_mb"] for w in cw["provenance"]["ran_on"]]
    assert all(isinstance(p, float) and p > 0 for p in workers) and cw["provenance"]["peak_rss_mb"] >= max(workers)
    runs = json.loads((tmp_path / "ray" / "run.json").read_text())["invocations"]
    assert len(runs[-1]["computed"]) == 2 * len(SUITE["attacks"])


def test_a_killed_worker_is_retried_and_the_result_is_unchanged(local_ray: None, tiny_zoo: Path, tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    from conftest import write_model

    import tiny_models

    zoo = tmp_path / "zoo"
    lin = yaml.safe_load((tiny_zoo / "tiny-linear" / "card.yaml").read_text())
    marker = tmp_path / "died"
    model = tiny_models.build_dies_once(str(marker), os.getpid())
    from safetensors.torch import load_file as lf

    model.load_state_dict(lf(str(tiny_zoo / "tiny-linear" / lin["checkpoint"]["file"])))
    write_model(zoo, "tiny-dies", "build_dies_once", model, ["dies"], {"config": {"marker": str(marker), "driver_pid": os.getpid()}})
    monkeypatch.setenv("BENCH_ZOO_PATH", os.pathsep.join([str(tiny_zoo), str(zoo)]))
    ray.shutdown()  # workers must see the new zoo path
    from bench.ray_executor import RayExecutor

    RayExecutor(workers=2).start()
    attacks = [SUITE["attacks"][2]]
    assert run(write(tmp_path, "ref", models={"ids": ["tiny-linear"]}, attacks=attacks)) == 0
    assert run(write(tmp_path, "dies", models={"ids": ["tiny-dies"]}, attacks=attacks), "--executor", "ray") == 0
    assert marker.exists()  # a worker died in the middle of its shard, and Ray ran it again
    a = load_file(str(tmp_path / "ref" / "cells" / "tiny-linear" / "cw.safetensors"))
    b = load_file(str(tmp_path / "dies" / "cells" / "tiny-dies" / "cw.safetensors"))
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_a_killed_driver_keeps_its_finished_shards(local_ray: None, tmp_path: Path) -> None:
    attacks = [SUITE["attacks"][2]]
    straight = write(tmp_path, "straight", models={"ids": ["tiny-linear"]}, attacks=attacks)
    assert run(straight) == 0
    killed = write(tmp_path, "killed", models={"ids": ["tiny-linear"]}, attacks=attacks)
    proc = run_killed_after_first_shard(tmp_path, "run", str(killed), "--device", "cpu", "--no-progress", "--no-leaderboard", "--executor", "ray", "--workers", "2")
    assert proc.returncode == -9, proc.stderr[-2000:]
    partial = tmp_path / "killed" / "cells" / "tiny-linear" / "cw.partial"
    assert len(list(partial.glob("*.safetensors"))) == 1
    assert run(killed, "--executor", "ray") == 0
    cell = json.loads((tmp_path / "killed" / "cells" / "tiny-linear" / "cw.json").read_text())
    assert cell["provenance"]["shards_resumed"] == 1 and len(cell["provenance"]["ran_on"]) == 2
    a = load_file(str(tmp_path / "straight" / "cells" / "tiny-linear" / "cw.safetensors"))
    b = load_file(str(tmp_path / "killed" / "cells" / "tiny-linear" / "cw.safetensors"))
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_ray_options_need_the_ray_executor(tiny_zoo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(write(tmp_path, "x"), "--workers", "2") == 1
    assert "--workers, --address and --worker-status need --executor ray" in capsys.readouterr().err


def test_an_address_where_no_cluster_answers_is_one_line_at_once(tiny_zoo: Path, tmp_path: Path,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    """Before: ray.init retried a refused address for minutes, logging every few seconds."""
    import socket

    with socket.socket() as s:  # a port nothing listens on once this closes
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    assert run(write(tmp_path, "x"), "--executor", "ray", "--address", f"127.0.0.1:{port}") == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith(f"error: --address 127.0.0.1:{port}: no Ray cluster answers there (")
    assert run(write(tmp_path, "y"), "--executor", "ray", "--address", "no-port") == 1
    assert "expected HOST:PORT or ray://HOST:PORT" in capsys.readouterr().err


def test_force_through_ray_computes_each_cell_once(local_ray: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    suite = write(tmp_path, "forced", models={"ids": ["tiny-linear"]}, attacks=SUITE["attacks"][:3])
    assert run(suite, "--executor", "ray", "--worker-status") == 0
    status = [line for line in capsys.readouterr().err.splitlines() if " pid " in line and "shards left" in line]
    assert len(status) == 1 + 1 + 3 and any(line.startswith("tiny-linear/cw [20, 40) on ") for line in status)
    assert run(suite, "--executor", "ray", "--force") == 0
    last = json.loads((tmp_path / "forced" / "run.json").read_text())["invocations"][-1]
    assert sorted(last["computed"]) == sorted(f"tiny-linear/{a['id']}" for a in SUITE["attacks"][:3]) and last["reused"] == 0
