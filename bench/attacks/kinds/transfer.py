"""Cross-model transfer: adversarial examples crafted on each source model by another attack of
the suite, fed to this (target) model. Only examples verified adversarial on their source are
used, so the diagonal is 100% by construction, and the harness checks that it is."""

from __future__ import annotations

from typing import Any

import torch

from bench.attacks.base import CellKind, CellOutcome, Context, register
from bench.attacks.spec import Param
from bench.errors import BenchError
from bench.models.base import Classifier


@register
class Transfer(CellKind):
    name = "transfer"
    description = "error rate of each model on adversarial examples crafted on every source model"
    params = {
        "source_attack": Param(str, "", None, "id of the suite attack whose examples are transferred"),
        "sources": Param((list, type(None)), None, None, "source model ids (default: the suite's models)"),
    }
    metric = "error_rate"
    after_others = True
    default_label = "Transfer"

    def depends_on(self, params: dict[str, Any], models: list[str]) -> list[tuple[str, str]]:
        return [(m, params["source_attack"]) for m in (params["sources"] or models)]

    def evaluate(self, model: Classifier, model_id: str, params: dict[str, Any], ctx: Context) -> CellOutcome:
        store = ctx.extra["store"]
        sources = params["sources"] or ctx.extra["models"]
        table: dict[str, dict[str, Any]] = {}
        for src in sources:
            cell = store.read_tensors(src, params["source_attack"])
            if cell is None:
                raise BenchError(f"transfer: no '{params['source_attack']}' results for source model '{src}'")
            ok = cell["ref_correct"] & ~cell["robust"]
            x, y = cell["x_adv"][ok], cell["label"][ok]
            wrong = 0
            with torch.inference_mode():
                for i in range(0, len(y), ctx.batch_size):
                    pred = model.log_probs(x[i : i + ctx.batch_size].to(ctx.device)).argmax(1).cpu()
                    wrong += int((pred != y[i : i + ctx.batch_size]).sum())
            rate = wrong / len(y) if len(y) else float("nan")
            table[src] = {"error_rate": rate, "n": int(len(y))}
            if src == model_id and len(y) and wrong != len(y):
                raise BenchError(f"transfer: diagonal for '{src}' is {rate:.3f}, not 1.0: its '{params['source_attack']}' examples do not verify")
            if ctx.progress is not None:
                ctx.progress(1)
        rates = [v["error_rate"] for v in table.values() if v["n"]]
        mean = sum(rates) / len(rates) if rates else float("nan")
        return CellOutcome(value=mean, n=sum(v["n"] for v in table.values()), count=0, extra={"sources": table})
