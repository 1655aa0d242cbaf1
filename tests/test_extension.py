"""A cascade cell whose presets grew is extended, not recomputed: its members run again only on
the examples they broke (every counted break is verified again), and the result is the cell a
full run of the longer list gives. Targets from a rank on make T3 + ranks 4..9 the same as T9."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
import torch
import yaml
from safetensors.torch import load_file

from bench import zoo
from bench.attacks import get_kind
from bench.attacks.backends import native
from bench.attacks.kinds import cascade
from bench.audit import audit_path, estimate, run_audit
from bench.cli import main
from bench.data import load_mnist
from bench.provenance import core_seconds
from bench.verify import verify
from test_cascade import TargetOnly

CPU = torch.device("cpu")
FIRST = (  # no random draw, so a member run again on a subset breaks what it broke
    cascade.Member("M1", "pgd_linf", "native", {"steps": 5, "step_size_eps": 0.3, "random_start": False}),
    cascade.Member("M2", "pgd_linf", "native", {"steps": 20, "step_size_eps": 0.1, "random_start": False, "loss": "margin"}),
)
MORE = (cascade.Member("M3", "pgd_linf", "native", {"steps": 20, "step_size_eps": 0.1, "loss": "margin", "targets": 9}),)


def pgd(given: dict[str, Any]) -> dict[str, Any]:
    return {"norm": "linf", **get_kind("pgd_linf").resolve(given)}


def tiny_linear_batch(eps: float) -> tuple[Any, torch.Tensor, torch.Tensor, torch.Tensor, Any]:
    """tiny-linear, test images 500-559 (x, y, dataset index) and ``robust(adv, rows)``: the verified
    robust flags of those rows' candidates at ``eps``."""
    model = zoo.load("tiny-linear")
    split = load_mnist("test")
    x, y, index = split.x[500:560], split.y[500:560], torch.arange(500, 560)

    def robust(adv: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
        return verify(model, x[rows], adv, y[rows], {"norm": "linf", "eps": eps}, CPU, 100).robust

    return model, x, y, index, robust


def split_and_whole(base: dict[str, Any], earlier: dict[str, Any], later: dict[str, Any],
                    whole: dict[str, Any]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Robust flags on tiny_linear_batch of (``earlier`` then ``later`` on what it left, ``whole``
    in one run, ``earlier`` alone), each a PGD of ``base`` updated with it, seed 3."""
    model, x, y, index, robust = tiny_linear_batch(base["eps"])
    every = torch.arange(len(y))
    one = robust(native.pgd_batch(model, x, y, **{**base, **whole}, index=index, seed=3), every)
    first = robust(native.pgd_batch(model, x, y, **{**base, **earlier}, index=index, seed=3), every)
    left = first.nonzero().squeeze(1)
    split_run = first.clone()
    split_run[left] = robust(native.pgd_batch(model, x[left], y[left], **{**base, **later}, index=index[left], seed=3), left)
    return split_run, one, first


def test_ranks_4_to_9_after_the_top_3_equal_all_9_targets(tiny_zoo: Path) -> None:
    base = pgd({"eps": 0.07, "steps": 15, "step_size": 0.01, "loss": "margin"})  # random starts: drawn per rank
    split_run, all9, _ = split_and_whole(base, {"targets": 3}, {"targets": 9, "first_target": 4}, {"targets": 9})
    assert torch.equal(split_run, all9) and 0 < int(all9.sum()) < len(all9)
    # where only a later rank breaks (TargetOnly: class 2, ranked second, is the reachable one)
    target_only, xs, ys = TargetOnly().eval(), torch.full((4, 1, 1, 2), 0.5), torch.zeros(4, dtype=torch.long)
    params = pgd({"eps": 0.3, "steps": 50, "step_size": 0.03, "random_start": False, "loss": "margin"})
    first = native.pgd_batch(target_only, xs, ys, **{**params, "targets": 1})
    later = native.pgd_batch(target_only, xs, ys, **{**params, "targets": 2, "first_target": 2})
    assert (target_only.log_probs(first).argmax(1) == 0).all() and (target_only.log_probs(later).argmax(1) == 2).all()
    kind = get_kind("pgd_linf")
    assert any("first_target" in p for p in kind.validate({"targets": 3, "first_target": 4}, "x"))
    assert not kind.validate({"targets": 9, "first_target": 4}, "x")
    from bench.attacks.backends import problems

    assert problems("art", "pgd", kind.resolve({"first_target": 4}))  # native only


def test_a_later_restart_after_the_first_equals_both_restarts(tiny_zoo: Path) -> None:
    """``first_restart`` 2 draws the second start only: restart 1 as one member and restart 2 as
    another (adaptive_restart after the 9-target members) break what one 2-restart run breaks."""
    base = pgd({"eps": 0.1, "steps": 3, "step_size": 0.02, "loss": "margin", "targets": 9})  # few steps: the start matters
    split_run, both, once = split_and_whole(base, {}, {"restarts": 2, "first_restart": 2}, {"restarts": 2})
    assert torch.equal(split_run, both) and int(both.sum()) < int(once.sum())  # the second start broke more
    kind = get_kind("pgd_linf")
    assert any("first_restart" in p for p in kind.validate({"restarts": 1, "first_restart": 2}, "x"))
    assert not kind.validate({"restarts": 2, "first_restart": 2}, "x")
    from bench.attacks.backends import problems

    assert problems("torchattacks", "pgd", kind.resolve({"first_restart": 2, "restarts": 2}))  # native only


def test_a_third_start_from_rank_4_is_the_third_restart_of_those_ranks(tiny_zoo: Path) -> None:
    """adaptive_restart_ranks4_9 (``first_target`` 4, ``first_restart`` 3) after two starts toward
    ranks 4-9 breaks what one 3-restart run toward those ranks breaks: the two parameters compose."""
    base = pgd({"eps": 0.1, "steps": 3, "step_size": 0.02, "loss": "margin", "targets": 9, "first_target": 4})
    split_run, three, two = split_and_whole(base, {"restarts": 2}, {"restarts": 3, "first_restart": 3}, {"restarts": 3})
    assert torch.equal(split_run, three) and int(three.sum()) < int(two.sum())  # the third start broke more
    member = cascade.PRESETS["adaptive_restart_ranks4_9"][0]
    assert member.params["first_target"] == 4 and member.params["first_restart"] == member.params["restarts"] == 3


def suite(tmp_path: Path, name: str, presets: list[str], eps: float = 0.08) -> Path:
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump({
        "name": "tiny_extend", "version": 1, "dataset": "mnist", "seed": 4, "batch_size": 50,
        "examples": {"split": "test", "count": 150, "offset": 300}, "models": {"ids": ["tiny-linear"]},
        "attacks": [{"id": "aa", "kind": "cascade", "params": {"eps": eps, "presets": presets}}],
        "outputs": {"dir": str(tmp_path / name)},
    }))
    return path


def counting(monkeypatch: pytest.MonkeyPatch) -> list[tuple[int, int]]:
    """(steps, examples) of every PGD member run."""
    kind = get_kind("pgd_linf")
    original, calls = kind.generate, []

    def generate(model: Any, x: torch.Tensor, y: Any, params: dict[str, Any], *a: object, **k: object):  # type: ignore[no-untyped-def]
        calls.append((int(params["steps"]) * (1 + int(params.get("targets", 0))), len(x)))
        return original(model, x, y, params, *a, **k)

    monkeypatch.setattr(kind, "generate", generate)
    return calls


ARGS = ["--device", "cpu", "--no-progress", "--no-leaderboard"]


def test_a_cell_whose_presets_grew_is_extended_to_the_cell_a_full_run_gives(tiny_zoo: Path, tmp_path: Path,
                                                                              monkeypatch: pytest.MonkeyPatch,
                                                                              capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setitem(cascade.PRESETS, "first", FIRST)
    monkeypatch.setitem(cascade.PRESETS, "more", MORE)
    assert main(["run", str(suite(tmp_path, "full", ["first", "more"])), *ARGS]) == 0
    short = suite(tmp_path, "grown", ["first"])
    assert main(["run", str(short), *ARGS]) == 0
    cell = tmp_path / "grown" / "cells" / "tiny-linear"
    before = json.loads((cell / "aa.json").read_text())
    broke = {k: v["broke"] for k, v in before["extra"]["members"].items()}
    assert broke["M1"] > 0 and broke["M2"] > 0 and before["count"] > 0  # a case with work for each member
    audit = run_audit(tmp_path / "grown", "tiny-linear", "aa", sample=150)  # all the stored cell's robust examples
    assert audit["sample"] == audit["robust"] == before["count"]
    calls = counting(monkeypatch)
    suite(tmp_path, "grown", ["first", "more"])  # the same folder, the battery grown
    capsys.readouterr()
    assert main(["run", str(short), *ARGS, "--plan"]) == 0
    assert "extended, not recomputed" in capsys.readouterr().out
    assert main(["run", str(short), *ARGS]) == 0
    assert "extend it" in capsys.readouterr().err
    # M1 and M2 ran again only on the examples they broke (per shard), M3 on what stayed robust
    attempted = {k: v["attempted"] for k, v in json.loads((cell / "aa.json").read_text())["extra"]["members"].items()}
    assert attempted["M1"] == broke["M1"] and attempted["M2"] == broke["M2"] and attempted["M3"] == before["count"]
    assert sum(n for steps, n in calls if steps == 5) == broke["M1"]
    after = json.loads((cell / "aa.json").read_text())
    assert after["provenance"]["extends"] == before["config_hash"]
    assert after["provenance"]["extends_compute_s"] == before["provenance"]["compute_s"] > 0  # the cell's cost is both
    assert after["provenance"]["extends_core_s"] == round(core_seconds(before)[0], 3)
    assert core_seconds(after)[0] == pytest.approx(after["provenance"]["compute_s"] * after["provenance"]["threads"]
                                                   + core_seconds(before)[0], abs=1e-2)
    assert after["extra"]["members"]["M2"]["not_rerun"] > 0
    full = json.loads((tmp_path / "full" / "cells" / "tiny-linear" / "aa.json").read_text())
    assert after["config_hash"] == full["config_hash"] and after["value"] == full["value"] < before["value"]
    a, b = load_file(str(cell / "aa.safetensors")), load_file(str(tmp_path / "full" / "cells" / "tiny-linear" / "aa.safetensors"))
    assert all(torch.equal(a[k], b[k]) for k in ("robust", "broken_by", "pred", "index"))
    assert after["verification"]["verified"] == full["verification"]["verified"]  # every break verified again
    assert not (cell / "aa.partial").exists()
    # the stored cell's audit is carried over onto the extended one: its sample, less what the cell now breaks
    carried = json.loads(audit_path(tmp_path / "grown", "tiny-linear", "aa").read_text())
    robust_now = set(a["index"][a["robust"].bool()].tolist())
    assert carried["cell_config_hash"] == after["config_hash"] and carried["robust"] == after["count"] == len(robust_now)
    assert carried["carried_from"] == [{"cell_config_hash": before["config_hash"], "robust": before["count"],
                                        "sample": audit["sample"], "broke": audit["broke"]}]
    assert carried["sampled_index"] == sorted(robust_now) and carried["sample"] < audit["sample"]
    assert carried["broken_index"] == [i for i in audit["broken_index"] if i in robust_now]
    assert carried["estimate"] == estimate(after["count"], after["n"], carried["sample"], carried["broke"])
    ran = len(calls)
    assert run_audit(tmp_path / "grown", "tiny-linear", "aa", sample=150) == carried and len(calls) == ran  # nothing run


def test_another_eps_or_a_list_that_is_not_a_prefix_is_recomputed_in_full(tiny_zoo: Path, tmp_path: Path,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(cascade.PRESETS, "first", FIRST)
    monkeypatch.setitem(cascade.PRESETS, "more", MORE)
    kind = get_kind("cascade")
    assert kind.extendable({"eps": 0.1, "presets": ["first"]}, kind.resolve({"eps": 0.1, "presets": ["first", "more"]}))
    assert not kind.extendable({"eps": 0.1, "presets": ["first"]}, kind.resolve({"eps": 0.2, "presets": ["first", "more"]}))
    assert not kind.extendable({"eps": 0.1, "presets": ["more"]}, kind.resolve({"eps": 0.1, "presets": ["first", "more"]}))
    assert not kind.extendable({"eps": 0.1, "presets": ["first"]}, kind.resolve({"eps": 0.1, "presets": ["first"]}))
    path = suite(tmp_path, "other", ["more"], eps=0.05)
    assert main(["run", str(path), *ARGS]) == 0
    calls = counting(monkeypatch)
    suite(tmp_path, "other", ["first", "more"], eps=0.05)
    assert main(["run", str(path), *ARGS]) == 0
    cell = json.loads((tmp_path / "other" / "cells" / "tiny-linear" / "aa.json").read_text())
    assert "extends" not in cell["provenance"]
    assert sum(n for steps, n in calls if steps == 5) == 150 - cell["extra"]["clean_wrong"]  # M1 on every example


# The members of every preset a committed suite uses. A stored cell's config hash names its presets,
# not their members, so changing a member would leave every stored cell counting as current: add a
# preset instead (it is appended, and stored cells are extended). Update a digest only with a new
# version of every suite that uses the preset.
FROZEN = {
    "autoattack_standard": "eb1369a2500a8a3b",
    "adaptive": "f4a89841d8c59c2c",
    "adaptive_all_targets": "547a30ca6c7fa201",
    "adaptive_restart": "59e340070f986387",
    "adaptive_restart_ranks4_9": "9e819f818613f56d",
    "adaptive_long": "ab252208c439abe8",
}


def digest(preset: str) -> str:
    return hashlib.sha256(json.dumps([m.__dict__ for m in cascade.PRESETS[preset]], sort_keys=True).encode()).hexdigest()[:16]


def test_an_extended_cell_costs_its_own_run_plus_what_the_stored_cell_cost() -> None:
    """A stored cell whose shards were not all timed is counted by its members' times; the cell
    extending it adds that (``extends_core_s``), not the partial ``compute_s`` it recorded."""
    stored = {"provenance": {"compute_s": 100.0, "shards": 10, "shards_timed": 8, "threads": 2},
              "extra": {"members": {"A": {"time_s": 60.0}, "B": {"time_s": 65.0}}}}
    assert core_seconds(stored) == (250.0, True)
    grown = {"provenance": {"compute_s": 30.0, "shards": 10, "shards_timed": 10, "threads": 1, "extends_compute_s": 100.0,
                            "extends_core_s": 250.0}}
    assert core_seconds(grown) == (280.0, True)
    older = {"provenance": {**grown["provenance"], "extends_core_s": None}}  # extended before extends_core_s existed
    assert core_seconds(older) == (130.0, True)


def test_presets_used_by_a_suite_are_frozen() -> None:
    used = set()
    for path in Path(__file__).resolve().parent.parent.glob("suites/*.yaml"):
        for attack in yaml.safe_load(path.read_text()).get("attacks") or []:
            if attack.get("kind") == "cascade":
                used.update((attack.get("params") or {}).get("presets") or get_kind("cascade").resolve({})["presets"])
    assert used <= set(FROZEN), f"pin the members of {sorted(used - set(FROZEN))} here"
    assert {p: digest(p) for p in FROZEN} == FROZEN


CODE_ONLY = (cascade.Member("C1", "pgd_linf", "native", {"steps": 20, "step_size_eps": 0.1, "surface": "linear", "loss": "margin",
                                                         "targets": 9}, needs_code=True),)


@pytest.mark.parametrize("case", ["no member applies", "nothing left robust"])
def test_a_stored_cell_the_new_members_cannot_change_is_adopted_as_it_is(case: str, tiny_zoo: Path, tmp_path: Path,
                                                                          monkeypatch: pytest.MonkeyPatch,
                                                                          capsys: pytest.CaptureFixture[str]) -> None:
    """tiny-linear has no output code, so code-model members do not apply; at eps 0.3 nothing is
    left robust. Either way a full run would run only the stored members: the cell is kept."""
    monkeypatch.setitem(cascade.PRESETS, "first", FIRST)
    monkeypatch.setitem(cascade.PRESETS, "later", CODE_ONLY if case == "no member applies" else MORE)
    eps = 0.08 if case == "no member applies" else 0.3
    path = suite(tmp_path, "kept", ["first"], eps=eps)
    assert main(["run", str(path), *ARGS]) == 0
    cell = tmp_path / "kept" / "cells" / "tiny-linear"
    before, tensors = json.loads((cell / "aa.json").read_text()), load_file(str(cell / "aa.safetensors"))
    assert (before["count"] > 0) == (case == "no member applies")
    calls = counting(monkeypatch)
    suite(tmp_path, "kept", ["first", "later"], eps=eps)
    capsys.readouterr()
    assert main(["run", str(path), *ARGS, "--plan"]) == 0
    planned = capsys.readouterr().out
    assert "adopted as it is" in planned and "extended, not recomputed" not in planned
    assert main(["run", str(path), *ARGS]) == 0
    assert calls == []  # nothing attacked
    after = json.loads((cell / "aa.json").read_text())
    assert after["provenance"]["adopted"] is True and after["provenance"]["extends"] == before["config_hash"]
    assert after["config_hash"] != before["config_hash"] and after["params"]["presets"] == ["first", "later"]
    assert after["value"] == before["value"] and after["verification"] == before["verification"]
    label = next(iter(cascade.PRESETS["later"])).label
    assert after["extra"]["members"][label]["attempted"] == 0
    assert after["extra"][f"robust_after {label}"] == before["value"]
    kept = load_file(str(cell / "aa.safetensors"))
    assert kept.keys() == tensors.keys() and all(torch.equal(kept[k], tensors[k]) for k in kept)
    assert main(["run", str(path), *ARGS, "--plan"]) == 0  # and it is done now


def test_an_example_the_stored_cell_broke_never_comes_back_robust(tiny_zoo: Path, tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """A member that draws per batch can miss, on fewer examples, a break it had: the extended cell
    is the per-example worst case of the stored cell and the new run. Here the stored cell says one
    example the battery cannot break was broken (by M1, with its verdict): it stays broken, with
    the stored verdict, and ``verification.carried`` says so."""
    from safetensors.torch import save_file

    monkeypatch.setitem(cascade.PRESETS, "first", FIRST)
    monkeypatch.setitem(cascade.PRESETS, "more", MORE)
    path = suite(tmp_path, "carry", ["first"])
    assert main(["run", str(path), *ARGS]) == 0
    cell = tmp_path / "carry" / "cells" / "tiny-linear"
    tensors = load_file(str(cell / "aa.safetensors"))
    assert main(["run", str(suite(tmp_path, "straight", ["first", "more"])), *ARGS]) == 0
    full = load_file(str(tmp_path / "straight" / "cells" / "tiny-linear" / "aa.safetensors"))
    row = int(full["robust"].nonzero()[0])  # robust even to the longer battery
    stored = {k: v.clone() for k, v in tensors.items()}
    stored["robust"][row], stored["pred"][row], stored["linf"][row], stored["broken_by"][row] = False, (int(stored["label"][row]) + 1) % 10, 0.08, 0
    save_file(stored, str(cell / "aa.safetensors"))
    suite(tmp_path, "carry", ["first", "more"])
    assert main(["run", str(path), *ARGS]) == 0
    after, out = json.loads((cell / "aa.json").read_text()), load_file(str(cell / "aa.safetensors"))
    assert after["verification"]["carried"] == 1 and after["count"] == int(full["robust"].sum()) - 1
    assert not out["robust"][row] and out["pred"][row] == stored["pred"][row] and out["broken_by"][row] == 0
    assert out["linf"][row] == pytest.approx(0.08)
    others = torch.arange(len(out["robust"])) != row
    assert torch.equal(out["robust"][others], full["robust"][others])
