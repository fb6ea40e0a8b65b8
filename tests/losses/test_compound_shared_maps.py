"""CompoundLoss computes the distance transforms its terms share once per call."""

from __future__ import annotations

import edt as edt_pkg
import pytest
import torch

import edgewise.losses as L


def _batch() -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(3)
    x = torch.randn(2, 3, 28, 24, generator=g)
    t = torch.zeros(2, 1, 28, 24, dtype=torch.long)
    t[0, 0, 4:14, 3:15] = 1
    t[0, 0, 16:25, 10:20] = 2
    t[1, 0, 6:26, 5:21] = 2
    t[1, 0, 9:15, 8:14] = 1
    return x, t


@pytest.fixture
def edt_calls(monkeypatch):
    """Count the 2D transforms of the ``edt`` package (one per mask or multi-label map): the
    batches here are 2D, so a 3D input is a stack of 2D transforms done in one call
    (``edgewise.maps._edt.edt_stack_2d``) and counts once per image."""
    calls = []
    real = edt_pkg.edt

    def counting(*args, **kwargs):
        shape = args[0].shape
        calls.extend([shape[1:]] * shape[0] if len(shape) == 3 else [shape])
        return real(*args, **kwargs)

    monkeypatch.setattr(edt_pkg, "edt", counting)
    return calls


TERMS = {
    "boundary": L.BoundaryLoss,
    "penalized_ce": L.DistancePenalizedCELoss,
    "rrw": lambda: L.RegionWiseLoss(check=False),
}


@pytest.mark.parametrize("order", [list(TERMS), list(reversed(TERMS))])
def test_compound_shares_transforms(edt_calls, order):
    x, t = _batch()
    terms = {name: TERMS[name]() for name in order}
    separate = {}
    for name, loss in terms.items():
        start = len(edt_calls)
        separate[name] = loss(x, t)
        separate[name + " calls"] = len(edt_calls) - start
    # alone: boundary 2 samples x 3 classes, penalty and RRW one multi-label map per sample
    assert (separate["boundary calls"], separate["penalized_ce calls"], separate["rrw calls"]) == (6, 2, 2)

    compound = L.CompoundLoss(terms)
    start = len(edt_calls)
    total, values = compound(x, t, return_terms=True)
    # after the boundary loss, the penalty reads its per-class boundary distances: 6 per-class
    # transforms + 2 multi-label RRW maps instead of 10. Before it, the penalty makes its own
    # multi-label map (2), cheaper than the 6 per-class transforms it cannot know a later term
    # needs: nothing is computed twice either way
    assert len(edt_calls) - start == (8 if order.index("boundary") < order.index("penalized_ce") else 10)
    for name in terms:
        torch.testing.assert_close(values[name], separate[name], rtol=1e-6, atol=0)
    torch.testing.assert_close(total, sum(separate[n] for n in terms), rtol=1e-6, atol=0)


@pytest.mark.parametrize("boundary_first", [True, False])
def test_compound_hausdorff_and_boundary_share_the_target_maps(edt_calls, boundary_first):
    x, t = _batch()
    hd, bl = L.HausdorffDTLoss(), L.BoundaryLoss()
    start = len(edt_calls)
    expected_hd = hd(x, t)
    alone_hd = len(edt_calls) - start
    start = len(edt_calls)
    expected_bl = bl(x, t)
    alone_bl = len(edt_calls) - start
    # alone, each class's map on both sides is one two-label transform: 2 samples x 3 classes
    # for the target, plus the thresholded prediction's present classes; the boundary loss
    # transforms the 6 boundary-set complements
    assert alone_bl == 6 and alone_hd > 6
    terms = {"bl": bl, "hd": hd} if boundary_first else {"hd": hd, "bl": bl}
    start = len(edt_calls)
    got = L.CompoundLoss(terms)(x, t)
    shared = len(edt_calls) - start
    # after the boundary loss the Hausdorff loss reads the target's 6 outside distances and
    # adds one multi-label inside map per sample (2 instead of 6); before it, nothing the
    # boundary loss can use exists, and nothing is computed twice
    assert alone_hd + alone_bl - shared == (4 if boundary_first else 0)
    torch.testing.assert_close(got, expected_hd + expected_bl, rtol=1e-6, atol=0)


def test_compound_gradients_unchanged():
    x, t = _batch()
    terms = {name: make() for name, make in TERMS.items()}
    xa = x.clone().requires_grad_(True)
    sum(loss(xa, t) for loss in terms.values()).backward()
    xb = x.clone().requires_grad_(True)
    L.CompoundLoss(terms)(xb, t).backward()
    torch.testing.assert_close(xb.grad, xa.grad, rtol=1e-5, atol=1e-9)


def test_penalty_in_a_compound_without_boundary_maps_keeps_its_one_transform(edt_calls):
    """Dice + penalised CE: the penalty's one multi-label transform per sample, as alone (not
    one per class because a shared-maps block is open)."""
    x, t = _batch()
    dice, pce = L.DiceLoss(), L.DistancePenalizedCELoss()
    expected = dice(x, t) + pce(x, t)
    start = len(edt_calls)
    got = L.CompoundLoss({"dice": dice, "penalized_ce": pce})(x, t)
    assert len(edt_calls) - start == 2
    torch.testing.assert_close(got, expected, rtol=1e-6, atol=0)


def test_penalty_after_boundary_hashes_the_masks_once(monkeypatch):
    """Checking that every boundary map is stored and then reading them packs the one-hot once."""
    import numpy as np

    x, t = _batch()
    calls = []
    real = np.packbits

    def counting(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(np, "packbits", counting)
    compound = L.CompoundLoss({"boundary": L.BoundaryLoss(), "penalized_ce": L.DistancePenalizedCELoss()})
    expected = L.BoundaryLoss()(x, t) + L.DistancePenalizedCELoss()(x, t)
    calls.clear()
    torch.testing.assert_close(compound(x, t), expected, rtol=1e-6, atol=0)
    assert len(calls) == 2  # once for the boundary loss, once for the penalty
