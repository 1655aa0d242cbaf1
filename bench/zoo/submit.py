"""Submitting a model to the zoo: validate a submission folder, then register it atomically.

Why: a zoo model is trusted by every leaderboard, so what enters the zoo is checked the same way
for everyone (docs/submitting.md): the card's schema, the checkpoint's sha256, a strict load of
the weights into the card's architecture, the output shape on real inputs, determinism, and
usable input gradients (an attack that gets no gradient reports robustness it did not measure).
Every failure is one line naming the file or key. Registration copies the folder into a
temporary folder inside the zoo and renames it into place, so nothing half-added stays behind.
"""

from __future__ import annotations

import os
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from bench.errors import BenchError
from bench.models.base import Classifier
from bench.zoo.card import CARD_FILE, Card, load_card
from bench.zoo.registry import REPO_ZOO, all_cards, build, require_checkpoint, sha256_file

TARGET_ENV = "BENCH_ZOO_TARGET"
N_PROBE = 8  # test images the forward and gradient checks run on
PROBE_OFFSET = 0
NUM_CLASSES = 10
UNBOUNDED_MAX = 0.05  # unbounded PGD must leave at most this accuracy (else: warn, masking?)
_SKIP = shutil.ignore_patterns(".*", "__pycache__", "*.pyc", "*.tmp", "state.safetensors")


@dataclass
class Submission:
    """A validated submission: its card and the zoo folder name it registers under."""

    card: Card
    folder_name: str
    checks: list[str] = field(default_factory=list)


def zoo_target(zoo_dir: str | os.PathLike[str] | None = None) -> Path:
    """Where ``bench zoo add`` registers: ``--zoo-dir``, else $BENCH_ZOO_TARGET, else the repo's zoo/."""
    if zoo_dir:
        return Path(zoo_dir)
    return Path(os.environ[TARGET_ENV]) if os.environ.get(TARGET_ENV) else REPO_ZOO


def folder_name(model_id: str) -> str:
    """The zoo folder of an id, like the shipped ones: TanhEns16 -> tanh_ens16, Learnable16-l0.3 -> learnable16_l03."""
    snake = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", model_id).lower().replace("-", "_").replace(" ", "_")
    return re.sub(r"_+", "_", re.sub(r"[^a-z0-9_]", "", snake)).strip("_")


def check_id(card: Card, target: Path) -> str:
    """The card's folder name in ``target``; refuses an id (or folder) already in the zoo."""
    name = folder_name(card.id)
    if not name or not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*", card.id):
        raise BenchError(f"{card.path}: key 'id': {card.id!r} must start with a letter or digit and use only A-Z a-z 0-9 _ . -")
    cards = all_cards()
    if card.id in cards and cards[card.id].folder.resolve() != card.folder.resolve():
        raise BenchError(f"{card.path}: key 'id': model '{card.id}' already exists ({cards[card.id].path})")
    clash = next((c for c in cards.values() if folder_name(c.id) == name and c.id != card.id), None)
    if clash is not None:
        raise BenchError(f"{card.path}: key 'id': '{card.id}' maps to folder '{name}', already used by model '{clash.id}' ({clash.path})")
    if (target / name).exists():
        raise BenchError(f"{card.path}: key 'id': {target / name} already exists; refusing to overwrite")
    return name


def _check_factory_is_shipped(card: Card) -> None:
    """The model code travels with the submission (a .py file in the folder) or is part of bench."""
    module = str(card.data["factory"]).split(":", 1)[0]
    local = card.folder / (module.replace(".", "/") + ".py")
    if not local.is_file() and not (module == "bench" or module.startswith("bench.")):
        raise BenchError(f"{card.path}: key 'factory': {local.name} not found in {card.folder} "
                         f"(a submission carries its model code; bench.* factories are the only exception)")


def _check_checkpoint(card: Card) -> dict[str, torch.Tensor]:
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    path = require_checkpoint(card, {
        "missing": lambda _: f"{card.path}: key 'checkpoint.file': {card.checkpoint_path} not found",
        "unhashed": lambda _: f"{card.path}: key 'checkpoint.sha256' is missing (sha256sum {card.checkpoint_path.name})",
        "tampered": lambda digest: f"{card.checkpoint_path}: sha256 {digest} does not match {card.path} checkpoint.sha256 {card.sha256}",
    })
    try:
        return load_file(str(path))
    except (SafetensorError, OSError, ValueError) as exc:
        raise BenchError(f"{path}: not a readable safetensors file ({str(exc).splitlines()[0]})") from None


def _build_and_load(card: Card, state: dict[str, torch.Tensor]) -> Classifier:
    try:
        model = build(card)
    except BenchError:
        raise
    except Exception as exc:  # noqa: BLE001 -- submitted code may raise anything; report it in one line
        raise BenchError(f"{card.path}: factory '{card.data['factory']}' raised {type(exc).__name__}: {exc}") from None
    _check_no_shadowing(model, card)
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        first = str(exc).splitlines()
        detail = " ".join(s.strip() for s in first[:3]) if first else "state mismatch"
        raise BenchError(f"{card.checkpoint_path}: does not fit the architecture of {card.data['factory']} (strict load: {detail})") from None
    return model.eval().requires_grad_(False)


def _check_no_shadowing(model: Classifier, card: Card) -> None:
    """A submodule or parameter named like a Classifier method (``features``, ``surface``, ...) is
    registered by nn.Module but unreachable as ``self.<name>``: the method wins, silently."""
    names = [*model._modules, *model._parameters, *model._buffers]
    clash = [n for n in names if callable(getattr(type(model), n, None))]
    if clash:
        raise BenchError(f"{card.path}: factory '{card.data['factory']}': attribute(s) {', '.join(clash)} shadow methods of "
                         f"bench.models.Classifier (self.{clash[0]} resolves to the method); rename them")


def _forward(model: Classifier, x: torch.Tensor, card: Card) -> torch.Tensor:
    try:
        return model.log_probs(x)
    except Exception as exc:  # noqa: BLE001 -- submitted code
        raise BenchError(f"model '{card.id}': log_probs failed on a batch of shape {tuple(x.shape)} ({type(exc).__name__}: {exc})") from None


def _input_grad(model: Classifier, x: torch.Tensor, card: Card) -> torch.Tensor:
    x = x.clone().requires_grad_(True)
    try:
        (grad,) = torch.autograd.grad(model.log_probs(x).sum(), x)
    except Exception as exc:  # noqa: BLE001 -- submitted code
        raise BenchError(f"model '{card.id}': no gradient of the log-probabilities wrt the input ({type(exc).__name__}: {exc})") from None
    return grad


def check_model(model: Classifier, card: Card, x: torch.Tensor) -> list[str]:
    """Output shape, finiteness, determinism and usable gradients on ``x`` (N,1,28,28) in [0,1];
    returns what passed, raises on the first failure."""
    randomized = bool(card.data.get("randomized"))
    with torch.no_grad():
        out = _forward(model, x, card)
        if tuple(out.shape) != (len(x), NUM_CLASSES):
            raise BenchError(f"model '{card.id}': log_probs on input {tuple(x.shape)} gave shape {tuple(out.shape)}, expected ({len(x)}, {NUM_CLASSES})")
        if not bool(torch.isfinite(out).all()):
            raise BenchError(f"model '{card.id}': log_probs are not finite on MNIST test images")
        again = _forward(model, x, card)
    passed = [f"output shape ({len(x)}, {NUM_CLASSES}) on inputs {tuple(x.shape)} in [0,1], finite"]
    if not randomized and not torch.equal(out, again):
        raise BenchError(f"model '{card.id}': nondeterministic: two forward passes on the same input differ "
                         f"(max |diff| {float((out - again).abs().max()):.3g}); declare `randomized: true` in the card if intended")
    grad = _input_grad(model, x, card)
    if not bool(torch.isfinite(grad).all()):
        raise BenchError(f"model '{card.id}': gradient of the log-probabilities wrt the input is not finite (gradient masking?)")
    if not bool((grad != 0).any()):
        raise BenchError(f"model '{card.id}': gradient of the log-probabilities wrt the input is all zero (gradient masking?)")
    if not randomized:
        if not torch.equal(grad, _input_grad(model, x, card)):
            raise BenchError(f"model '{card.id}': nondeterministic gradients: two backward passes on the same input differ; "
                             "declare `randomized: true` in the card if intended")
        passed.append("deterministic: forward passes and input gradients repeat exactly")
    else:
        passed.append("randomized: true (determinism not required)")
    passed.append("input gradients finite and not all zero")
    return passed


def probe_inputs(data_dir: str | None = None, dataset: str = "mnist") -> torch.Tensor:
    """A few test images of the card's dataset, the inputs the submission checks run on."""
    from bench.data import load

    return load(dataset, "test", data_dir).x[PROBE_OFFSET : PROBE_OFFSET + N_PROBE].clone()


def validate_submission(folder: Path, target: Path, data_dir: str | None = None, id_only: bool = False) -> Submission:
    """Every check of docs/submitting.md, in order; raises BenchError/ValidationError on the first failure."""
    folder = Path(folder)
    if not folder.is_dir():
        raise BenchError(f"{folder}: not a folder (a submission is a folder with {CARD_FILE}, the model code and the weights)")
    card = load_card(folder)  # schema: one line per problem, naming the file and key
    sub = Submission(card, check_id(card, target), [f"card {card.path}: schema ok, id '{card.id}' free"])
    _check_factory_is_shipped(card)
    if id_only:
        return sub
    state = _check_checkpoint(card)
    sub.checks.append(f"checkpoint {card.checkpoint_path.name}: sha256 matches the card, safetensors")
    model = _build_and_load(card, state)
    sub.checks.append(f"factory {card.data['factory']} builds the model; weights load strictly")
    sub.checks += check_model(model, card, probe_inputs(data_dir, card.dataset))
    return sub


def register(sub: Submission, target: Path) -> Path:
    """Copy the submission into ``target/<folder name>`` atomically (temp folder + rename)."""
    target.mkdir(parents=True, exist_ok=True)
    final = target / sub.folder_name
    if final.exists():
        raise BenchError(f"{final} already exists; refusing to overwrite")
    tmp = target / f".{sub.folder_name}.adding-{os.getpid()}"
    try:
        shutil.copytree(sub.card.folder, tmp, ignore=_SKIP)
        copied = load_card(tmp)
        if sha256_file(copied.checkpoint_path) != sub.card.sha256:
            raise BenchError(f"{tmp}: the copied checkpoint does not match the card's sha256; nothing registered")
        os.rename(tmp, final)
    except OSError as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        raise BenchError(f"{final}: could not register ({exc.strerror or exc}); nothing was added") from None
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return final


def add(folder: Path, zoo_dir: str | None = None, data_dir: str | None = None, id_only: bool = False) -> tuple[Submission, Path | None]:
    """Validate ``folder`` and (unless ``id_only``) register it; returns where it went."""
    target = zoo_target(zoo_dir)
    sub = validate_submission(folder, target, data_dir, id_only)
    return sub, (None if id_only else register(sub, target))


# --- submit-check helpers ----------------------------------------------------------------------------


def masking_sanity(model: Classifier, x: torch.Tensor, y: torch.Tensor, seed: int = 0,
                   eps_grid: tuple[float, ...] = (0.1, 0.2, 0.3), steps: int = 40) -> dict[str, Any]:
    """Quick gradient-masking sanity check (Carlini et al. 2019's basic checks): PGD accuracy must
    not increase with eps, and an unbounded PGD (eps 1.0, the whole [0,1] cube) must drive the
    accuracy to near 0. PGD starts from the clean image (no random start), so only the gradients
    can find the adversarial examples; accuracies are verified (the kind's final ``attack``)."""
    from bench.attacks import Context, get_kind

    device = next(model.parameters()).device
    kind = get_kind("pgd_linf")
    acc: dict[float, float] = {}
    for eps in (*eps_grid, 1.0):
        params = kind.resolve({"eps": eps, "steps": steps, "step_size": 2.5 * eps / steps, "random_start": False})
        done = kind.attack(model, x, y, params, "native", Context(device=device, seed=seed, batch_size=250))
        acc[eps] = float(done.verdict.robust.float().mean())
    checks = []
    increases = [(a, b) for a, b in zip(eps_grid, eps_grid[1:]) if acc[b] > acc[a]]
    checks.append(("accuracy does not increase with eps " + ", ".join(f"{e:g}" for e in eps_grid),
                   "warn" if increases else "pass",
                   "; ".join(f"eps {a:g}: {acc[a]:.3f} < eps {b:g}: {acc[b]:.3f}" for a, b in increases) or "monotone"))
    unbounded_ok = acc[1.0] <= UNBOUNDED_MAX
    checks.append((f"unbounded PGD (eps 1.0) accuracy <= {UNBOUNDED_MAX:g}", "pass" if unbounded_ok else "warn",
                   f"{acc[1.0]:.3f}" + ("" if unbounded_ok else " (gradients may be masked: attacks that need them will overstate robustness)")))
    return {"accuracy": acc, "checks": checks, "n": len(y)}


def standing(model_id: str, new_cells: Path, committed: Path, rank_by: str = "pgd", clean: str = "benign") -> list[list[Any]]:
    """Rows (rank, model, clean, rank_by) of the committed leaderboard with ``model_id``'s figures
    from ``new_cells`` inserted (replacing any committed row of the same id), ranked by ``rank_by``."""
    from bench.results import ResultsStore

    def value(store: ResultsStore, model: str, attack: str) -> float | None:
        try:
            return float((store.read_cell(model, attack) or {})["value"])
        except (OSError, ValueError, KeyError, TypeError):
            return None

    rows: dict[str, tuple[float | None, float | None]] = {}
    theirs, mine = ResultsStore(committed), ResultsStore(new_cells)
    for model in theirs.models():
        if model != model_id:
            rows[model] = (value(theirs, model, clean), value(theirs, model, rank_by))
    rows[model_id] = (value(mine, model_id, clean), value(mine, model_id, rank_by))
    order = sorted(rows, key=lambda m: (-(rows[m][1] if rows[m][1] is not None else -1), -(rows[m][0] or 0), m))
    return [[i + 1, f"{m}  <-- submission" if m == model_id else m, rows[m][0], rows[m][1]] for i, m in enumerate(order)]
