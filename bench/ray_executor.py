"""Run a suite's shards as Ray tasks: every core of this machine, or a Ray cluster (``--address``).

The unit of work is a shard of a per-example cell (``runner.shard_bounds``: fixed per kind, so a
sharded cell is the cell computed in one process, example for example). Workers load each model
from the zoo, sha256-verified, once per worker process, and get the shard's inputs from the
driver through Ray's object store; they return candidates and write no shard or cell (on a local
instance, the results folder being this machine's disk, a long shard's finished stages are kept there
as in process: ``ShardStages``, so a killed run resumes inside the shard). The driver owns the results
folder: it writes each shard as it arrives (so a killed driver keeps every finished shard and a re-run resumes), verifies each
complete cell itself (``Runner.verified``) and writes it atomically. Cells that read other cells
(transfer, masking checks) and the other whole-cell kinds run in the driver afterwards, as in
process. A task that fails (its worker killed, out of memory) is retried ``RETRIES`` times by
Ray; then its cell is reported failed with the worker's error and the run goes on.
"""

from __future__ import annotations

import os
import platform
import socket
import time
from pathlib import Path
from typing import Any

import torch
from tqdm import tqdm

from bench.attacks.base import Candidates, CellKind
from bench.errors import BenchError
from bench.provenance import peak_rss_mb
from bench.results import ShardStages
from bench.runner import Job, Runner, merge_shards, pack_shard, shard_bounds, timed_part, unpack_shard

RETRIES = 2
ENV = ("BENCH_ZOO_PATH", "BENCH_CACHE_DIR", "BENCH_MALLOC_TUNE")
_WORKER_MODELS: dict[str, Any] = {}  # per worker process: model id -> (checkpoint sha256, model)


def _ray() -> Any:
    try:
        import ray
    except ImportError:
        raise BenchError("--executor ray needs Ray: pip install -e '.[ray]'") from None
    return ray


def compute_shard(spec: dict[str, Any]) -> dict[str, Any]:
    """One shard, in a worker: the model from the zoo (verified, once per worker), the shard's
    reference inputs as the driver prepared them (a few hundred KB through Ray's object store),
    the kind's candidates. Returns plain tensors and where it ran."""
    from bench import zoo
    from bench.attacks import Context, get_kind
    from bench.device import configure_allocator

    configure_allocator()
    torch.set_num_threads(int(spec["threads"]))
    device = torch.device(spec["device"])
    card = zoo.get_card(spec["model"])
    cached = _WORKER_MODELS.get(spec["model"])
    if cached is None or cached[0] != card.sha256:
        cached = (card.sha256, zoo.registry.load_from_card(card, device))  # sha256 checked at load
        _WORKER_MODELS.clear()
        _WORKER_MODELS[spec["model"]] = cached
    model = cached[1]
    cfg = spec["cfg"]
    kind = get_kind(cfg.kind)
    stages = ShardStages(Path(spec["stages"]), spec["config_hash"]) if spec.get("stages") else None
    ctx = Context(device=device, seed=int(spec["seed"]), batch_size=int(spec["batch_size"]), index=spec["index"], stages=stages)
    began = time.time()
    t0 = time.perf_counter()
    out = kind.generate(model, spec["x"], spec["y"], cfg.params, cfg.backend, ctx)
    seconds = time.perf_counter() - t0
    part = timed_part(out if isinstance(out, Candidates) else Candidates(out), seconds)
    return {"x": part.x.detach().cpu(), "tensors": {k: v.cpu() for k, v in part.tensors.items()},
            "stats": part.stats,
            "node": platform.node(), "device": str(device), "pid": os.getpid(), "began": began, "seconds": seconds,
            "peak_rss_mb": peak_rss_mb()}  # the worker's: the driver's says nothing of what a shard needed


def check_reachable(address: str, timeout_s: float = 10.0) -> None:
    """A one-line error when nothing listens at ``address`` (HOST:PORT or ray://HOST:PORT).

    Why: ray.init retries an unreachable cluster for minutes, logging a warning every few seconds,
    before it gives up; a wrong --address should say so at once. 'auto' and 'local' are Ray's own
    lookups and are left to it."""
    if address in ("auto", "local"):
        return
    hostport = address.split("://", 1)[-1]
    host, sep, port = hostport.rpartition(":")
    if not sep or not host or not port.isdigit():
        raise BenchError(f"--address {address!r}: expected HOST:PORT or ray://HOST:PORT (docs/scale-out.md)")
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=timeout_s).close()
    except OSError as exc:
        raise BenchError(f"--address {address}: no Ray cluster answers there ({exc.strerror or exc}); start one with "
                         f"`ray start --head` (docs/scale-out.md)") from None


class RayExecutor:
    """Distributes the per-example cells of a run over Ray workers (see the module doc)."""

    def __init__(self, workers: int | None = None, address: str | None = None, threads_per_worker: int = 1,
                 worker_status: bool = False):
        self.workers, self.address, self.threads = workers, address, max(1, int(threads_per_worker))
        self.worker_status = worker_status  # one line per finished shard: which worker, where, how long
        if address:
            check_reachable(address)

    def start(self) -> Any:
        ray = _ray()
        env = {k: os.environ[k] for k in ENV if k in os.environ}
        if not ray.is_initialized():
            # Ray runs its workers at niceness 15 (RayConfig worker_niceness): beside any other busy
            # process they starve (importing torch took 45 s instead of 2.5 s here). A bench run's
            # workers are the run, not background work; an explicit RAY_worker_niceness wins.
            os.environ.setdefault("RAY_worker_niceness", "0")
            if self.address:
                try:
                    ray.init(address=self.address, runtime_env={"env_vars": env}, log_to_driver=False)
                except (ConnectionError, RuntimeError) as exc:  # something answers there, not a Ray cluster
                    first = (str(exc).splitlines() or [type(exc).__name__])[0]
                    raise BenchError(f"--address {self.address}: {first} (docs/scale-out.md)") from None
            else:
                ray.init(num_cpus=self.workers or os.cpu_count() or 1, runtime_env={"env_vars": env},
                         include_dashboard=False, log_to_driver=False)
        return ray

    def __call__(self, runner: Runner, jobs: list[Job]) -> tuple[list[str], list[str]]:
        """Compute ``jobs`` (per-example cells); returns (cells computed, cells failed)."""
        jobs = [j for j in jobs if not isinstance(j.kind, CellKind)]
        if not jobs:
            return [], []
        ray = self.start()
        gpus = 1 if runner.device.type == "cuda" else 0
        task = ray.remote(compute_shard).options(num_cpus=self.threads, num_gpus=gpus, max_retries=RETRIES,
                                                  retry_exceptions=False)
        pending: dict[Any, tuple[Job, int, int]] = {}
        plans: dict[str, dict[str, Any]] = {}
        for job in jobs:
            model = runner.model(job.model_id)  # the driver verifies each cell, so it holds the model too
            ctx = runner.context(job, model)
            x, y = runner.examples(job)
            x_ref = job.kind.prepare(x, y, job.cfg.params, ctx, job.indices)  # what the workers attack
            bounds = shard_bounds(len(y), job.kind.shard_examples)
            key = f"{job.model_id}/{job.cfg.id}"
            plans[key] = {"job": job, "ctx": ctx, "bounds": bounds, "left": len(bounds), "resumed": 0, "where": []}
            for start, stop in bounds:
                saved = None if runner.force else runner.store.read_shard(job.model_id, job.cfg.id, start, stop, job.config_hash)
                if saved is not None:
                    plans[key]["left"] -= 1
                    plans[key]["resumed"] += 1
                    continue
                spec = {"model": job.model_id, "cfg": job.cfg, "seed": job.seed, "index": job.indices[start:stop],
                        "x": x_ref[start:stop].clone(), "y": y[start:stop].clone(), "batch_size": ctx.batch_size,
                        "device": str(runner.device), "threads": self.threads, "config_hash": job.config_hash}
                if not self.address:  # a local instance: the workers share this disk
                    stages = runner.store.shard_stages(job.model_id, job.cfg.id, start, stop, job.config_hash)
                    if runner.force:
                        stages.clear()
                    spec["stages"] = str(stages.root)
                pending[task.remote(spec)] = (job, start, stop)
        computed, failed = [], []
        bar = tqdm(total=len(pending), desc="shards", unit="shard", disable=not runner.progress, dynamic_ncols=True)
        examples = 0
        t_start = time.time()
        for key, plan in plans.items():  # cells every shard of which an earlier run left
            if plan["left"] == 0:
                self._finish(runner, plan, computed)
        while pending:
            # a bounded wait, so that Ctrl-C reaches this process between waits (an unbounded
            # ray.wait held it off: a driver that cannot be interrupted loses the run's record)
            done, _ = ray.wait(list(pending), num_returns=1, timeout=1.0)
            for ref in done:
                job, start, stop = pending.pop(ref)
                key = f"{job.model_id}/{job.cfg.id}"
                plan = plans[key]
                try:
                    result = ray.get(ref)
                except Exception as exc:  # noqa: BLE001 - the worker's error, after Ray's retries
                    if key not in failed:
                        failed.append(key)
                        runner.log(f"{key}: failed on a Ray worker after {RETRIES} retries: {str(exc).splitlines()[-1][:300]}")
                    continue
                part = Candidates(result["x"], result["tensors"], result["stats"])
                runner.store.write_shard(job.model_id, job.cfg.id, start, stop, job.config_hash, pack_shard(part))
                runner.store.shard_stages(job.model_id, job.cfg.id, start, stop, job.config_hash).clear()
                plan["where"].append({"node": result["node"], "device": result["device"], "pid": result["pid"],
                                      "examples": [start, stop], "began": round(result["began"], 2),
                                      "seconds": round(result["seconds"], 2), "peak_rss_mb": result.get("peak_rss_mb")})
                plan["left"] -= 1
                examples += stop - start
                if self.worker_status:
                    runner.log(f"{key} [{start}, {stop}) on {result['node']} {result['device']} pid {result['pid']}: "
                               f"{result['seconds']:.1f}s ({len(pending)} shards left)")
                bar.update(1)
                bar.set_postfix_str(f"{examples / max(time.time() - t_start, 1e-9):.1f} ex/s")
                if plan["left"] == 0 and key not in failed:
                    self._finish(runner, plan, computed)
        bar.close()
        return computed, failed

    def _finish(self, runner: Runner, plan: dict[str, Any], computed: list[str]) -> None:
        """Every shard of the cell is in the store: assemble, verify in the driver (the kind's final
        ``attack``, its candidates the stored shards), write."""
        job: Job = plan["job"]
        parts = []
        for start, stop in plan["bounds"]:
            saved = runner.store.read_shard(job.model_id, job.cfg.id, start, stop, job.config_hash)
            if saved is None:
                raise BenchError(f"{job.model_id}/{job.cfg.id}: shard {start}-{stop} vanished from {runner.store.root}")
            parts.append(unpack_shard(saved))
        cand, cost = merge_shards(parts)
        model = runner.model(job.model_id)
        verdict = runner.verified(job, runner.attempt(job, model, plan["ctx"], lambda x_ref, y: cand))
        compute = sum(w["seconds"] for w in plan["where"])  # the workers' time on it, not the time it waited in the queue
        peaks = [p for p in [peak_rss_mb(), *(w.get("peak_rss_mb") for w in plan["where"])] if isinstance(p, (int, float))]
        runner.write(job, verdict, compute, {"shards": len(plan["bounds"]), "shards_resumed": plan["resumed"], **cost,
                                             "executor": "ray", "ran_on": plan["where"],
                                             "threads": self.threads,  # the workers' (compute_s is theirs), not the driver's
                                             "peak_rss_mb": max(peaks) if peaks else None})  # the largest process's
        computed.append(f"{job.model_id}/{job.cfg.id}")
