"""The fused ensemble trunk computes the ensemble's function: same code scores, same input
gradients (up to float rounding), heads in the original order; the search copy of an ensemble code
model uses it and scores as the model, in float32 and (loosely) in bfloat16."""

from __future__ import annotations

import pytest
import torch

from bench.models.ecoc import build
from bench.models.fused_ensemble import FusedEnsembleTrunk, GroupedLinear, fuse_ensembles
from bench.models.search_copy import LowPrecision, search_copy
from bench.models.trunks import EnsembleTrunk

CPU = torch.device("cpu")


@pytest.mark.parametrize("members,bits", [(1, 1), (2, 3), (3, 2)])
def test_the_fused_trunk_computes_the_ensemble_and_its_input_gradient(members: int, bits: int) -> None:
    torch.manual_seed(members * 10 + bits)
    trunk = EnsembleTrunk(members, bits).eval()
    fused = FusedEnsembleTrunk(trunk).eval()
    x = torch.rand(6, 1, 28, 28)
    with torch.no_grad():
        ref, got = trunk(x), fused(x)
    assert got.shape == ref.shape == (6, members * bits)
    assert torch.allclose(got, ref, atol=1e-5, rtol=1e-4)
    # every head's own score, not only their sum: a head order swapped would move these
    for j in range(members * bits):
        xr = x.clone().requires_grad_(True)
        xf = x.clone().requires_grad_(True)
        g_ref, = torch.autograd.grad(trunk(xr)[:, j].sum(), xr)
        g_got, = torch.autograd.grad(fused(xf)[:, j].sum(), xf)
        assert torch.allclose(g_got, g_ref, atol=1e-7 + 1e-4 * float(g_ref.abs().max()))


def test_a_head_out_of_place_is_seen() -> None:
    """The comparison above can fail: fusing the heads in another order gives other scores."""
    torch.manual_seed(1)
    trunk = EnsembleTrunk(2, 2).eval()
    fused = FusedEnsembleTrunk(trunk).eval()
    heads = trunk.members[0].heads
    heads[0], heads[1] = heads[1], heads[0]
    swapped = FusedEnsembleTrunk(trunk).eval()
    x = torch.rand(4, 1, 28, 28)
    with torch.no_grad():
        assert not torch.allclose(swapped(x), fused(x), atol=1e-3)


def test_the_search_copy_of_an_ensemble_code_model_fuses_it_and_scores_as_the_model() -> None:
    torch.manual_seed(2)
    model = build(trunk="ensemble", members=4, code="hadamard", code_length=16, code_rows=16,
                  activation="tanh", loss="hinge").eval()
    fast = search_copy(model, CPU)
    assert isinstance(fast.trunk, FusedEnsembleTrunk) and isinstance(model.trunk, EnsembleTrunk)  # model untouched
    x = torch.rand(8, 1, 28, 28)
    with torch.no_grad():
        for surface in ("log_probs", "linear_scores", "code_scores"):
            assert torch.allclose(getattr(fast, surface)(x), getattr(model, surface)(x), atol=1e-5), surface
    low = search_copy(model, CPU, "bfloat16")
    assert all(isinstance(layer, LowPrecision) and isinstance(layer.layer, GroupedLinear) for layer in low.trunk.dense)
    with torch.no_grad():
        assert torch.allclose(low.code_scores(x), model.code_scores(x), atol=0.05)
    plain = build().eval()  # no ensemble: nothing replaced
    assert not fuse_ensembles(plain)
