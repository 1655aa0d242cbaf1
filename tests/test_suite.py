"""Suite YAML: loading, defaults, include/override/drop, and one named problem per mistake.

The tests register their own attack kinds so they don't depend on the built-in ones.
"""

from __future__ import annotations

import copy
import hashlib
import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Iterator

import pytest
import torch
import yaml

import bench.suite as suite_mod
from bench.attacks.base import KINDS, AttackKind
from bench.attacks.spec import Param, non_negative, positive, unit_interval_open_closed
from bench.errors import BenchError, ValidationError
from bench.suite import ExampleSelection, load_suite, validate_suite_file

MODELS = {"Softmax", "TanhEns16", "Logistic"}


class _Gradient(AttackKind):
    name = "_test_gradient"
    backends = ("art", "foolbox", "native")
    params = {
        "eps": Param(float, 0.3, non_negative),
        "steps": Param(int, 10, positive),
        "alpha": Param(float, 0.8, unit_interval_open_closed),
    }


class _Plain(AttackKind):
    name = "_test_plain"
    adversarial = False


class _Transfer(AttackKind):
    name = "_test_transfer"
    per_example = False
    params = {"source_attack": Param((str, type(None)), None, ref=True)}


@pytest.fixture(autouse=True)
def kinds() -> Iterator[None]:
    added = [k() for k in (_Gradient, _Plain, _Transfer)]
    for kind in added:
        KINDS.register(kind.name, kind)
    yield
    for kind in added:
        KINDS.unregister(kind.name)


def base_suite() -> dict[str, Any]:
    return {
        "name": "smoke",
        "version": 1,
        "dataset": "mnist",
        "attacks": [
            {"id": "benign", "kind": "_test_plain"},
            {"id": "pgd", "kind": "_test_gradient", "backend": "art", "params": {"eps": 0.2}},
        ],
    }


def write(path: Path, data: Any) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(data if isinstance(data, str) else yaml.safe_dump(data, sort_keys=False))
    return path


def problems_for(tmp_path: Path, data: Any) -> list[str]:
    return validate_suite_file(write(tmp_path / "x.yaml", data), known_models=MODELS)


# --- loading --------------------------------------------------------------------------------------


def test_valid_suite_loads_with_defaults(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    path = write(tmp_path / "x.yaml", base_suite())
    assert validate_suite_file(path, known_models=MODELS) == []
    suite = load_suite(path, known_models=MODELS)
    assert (suite.name, suite.version, suite.dataset, suite.description) == ("smoke", 1, "mnist", "")
    assert (suite.seed, suite.device, suite.batch_size) == (0, None, 250)
    assert suite.examples == ExampleSelection("test", 100, 0, None)
    assert suite.models == "all"
    assert [a.id for a in suite.attacks] == ["benign", "pgd"]
    pgd = suite.attack("pgd")
    assert pgd.params == {"eps": 0.2, "steps": 10, "alpha": 0.8}
    assert (pgd.kind, pgd.backend, pgd.label) == ("_test_gradient", "art", "pgd")
    assert pgd.as_dict()["params"] == {"eps": 0.2, "steps": 10, "alpha": 0.8}  # defaults filled in, as recorded
    assert suite.attack("benign").backend is None
    assert suite.columns == ["benign", "pgd"]
    assert suite.worst_case is None
    assert suite.out_dir == tmp_path / "results" / "smoke"
    assert suite.formats == ["md", "csv", "json", "html"]
    assert suite.path == path
    assert suite.resolved["attacks"][1]["params"]["steps"] == 10
    expected = hashlib.sha256(json.dumps(suite.resolved, sort_keys=True).encode()).hexdigest()
    assert suite.sha256 == expected
    with pytest.raises(BenchError, match="no attack 'cw'"):
        suite.attack("cw")


def test_explicit_values_and_per_attack_examples(tmp_path: Path) -> None:
    data = base_suite() | {
        "description": "d", "seed": 3, "device": "cpu", "batch_size": 50,
        "examples": {"split": "test", "count": 20, "offset": 5},
        "models": ["Softmax"],
        "leaderboard": {"columns": ["pgd", "benign"], "worst_case": ["pgd"]},
        "outputs": {"dir": "out/here", "formats": ["md", "json"]},
    }
    data["attacks"][1].update(examples={"count": 4, "seed": 7}, label="PGD")
    suite = load_suite(write(tmp_path / "x.yaml", data), known_models=MODELS)
    assert (suite.seed, suite.device, suite.batch_size) == (3, "cpu", 50)
    assert suite.attack("benign").examples == ExampleSelection("test", 20, 5, None)
    # giving seed replaces the suite's offset rather than clashing with it
    assert suite.attack("pgd").examples == ExampleSelection("test", 4, None, 7)
    assert suite.attack("pgd").label == "PGD"
    assert (suite.columns, suite.worst_case, suite.formats) == (["pgd", "benign"], ["pgd"], ["md", "json"])
    assert suite.out_dir == Path.cwd() / "out/here"


def test_sha256_changes_with_the_resolved_config(tmp_path: Path) -> None:
    a = load_suite(write(tmp_path / "a.yaml", base_suite()), known_models=MODELS)
    data = base_suite()
    data["attacks"][1]["params"]["steps"] = 10  # the default: same resolved suite
    b = load_suite(write(tmp_path / "b.yaml", data), known_models=MODELS)
    data["attacks"][1]["params"]["steps"] = 11
    c = load_suite(write(tmp_path / "c.yaml", data), known_models=MODELS)
    assert a.sha256 == b.sha256 != c.sha256


def test_example_indices() -> None:
    assert ExampleSelection("test", 3, 4, None).indices(10).tolist() == [4, 5, 6]
    drawn = ExampleSelection("test", 5, None, 7).indices(100)
    assert drawn.dtype == torch.long
    assert drawn.tolist() == sorted(set(drawn.tolist())) and len(drawn) == 5
    assert torch.equal(drawn, ExampleSelection("test", 5, None, 7).indices(100))
    with pytest.raises(BenchError, match="exceeds"):
        ExampleSelection("test", 3, 8, None).indices(10)
    with pytest.raises(BenchError, match="exceeds"):
        ExampleSelection("test", 11, None, 0).indices(10)


def test_select_models() -> None:
    cards = {
        "A": SimpleNamespace(id="A", tags=["ecoc"], dataset="mnist", path="A/card.yaml"),
        "B": SimpleNamespace(id="B", tags=["softmax"], dataset="mnist", path="B/card.yaml"),
        "C": SimpleNamespace(id="C", tags=["ecoc", "table1"], dataset="mnist", path="C/card.yaml"),
        "F": SimpleNamespace(id="F", tags=["ecoc", "table1"], dataset="fashion_mnist", path="F/card.yaml"),
    }
    suite = SimpleNamespace(name="s", models="all", dataset="mnist", path="s.yaml")
    suite.check_dataset = lambda card: suite_mod.Suite.check_dataset(suite, card)
    assert suite_mod.Suite.select_models(suite, cards) == ["A", "B", "C"]  # F: another dataset, left out
    suite.models = ["C", "A"]
    assert suite_mod.Suite.select_models(suite, cards) == ["A", "C"]
    suite.models = {"ids": ["B"], "tags": ["table1"]}
    assert suite_mod.Suite.select_models(suite, cards) == ["B", "C"]
    suite.models = ["Nope"]
    with pytest.raises(BenchError, match="unknown model"):
        suite_mod.Suite.select_models(suite, cards)
    suite.models = ["A", "F"]  # named by id: refused, naming both datasets
    with pytest.raises(BenchError, match="dataset mnist, model 'F' on fashion_mnist"):
        suite_mod.Suite.select_models(suite, cards)


# --- include, override, drop ----------------------------------------------------------------------


def test_include_override_drop(tmp_path: Path) -> None:
    base = base_suite() | {"leaderboard": {"columns": ["benign", "pgd"]}, "examples": {"count": 50, "offset": 10}}
    write(tmp_path / "suites" / "base.yaml", base)
    variant = write(tmp_path / "suites" / "variant.yaml", """
include: base.yaml
name: smoke_quick
examples: {seed: 1}
attacks:
  - {id: pgd, params: {steps: 3}}
  - {id: benign, drop: true}
  - {id: pgd2, kind: _test_gradient, backend: native}
leaderboard: {columns: [pgd2, pgd]}
""")
    suite = load_suite(variant, known_models=MODELS)
    assert suite.name == "smoke_quick" and suite.version == 1
    assert [a.id for a in suite.attacks] == ["pgd", "pgd2"]
    assert suite.attack("pgd").params == {"eps": 0.2, "steps": 3, "alpha": 0.8}
    assert suite.attack("pgd").backend == "art"
    assert suite.examples == ExampleSelection("test", 50, None, 1)
    assert suite.columns == ["pgd2", "pgd"]
    assert "include" not in suite.resolved
    assert suite.sha256 != load_suite(tmp_path / "suites" / "base.yaml", known_models=MODELS).sha256


def test_include_list_nested_and_relative(tmp_path: Path) -> None:
    write(tmp_path / "common" / "core.yaml", {"dataset": "mnist", "version": 2, "attacks": [{"id": "benign", "kind": "_test_plain"}]})
    write(tmp_path / "common" / "more.yaml", {"include": "core.yaml", "batch_size": 10})
    write(tmp_path / "common" / "extra.yaml", {"attacks": [{"id": "pgd", "kind": "_test_gradient", "backend": "foolbox"}]})
    top = write(tmp_path / "suites" / "top.yaml", {"name": "t", "include": ["../common/more.yaml", "../common/extra.yaml"]})
    suite = load_suite(top, known_models=MODELS)
    assert (suite.version, suite.batch_size) == (2, 10)
    assert [a.id for a in suite.attacks] == ["benign", "pgd"]


def test_problem_in_included_file_names_that_file(tmp_path: Path) -> None:
    base = base_suite()
    base["attacks"][1]["params"]["eps"] = -0.1
    base_path = write(tmp_path / "base.yaml", base)
    variant = write(tmp_path / "v.yaml", {"include": "base.yaml", "attacks": [{"id": "x", "kind": "_test_plain"}, {"id": "pgd", "params": {"alpha": 2.0}}]})
    problems = validate_suite_file(variant, known_models=MODELS)
    assert problems == [
        f"{base_path}: attacks[1].params.eps: must be >= 0, got -0.1",
        f"{variant}: attacks[1].params.alpha: must be in (0, 1], got 2.0",
    ]


def test_include_cycle(tmp_path: Path) -> None:
    write(tmp_path / "a.yaml", {"include": "b.yaml"})
    write(tmp_path / "b.yaml", {"include": "a.yaml"})
    problems = validate_suite_file(tmp_path / "a.yaml", known_models=MODELS)
    assert len(problems) == 1
    assert problems[0].startswith(f"{tmp_path / 'b.yaml'}: include: cycle ")


def test_missing_include(tmp_path: Path) -> None:
    path = write(tmp_path / "v.yaml", {"include": "gone.yaml", "name": "v"})
    assert validate_suite_file(path) == [f"{path}: include: file not found: {tmp_path / 'gone.yaml'}"]


def test_drop_of_unknown_attack(tmp_path: Path) -> None:
    data = base_suite()
    data["attacks"].append({"id": "nope", "drop": True})
    assert problems_for(tmp_path, data) == [f"{tmp_path / 'x.yaml'}: attacks[2].drop: no attack 'nope' to drop"]


# --- problems -------------------------------------------------------------------------------------


def test_missing_file_and_invalid_yaml(tmp_path: Path) -> None:
    missing = tmp_path / "none.yaml"
    assert validate_suite_file(missing) == [f"{missing}: file not found"]
    bad = write(tmp_path / "bad.yaml", "name: [unclosed\nversion: 1\n")
    (line,) = validate_suite_file(bad)
    assert line.startswith(f"{bad}: invalid YAML: ") and "\n" not in line
    with pytest.raises(ValidationError) as info:
        load_suite(bad)
    assert info.value.problems == [line]
    assert validate_suite_file(write(tmp_path / "list.yaml", "- 1\n")) == [f"{tmp_path / 'list.yaml'}: must be a mapping of suite keys, got list"]


def test_example_ranges_past_the_split_are_caught_by_validate(tmp_path: Path) -> None:
    """Before: `bench validate` said ok and `--plan` listed cells a run could not compute."""
    data = base_suite()
    data["examples"] = {"split": "test", "count": 50, "offset": 9990}
    assert problems_for(tmp_path, data) == [
        f"{tmp_path / 'x.yaml'}: examples: offset 9990 + count 50 exceeds the 10000 examples of the mnist test split"]
    data = base_suite()
    data["attacks"][1]["examples"] = {"count": 70_000, "seed": 3}
    assert problems_for(tmp_path, data) == [
        f"{tmp_path / 'x.yaml'}: attacks[1].examples: count 70000 exceeds the 10000 examples of the mnist test split"]
    data["attacks"][1]["examples"] = {"split": "train", "count": 60_000, "offset": 0}  # the whole split fits
    assert problems_for(tmp_path, data) == []


@pytest.mark.parametrize("kind, eps, ok", [("pgd_linf", 1.0, True), ("pgd_linf", 1.5, False), ("pgd_linf", 0.0, True),
                                           ("pgd_l2", 1.5, True), ("cascade", 1.2, False), ("cascade", 0.0, False)])
def test_an_linf_budget_must_lie_in_the_input_range(tmp_path: Path, kind: str, eps: float, ok: bool) -> None:
    data = base_suite()
    data["attacks"][1] = {"id": "a", "kind": kind, "params": {"eps": eps}, **({} if kind == "cascade" else {"backend": "native"})}
    problems = problems_for(tmp_path, data)
    assert (problems == []) == ok, problems
    assert ok or any("attacks[1].params.eps: must be in" in p for p in problems)


class _Delete:
    """Sentinel: remove the key instead of setting it."""

    def __repr__(self) -> str:
        return "<deleted>"

    def __deepcopy__(self, memo: dict[int, Any]) -> _Delete:
        return self


_DELETE = _Delete()


def _set(data: dict[str, Any], dotted: str, value: Any) -> None:
    """Set (or with _DELETE remove) a dotted key; numbers index lists."""
    keys: list[Any] = [int(k) if k.isdigit() else k for k in dotted.split(".")]
    for key in keys[:-1]:
        data = data[key] if isinstance(key, int) else data.setdefault(key, {})
    if value is _DELETE:
        del data[keys[-1]]
    else:
        data[keys[-1]] = value


CASES = [
    ("foo", 1, "unknown key 'foo'"),
    ("name", _DELETE, "missing required key 'name'"),
    ("version", _DELETE, "missing required key 'version'"),
    ("dataset", _DELETE, "missing required key 'dataset'"),
    ("attacks", _DELETE, "missing required key 'attacks'"),
    ("attacks", [], "attacks: must list at least one attack"),
    ("name", "has space", "name: must match"),
    ("version", 1.5, "version: must be an integer or a string, got 1.5"),
    ("dataset", "svhn", "dataset: must be one of cifar10, fashion_mnist, mnist, got 'svhn'"),
    ("seed", -1, "seed: must be >= 0, got -1"),
    ("device", "gpu", "device: must be one of auto, cpu, cuda, got 'gpu'"),
    ("batch_size", 0, "batch_size: must be > 0, got 0"),
    ("examples.count", 0, "examples.count: must be > 0, got 0"),
    ("examples.count", "10", "examples.count: must be an integer, got '10'"),
    ("examples.count", True, "examples.count: must be an integer, got True"),
    ("examples.offset", -1, "examples.offset: must be >= 0, got -1"),
    ("examples.split", "val", "examples.split: must be one of test, train, got 'val'"),
    ("examples.size", 3, "examples: unknown key 'size'"),
    ("examples", {"count": 5, "offset": 0, "seed": 1}, "examples: give offset or seed, not both"),
    ("models", ["Softmax", "Nope"], "models: unknown model 'Nope' (registered: Logistic, Softmax, TanhEns16)"),
    ("models", {"ids": ["Nope"]}, "models.ids: unknown model 'Nope'"),
    ("models", {"names": ["Softmax"]}, "models: unknown key 'names'"),
    ("models", "some", "models: must be 'all'"),
    ("attacks.0.kind", "pgdd", "attacks[0]: unknown attack kind 'pgdd' (known: "),
    ("attacks.0.kind", _DELETE, "attacks[0]: missing required key 'kind'"),
    ("attacks.1.id", _DELETE, "attacks[1]: missing required key 'id'"),
    ("attacks.1.id", "benign", "attacks[1].id: duplicate attack id 'benign' (also attacks[0])"),
    ("attacks.1.id", "a b", "attacks[1].id: must match"),
    ("attacks.1.foo", 1, "attacks[1]: unknown key 'foo'"),
    ("attacks.1.params.eps", -0.1, "attacks[1].params.eps: must be >= 0, got -0.1"),
    ("attacks.1.params.steps", 2.5, "attacks[1].params.steps: must be int, got 2.5"),
    ("attacks.1.params.epsilon", 0.1, "attacks[1].params.epsilon: unknown parameter"),
    ("attacks.1.params", [1], "attacks[1].params: must be a mapping"),
    ("attacks.1.backend", "cleverhans", "attacks[1].backend: unknown backend 'cleverhans' (known: art, foolbox, native, torchattacks)"),
    ("attacks.1.backend", _DELETE, "attacks[1]: missing required key 'backend' (kind '_test_gradient' runs on: art, foolbox, native)"),
    ("attacks.0.backend", "art", "attacks[0].backend: kind '_test_plain' takes no backend, got 'art'"),
    ("attacks.1.examples.count", -3, "attacks[1].examples.count: must be > 0, got -3"),
    ("attacks.1.examples.first", 3, "attacks[1].examples: unknown key 'first'"),
    ("attacks.1.label", 5, "attacks[1].label: must be a non-empty string, got 5"),
    ("attacks.1.drop", "yes", "attacks[1].drop: must be true or false, got 'yes'"),
    ("attacks.1", "pgd", "attacks[1]: must be a mapping"),
    ("leaderboard.columns", ["benign", "cw"], "leaderboard.columns: unknown attack id 'cw' (attacks: benign, pgd)"),
    ("leaderboard.worst_case", ["bsa"], "leaderboard.worst_case: unknown attack id 'bsa'"),
    ("leaderboard.order", ["pgd"], "leaderboard: unknown key 'order'"),
    ("outputs.formats", ["md", "pdf"], "outputs.formats: unknown format 'pdf' (known: md, csv, json, html)"),
    ("outputs.where", "x", "outputs: unknown key 'where'"),
]


@pytest.mark.parametrize(("key", "value", "expected"), CASES, ids=[f"{k}={v!r}"[:40] for k, v, _ in CASES])
def test_each_mistake_is_one_named_line(tmp_path: Path, key: str, value: Any, expected: str) -> None:
    data = base_suite()
    _set(data, key, copy.deepcopy(value))
    problems = problems_for(tmp_path, data)
    prefix = f"{tmp_path / 'x.yaml'}: "
    assert any(p.startswith(prefix + expected) for p in problems), problems
    assert all(p.startswith(prefix) and "\n" not in p for p in problems), problems
    with pytest.raises(ValidationError):
        load_suite(tmp_path / "x.yaml", known_models=MODELS)


def test_source_attack_must_name_another_attack(tmp_path: Path) -> None:
    data = base_suite()
    data["attacks"].append({"id": "tr", "kind": "_test_transfer", "params": {"source_attack": "pgd"}})
    suite = load_suite(write(tmp_path / "x.yaml", data), known_models=MODELS)
    assert suite.attack("tr").params == {"source_attack": "pgd"}
    for bad in ("cw", "tr"):
        data["attacks"][2]["params"]["source_attack"] = bad
        assert problems_for(tmp_path, data) == [
            f"{tmp_path / 'x.yaml'}: attacks[2].params.source_attack: must name another attack of this suite, "
            f"got '{bad}' (attacks: benign, pgd)"
        ]


def test_worst_case_needs_per_example_attacks(tmp_path: Path) -> None:
    data = base_suite() | {"leaderboard": {"worst_case": ["pgd", "tr"]}}
    data["attacks"].append({"id": "tr", "kind": "_test_transfer", "params": {"source_attack": "pgd"}})
    assert problems_for(tmp_path, data) == [
        f"{tmp_path / 'x.yaml'}: leaderboard.worst_case: attack 'tr' (_test_transfer) has no per-example verdicts"
    ]


def test_all_problems_are_reported_together(tmp_path: Path) -> None:
    data = base_suite() | {"foo": 1, "device": "gpu"}
    data["attacks"][1]["params"]["eps"] = -1
    assert len(problems_for(tmp_path, data)) == 3


def test_models_checked_against_the_zoo_by_default(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write(tmp_path / "x.yaml", base_suite() | {"models": ["Nope"]})
    monkeypatch.setattr(suite_mod, "all_cards", lambda: {"Softmax": None})
    assert validate_suite_file(path) == [f"{path}: models: unknown model 'Nope' (registered: Softmax)"]

    def unreadable() -> dict[str, Any]:
        raise BenchError("zoo/x/card.yaml: invalid YAML")

    monkeypatch.setattr(suite_mod, "all_cards", unreadable)
    assert validate_suite_file(path) == []


def test_malformed_sections(tmp_path: Path) -> None:
    prefix = f"{tmp_path / 'x.yaml'}: "
    assert problems_for(tmp_path, base_suite() | {"leaderboard": ["pgd"], "outputs": "out"}) == [
        prefix + "leaderboard: must be a mapping with columns and worst_case, got ['pgd']",
        prefix + "outputs: must be a mapping with dir and formats, got 'out'",
    ]


# --- worst case for each eps --------------------------------------------------------------------


def _eps_suite() -> dict[str, Any]:
    data = base_suite()
    data["attacks"] += [
        {"id": "pgd_01", "kind": "_test_gradient", "backend": "native", "params": {"eps": 0.1}},
        {"id": "adaptive_01", "kind": "_test_gradient", "backend": "native", "params": {"eps": 0.1, "steps": 20}},
    ]
    return data


def test_worst_case_mapping_gives_one_group_per_eps(tmp_path: Path) -> None:
    text = yaml.safe_dump(_eps_suite(), sort_keys=False) + (
        "leaderboard:\n  worst_case:\n    0.1: [benign, pgd_01, adaptive_01]\n    '0.2': [benign, pgd]\n"
    )
    suite = load_suite(write(tmp_path / "x.yaml", text), known_models=MODELS)
    assert suite.worst_case == {"0.1": ["benign", "pgd_01", "adaptive_01"], "0.2": ["benign", "pgd"]}
    assert suite.worst_case_groups == suite.worst_case
    assert suite.resolved["leaderboard"]["worst_case"] == suite.worst_case  # canonical string keys
    # the list form is unchanged: one group
    data = _eps_suite() | {"leaderboard": {"worst_case": ["benign", "pgd"]}}
    suite = load_suite(write(tmp_path / "y.yaml", data), known_models=MODELS)
    assert (suite.worst_case, suite.worst_case_groups) == (["benign", "pgd"], {"": ["benign", "pgd"]})
    assert suite.resolved["leaderboard"]["worst_case"] == ["benign", "pgd"]


def test_worst_case_mapping_overrides_key_by_key_through_include(tmp_path: Path) -> None:
    write(tmp_path / "base.yaml", _eps_suite() | {"leaderboard": {"worst_case": {0.1: ["pgd_01"], 0.2: ["pgd"]}}})
    top = write(tmp_path / "top.yaml", "include: base.yaml\nleaderboard:\n  worst_case:\n    0.1: [benign, pgd_01]\n")
    suite = load_suite(top, known_models=MODELS)
    assert suite.worst_case == {"0.1": ["benign", "pgd_01"], "0.2": ["pgd"]}


WORST_CASES = [
    ({"abc": ["pgd"]}, "leaderboard.worst_case.abc: key must be an eps (a number > 0), got 'abc'"),
    ({0: ["pgd"]}, "leaderboard.worst_case.0: key must be an eps (a number > 0), got 0"),
    ({0.1: ["pgd_01"], "1e-1": ["adaptive_01"]}, "leaderboard.worst_case.1e-1: eps 0.1 listed twice"),
    ({0.1: ["benign", "pgd"]}, "leaderboard.worst_case.0.1: attack 'pgd' has eps 0.2, not 0.1"),
    ({0.1: ["cw"]}, "leaderboard.worst_case.0.1: unknown attack id 'cw'"),
    ({0.1: []}, "leaderboard.worst_case.0.1: must be a non-empty list of attack ids, got []"),
    ({0.1: "pgd_01"}, "leaderboard.worst_case.0.1: must be a non-empty list of attack ids, got 'pgd_01'"),
    ({}, "leaderboard.worst_case: must be a non-empty list of attack ids, or a mapping from eps to non-empty lists"),
    ("pgd", "leaderboard.worst_case: must be a non-empty list of attack ids, or a mapping from eps to non-empty lists"),
]


@pytest.mark.parametrize(("spec", "expected"), WORST_CASES, ids=[e.split(": ", 1)[1][:40] for _, e in WORST_CASES])
def test_worst_case_mapping_mistakes_are_one_named_line(tmp_path: Path, spec: Any, expected: str) -> None:
    problems = problems_for(tmp_path, _eps_suite() | {"leaderboard": {"worst_case": spec}})
    assert len(problems) == 1 and problems[0].startswith(f"{tmp_path / 'x.yaml'}: {expected}"), problems


def test_worst_case_mapping_problem_names_the_included_file(tmp_path: Path) -> None:
    base = write(tmp_path / "base.yaml", _eps_suite() | {"leaderboard": {"worst_case": {0.1: ["pgd"]}}})
    top = write(tmp_path / "top.yaml", {"include": "base.yaml", "leaderboard": {"columns": ["pgd"]}})
    assert validate_suite_file(top, known_models=MODELS) == [
        f"{tmp_path / 'base.yaml'}: leaderboard.worst_case.0.1: attack 'pgd' has eps 0.2, not 0.1"
    ]
    assert base.is_file()


def test_a_late_parameter_at_its_default_keeps_config_hashes() -> None:
    """CW's ``minimize`` came after CW cells existed: at its default it must not invalidate them."""
    import dataclasses

    import torch

    from bench.runner import config_hash
    from bench.suite import AttackConfig, ExampleSelection

    params = {"steps": 10, "binary_search_steps": 2, "initial_const": 0.01, "confidence": 0.0, "lr": 0.01,
              "surface": "logprob", "abort_early": True}
    cfg = AttackConfig("cw", "cw_l2", "native", params, ExampleSelection("test", 3), "CW")
    h = config_hash(cfg, torch.arange(3), "ab", 0, "mnist")
    assert config_hash(dataclasses.replace(cfg, params={**params, "minimize": True}), torch.arange(3), "ab", 0, "mnist") == h
    assert config_hash(dataclasses.replace(cfg, params={**params, "minimize": False}), torch.arange(3), "ab", 0, "mnist") != h
    assert config_hash(dataclasses.replace(cfg, params={**params, "steps": 11}), torch.arange(3), "ab", 0, "mnist") != h


def test_a_late_parameter_at_its_default_leaves_the_suite_digest_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    """A parameter added to a kind later (``late``, with a default that reproduces earlier results)
    must not make every suite using the kind a changed suite: bench check is strict on n then."""
    from bench.attacks import get_kind
    from bench.attacks.spec import Param
    from bench.suite import load_suite

    path = Path(__file__).resolve().parents[1] / "suites" / "mnist_smoke.yaml"
    before = load_suite(path).sha256
    kind = get_kind("pgd_linf")
    monkeypatch.setattr(type(kind), "params", {**kind.params, "_added": Param(int, 0, None, "test", late=True)})
    assert load_suite(path).sha256 == before
    monkeypatch.setattr(type(kind), "params", {**kind.params, "_added": Param(int, 0, None, "test")})
    assert load_suite(path).sha256 != before
