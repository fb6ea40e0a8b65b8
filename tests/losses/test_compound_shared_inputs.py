"""CompoundLoss prepares (checks, activates, one-hots) its input and target once per call
for all terms with the same activation: same values and gradients as the terms alone."""

from __future__ import annotations

import pytest
import torch

import edgewise.losses as L


def _batch() -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(5)
    x = torch.randn(2, 3, 20, 18, generator=g, dtype=torch.float64)
    t = torch.zeros(2, 1, 20, 18, dtype=torch.long)
    t[0, 0, 3:12, 2:10] = 1
    t[0, 0, 13:18, 8:16] = 2
    t[1, 0, 5:17, 4:15] = 2
    t[1, 0, 8:12, 7:11] = 1
    return x, t


@pytest.fixture
def softmax_calls(monkeypatch):
    calls = []
    real = torch.softmax

    def counting(*args, **kwargs):
        calls.append(args[0].shape)
        return real(*args, **kwargs)

    monkeypatch.setattr(torch, "softmax", counting)
    return calls


def _alone_and_compound(terms, x, t):
    xa = x.clone().requires_grad_(True)
    alone = [loss(xa, t) for loss in terms.values()]
    sum(alone).backward()
    xb = x.clone().requires_grad_(True)
    total, values = L.CompoundLoss(terms)(xb, t, return_terms=True)
    total.backward()
    return alone, values, xa.grad, xb.grad


def test_one_softmax_for_all_terms_values_and_gradients_unchanged(softmax_calls):
    x, t = _batch()
    terms = {"dice": L.DiceLoss(), "boundary": L.BoundaryLoss(), "rrw": L.RegionWiseLoss(check=False),
             "hd": L.HausdorffDTLoss()}
    start = len(softmax_calls)
    alone = [loss(x, t) for loss in terms.values()]
    assert len(softmax_calls) - start == 4
    start = len(softmax_calls)
    total, values = L.CompoundLoss(terms)(x, t, return_terms=True)
    assert len(softmax_calls) - start == 1
    for a, v in zip(alone, values.values()):
        torch.testing.assert_close(v, a, rtol=0, atol=0)
    alone, values, ga, gb = _alone_and_compound(terms, x, t)
    torch.testing.assert_close(gb, ga, rtol=1e-12, atol=1e-15)


def test_terms_with_other_channels_activation_or_spacing(softmax_calls):
    x, t = _batch()
    terms = {
        "dice_fg": L.DiceLoss(include_background=False),
        "boundary_c2": L.BoundaryLoss(classes=[2]),
        "gdl": L.GeneralizedDiceLoss(),
        "bce": L.DiceLoss(sigmoid=True, softmax=False),  # another activation: its own prepare
    }
    alone, values, ga, gb = _alone_and_compound(terms, x, t)
    for a, v in zip(alone, values.values()):
        torch.testing.assert_close(v, a, rtol=0, atol=0)
    torch.testing.assert_close(gb, ga, rtol=1e-12, atol=1e-15)
    # the spacing stays per call: the same boundary term with and without it
    bl = L.BoundaryLoss()
    got = L.CompoundLoss({"a": bl, "b": bl})(x, t, spacing=(2.0, 0.5))
    torch.testing.assert_close(got, 2 * bl(x, t, spacing=(2.0, 0.5)), rtol=0, atol=0)


def test_each_term_still_checks_its_own_options():
    x, t = _batch()
    compound = L.CompoundLoss({"dice": L.DiceLoss(), "bad": L.BoundaryLoss(classes=[5])})
    with pytest.raises(ValueError, match="classes"):
        compound(x, t)


def test_a_target_changed_in_place_between_terms_is_prepared_again(softmax_calls):
    x, t = _batch()

    def relabel_then_dice(input, target, **kwargs):
        target[target == 2] = 1  # in place: the version counter moves
        return L.dice_loss(input, target)

    start = len(softmax_calls)
    got = L.CompoundLoss({"dice": L.DiceLoss(), "relabelled": relabel_then_dice})(x, t.clone())
    assert len(softmax_calls) - start == 2
    t2 = t.clone()
    t2[t2 == 2] = 1
    torch.testing.assert_close(got, L.dice_loss(x, t) + L.dice_loss(x, t2), rtol=0, atol=0)


def test_inference_tensors_are_prepared_per_term(softmax_calls):
    """Tensors made under inference_mode keep no version counter: no sharing, same values."""
    with torch.inference_mode():
        x, t = _batch()
        start = len(softmax_calls)
        got = L.CompoundLoss({"dice": L.DiceLoss(), "rrw": L.RegionWiseLoss(check=False)})(x, t)
        assert len(softmax_calls) - start == 2
        torch.testing.assert_close(got, L.DiceLoss()(x, t) + L.RegionWiseLoss(check=False)(x, t), rtol=0, atol=0)


@pytest.mark.parametrize("name", sorted(set(L.registry.LOSSES) - {"region_wise"}))
def test_every_registered_loss_leaves_the_shared_input_as_it_found_it(name):
    """Each loss between two others in a compound: no term changes the shared probabilities or
    one-hot in place (values and gradients equal the terms called alone)."""
    x, t = _batch()
    kwargs = {"check": False} if name == "rrw" else {}
    terms = {"before": L.DiceLoss(), name: L.registry.LOSSES[name](**kwargs), "after": L.BoundaryLoss()}
    alone, values, ga, gb = _alone_and_compound(terms, x, t)
    for a, v in zip(alone, values.values()):
        torch.testing.assert_close(v, a, rtol=1e-12, atol=1e-15)
    torch.testing.assert_close(gb, ga, rtol=1e-10, atol=1e-13)
