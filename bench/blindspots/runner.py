"""Compute the study cell by cell: one JSON per (encoding, scale, model) under
``<out>/cells/<encoding>/<scale>/<model>.json``, written atomically, so an interrupted run (even
kill -9) keeps every finished cell and the same command computes only the missing ones. A cell is
reused when its recorded configuration digest matches the suite's; ``force`` recomputes.

The injected sets are built in memory, deterministically from the suite seed, only for the
(encoding, scale) pairs that have a cell to compute; nothing but cells (and, while a conv cell
trains, its resumable state) is written."""

from __future__ import annotations

import json
import time
import warnings
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
from threadpoolctl import threadpool_limits
from tqdm import tqdm

from bench.blindspots.encodings import ENCODINGS, Encoding, make as make_encoding
from bench.blindspots.models import FitContext, TITLES, clear_state, make as make_model
from bench.blindspots.suite import BlindSpotSuite, config_digest
from bench.results import atomic_write_text

CELL_VERSION = 1


def scale_key(scale: float | None) -> str:
    """The folder name of a scale (``-`` for an encoding without one)."""
    return "-" if scale is None else f"{scale:g}"


def cell_path(out: Path, encoding: str, scale: float | None, model: str) -> Path:
    return out / "cells" / encoding / scale_key(scale) / f"{model}.json"


@dataclass(frozen=True)
class Data:
    """The clean training subset and test images of a run (copies: the loader's are shared)."""

    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    input_shape: tuple[int, int, int]
    num_classes: int


def load_data(suite: BlindSpotSuite, data_dir: str | None) -> Data:
    """The suite's ``fraction`` of the training set (one seeded draw, in index order) and the
    first ``test_count`` test images (all when null)."""
    from bench.data import get, load

    ds = get(suite.dataset)
    train, test = load(suite.dataset, "train", data_dir), load(suite.dataset, "test", data_dir)
    n = max(1, int(round(suite.fraction * len(train))))
    idx = torch.from_numpy(np.sort(np.random.default_rng([suite.seed, 1]).permutation(len(train))[:n]))
    m = len(test) if suite.test_count is None else min(suite.test_count, len(test))
    return Data(train.x[idx].clone(), train.y[idx].clone(), test.x[:m].clone(), test.y[:m].clone(),
                tuple(ds.input_shape), ds.num_classes)


def _rng(suite: BlindSpotSuite, encoding: str, scale: float | None, split: int) -> np.random.Generator:
    """Per-image draws: fixed by seed, encoding, scale and split, independent of run order."""
    return np.random.default_rng([suite.seed, zlib.crc32(encoding.encode()), zlib.crc32(scale_key(scale).encode()), split])


def rows(suite: BlindSpotSuite) -> list[tuple[str, float | None]]:
    """(encoding, scale) pairs in table order: an unscaled encoding has one row."""
    out: list[tuple[str, float | None]] = []
    for enc in suite.encodings:
        out += [(enc, None)] if not ENCODINGS.get(enc).scaled else [(enc, s) for s in suite.scales]
    return out


def inject(enc: Encoding, suite: BlindSpotSuite, data: Data, scale: float | None) -> tuple[torch.Tensor, torch.Tensor]:
    """The injected training and test images of one row."""
    s = 0.0 if scale is None else scale
    return (enc.inject(data.x_train, data.y_train, s, _rng(suite, enc.name, scale, 0)),
            enc.inject(data.x_test, data.y_test, s, _rng(suite, enc.name, scale, 1)))


def cell_config(suite: BlindSpotSuite, encoding: str, scale: float | None, model: str, num_classes: int) -> dict[str, Any]:
    return {"cell_version": CELL_VERSION, **suite.data_config(), "encoding": encoding, "scale": scale, "model": model,
            "model_config": suite.model_config(model, num_classes)}


def read_cell(path: Path) -> dict[str, Any] | None:
    """A finished cell, or None (missing, half-written by another tool, or not JSON)."""
    try:
        cell = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return cell if isinstance(cell, dict) and "digest" in cell else None


class BlindSpotRunner:
    """Plans the cells of a suite and computes the ones missing (all of them with ``force``)."""

    def __init__(self, suite: BlindSpotSuite, data_dir: str | None = None, device: torch.device | None = None,
                 force: bool = False, only_models: list[str] | None = None, progress: bool = True,
                 log: Callable[[str], None] = print, threads: int = 1):
        from bench.data import get

        self.suite, self.data_dir, self.force, self.progress, self.log = suite, data_dir, force, progress, log
        self.device = device or torch.device("cpu")
        self.threads = threads
        self.models = [m for m in suite.models if not only_models or m in only_models]
        self.num_classes = get(suite.dataset).num_classes
        self.computed: list[str] = []
        self.reused = 0

    def todo(self) -> list[tuple[str, float | None, list[str]]]:
        """Per row, the models whose cell must be computed."""
        out = []
        for enc, scale in rows(self.suite):
            missing = []
            for model in self.models:
                cell = None if self.force else read_cell(cell_path(self.suite.out_dir, enc, scale, model))
                want = config_digest(cell_config(self.suite, enc, scale, model, self.num_classes))
                if cell is not None and cell.get("digest") == want:
                    self.reused += 1
                else:
                    missing.append(model)
            if missing:
                out.append((enc, scale, missing))
        return out

    def run(self) -> dict[str, Any]:
        """Compute the missing cells; returns what was computed and reused."""
        t0 = time.time()
        plan = self.todo()
        total = sum(len(m) for _, _, m in plan)
        if not plan:
            return {"computed": [], "reused": self.reused, "wall_time_s": 0.0}
        data = load_data(self.suite, self.data_dir)
        bar = tqdm(total=total, desc="blindspots", unit="cell", disable=not self.progress)
        try:
            for enc_name, scale, missing in plan:
                enc = make_encoding(enc_name, data.input_shape, data.num_classes, self.suite.seed)
                enc.fit(data.x_train)
                x_tr, x_te = inject(enc, self.suite, data, scale)
                signal = self._signal(enc, scale, x_tr, x_te, data)
                for model in missing:
                    bar.set_description(f"{enc_name} @ {scale_key(scale)}: {model}")
                    self._cell(enc, scale, model, data, x_tr, x_te, signal)
                    bar.update(1)
        finally:
            bar.close()
        return {"computed": list(self.computed), "reused": self.reused, "wall_time_s": round(time.time() - t0, 1)}

    def _signal(self, enc: Encoding, scale: float | None, x_tr: torch.Tensor, x_te: torch.Tensor, data: Data) -> dict[str, Any]:
        """How much of each injected set still carries the signal by the encoding's own rule
        (after clipping), and the largest pixel change: the check that the data holds what the
        row claims."""
        if scale is None:
            return {"decodable_train": None, "decodable_test": None, "max_abs_change": 0.0}
        return {"decodable_train": round(float((enc.decode(x_tr, scale, data.x_train) == data.y_train).float().mean()), 6),
                "decodable_test": round(float((enc.decode(x_te, scale, data.x_test) == data.y_test).float().mean()), 6),
                "max_abs_change": round(float((x_te - data.x_test).abs().max()), 6),
                "range": [float(min(x_tr.min(), x_te.min())), float(max(x_tr.max(), x_te.max()))]}

    def _cell(self, enc: Encoding, scale: float | None, model_name: str, data: Data, x_tr: torch.Tensor,
              x_te: torch.Tensor, signal: dict[str, Any]) -> None:
        from bench.provenance import cell_provenance

        suite, out = self.suite, self.suite.out_dir
        path = cell_path(out, enc.name, scale, model_name)
        config = cell_config(suite, enc.name, scale, model_name, data.num_classes)
        model = make_model(model_name, config["model_config"])
        label = f"{enc.name} @ {scale_key(scale)}"
        state = path.with_name(f"{model_name}.state") if model.conv else None
        ctx = FitContext(seed=suite.seed, device=self.device, state_dir=state, progress=self.progress, log=self.log, label=label,
                         key=config_digest(config))
        n, d = len(data.y_train), int(np.prod(data.input_shape))
        if model.slow:
            self.log(f"{label}: {model_name} fit on {n:,} x {d:,} started")
        error = None
        t = time.time()
        with warnings.catch_warnings(record=True) as caught:  # recorded in the cell, not printed
            warnings.simplefilter("always")
            try:
                with threadpool_limits(limits=self.threads):  # BLAS threads of the sklearn fits, as torch's
                    model.fit(x_tr, data.y_train, ctx)
            except (ValueError, np.linalg.LinAlgError) as exc:  # the library refuses this data (recorded)
                error = f"{type(exc).__name__}: {str(exc).splitlines()[0]}"
        notes = sorted({f"{w.category.__name__}: {str(w.message).strip().splitlines()[0]}" for w in caught})
        fit_s = time.time() - t
        if hasattr(model, "trained_wall_time") and error is None:
            fit_s = model.trained_wall_time()
        t = time.time()
        acc: dict[str, float | None] = {"injected": None, "clean": None}
        if error is None:
            acc = {"injected": round(float((model.predict(x_te) == data.y_test).float().mean()), 6),
                   "clean": round(float((model.predict(data.x_test) == data.y_test).float().mean()), 6)}
        predict_s = time.time() - t
        if model.slow:
            done = f"injected {acc['injected']:.4f}, clean {acc['clean']:.4f}" if error is None else error
            self.log(f"{label}: {model_name} done in {fit_s:.1f} s fit + {predict_s:.1f} s predict ({done})"
                     + "".join(f"; {w}" for w in notes))
        import sklearn

        prov = cell_provenance(self.device, self.threads)
        prov["packages"]["scikit-learn"] = sklearn.__version__
        cell = {
            "kind": "blindspots_cell", "config": config, "digest": config_digest(config),
            "encoding": enc.name, "encoding_title": enc.title, "scale": scale, "model": model_name,
            "model_title": TITLES[model_name], "conv": model.conv, "n_train": n, "n_test": len(data.y_test),
            "accuracy": acc, "error": error, "warnings": notes, "signal": signal, "encoding_info": enc.describe(),
            "params": model.params(), "wall_time_s": {"fit": round(fit_s, 2), "predict": round(predict_s, 2)},
            "provenance": prov,
        }
        atomic_write_text(path, json.dumps(cell, indent=1, sort_keys=True) + "\n")
        clear_state(state)
        self.computed.append(f"{enc.name}/{scale_key(scale)}/{model_name}")


def collect(out: Path) -> list[dict[str, Any]]:
    """Every finished cell under ``out``."""
    cells = [read_cell(p) for p in sorted((out / "cells").glob("*/*/*.json"))]
    return [c for c in cells if c is not None]
