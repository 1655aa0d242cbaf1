"""Run a suite: every selected model against every attack, one verified cell at a time.

Cells already complete for the same configuration are skipped, so an interrupted run resumes
where it stopped (``force=True`` recomputes). Inside a cell the examples are cut into shards
(``shard_bounds``: fixed per kind, never per machine); each finished shard is kept until the cell
is complete, so a killed run loses at most one shard. Transfer cells run last, once every source
model's adversarial examples exist. A run that computes nothing writes nothing.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import time
import zlib
from datetime import datetime, timezone
from dataclasses import dataclass
from typing import Any, Callable

import torch
import yaml
from tqdm import tqdm

from bench import zoo
from bench.attacks import Context, get_kind
from bench.attacks.base import RESUMED_S, Attempt, Candidates, CellKind, Generate
from bench.attacks.spec import hashed_params
from bench.audit import carry_audit
from bench.batch_size import batch_size_for
from bench.data import load
from bench.device import configure_threads, resolve_device
from bench.errors import BenchError
from bench.extension import carry, seed_extension
from bench.provenance import cell_provenance, core_seconds, git_commit, machine, package_versions
from bench.results import ResultsStore, atomic_write_json, atomic_write_text
from bench.stale import stale_reason
from bench.stats import proportion_interval
from bench.suite import AttackConfig, Suite


def attack_seed(suite_seed: int, attack_id: str) -> int:
    """A per-attack seed that does not change when other attacks are added to the suite."""
    return suite_seed * 100_003 + zlib.crc32(attack_id.encode()) % 100_000


def config_hash(cfg: AttackConfig, indices: torch.Tensor | None, sha: str, seed: int, dataset: str, extra: Any = None,
                rng: int | None = None) -> str:
    """The identity of a cell's configuration; ``rng``: the kind's random-draw version (default: the
    code's now; an earlier one tells whether a stored cell is stale only because the draws changed)."""
    kind = get_kind(cfg.kind)
    rng = kind.rng_version if rng is None else rng
    fields = {
        "kind": cfg.kind, "backend": cfg.backend, "params": hashed_params(kind.params, cfg.params), "seed": seed, "dataset": dataset,
        "checkpoint": sha, "indices": hashlib.sha256(indices.numpy().tobytes()).hexdigest() if indices is not None else None,
        "extra": extra,
    }
    if rng > 1:  # absent at 1, so cells of kinds whose draws never changed stay valid
        fields["rng"] = rng
    return hashlib.sha256(json.dumps(fields, sort_keys=True, default=str).encode()).hexdigest()


def pack_shard(part: Candidates) -> dict[str, torch.Tensor]:
    """A shard as safetensors: the candidates, the kind's tensors (``t/``) and numbers (``s/``)."""
    out = {"x_cand": part.x, **{f"t/{k}": v for k, v in part.tensors.items()}}
    out.update({f"s/{k}": torch.tensor([v], dtype=torch.float64) for k, v in part.stats.items()})
    return out


def unpack_shard(saved: dict[str, torch.Tensor]) -> Candidates:
    return Candidates(saved["x_cand"], {k[2:]: v for k, v in saved.items() if k.startswith("t/")},
                      {k[2:]: float(v[0]) for k, v in saved.items() if k.startswith("s/")})


# A shard's own statistic, beside the kind's: the seconds its candidates took to generate, kept in
# the shard file so that a cell finished over several runs (or on several workers) still knows
# what it cost. merge_shards takes it out of the kind's numbers and totals it for the provenance.
COMPUTE_S = "compute_s"


def timed_part(part: Candidates, seconds: float) -> Candidates:
    """``part`` with its cost in ``COMPUTE_S``: this process's seconds plus those an earlier one
    spent on the stages the kind read back (``RESUMED_S``, folded in)."""
    stats = {k: v for k, v in part.stats.items() if k != RESUMED_S}
    return Candidates(part.x, part.tensors, {**stats, COMPUTE_S: seconds + float(part.stats.get(RESUMED_S, 0.0))})


def merge_shards(parts: list[Candidates]) -> tuple[Candidates, dict[str, Any]]:
    """A cell's candidates from its shards in order (tensors concatenated, numbers summed), and
    its cost: ``compute_s`` over the ``shards_timed`` shards that recorded one (older shards did not)."""
    keys = [k for k in dict.fromkeys(k for p in parts for k in p.stats) if k != COMPUTE_S]
    timed = [p.stats[COMPUTE_S] for p in parts if COMPUTE_S in p.stats]
    merged = Candidates(
        torch.cat([p.x for p in parts]),
        {k: torch.cat([p.tensors[k] for p in parts]) for k in parts[0].tensors},
        {k: float(sum(p.stats.get(k, 0.0) for p in parts)) for k in keys},
    )
    return merged, {"compute_s": round(float(sum(timed)), 3), "shards_timed": len(timed)}


def shard_bounds(n: int, per_shard: int) -> list[tuple[int, int]]:
    """[start, stop) of each shard: ceil(n / per_shard) shards of near-equal size (0: one shard).
    A function of n and the kind only, so every machine cuts a cell the same way."""
    if n <= 0:
        return []
    k = 1 if per_shard <= 0 else math.ceil(n / per_shard)
    edges = [round(i * n / k) for i in range(k + 1)]
    return [(a, b) for a, b in zip(edges, edges[1:]) if b > a]


@dataclass(frozen=True)
class Job:
    """One cell to compute: its attack, kind, seed, examples, the cells it reads, its config hash."""

    model_id: str
    cfg: AttackConfig
    kind: Any
    seed: int
    indices: torch.Tensor | None
    deps: list[tuple[str, str]]
    config_hash: str
    extra: Any = None  # the config hashes of the cells it reads (part of config_hash)


@dataclass
class Verdict:
    """A cell's figures as the harness verified them, and what the cell keeps."""

    value: float
    n: int
    count: int
    tensors: dict[str, torch.Tensor]
    stats: dict[str, Any]
    extra: dict[str, Any]


class Runner:
    """Holds what a run shares: device, data, results store, loaded models."""

    def __init__(self, suite: Suite, device: str | None = None, data_dir: str | None = None, force: bool = False,
                 only_models: list[str] | None = None, only_attacks: list[str] | None = None, progress: bool = True,
                 log: Callable[[str], None] = print, executor: Callable[[Runner, list[Job]], tuple[list[str], list[str]]] | None = None):
        self.suite = suite
        self.device = resolve_device(device or suite.device, "--device" if device else f"{suite.path}: device:")
        self.threads = configure_threads()
        self.data_dir = data_dir
        self.force = force
        self.progress = progress
        self.log = log
        self.store = ResultsStore(suite.out_dir)
        cards = zoo.all_cards()
        self.model_ids = suite.select_models(cards)
        if only_models:
            unknown = [m for m in only_models if m not in cards]
            if unknown:
                raise BenchError(f"--model {', '.join(unknown)}: unknown model (registered: {', '.join(sorted(cards))})")
            for m in only_models:
                suite.check_dataset(cards[m])
            outside = [m for m in only_models if m not in self.model_ids]
            if outside:
                raise BenchError(f"--model {', '.join(outside)}: not selected by suite {suite.name} ({suite.path}: models)")
            self.model_ids = [m for m in self.model_ids if m in only_models]
        untrained = [m for m in self.model_ids if not cards[m].sha256]
        for m in untrained:
            log(f"skip model {m}: not trained yet (its card has no checkpoint.sha256; bench zoo train {m})")
        self.model_ids = [m for m in self.model_ids if m not in untrained]
        if not self.model_ids:
            raise BenchError(f"{suite.path}: models: the suite selects no trained model")
        self.cards = {m: cards[m] for m in self.model_ids}
        self.attacks = self._select_attacks(only_attacks)
        self._models: dict[str, torch.nn.Module] = {}
        self.executor = executor  # None: every cell in this process; else it takes the per-example cells
        self.failed: list[str] = []
        self.extended: dict[str, dict[str, Any]] = {}  # "model/attack" -> the stored cell it extends: config hash, compute_s

    def _select_attacks(self, only: list[str] | None) -> list[AttackConfig]:
        """The suite's attacks, or those named by ``--attack``.

        Why: one long cell (CW on an ensemble: ~45 min) can then run beside another on a second core,
        each process writing its own cells atomically into the same folder."""
        ids = [a.id for a in self.suite.attacks]
        unknown = [a for a in only or [] if a not in ids]
        if unknown:
            raise BenchError(f"--attack {', '.join(unknown)}: not an attack of suite {self.suite.name} ({', '.join(ids)})")
        return [a for a in self.suite.attacks if not only or a.id in only]

    def model(self, model_id: str):  # type: ignore[no-untyped-def]
        if model_id not in self._models:
            self._models = {model_id: zoo.registry.load_from_card(self.cards[model_id], self.device)}
        return self._models[model_id]

    def _models_of_the_folder(self) -> dict[str, str | None]:
        """Checkpoints of every model with cells in the folder: this run's, and those an earlier
        run of the same suite left there (a ``--model`` run adds rows, it does not hide others)."""
        before = self._run_record()
        same_suite = (before.get("suite") or {}).get("name") == self.suite.name
        earlier = before.get("models") if same_suite and isinstance(before.get("models"), dict) else {}
        kept = {m: s for m, s in earlier.items() if m not in self.model_ids and self.store.has_model(m)}
        return {**kept, **{m: self.cards[m].sha256 for m in self.model_ids}}

    def run(self) -> dict[str, Any]:
        """Compute what is missing; returns this invocation's record (``computed``: the cells it
        computed, ``reused``: how many it found complete). Only an invocation that computed
        something is written to run.json, appended to the earlier ones."""
        started = datetime.now(timezone.utc).isoformat(timespec="seconds")
        t0 = time.time()
        for m in self.model_ids:  # verify every checkpoint before spending hours
            zoo.registry.verify_checkpoint(self.cards[m])
        for cfg in self.attacks:
            for line in get_kind(cfg.kind).device_notes(cfg.params, self.device):
                self.log(f"note: {cfg.id}: {line}")
        computed: list[str] = []
        reused = 0
        first = [a for a in self.attacks if not get_kind(a.kind).after_others]
        last = [a for a in self.attacks if get_kind(a.kind).after_others]
        interrupted = True
        try:
            done: list[str] = []
            if self.executor is not None:  # the per-example cells of the first group, distributed
                jobs = [j for j in (self.job(m, cfg) for m in self.model_ids for cfg in first) if j is not None]
                done, self.failed = self.executor(self, jobs)
                computed += done
            for group in (first, last):  # models outer: one model in memory at a time
                for m in self.model_ids:
                    for cfg in group:
                        if f"{m}/{cfg.id}" in done:
                            continue  # computed by the executor in this run (even under --force)
                        if f"{m}/{cfg.id}" in self.failed or any(f"{d}/{a}" in self.failed for d, a in get_kind(cfg.kind).depends_on(cfg.params, self.model_ids, m)):
                            continue  # failed on a worker (reported), or reads a cell that did
                        if self._cell(m, cfg):
                            computed.append(f"{m}/{cfg.id}")
                        else:
                            reused += 1
            interrupted = False
        finally:  # an interrupted run's finished cells are recorded too
            invocation = {
                "started": started, "finished": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                "wall_time_s": round(time.time() - t0, 2), "git_commit": git_commit(), "machine": machine(),
                "device": str(self.device), "threads": self.threads, "packages": package_versions(),
                "computed": computed, "reused": reused, **({"interrupted": True} if interrupted else {}),
                **({"failed": self.failed} if self.failed else {}),
            }
            if computed:
                self._record(invocation)
        return invocation

    def _record(self, invocation: dict[str, Any]) -> None:
        """run.json: the suite, the models with cells here, and every computing invocation."""
        before = self._run_record()
        history = list(before.get("invocations") or [])
        if not history and before.get("started"):  # a run.json of the single-run format
            history.append({k: before[k] for k in ("started", "finished", "wall_time_s", "git_commit", "device", "threads",
                                                   "packages", "cells_computed", "cells_skipped") if k in before})
        run = {
            "suite": {"name": self.suite.name, "version": self.suite.version, "sha256": self.suite.sha256, "path": str(self.suite.path)},
            "seed": self.suite.seed, "models": self._models_of_the_folder(), "attacks": [a.id for a in self.suite.attacks],
            "invocations": [*history, invocation],
        }
        atomic_write_json(self.store.run_json, run)

    def _run_record(self) -> dict[str, Any]:
        """run.json as an earlier run left it ({} when absent or unreadable)."""
        path = self.store.run_json
        try:
            before = json.loads(path.read_text()) if path.is_file() else {}
        except (OSError, json.JSONDecodeError):
            before = {}
        return before if isinstance(before, dict) else {}

    def identify(self, model_id: str, cfg: AttackConfig) -> Job:
        """The cell's identity now (kind, seed, examples, the cells it reads, config hash), with no
        side effect: what ``job`` compares with the stored cell, and what ``bench run --plan`` shows."""
        kind = get_kind(cfg.kind)
        card = self.cards[model_id]
        seed = attack_seed(self.suite.seed, cfg.id)
        indices = None if isinstance(kind, CellKind) else cfg.examples.indices(self._split_size(cfg))
        deps = kind.depends_on(cfg.params, self.model_ids, model_id)
        extra = {f"{m}/{a}": (self.store.read_cell(m, a) or {}).get("config_hash") for m, a in deps} or None
        h = config_hash(cfg, indices, card.sha256 or "", seed, self.suite.dataset, extra)
        return Job(model_id, cfg, kind, seed, indices, deps, h, extra)

    def job(self, model_id: str, cfg: AttackConfig) -> Job | None:
        """What computing one cell needs, or None when a complete cell of the same configuration is
        there (and ``force`` is off). A stored cell of another configuration is named with the
        reason it no longer counts, so a number never changes silently."""
        job = self.identify(model_id, cfg)
        stored = self.store.read_cell(model_id, cfg.id)  # read once: complete, or why not
        if not self.force and stored is not None and stored.get("config_hash") == job.config_hash:
            self.log(f"skip {model_id} / {cfg.id} (done)")
            return None
        if stored is not None and not self.force:
            self.log(f"recompute {model_id} / {cfg.id}: {self.stale(stored, job)}")
            if self._extend(job, stored):
                return None
        atomic_write_text(self.store.suite_yaml, yaml.safe_dump(self.suite.resolved, sort_keys=False))
        return job

    def hash_with(self, job: Job) -> Callable[[dict[str, Any]], str]:
        """The config hash of ``job``'s cell with other kind parameters (what a stored cell had)."""
        sha = self.cards[job.model_id].sha256 or ""

        def rehash(params: dict[str, Any]) -> str:
            return config_hash(dataclasses.replace(job.cfg, params=params), job.indices, sha, job.seed, self.suite.dataset, job.extra)
        return rehash

    def _extend(self, job: Job, stored: dict[str, Any]) -> bool:
        """Extend the stored cell instead of recomputing it where the kind allows (bench.extension);
        True when the stored cell was adopted as it is (nothing new applies to the model)."""
        if job.indices is None:
            return False
        bounds = shard_bounds(len(job.indices), job.kind.shard_examples)
        was = seed_extension(self.store, job.model_id, job.cfg.id, job.kind, stored, job.cfg.params, job.indices, bounds,
                             job.config_hash, self.hash_with(job))
        if was is None:
            return False
        extra = job.kind.adopted(self.model(job.model_id), stored, job.cfg.params)
        if extra is not None:
            tensors = self.store.read_tensors(job.model_id, job.cfg.id) or {}
            provenance = {**(stored.get("provenance") or {}), "extends": was, "adopted": True}
            meta = {**stored, "params": job.cfg.params, "config_hash": job.config_hash, "extra": extra, "provenance": provenance}
            self.store.write_cell(job.model_id, job.cfg.id, meta, tensors)
            self.store.clear_shards(job.model_id, job.cfg.id)
            self._carry_audit(job, meta, tensors)
            self.log("  adopt it as it is: the attacks it lacks have nothing to attack on this model")
            return True
        self.extended[f"{job.model_id}/{job.cfg.id}"] = {"extends": was, "extends_compute_s": (stored.get("provenance") or {}).get("compute_s"),
                                                       "extends_core_s": round(core_seconds(stored)[0], 3)}
        self.log("  extend it: its attacks run again only on the examples they broke, the new ones on what is still robust")
        return False

    def _carry_audit(self, job: Job, meta: dict[str, Any], tensors: dict[str, torch.Tensor]) -> None:
        """An extended cell keeps the audit of the cell it extends, restricted to what is still
        robust (bench.audit.carry_over): the leaderboard's audit flags survive an extension."""
        line = carry_audit(self.store, job.model_id, job.cfg.id, meta, tensors)
        if line:
            self.log(line)

    def stale(self, stored: dict[str, Any], job: Job) -> str:
        """Why a stored cell no longer counts for ``job`` (bench.stale)."""
        sha = self.cards[job.model_id].sha256 or ""

        def rehash(rng: int) -> str:
            return config_hash(job.cfg, job.indices, sha, job.seed, self.suite.dataset, job.extra, rng=rng)

        was = stored.get("params")
        if isinstance(was, dict):  # both as the hash sees them (late parameters at their default left out)
            stored = {**stored, "params": hashed_params(job.kind.params, was)}
        return stale_reason(stored, job.cfg.kind, job.cfg.backend, hashed_params(job.kind.params, job.cfg.params),
                            job.seed, sha, job.kind.rng_version, rehash)

    def context(self, job: Job, model: Any, bar: Any = None) -> Context:
        batch_size = batch_size_for(self.suite, model, self.cards[job.model_id].sha256, self.device)  # measured when unset
        return Context(device=self.device, seed=job.seed, batch_size=batch_size, progress=None if bar is None else bar.update,
                       status=None if bar is None else bar.set_postfix_str,
                       extra={"store": self.store, "models": self.model_ids, "suite": self.suite, "data_dir": self.data_dir})

    def examples(self, job: Job) -> tuple[torch.Tensor, torch.Tensor]:
        """The inputs (before the kind's ``prepare``) and labels of a per-example cell."""
        assert job.indices is not None
        split = load(self.suite.dataset, job.cfg.examples.split, self.data_dir)
        return split.x[job.indices], split.y[job.indices]

    def attempt(self, job: Job, model: Any, ctx: Context, generate: Generate) -> Attempt:
        """The kind's final ``attack`` (prepare -> generate -> verify) on a per-example cell, its
        candidates made by ``generate(x_ref, y)`` (shard by shard, here or on workers)."""
        x, y = self.examples(job)
        return job.kind.attack(model, x, y, job.cfg.params, job.cfg.backend, ctx, index=job.indices, generate=generate,
                               verify_batch=max(self.suite.batch_size, 500))

    def _cell(self, model_id: str, cfg: AttackConfig) -> bool:
        """Compute one cell unless it is complete, in this process; returns True when computed."""
        job = self.job(model_id, cfg)
        if job is None:
            return False
        model = self.model(model_id)
        total = len(job.indices) if job.indices is not None else (len(job.deps) or int(cfg.params.get("count", 1)))
        bar = tqdm(total=total, desc=f"{model_id} / {cfg.id}", unit="ex" if job.indices is not None else "it",
                   disable=not self.progress, dynamic_ncols=True, leave=False)
        ctx = self.context(job, model, bar)
        t0 = time.time()
        if isinstance(job.kind, CellKind):
            out = job.kind.evaluate(model, model_id, cfg.params, ctx)
            bar.close()
            wall = time.time() - t0
            self.write(job, Verdict(out.value, out.n, out.count, out.tensors, {}, out.extra), wall, {"compute_s": round(wall, 3)})
            return True
        shards: dict[str, Any] = {}

        def generate(x_ref: torch.Tensor, y: torch.Tensor) -> Candidates:
            assert job is not None and job.indices is not None
            cand, info = self._shards(model, model_id, cfg, job.kind, x_ref, y, job.indices, ctx, job.config_hash, bar)
            bar.close()
            shards.update(info)
            return cand

        self.write(job, self.verified(job, self.attempt(job, model, ctx, generate)), time.time() - t0, shards)
        return True

    def verified(self, job: Job, attempt: Attempt) -> Verdict:
        """A per-example cell's figures from the harness's verdict on its candidates (recomputed
        predictions, budget, range), with the tensors and statistics the cell keeps."""
        kind, cfg = job.kind, job.cfg
        x_ref, y, cand, v = attempt.x_ref, attempt.y, attempt.candidates, attempt.verdict
        stored = self.store.read_tensors(job.model_id, cfg.id) if f"{job.model_id}/{cfg.id}" in self.extended else None
        if stored is not None:  # an extended cell: the worst case of the stored cell and this run (bench.extension)
            v, kept = carry(v, cand.tensors, stored)
            cand = Candidates(cand.x, kept, cand.stats)
        x_cand = cand.x
        n, count = len(y), int(v.robust.sum())
        tensors = {"index": job.indices, "label": y, "robust": v.robust, "ref_correct": v.ref_correct, "pred": v.pred,
                   "linf": v.linf, "l2": v.l2}
        if kind.adversarial and kind.keeps_images and (kind.threat(cfg.params) or {}).get("eps") != 0:
            tensors["x_adv"] = x_cand.float()  # a zero budget returns the inputs: nothing worth keeping
        extra_out: dict[str, Any] = v.fooled_medians()
        if hasattr(kind, "summarize"):  # optional: a kind's own statistics of the verified cell
            extra_out.update(kind.summarize(x_ref, x_cand, y, v, cfg.params))
        if cand.tensors or cand.stats:
            tensors.update(cand.tensors)
            extra_out.update(kind.details(cand.tensors, cand.stats, v, cfg.params))
        return Verdict(count / n if n else float("nan"), n, count, tensors, v.stats, extra_out)

    def write(self, job: Job, verdict: Verdict, wall: float, shards: dict[str, Any]) -> None:
        """The complete cell, atomically, with its provenance; its partial shards are removed."""
        kind, cfg, card = job.kind, job.cfg, self.cards[job.model_id]
        value, n, count, stats = verdict.value, verdict.n, verdict.count, verdict.stats
        meta = {
            "model": job.model_id, "attack": cfg.id, "kind": cfg.kind, "backend": cfg.backend, "label": cfg.label,
            "metric": kind.metric, "value": value, "n": n, "count": count,
            "ci95": proportion_interval(value, n, count),
            "adversarial": kind.adversarial, "per_example": kind.per_example,
            "params": cfg.params, "threat": None if isinstance(kind, CellKind) else kind.threat(cfg.params),
            "verification": stats, "config_hash": job.config_hash, "checkpoint_sha256": card.sha256, "seed": job.seed,
            "device": str(self.device), "wall_time_s": round(wall, 3), "examples_per_s": round(n / wall, 2) if wall > 0 else None,
            "extra": verdict.extra,
            "provenance": {**cell_provenance(self.device, self.threads), **shards, **self.extended.get(f"{job.model_id}/{cfg.id}", {})},
        }
        self.store.write_cell(job.model_id, cfg.id, meta, verdict.tensors)
        self.store.clear_shards(job.model_id, cfg.id)
        self._carry_audit(job, meta, verdict.tensors)
        rej = stats.get("rejected_budget", 0) + stats.get("rejected_range", 0)
        note = f"  [{rej} backend outputs rejected by verification]" if rej else ""
        self.log(f"{job.model_id} / {cfg.id}: {kind.metric} {value:.4f} (n={n}, {wall:.1f}s){note}")

    def _shards(self, model: Any, model_id: str, cfg: AttackConfig, kind: Any, x: torch.Tensor, y: torch.Tensor,
                indices: torch.Tensor, ctx: Context, h: str, bar: Any) -> tuple[Candidates, dict[str, Any]]:
        """The cell's candidates, shard by shard: a shard finished by an earlier (killed) run of the
        same configuration is read back, the others are generated and kept as they finish. The
        harness verifies the whole cell afterwards, read-back shards included."""
        parts: list[Candidates] = []
        reused = 0
        bounds = shard_bounds(len(y), kind.shard_examples)
        for start, stop in bounds:
            saved = None if self.force else self.store.read_shard(model_id, cfg.id, start, stop, h)
            if saved is not None and saved["x_cand"].shape == x[start:stop].shape:
                parts.append(unpack_shard(saved))
                reused += 1
                bar.update(stop - start)
                continue
            stages = self.store.shard_stages(model_id, cfg.id, start, stop, h)
            if self.force:
                stages.clear()  # --force recomputes inside the shard too
            sub = dataclasses.replace(ctx, index=indices[start:stop], stages=stages)
            t0 = time.perf_counter()
            out = kind.generate(model, x[start:stop], y[start:stop], cfg.params, cfg.backend, sub)
            part = timed_part(out if isinstance(out, Candidates) else Candidates(out), time.perf_counter() - t0)
            part = Candidates(part.x.detach().cpu(), {k: v.cpu() for k, v in part.tensors.items()}, part.stats)
            if len(bounds) > 1:
                self.store.write_shard(model_id, cfg.id, start, stop, h, pack_shard(part))
                stages.clear()  # the shard holds it all now (a one-shard cell's go with its .partial/)
            parts.append(part)
        if not parts:
            return Candidates(x.clone()), {"shards": 0, "shards_resumed": 0}
        merged, cost = merge_shards(parts)
        return merged, {"shards": len(bounds), "shards_resumed": reused, **cost}

    def _split_size(self, cfg: AttackConfig) -> int:
        return len(load(self.suite.dataset, cfg.examples.split, self.data_dir))
