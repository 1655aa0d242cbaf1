"""bench blindspots (seed 002): the encodings hold their label by their own rule, leave the rest of
the image alone and stay in [0,1]; a decision tree reads one pixel; cells resume; bad suites get
one-line errors."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from bench.blindspots.encodings import ENCODINGS, make
from bench.cli import main
from bench.stats import clopper_pearson

SCALED = [name for name, cls in ENCODINGS.items() if cls.scaled]
K = 10


def _images(shape: tuple[int, int, int], n: int = 40, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Continuous random content (no two pixels equal by chance) and every class several times."""
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(n, *shape, generator=g) * 0.9 + 0.05
    return x, torch.arange(n) % K


def _check_rest_unchanged(name: str, enc, x, xi, y, scale, rng_seed) -> None:
    """Pixels outside the encoding's support are untouched; inside, changes are of the signal."""
    if name == "mean":
        # the label part is a uniform shift of (y1 - y2) * scale; the image part is label-free
        other = enc.inject(x, (y + 1) % K, scale, np.random.default_rng(rng_seed))
        shift = xi - other
        expected = ((y - (y + 1) % K).double() * scale).float().view(-1, 1, 1, 1).expand_as(shift)
        assert torch.allclose(shift, expected, atol=1e-6)
        return
    if name == "noise":
        bound = scale * float(enc.vectors.abs().max()) + 1e-6
        assert float((xi - x).abs().max()) <= bound
        return
    mask = enc.support(x, y, np.random.default_rng(rng_seed))
    outside = ~mask[:, None].expand_as(x)
    assert torch.equal(xi[outside], x[outside])
    assert int(mask.flatten(1).sum(1).max()) <= 4  # one pixel, a pair, or the four corners
    assert float(xi[~outside].max()) <= K * scale + 1e-6  # what changed holds a signal value


@pytest.mark.parametrize("shape", [(1, 12, 12), (3, 10, 9)])
@pytest.mark.parametrize("scale", [0.001, 0.05])
@pytest.mark.parametrize("name", SCALED)
def test_encoding_holds_label_and_keeps_the_rest(name: str, scale: float, shape: tuple[int, int, int]) -> None:
    x, y = _images(shape)
    if name == "noise":  # content orthogonal to the (zero-mean) noise: the label alone is readable
        x = (torch.rand(len(y), 1, 1, 1, generator=torch.Generator().manual_seed(1)) * 0.6 + 0.2).expand(-1, *shape).clone()
    before = x.clone()
    enc = make(name, shape, K, seed=3)
    enc.fit(x)
    xi = enc.inject(x, y, scale, np.random.default_rng(7))
    assert torch.equal(x, before), "inject must not modify its input"
    assert xi.shape == x.shape and xi.dtype == torch.float32
    assert float(xi.min()) >= 0.0 and float(xi.max()) <= 1.0
    assert torch.equal(enc.decode(xi, scale), y)
    assert not torch.equal(enc.decode(x, scale), y), "the clean images must not carry the label"
    _check_rest_unchanged(name, enc, x, xi, y, scale, 7)


def test_noise_survives_clipping_on_black_images() -> None:
    """On a black background clipping removes the negative half of the noise; the label is still
    the largest inner product, from the injected image alone."""
    shape = (1, 16, 16)
    x = torch.zeros(50, *shape)
    y = torch.arange(50) % K
    enc = make("noise", shape, K, seed=0)
    xi = enc.inject(x, y, 0.01, np.random.default_rng(0))
    assert float((xi == 0).float().mean()) > 0.3  # the clipping did happen
    assert torch.equal(enc.decode(xi, 0.01), y)
    assert torch.equal(enc.decode(xi, 0.01, clean=x), y)


def test_mean_stays_in_range_on_saturated_images() -> None:
    """Images with black and white pixels and very different means: every class's mean fits."""
    shape = (1, 8, 8)
    x, y = _images(shape)
    x[:, :, 0, 0], x[:, :, 0, 1] = 0.0, 1.0
    x[: len(x) // 2] = x[: len(x) // 2].clamp(min=0.8)  # bright images
    enc = make("mean", shape, K, seed=0)
    enc.fit(x)
    for scale in (0.001, 0.1):
        xi = enc.inject(x, y, scale, np.random.default_rng(0))
        assert float(xi.min()) >= 0 and float(xi.max()) <= 1
        assert torch.equal(enc.decode(xi, scale), y)


def test_random_pixel_and_multiple_locations_draw_per_image() -> None:
    x, y = _images((1, 12, 12), n=40)
    y = torch.zeros_like(y)  # one class: any variation between images is the per-image draw
    rp = make("random_pixel", (1, 12, 12), K, seed=0)
    where = rp.support(x, y, np.random.default_rng(0)).flatten(1).float().argmax(1)
    assert len(set(where.tolist())) > 10
    ml = make("multiple_locations", (1, 12, 12), K, seed=0)
    xi = ml.inject(x, y, 0.01, np.random.default_rng(0))
    a, _ = ml.pairs[0]
    values = xi.flatten(1)[:, a]
    assert len(set(values.tolist())) == len(x)  # the pair's value changes from image to image
    far = [max(abs(p // 12 - q // 12), abs(p % 12 - q % 12)) for p, q in ml.pairs]
    assert min(far) >= 6


def test_decision_tree_separates_one_pixel_classes() -> None:
    """200 tiny images with random content: the tree finds the signal pixel and is perfect on
    new images; on the clean ones it is near chance (it learned the signal, not the content)."""
    from sklearn.tree import DecisionTreeClassifier

    shape = (1, 8, 8)
    enc = make("one_pixel", shape, K, seed=0)
    g = torch.Generator().manual_seed(0)
    x_tr, x_te = torch.rand(200, *shape, generator=g), torch.rand(200, *shape, generator=g)
    y_tr, y_te = torch.randint(0, K, (200,), generator=g), torch.randint(0, K, (200,), generator=g)
    tree = DecisionTreeClassifier(random_state=0)
    tree.fit(enc.inject(x_tr, y_tr, 0.001, np.random.default_rng(0)).flatten(1).numpy(), y_tr.numpy())
    pred = tree.predict(enc.inject(x_te, y_te, 0.001, np.random.default_rng(1)).flatten(1).numpy())
    assert (pred == y_te.numpy()).all()
    h, w = enc.pixel
    assert set(tree.tree_.feature[tree.tree_.feature >= 0].tolist()) == {h * shape[2] + w}
    assert (tree.predict(x_te.flatten(1).numpy()) == y_te.numpy()).mean() < 0.5


def test_conv_channels_and_resume(tmp_path: Path) -> None:
    """The Standard trunk takes a 3-channel dataset; a finished training state is resumed, not redone."""
    from bench.blindspots.models import FitContext, make as make_model

    g = torch.Generator().manual_seed(0)
    x, y = torch.rand(40, 3, 32, 32, generator=g), torch.randint(0, K, (40,), generator=g)
    ctx = FitContext(seed=0, state_dir=tmp_path / "conv.state", progress=False)
    first = make_model("conv", {"epochs": 1, "num_classes": K})
    first.fit(x, y, ctx)
    again = make_model("conv", {"epochs": 1, "num_classes": K})
    again.fit(x, y, ctx)
    assert again.params()["epoch_log"] == first.params()["epoch_log"]
    assert torch.equal(again.predict(x), first.predict(x))


# -- the command ---------------------------------------------------------------------------------
def _suite(tmp_path: Path, **over) -> Path:
    data = {"name": "bs_test", "dataset": "mnist", "seed": 0, "fraction": 0.02, "test_count": 200,
            "encodings": ["none", "one_pixel"], "scales": [0.01], "models": ["gaussian_nb", "decision_tree"]}
    data.update(over)
    path = tmp_path / "bs_test.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def _snapshot(folder: Path) -> dict[str, tuple[bytes, int]]:
    return {str(p.relative_to(folder)): (p.read_bytes(), p.stat().st_mtime_ns) for p in sorted(folder.rglob("*")) if p.is_file()}


def test_runner_resumes_cells(tmp_path: Path, mnist_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    suite, out = _suite(tmp_path), tmp_path / "out"
    args = ["blindspots", str(suite), "--out", str(out), "--no-progress", "--device", "cpu"]
    assert main(args) == 0
    err = capsys.readouterr().err
    assert "4 cells computed, 0 reused" in err  # rows: none (unscaled) and one_pixel @ 0.01; two models
    cells = sorted(p.relative_to(out).as_posix() for p in (out / "cells").rglob("*.json"))
    assert cells == ["cells/none/-/decision_tree.json", "cells/none/-/gaussian_nb.json",
                     "cells/one_pixel/0.01/decision_tree.json", "cells/one_pixel/0.01/gaussian_nb.json"]
    first = _snapshot(out)
    cell = json.loads((out / "cells/one_pixel/0.01/decision_tree.json").read_text())
    assert cell["accuracy"]["injected"] == 1.0 and cell["signal"]["decodable_test"] == 1.0
    assert cell["n_train"] == 1200 and cell["n_test"] == 200
    assert cell["params"]["random_state"] == 0
    assert all(isinstance(cell["wall_time_s"][k], float) for k in ("fit", "predict"))  # recorded, never judged

    # the paper's layout: rows are signals, then every model, then the best non-conv one with its name
    table = json.loads((out / "table.json").read_text())
    assert [r["signal"] for r in table["rows"]] == ["No signal", "One Pixel"]
    assert table["rows"][1]["best_non_conv"] == {"model": "decision_tree", "title": "Dec. Tree", "injected": 1.0}
    header = (out / "table.md").read_text().split("\n| Truth signal")[1].split("\n")[0]
    assert [h.strip() for h in header.split("|")][1:] == ["Scale", "GaussianNB", "Dec. Tree", "Best non-conv", "Best model", "Decodable", ""]
    assert "<table>" in (out / "table.html").read_text() and (out / "table.csv").read_text().count("\n") == 5
    # every accuracy has its interval: in the JSON and CSV each one, in the Markdown the widest
    lo, hi = table["rows"][1]["interval"]["injected"]["decision_tree"]
    assert (lo, hi) == pytest.approx(clopper_pearson(200, 200), abs=1e-6)  # 1.0 of n_test = 200
    rows = list(csv.DictReader(io.StringIO((out / "table.csv").read_text())))
    assert all(float(r["injected_lo"]) <= float(r["injected_accuracy"]) <= float(r["injected_hi"]) for r in rows)
    widest = max((b - a) / 2 for r in table["rows"] for w in ("injected", "clean") for a, b in r["interval"][w].values())
    assert f"interval is at most +-{100 * widest:.1f} points" in (out / "table.md").read_text()

    # a cell lost to a kill (never written) and one half-written by another tool are recomputed
    (out / "cells/one_pixel/0.01/decision_tree.json").unlink()
    (out / "cells/none/-/gaussian_nb.json").write_text('{"accuracy": ')
    assert main(args) == 0
    assert "2 cells computed, 2 reused" in capsys.readouterr().err
    second = _snapshot(out)
    for name in ("cells/none/-/decision_tree.json", "cells/one_pixel/0.01/gaussian_nb.json", "examples.png"):
        assert second[name] == first[name], name  # untouched, mtime included

    def numbers(snap: dict[str, tuple[bytes, int]]) -> list:
        return [(r["injected"], r["clean"], r["best_non_conv"], r["decodable_test"]) for r in json.loads(snap["table.json"][0])["rows"]]

    assert numbers(second) == numbers(first)  # the same table (only the recomputed cells' wall times differ)
    assert json.loads(second["cells/one_pixel/0.01/decision_tree.json"][0])["accuracy"] == cell["accuracy"]

    # a finished run computes and writes nothing
    assert main(args) == 0
    assert "0 cells computed, 4 reused" in capsys.readouterr().err
    assert _snapshot(out) == second

    # a changed suite value is a different cell
    assert main(["blindspots", str(_suite(tmp_path, test_count=150)), "--out", str(out), "--no-progress"]) == 0
    assert "4 cells computed" in capsys.readouterr().err


@pytest.mark.parametrize("over, key, words", [
    ({"encodings": ["one_pixel", "pixel_art"]}, "encodings[1]", "unknown encoding 'pixel_art'"),
    ({"scales": [0.01, 0]}, "scales[1]", "must be a number > 0"),
    ({"scales": [-0.001]}, "scales[0]", "must be a number > 0"),
    ({"fraction": 0}, "fraction", "(0, 1]"),
    ({"fraction": 1.5}, "fraction", "(0, 1]"),
    ({"scales": [0.5]}, "scales[0]", "above the largest scale one_pixel can hold"),
    ({"models": ["decision_tree", "svm"]}, "models[1]", "unknown model 'svm'"),
])
def test_bad_suite_values_are_one_line_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str], over: dict, key: str, words: str) -> None:
    suite = _suite(tmp_path, **over)
    code = main(["blindspots", str(suite), "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert len(err.splitlines()) == 1, err
    assert err.startswith(f"{suite}: {key}: ") and words in err
    assert not (tmp_path / "out").exists()


def test_bad_suite_through_the_real_cli(tmp_path: Path) -> None:
    suite = _suite(tmp_path, fraction=2)
    proc = subprocess.run([sys.executable, "-m", "bench.cli", "blindspots", str(suite)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert proc.stderr.strip() == f"{suite}: fraction: must be a number in (0, 1], got 2"
    assert "Traceback" not in proc.stderr


def test_shipped_suite_is_valid() -> None:
    from bench.blindspots.suite import load_suite

    suite = load_suite(Path(__file__).resolve().parents[1] / "suites" / "blindspots_mnist.yaml")
    assert suite.fraction == 0.25 and suite.scales == [0.001, 0.01, 0.1]
    assert set(SCALED) <= set(suite.encodings)


def test_model_option_must_name_a_suite_model(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["blindspots", str(_suite(tmp_path)), "--model", "qda", "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err.strip()
    assert code == 1 and len(err.splitlines()) == 1 and "--model qda: not in" in err


def test_validate_knows_a_study_file_and_run_sends_it_to_blindspots() -> None:
    study = Path(__file__).resolve().parents[1] / "suites" / "blindspots_mnist.yaml"
    ok = subprocess.run([sys.executable, "-m", "bench.cli", "validate", str(study)], capture_output=True, text=True, timeout=120)
    assert ok.returncode == 0 and ok.stdout.strip().endswith(": ok"), ok.stderr
    run = subprocess.run([sys.executable, "-m", "bench.cli", "run", str(study)], capture_output=True, text=True, timeout=120)
    assert run.returncode != 0 and "Traceback" not in run.stderr and "bench blindspots" in run.stderr
