"""`bench zoo add` and `bench zoo submit-check`: every rejection is its own one-line message, a valid
submission lands atomically in a (temporary) zoo, and the sanity checks flag gradient masking."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import torch
import yaml
from safetensors.torch import save_file

from bench import zoo
from bench.cli import main
from bench.zoo.registry import sha256_file
from bench.zoo.submit import folder_name

MODEL_PY = '''
import torch
from torch import nn

from bench.models.base import Classifier


class Lin(Classifier):
    def __init__(self, out=10, noise=False, flat=False, shadow=False):
        super().__init__()
        self.fc = nn.Linear(784, out)
        self.noise, self.flat = noise, flat
        if shadow:
            self.surface = nn.Identity()  # names a Classifier method

    def log_probs(self, x):
        z = self.fc(x.flatten(1) * (0 if self.flat else 1))
        if self.noise:
            z = z + torch.randn_like(z)
        return torch.log_softmax(z, 1)


def build(out=10, noise=False, flat=False, shadow=False):
    return Lin(out, noise, flat, shadow)
'''


def make_submission(root: Path, model_id: str = "TinySub", config: dict[str, Any] | None = None,
                    card: dict[str, Any] | None = None, extra_weight: bool = False) -> Path:
    folder = root / f"sub-{model_id}"
    folder.mkdir(parents=True)
    (folder / "model.py").write_text(MODEL_PY)
    (folder / ".gitignore").write_text("training/\n")
    torch.manual_seed(0)
    out = (config or {}).get("out", 10)
    state = {"fc.weight": torch.randn(out, 784) * 0.05, "fc.bias": torch.zeros(out)}
    if extra_weight:
        state["fc.extra"] = torch.zeros(3)
    save_file(state, str(folder / "weights.safetensors"))
    data = {
        "id": model_id, "family": "test", "description": "a submission under test", "tags": ["sub"],
        "source": {"paper": "tests"}, "architecture": "linear 784-10", "factory": "model:build",
        "config": dict(config or {}),
        "checkpoint": {"file": "weights.safetensors", "sha256": sha256_file(folder / "weights.safetensors")},
    }
    data.update(card or {})
    (folder / "card.yaml").write_text(yaml.safe_dump(data, sort_keys=False))
    return folder


def add(folder: Path, zoo_dir: Path, *flags: str) -> int:
    return main(["zoo", "add", str(folder), "--zoo-dir", str(zoo_dir), *flags])


def one_error_line(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    return err[0]


def test_folder_names_follow_the_zoo_convention() -> None:
    assert folder_name("TanhEns16") == "tanh_ens16"
    assert folder_name("Learnable16-l0.3") == "learnable16_l03"
    assert folder_name("MadrySmall") == "madry_small"
    assert folder_name("madry_small") == "madry_small"


def test_valid_submission_is_registered_atomically(tiny_zoo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "zoo"
    folder = make_submission(tmp_path)
    assert add(folder, target) == 0
    out = capsys.readouterr().out
    assert "registered TinySub" in out and "deterministic" in out and "gradients finite" in out
    assert sorted(p.name for p in target.iterdir()) == ["tiny_sub"]  # no temp folder left
    assert sorted(p.name for p in (target / "tiny_sub").iterdir()) == ["card.yaml", "model.py", "weights.safetensors"]
    monkeypatch.setenv("BENCH_ZOO_PATH", f"{tiny_zoo}{os.pathsep}{target}")
    model = zoo.load("TinySub")
    assert model.log_probs(torch.rand(2, 1, 28, 28)).shape == (2, 10)
    # the id is now taken
    assert add(make_submission(tmp_path / "again"), target) == 1
    assert "already exists" in one_error_line(capsys)


def test_target_from_environment(tiny_zoo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BENCH_ZOO_TARGET", str(tmp_path / "envzoo"))
    assert main(["zoo", "add", str(make_submission(tmp_path, "EnvSub"))]) == 0
    assert (tmp_path / "envzoo" / "env_sub" / "card.yaml").is_file()


def test_id_check_only_needs_no_weights_and_writes_nothing(tiny_zoo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = make_submission(tmp_path)
    (folder / "weights.safetensors").unlink()
    target = tmp_path / "zoo"
    assert add(folder, target, "--id-check-only") == 0
    assert "nothing written" in capsys.readouterr().out and not target.exists()
    assert add(make_submission(tmp_path / "x", "tiny-linear"), target, "--id-check-only") == 1
    assert "already exists" in one_error_line(capsys)


def test_bad_hash_is_rejected(tiny_zoo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = make_submission(tmp_path, card={"checkpoint": {"file": "weights.safetensors", "sha256": "0" * 64}})
    assert add(folder, tmp_path / "zoo") == 1
    line = one_error_line(capsys)
    assert "sha256" in line and "does not match" in line and "weights.safetensors" in line
    assert not (tmp_path / "zoo").exists()


def test_wrong_output_shape_is_rejected(tiny_zoo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert add(make_submission(tmp_path, config={"out": 5}), tmp_path / "zoo") == 1
    line = one_error_line(capsys)
    assert "TinySub" in line and "shape (8, 5)" in line and "expected (8, 10)" in line


def test_nondeterministic_model_is_rejected_unless_declared(tiny_zoo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert add(make_submission(tmp_path, config={"noise": True}), tmp_path / "zoo") == 1
    line = one_error_line(capsys)
    assert "nondeterministic" in line and "randomized: true" in line
    declared = make_submission(tmp_path / "r", "RandSub", config={"noise": True}, card={"randomized": True})
    assert add(declared, tmp_path / "zoo") == 0
    assert "randomized: true" in capsys.readouterr().out


def test_zero_input_gradient_is_rejected(tiny_zoo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert add(make_submission(tmp_path, config={"flat": True}), tmp_path / "zoo") == 1
    assert "all zero" in one_error_line(capsys)


def test_checkpoint_that_does_not_fit_is_rejected(tiny_zoo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert add(make_submission(tmp_path, extra_weight=True), tmp_path / "zoo") == 1
    line = one_error_line(capsys)
    assert "does not fit" in line and "fc.extra" in line


def test_attribute_shadowing_a_classifier_method_is_rejected(tiny_zoo: Path, tmp_path: Path,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    assert add(make_submission(tmp_path, config={"shadow": True}), tmp_path / "zoo") == 1
    assert "surface shadow methods of bench.models.Classifier" in one_error_line(capsys)


def test_malformed_card_is_rejected(tiny_zoo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = make_submission(tmp_path, card={"bogus": 1})
    assert add(folder, tmp_path / "zoo") == 2  # schema problems: ValidationError, one line each
    line = one_error_line(capsys)
    assert str(folder / "card.yaml") in line and "unknown key 'bogus'" in line
    (folder / "card.yaml").write_text("id: [unclosed\n")
    assert add(folder, tmp_path / "zoo") == 1
    assert "invalid YAML" in one_error_line(capsys)
    other = make_submission(tmp_path / "f", card={"factory": "elsewhere:build"})
    assert add(other, tmp_path / "zoo") == 1
    assert "key 'factory'" in one_error_line(capsys)


def test_failed_registration_leaves_nothing_behind(tiny_zoo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    import bench.zoo.submit as submit

    def broken_rename(src: object, dst: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(submit.os, "rename", broken_rename)
    target = tmp_path / "zoo"
    assert add(make_submission(tmp_path), target) == 1
    assert "nothing was added" in one_error_line(capsys)
    assert list(target.iterdir()) == []


def test_errors_have_no_traceback(tiny_zoo: Path, tmp_path: Path) -> None:
    folder = make_submission(tmp_path, config={"out": 5})
    proc = subprocess.run([sys.executable, "-m", "bench.cli", "zoo", "add", str(folder), "--zoo-dir", str(tmp_path / "zoo")],
                          capture_output=True, text=True, env=dict(os.environ))
    assert proc.returncode == 1 and "Traceback" not in proc.stderr and len(proc.stderr.strip().splitlines()) == 1


SMOKE = {
    "name": "tiny_submit", "version": 1, "dataset": "mnist", "seed": 0, "batch_size": 50,
    "examples": {"split": "test", "count": 20, "offset": 100},
    "models": {"tags": ["tiny"]},
    "attacks": [
        {"id": "benign", "kind": "benign", "examples": {"count": 100, "offset": 0}},
        {"id": "pgd", "kind": "pgd_linf", "backend": "native", "params": {"eps": 0.3, "steps": 5, "step_size": 0.1}},
    ],
}


@pytest.fixture(scope="module")
def smoke(tiny_zoo: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A tiny suite and its committed results (the tiny models)."""
    root = tmp_path_factory.mktemp("smoke")
    suite = root / "tiny_submit.yaml"
    suite.write_text(yaml.safe_dump(dict(SMOKE, outputs={"dir": str(root / "committed")})))
    assert main(["run", str(suite), "--device", "cpu", "--no-progress", "--no-leaderboard"]) == 0
    return suite, root / "committed"


def test_submit_check_ranks_the_model(smoke: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    suite, committed = smoke
    assert main(["zoo", "submit-check", "tiny-linear", "--suite", str(suite), "--committed", str(committed),
                 "--out", str(tmp_path / "out"), "--no-progress", "--device", "cpu", "--strict"]) == 0
    out = capsys.readouterr().out
    assert "PASS  unbounded PGD" in out and "PASS  accuracy does not increase" in out
    assert "tiny-linear  <-- submission" in out and "ranked by pgd" in out
    assert (tmp_path / "out" / "cells" / "tiny-linear" / "pgd.json").is_file()
    assert not (tmp_path / "out" / "cells" / "tiny-constant").exists()  # the submission alone


def test_submit_check_warns_on_masked_gradients(smoke: tuple[Path, Path], capsys: pytest.CaptureFixture[str]) -> None:
    suite, committed = smoke
    assert main(["zoo", "submit-check", "tiny-masked", "--suite", str(suite), "--committed", str(committed),
                 "--no-progress", "--device", "cpu", "--strict"]) == 1
    out = capsys.readouterr().out
    assert "WARN  unbounded PGD" in out and "masked" in out


def _adv_card(tiny_zoo: Path, tmp_path: Path, name: str, adversarial: dict[str, Any]) -> Path:
    import shutil

    folder = tmp_path / name
    shutil.copytree(tiny_zoo / "tiny-linear", folder)
    (folder / "weights.safetensors").unlink()
    card = yaml.safe_load((folder / "card.yaml").read_text())
    card.update(id=name, checkpoint={"file": "weights.safetensors"}, training={
        "epochs": 2, "batch_size": 100, "lr": 1e-2, "noise_std": 0.0, "max_shift_px": 0.0, "max_rot_deg": 0.0, "seed": 1,
        "train_subset": {"split_seed": 1, "part": 0, "parts": 60}, "adversarial": adversarial})
    (folder / "card.yaml").write_text(yaml.safe_dump(card))
    return folder


def test_adversarial_training_recipe_resumes_exactly(tiny_zoo: Path, tmp_path: Path) -> None:
    """The worked example's recipe option: PGD batches, seeded per step, so resuming is exact."""
    from safetensors.torch import load_file

    from bench.train import train_model
    from bench.zoo.card import load_card

    adv = {"eps": 0.3, "steps": 2, "step_size": 0.1, "random_start": True, "warmup_epochs": 1}
    a, b = _adv_card(tiny_zoo, tmp_path, "adv-a", adv), _adv_card(tiny_zoo, tmp_path, "adv-b", adv)
    assert train_model(load_card(a), save_every_s=1e9)["finished"]
    assert train_model(load_card(b), max_epochs=1)["finished"] is False
    assert train_model(load_card(b))["finished"]
    wa, wb = load_file(str(a / "weights.safetensors")), load_file(str(b / "weights.safetensors"))
    assert all(torch.equal(wa[k], wb[k]) for k in wa)


def test_adversarial_recipe_rejects_unknown_keys(tiny_zoo: Path, tmp_path: Path) -> None:
    from bench.errors import BenchError
    from bench.train import train_model
    from bench.zoo.card import load_card

    folder = _adv_card(tiny_zoo, tmp_path, "adv-bad", {"eps": 0.3, "stepz": 7})
    with pytest.raises(BenchError, match=r"card.yaml: training.adversarial: unknown key\(s\) stepz"):
        train_model(load_card(folder))
