"""A cell's cost in core-seconds (bench.provenance.core_seconds): threads count only where they had a core."""

from __future__ import annotations

from typing import Any

from bench.provenance import cell_threads, core_seconds, machine


def ray_cell(threads: int, spans: list[tuple[float, float]], node: str = "vm", cores: int = 2) -> dict[str, Any]:
    ran_on = [{"node": node, "pid": 100 + i % 2, "began": b, "seconds": s} for i, (b, s) in enumerate(spans)]
    return {"provenance": {"machine": f"vm: Linux x86_64, cpu, {cores} cores", "threads": threads, "executor": "ray",
                           "compute_s": sum(s for _, s in spans), "shards": len(spans), "shards_timed": len(spans),
                           "ran_on": ran_on}}


def test_two_workers_at_once_on_two_cores_had_one_core_each() -> None:
    cell = ray_cell(2, [(0.0, 100.0), (0.0, 120.0), (100.0, 90.0), (120.0, 80.0)])
    assert cell_threads(cell["provenance"]) == 1
    assert core_seconds(cell) == (390.0, True)


def test_workers_one_after_another_keep_their_threads() -> None:
    cell = ray_cell(2, [(0.0, 100.0), (100.0, 50.0)])
    assert cell_threads(cell["provenance"]) == 2
    assert core_seconds(cell) == (300.0, True)


def test_a_bigger_host_or_another_node_keeps_the_recorded_threads() -> None:
    assert cell_threads(ray_cell(2, [(0.0, 10.0), (0.0, 10.0)], cores=8)["provenance"]) == 2
    assert cell_threads(ray_cell(2, [(0.0, 10.0), (0.0, 10.0)], node="other")["provenance"]) == 2  # cores unknown there
    assert cell_threads({"threads": 3}) == 3  # in process: nothing ran beside it in the cell


def test_the_machine_line_is_read_back() -> None:
    host = machine().split(":", 1)[0]
    cell = ray_cell(4, [(0.0, 10.0), (5.0, 10.0), (6.0, 10.0)], node=host)
    cell["provenance"]["machine"] = machine()
    cores = int(machine().rsplit(",", 1)[-1].split()[0])
    assert cell_threads(cell["provenance"]) == min(4, max(1, cores // 3))
