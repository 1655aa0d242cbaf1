"""docs/extending.md's recipes, tried from scratch: the code is taken from the page itself, so the
page cannot drift from what works. An attack kind is registered and run through the runner on a
tiny model; a model folder is written, hashed, registered with `bench zoo add` and evaluated."""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
import yaml

from bench.attacks.base import KINDS, AttackKind, get_kind
from bench.cli import main
from bench.data import load_mnist
from bench.results import ResultsStore

DOC = Path(__file__).resolve().parents[1] / "docs" / "extending.md"


def blocks(section: str) -> dict[str, str]:
    """The fenced code blocks of one ``## section`` of the page, by the path on their first line
    (``# zoo/x/card.yaml``), or by their language when they name none."""
    text = DOC.read_text()
    start = text.index(f"## {section}\n")
    end = text.find("\n## ", start + 1)
    out = {}
    for lang, code in re.findall(r"```(\w+)\n(.*?)```", text[start : end if end > 0 else None], re.S):
        first = code.splitlines()[0]
        key = first[2:].strip() if first.startswith("# ") and "/" in first else lang
        out.setdefault(key, code)
    return out


@pytest.fixture
def shift_kind() -> Iterator[AttackKind]:
    """The page's kind, registered for this test only."""
    code = blocks("Adding an attack kind")["bench/attacks/kinds/shift.py"]
    exec(compile(code, "bench/attacks/kinds/shift.py", "exec"), {"__name__": "shift_recipe"})  # noqa: S102 (our own docs)
    try:
        yield get_kind("shift")
    finally:
        KINDS.unregister("shift")


def write_suite(tmp_path: Path, name: str, models: list[str], attacks: list[dict]) -> Path:
    suite = {"name": name, "version": 1, "dataset": "mnist", "seed": 0, "batch_size": 50,
             "examples": {"split": "test", "count": 30, "offset": 0}, "models": models, "attacks": attacks,
             "outputs": {"dir": str(tmp_path / name), "formats": ["md"]}}
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(suite))
    return path


def test_the_attack_kind_recipe_runs_end_to_end(tiny_zoo: Path, tmp_path: Path, shift_kind: AttackKind,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    from bench import zoo

    snippet = yaml.safe_load(blocks("Adding an attack kind")["yaml"])["attacks"]
    bad = write_suite(tmp_path, "bad", ["tiny-linear"], [{**snippet[0], "params": {"eps": -1}}])
    assert main(["validate", str(bad)]) == 2
    err = capsys.readouterr()
    assert "attacks[0].params.eps: must be >= 0, got -1" in err.out + err.err

    path = write_suite(tmp_path, "shift", ["tiny-linear", "tiny-constant"], snippet)
    assert main(["run", str(path), "--no-progress", "--no-leaderboard", "--device", "cpu"]) == 0
    store = ResultsStore(tmp_path / "shift")
    split = load_mnist("test")
    x, y = split.x[:30], split.y[:30]
    for model_id in ("tiny-linear", "tiny-constant"):
        cell = store.read_cell(model_id, "shift")
        assert cell is not None and cell["kind"] == "shift" and cell["n"] == 30
        model = zoo.load(model_id)
        moved = (x + 0.1 * torch.where(x < 0.5, -1.0, 1.0)).clamp(0, 1)
        by_hand = ((model.predict(x) == y) & (model.predict(moved) == y)).float().mean()
        assert cell["value"] == pytest.approx(float(by_hand))
    capsys.readouterr()
    assert main(["ls", "attacks", "--params"]) == 0
    assert any(line.split()[:2] == ["shift", "eps"] for line in capsys.readouterr().out.splitlines())


def test_attack_is_final_and_counts_only_verified_candidates(shift_kind: AttackKind) -> None:
    with pytest.raises(TypeError, match="final"):
        type("Sneaky", (AttackKind,), {"attack": lambda self, *a, **k: None})
    from tiny_models import build_linear

    from bench.attacks import Context

    model = build_linear().eval()
    x, y = torch.full((4, 1, 28, 28), 0.25), torch.zeros(4, dtype=torch.long)
    ctx = Context(device=torch.device("cpu"), seed=0, batch_size=4)
    params = shift_kind.resolve({"eps": 0.1})
    far = shift_kind.attack(model, x, y, params, None, ctx, generate=lambda x_ref, y_: torch.rand_like(x_ref))
    assert not far.broken.any() and far.verdict.stats["verified"] == 0  # out of budget: never counted
    assert far.verdict.stats["claimed"] == far.verdict.stats["rejected_budget"]


def test_the_model_recipe_registers_and_runs(mnist_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    from bench.zoo.registry import sha256_file

    files = blocks("Adding a model")
    folder = tmp_path / "submission" / "tiny_mlp"
    folder.mkdir(parents=True)
    for rel in ("tiny_mlp/tiny_mlp.py", "tiny_mlp/card.yaml", "tiny_mlp/make_weights.py"):
        (folder / Path(rel).name).write_text(files[rel])
    subprocess.run([sys.executable, "make_weights.py"], cwd=folder, check=True)
    (folder / "make_weights.py").unlink()
    card = folder / "card.yaml"
    card.write_text(card.read_text().replace("SHA256", sha256_file(folder / "weights.safetensors")))

    zoo_dir = tmp_path / "zoo"
    monkeypatch.setenv("BENCH_ZOO_PATH", str(zoo_dir))
    assert main(["zoo", "add", str(folder), "--zoo-dir", str(zoo_dir), "--data-dir", str(mnist_dir)]) == 0
    assert "registered TinyMLP" in capsys.readouterr().out
    assert main(["ls", "models"]) == 0
    assert any(line.split()[:1] == ["TinyMLP"] and " ok " in line for line in capsys.readouterr().out.splitlines())

    path = write_suite(tmp_path, "mlp", ["TinyMLP"], [{"id": "benign", "kind": "benign"},
                                                       {"id": "pgd", "kind": "pgd_linf", "backend": "native",
                                                        "params": {"eps": 0.1, "steps": 5, "step_size": 0.03}}])
    assert main(["run", str(path), "--no-progress", "--no-leaderboard", "--device", "cpu"]) == 0
    store = ResultsStore(tmp_path / "mlp")
    assert store.cells() == [("TinyMLP", "benign"), ("TinyMLP", "pgd")]
    assert store.read_cell("TinyMLP", "pgd")["checkpoint_sha256"] == sha256_file(zoo_dir / "tiny_mlp" / "weights.safetensors")
