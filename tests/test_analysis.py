"""`bench analyze`: Lipschitz bounds against exact singular values, the gallery's arithmetic, the
figures on disk, and the HTML page in a real headless browser (Chromium, skipped when absent)."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import matplotlib.image
import numpy as np
import pytest
import torch
import yaml
from torch import nn

from bench.analysis import gallery, landscape
from bench.analysis.lipschitz import conv_bound, dense_bound, network_bound, power_norm
from bench.cli import main
from bench.data import load_mnist
from bench.models.base import Classifier
from bench.results import ResultsStore
from browser import IMAGE_CHECK, chromium, chromium_or_skip, console_errors

SUITE = {
    "name": "tiny_analysis", "version": 1, "dataset": "mnist", "seed": 3, "batch_size": 50,
    "examples": {"split": "test", "count": 12, "offset": 200},
    "models": {"ids": ["tiny-linear"]},
    "attacks": [
        {"id": "benign", "kind": "benign", "label": "Benign", "examples": {"count": 100, "offset": 0}},
        {"id": "pgd", "kind": "pgd_linf", "backend": "native", "label": "PGD", "params": {"eps": 0.3, "steps": 10, "step_size": 0.05}},
        {"id": "bsa", "kind": "blind_spot", "backend": "native", "label": "BSA", "params": {"steps": 30, "binary_search_steps": 3},
         "examples": {"count": 8, "offset": 200}},
    ],
}
FAST = ["--images", "300", "--steps", "15", "--examples", "3", "--no-progress"]


def operator_matrix(f: nn.Module, shape: tuple[int, ...]) -> torch.Tensor:
    """The dense matrix of a linear map (bias removed) on inputs of ``shape``."""
    x = torch.zeros((1, *shape), dtype=torch.float64)
    jac = torch.autograd.functional.jacobian(lambda t: f(t) - f(torch.zeros_like(t)), x)
    return jac.reshape(-1, x.numel())


def sigma_max(matrix: torch.Tensor) -> float:
    return float(np.linalg.svd(matrix.detach().numpy(), compute_uv=False)[0])


def test_dense_bound_is_numpys_largest_singular_value() -> None:
    torch.manual_seed(0)
    layer = nn.Linear(37, 23)
    assert dense_bound(layer.weight) == pytest.approx(sigma_max(layer.weight.double()), rel=1e-9)


@pytest.mark.parametrize("stride", [1, 2])
@pytest.mark.parametrize("groups,dilation", [(1, 1), (2, 2)])
def test_conv_bound_is_exact_for_circular_padding(stride: int, groups: int, dilation: int) -> None:
    """With circular padding the operator is a strided circular convolution: the frequency-domain
    value is its norm exactly (checked against the SVD of the operator's matrix)."""
    torch.manual_seed(1)
    conv = nn.Conv2d(4, 6, 3, stride=stride, padding=dilation, dilation=dilation, groups=groups, padding_mode="circular").double()
    exact = sigma_max(operator_matrix(conv, (4, 8, 8)))
    assert conv_bound(conv, (8, 8)) == pytest.approx(exact, rel=1e-6)
    assert power_norm(conv.float(), (4, 8, 8)) == pytest.approx(exact, rel=1e-2)


@pytest.mark.parametrize("stride", [1, 2])
def test_conv_bound_holds_and_is_tight_with_zero_padding(stride: int) -> None:
    """Zero padding: the bound is above the exact norm (SVD, small input), and at MNIST size it is
    within 2% of a power iteration on the conv operator itself (stride and padding included)."""
    torch.manual_seed(2)
    conv = nn.Conv2d(3, 5, 3, stride=stride, padding=1).double()
    assert conv_bound(conv, (7, 7)) >= sigma_max(operator_matrix(conv, (3, 7, 7))) * (1 - 1e-9)
    estimate = power_norm(conv.float(), (3, 28, 28))
    assert estimate <= conv_bound(conv, (28, 28)) <= estimate * 1.02


class Branches(Classifier):
    """x -> dense -> ELU -> two parallel dense branches, concatenated (like ensemble members)."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Linear(784, 32)
        self.act = nn.ELU()
        self.left, self.right = nn.Linear(32, 5), nn.Linear(32, 5)

    def code_scores(self, x: torch.Tensor) -> torch.Tensor:
        h = self.act(self.stem(x.flatten(1) - 0.5))
        return torch.cat([self.left(h), self.right(h)], dim=1)

    def log_probs(self, x: torch.Tensor) -> torch.Tensor:
        return torch.log_softmax(self.code_scores(x), dim=1)


def test_network_bound_multiplies_chains_and_adds_branches_in_quadrature() -> None:
    torch.manual_seed(3)
    model = Branches().eval()
    x = torch.rand(4, 1, 28, 28)
    result = network_bound(model, "code", x)
    s = {name: dense_bound(getattr(model, name).weight) for name in ("stem", "left", "right")}
    assert result.unhandled == []
    assert result.upper == pytest.approx(s["stem"] * (s["left"] ** 2 + s["right"] ** 2) ** 0.5, rel=1e-9)
    assert [layer.name for layer in result.layers] == ["stem", "left", "right"]
    assert 0 < result.empirical <= result.upper
    stacked = sigma_max(torch.cat([model.left.weight, model.right.weight]).double() @ model.stem.weight.double())
    assert stacked <= result.upper  # the map's norm where every ELU is linear never exceeds the bound


def test_generic_landscapes_show_the_thesis_ordering() -> None:
    """Thesis Figure 2: moving two scores, the softmax flips from sure to wrong, the logistic
    decoder keeps a wide uncertain region, the Hadamard code keeps class 0 the likeliest."""
    softmax, logistic, hadamard = landscape.generic_panels()
    def uncertain(p: np.ndarray) -> float:
        return float(((p > 0.1) & (p < 0.9)).mean())
    assert softmax.prob.min() < 0.01 and softmax.prob.max() > 0.999
    assert uncertain(logistic.prob) > 2 * uncertain(softmax.prob)
    assert hadamard.prob.min() > 0.5 and (hadamard.prob > 0.999).mean() > (softmax.prob > 0.999).mean()


@pytest.fixture(scope="module")
def analysed(tiny_zoo: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A real tiny run (PGD, BSA on tiny-linear) and `bench analyze` on it."""
    root = tmp_path_factory.mktemp("analysis")
    suite = dict(SUITE, outputs={"dir": str(root / "results")})
    (root / "suite.yaml").write_text(yaml.safe_dump(suite))
    assert main(["run", str(root / "suite.yaml"), "--device", "cpu", "--no-progress", "--no-leaderboard"]) == 0
    assert main(["analyze", "--results", str(root / "results"), "--out", str(root / "out"), *FAST]) == 0
    return {"results": root / "results", "out": root / "out"}


def test_every_figure_is_a_readable_png_with_the_right_data_shapes(analysed: dict[str, Path]) -> None:
    folder = analysed["out"] / "tiny-linear"
    pngs = sorted(p.name for p in folder.glob("*.png"))
    assert pngs == sorted(["landscape.png", "landscape_generic.png", "gallery_pgd.png", "gallery_bsa.png", "units_natural.png",
                           "units_random.png", "actmax_classes.png", "actmax_units.png"])
    for name in pngs:
        image = matplotlib.image.imread(folder / name)
        assert image.ndim == 3 and image.shape[2] == 4 and min(image.shape[:2]) > 100, name
        assert image[..., :3].std() > 0.01, f"{name} is blank"
    landscape = np.load(folder / "landscape_generic.npz")
    assert landscape["prob"].shape == (3, 201, 201) and 0 <= landscape["prob"].min() <= landscape["prob"].max() <= 1
    actmax = np.load(folder / "actmax_classes.npz")
    assert actmax["images"].shape == (10, 1, 28, 28) and actmax["images"].min() >= 0 and actmax["images"].max() <= 1
    pgd = np.load(folder / "gallery_pgd.npz")
    assert pgd["original"].shape == pgd["adversarial"].shape == pgd["noisy"].shape == (3, 1, 28, 28)
    tall = matplotlib.image.imread(folder / "gallery_pgd.png").shape
    wide = matplotlib.image.imread(folder / "actmax_classes.png").shape
    assert tall[0] > tall[1] / 2 and wide[1] > 3 * wide[0]  # 3 rows x 5 columns; one row of 10
    units = json.loads((folder / "units.json").read_text())
    assert units["layer"] == "fc" and np.array(units["units_natural"]["index"]).shape == (4, 8)
    table = (folder / "lipschitz.csv").read_text().splitlines()
    assert table[0].startswith("layer,") and table[1].startswith("fc,Linear,10x784")


def test_gallery_perturbation_is_adversarial_minus_reference(analysed: dict[str, Path]) -> None:
    from bench import zoo

    results, folder = analysed["results"], analysed["out"] / "tiny-linear"
    model = zoo.load("tiny-linear")
    test = load_mnist("test")
    store = ResultsStore(results)
    for attack, reference in (("pgd", lambda x: x), ("bsa", lambda x: 0.8 * x + 0.1)):
        g = gallery.build(model, results, "tiny-linear", attack, count=3)
        stored = store.read_tensors("tiny-linear", attack)
        assert stored is not None
        rows = [int((stored["index"] == i).nonzero()) for i in g.index]
        assert torch.equal(g.adversarial, stored["x_adv"][rows])
        assert torch.allclose(g.original, reference(test.x[g.index]).clamp(0, 1))
        assert torch.equal(g.perturbation, g.adversarial - g.original)
        assert torch.allclose(g.noise.flatten(1).norm(dim=1), g.perturbation.flatten(1).norm(dim=1), rtol=1e-3, atol=1e-4)
        saved = np.load(folder / f"gallery_{attack}.npz")
        np.testing.assert_array_equal(saved["perturbation"], saved["adversarial"] - saved["original"])
        np.testing.assert_array_equal(saved["index"], g.index.numpy())


def test_user_errors_are_one_line(analysed: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["analyze", "tiny-linear", "--what", "landscape,bogus", "--out", str(analysed["out"] / "x")]) == 1
    assert main(["analyze", "tiny-linear", "--what", "units", "--layer", "nope", "--out", str(analysed["out"] / "x"), *FAST]) == 1
    assert main(["analyze", "tiny-linear", "--what", "actmax", "--clip-norm", "150", "--out", str(analysed["out"] / "x")]) == 1
    assert main(["analyze"]) == 1
    lines = capsys.readouterr().err.strip().splitlines()
    errors = [line for line in lines if line.startswith("error:")]
    assert len(errors) == 4 and "Traceback" not in "".join(lines)
    assert "bogus" in errors[0] and "'nope'" in errors[1] and "fc" in errors[1] and "clip_norm" in errors[2]


@pytest.fixture(scope="module")
def chromium_exe() -> str:
    """Skips (before the analysis fixture runs) when no Chromium is installed."""
    return chromium_or_skip()


def test_html_report_loads_in_headless_chromium_without_console_errors(chromium_exe: str, analysed: dict[str, Path]) -> None:
    page = analysed["out"] / "index.html"
    html = page.read_text()
    dom, stderr = chromium(chromium_exe, page.as_uri(), "--dump-dom")
    console = console_errors(stderr)
    assert console == [], console
    assert "Leaderboard: tiny_analysis" in dom and 'id="model-tiny-linear"' in dom
    assert "Per-layer upper Lipschitz bounds" in dom and "Whole-network bounds" in dom
    checked = page.with_name("index.check.html")
    checked.write_text(html.replace("</body>", IMAGE_CHECK + "</body>"))
    dom, _ = chromium(chromium_exe, checked.as_uri(), "--dump-dom")
    body = re.search(r"<body[^>]*>", dom)
    assert body is not None
    assert f'data-images="{html.count("<img ")}"' in body.group(0) and html.count("<img ") >= 8
    assert 'data-broken=""' in body.group(0), body.group(0)
    os.remove(checked)


def test_second_call_reuses_sections_and_changed_options_recompute(analysed: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    """Like `bench run`, `bench analyze` resumes: unchanged sections are reused, not recomputed."""
    out = analysed["out"]
    before = {p: p.stat().st_mtime_ns for p in out.rglob("*.png")}
    capsys.readouterr()
    assert main(["analyze", "--results", str(analysed["results"]), "--out", str(out), *FAST]) == 0
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.startswith("tiny-linear / ")]
    assert lines and all(line.endswith(": reused") for line in lines)
    assert {p: p.stat().st_mtime_ns for p in out.rglob("*.png")} == before
    assert main(["analyze", "--results", str(analysed["results"]), "--out", str(out), *FAST, "--what", "landscape", "--seed", "1"]) == 0
    assert "landscape: reused" not in capsys.readouterr().err
