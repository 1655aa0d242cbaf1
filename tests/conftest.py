"""Shared fixtures: MNIST location, and a tiny zoo registered through $BENCH_ZOO_PATH."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
import yaml
from safetensors.torch import save_file

HERE = Path(__file__).resolve().parent


def _pin_threads() -> None:
    """One thread count for the whole test session, chosen once by the harness's own rule.

    Why: bench.device.configure_threads picks threads from the load average at each run, and a
    different thread count reorders float sums (a softmax moves by ~1e-7). Tests that compare an
    interrupted-then-resumed run with a straight one bit for bit would then fail on a machine whose
    load changed between the two runs. $BENCH_THREADS, when set by the caller, is kept.
    """
    if not os.environ.get("BENCH_THREADS"):
        from bench.device import configure_threads

        os.environ["BENCH_THREADS"] = str(configure_threads())


_pin_threads()
REPO = HERE.parent


def _mnist_candidates() -> list[Path]:
    return [Path(c) for c in (os.environ.get("BENCH_DATA_DIR"), REPO.parent / "shared" / "data" / "mnist") if c]


def _find_mnist() -> Path | None:
    for cand in _mnist_candidates():
        if cand.is_dir():
            return cand
    return None


@pytest.fixture(scope="session")
def mnist_dir() -> Path:
    """The MNIST folder. Missing in CI (CI=true) is a failure, not a skip: a run that skips most
    test files because the data is not where .ci/run says must not pass."""
    found = _find_mnist()
    if found is None:
        looked = ", ".join(str(c) for c in _mnist_candidates())
        msg = f"MNIST not found (looked in: {looked}): set BENCH_DATA_DIR to the folder with the four MNIST .gz files"
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(msg)
        pytest.skip(msg)
    os.environ["BENCH_DATA_DIR"] = str(found)
    return found


@pytest.fixture(scope="session")
def fashion_dir() -> Path:
    """The Fashion-MNIST folder ($BENCH_FASHION_MNIST_DIR or ../shared/data/fashion_mnist); as
    for MNIST, missing in CI is a failure."""
    cands = [Path(c) for c in (os.environ.get("BENCH_FASHION_MNIST_DIR"), REPO.parent / "shared" / "data" / "fashion_mnist") if c]
    found = next((c for c in cands if c.is_dir()), None)
    if found is None:
        msg = f"Fashion-MNIST not found (looked in: {', '.join(map(str, cands))}): set BENCH_FASHION_MNIST_DIR"
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(msg)
        pytest.skip(msg)
    return found


def _train_linear(model: torch.nn.Module, mnist_dir: Path) -> None:
    from bench.data import load_mnist

    train = load_mnist("train", mnist_dir)
    g = torch.Generator().manual_seed(0)
    x, y = train.x[:12000], train.y[:12000]
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(3):
        perm = torch.randperm(len(y), generator=g)
        for i in range(0, len(y), 500):
            idx = perm[i : i + 500]
            loss = torch.nn.functional.cross_entropy(model.logits(x[idx]), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()


def write_model(root: Path, model_id: str, factory: str, model: torch.nn.Module, tags: list[str], extra: dict | None = None) -> Path:
    from bench.zoo.registry import sha256_file

    folder = root / model_id
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy(HERE / "tiny_models.py", folder / "tiny_models.py")
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(folder / "weights.safetensors"))
    card = {
        "id": model_id, "family": "tiny", "description": f"test model {model_id}", "tags": tags,
        "source": {"paper": "tests"}, "architecture": factory, "factory": f"tiny_models:{factory}",
        "checkpoint": {"file": "weights.safetensors", "sha256": sha256_file(folder / "weights.safetensors")},
    }
    card.update(extra or {})
    (folder / "card.yaml").write_text(yaml.safe_dump(card, sort_keys=False))
    return folder


@pytest.fixture(scope="session")
def tiny_zoo(tmp_path_factory: pytest.TempPathFactory, mnist_dir: Path) -> Path:
    """tiny-linear (foolable), tiny-constant (unfoolable), tiny-masked (masked gradients)."""
    import tiny_models

    root = tmp_path_factory.mktemp("zoo")
    torch.manual_seed(0)
    lin = tiny_models.build_linear()
    _train_linear(lin, mnist_dir)
    write_model(root, "tiny-linear", "build_linear", lin, ["tiny"], {"reported": {"Benign": 0.92, "PGD": 0.5}})
    write_model(root, "tiny-constant", "build_constant", tiny_models.build_constant(), ["tiny"])
    masked = tiny_models.build_masked()
    masked.load_state_dict(lin.state_dict())
    write_model(root, "tiny-masked", "build_masked", masked, ["tiny-masked"])
    old = os.environ.get("BENCH_ZOO_PATH")
    os.environ["BENCH_ZOO_PATH"] = str(root)
    yield root
    if old is None:
        os.environ.pop("BENCH_ZOO_PATH", None)
    else:
        os.environ["BENCH_ZOO_PATH"] = old


KILLER = (
    "import os, signal, sys\n"
    "from bench.results import ResultsStore\n"
    "original = ResultsStore.write_shard\n"
    "def write_then_die(self, *args, **kwargs):\n"
    "    original(self, *args, **kwargs)\n"
    "    os.kill(os.getpid(), signal.SIGKILL)\n"
    "ResultsStore.write_shard = write_then_die\n"
    "from bench.cli import main\n"
    "sys.exit(main(sys.argv[1:]))\n"
)


def run_killed_after_first_shard(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """``bench ARGS`` in a process that dies by SIGKILL right after it wrote its first finished shard."""
    killer = tmp_path / "killer.py"
    killer.write_text(KILLER)
    return subprocess.run([sys.executable, str(killer), *args], capture_output=True, text=True, env=dict(os.environ))


@pytest.fixture(scope="module")
def harness_threads() -> Iterator[None]:
    """The harness's own thread choice (idle cores, or $BENCH_THREADS): with torch's default of
    one thread per core next to a busy process, these attacks run ~100x slower."""
    from bench.device import configure_threads

    old = torch.get_num_threads()
    configure_threads()
    yield
    torch.set_num_threads(old)
