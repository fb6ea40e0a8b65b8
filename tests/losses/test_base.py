"""The loss base class (``edgewise.losses._base``): every registered loss is built on it, takes
the shared options with the same checks and messages, mirrors its function's options, reduces
as hand-computed, and reads ``spacing`` from its constructor as from the call."""

from __future__ import annotations

import inspect
import re

import pytest
import torch

from edgewise.losses import (
    LOSSES,
    BoundaryLoss,
    DiceLoss,
    RegionWiseLoss,
    boundary_loss,
    build_loss,
    dice_loss,
)
from edgewise.losses._base import LossBase, MapLossBase

NAMES = sorted(set(LOSSES) - {"rrw"})
# a loss the spacing changes (its maps are in physical units); the others accept and ignore it
SPACING_MATTERS = {"boundary", "hausdorff_dt", "penalized_ce", "sdf"}
QUIET = {"region_wise": {"check": False}}  # no stability warning for random logits


def _data(seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(2, 3, 9, 8, generator=g)
    t = torch.zeros(2, 1, 9, 8, dtype=torch.long)
    t[..., 2:6, 2:5] = 1
    t[..., 5:8, 4:7] = 2
    t[1, ..., 0:2, 0:3] = 1
    return x, t


@pytest.mark.parametrize("name", NAMES)
def test_every_registered_loss_is_built_on_the_base(name):
    loss = build_loss(name)
    assert isinstance(loss, LossBase)
    takes_maps = "dist_map" in inspect.signature(type(loss).function).parameters
    assert isinstance(loss, MapLossBase) == takes_maps
    forward = list(inspect.signature(loss.forward).parameters)
    assert forward == ["input", "target", "spacing", *(["dist_map"] if takes_maps else [])]


@pytest.mark.parametrize("name", NAMES)
def test_the_constructor_takes_the_function_options_with_its_defaults(name):
    """A module and its function cannot disagree on an option's name or default: the
    constructor is the function's keyword-only parameters (less the per-call ``dist_map``),
    ``spacing`` included; the region-wise module alone checks its maps by default."""
    cls = LOSSES[name]
    fn = inspect.signature(cls.function).parameters
    expected = {n: p.default for n, p in fn.items() if p.kind is p.KEYWORD_ONLY and n != "dist_map"}
    if cls is RegionWiseLoss:
        expected["check"] = True
    ctor = inspect.signature(cls).parameters
    assert {n: p.default for n, p in ctor.items()} == expected
    assert all(p.kind is p.KEYWORD_ONLY for p in ctor.values())
    assert "spacing" in ctor and "reduction" in ctor
    loss = cls()
    assert loss.options() == expected
    assert repr(loss) == f"{cls.__name__}()"


@pytest.mark.parametrize("name", NAMES)
def test_shared_options_are_checked_with_the_same_messages(name):
    with pytest.raises(ValueError, match=re.escape("expected reduction in ('none', 'mean', 'sum'), got 'avg'")):
        build_loss(name, reduction="avg")
    with pytest.raises(TypeError, match="unexpected keyword argument 'include_backgroud'"):
        LOSSES[name](include_backgroud=False)
    with pytest.raises(TypeError, match="positional argument"):
        LOSSES[name]("mean")
    if "softmax" in inspect.signature(LOSSES[name]).parameters:
        with pytest.raises(ValueError, match=r"softmax=True and sigmoid=True are mutually exclusive"):
            build_loss(name, softmax=True, sigmoid=True)
        build_loss(name, softmax=False, sigmoid=True)  # each alone is fine


# option -> bad value, the message's start; checked when the module is built, with the
# function's own message where the function checks it too
OWN_CHECKS = [
    ("boundary", {"convention": "kervadec"}, "expected convention in ('boundary', 'livia'), got 'kervadec'"),
    ("boundary", {"empty": "nan"}, "expected empty in ('zero', 'diagonal'), got 'nan'"),
    ("sdf", {"empty": "nan"}, "expected empty in ('zero', 'diagonal'), got 'nan'"),
    ("hausdorff_dt", {"distance": "outside"}, "expected distance in ('boundary', 'inside'), got 'outside'"),
    ("hausdorff_er", {"variant": "soft"}, "expected variant in ('morphological', 'convolution'), got 'soft'"),
    ("active_contour", {"eps": 0.0}, "expected eps > 0"),
    ("cldice", {"iter_": -1}, "expected iter_ as a non-negative integer, got -1"),
    ("dice_cldice", {"alpha": 1.5}, "expected alpha in [0, 1], got 1.5"),
    ("skeleton_recall", {"radius": -2}, "expected radius as a non-negative integer, got -2"),
]


@pytest.mark.parametrize(("name", "kwargs", "message"), OWN_CHECKS)
def test_own_options_are_checked_when_built(name, kwargs, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        build_loss(name, **kwargs)
    if name != "skeleton_recall":  # the function leaves radius to edgewise.maps.skeleton_tube
        x, t = _data()
        with pytest.raises(ValueError, match=re.escape(message)):
            LOSSES[name].function(x, t, **kwargs)


def _dice_case() -> tuple[torch.Tensor, torch.Tensor]:
    """Probabilities of 2 samples, 2 classes, 1 x 2 pixels; target [0, 1] in both."""
    p = torch.tensor([[[[1.0, 0.5]], [[0.0, 0.5]]],
                      [[[1.0, 0.0]], [[0.0, 1.0]]]])
    return p, torch.tensor([[[[0, 1]]], [[[0, 1]]]])


def test_dice_reductions_match_hand_computed_values():
    """Sample 0: class 0 has TP 1, sum p 1.5, sum t 1: 1 - 2 / 2.5 = 0.2; class 1 has TP 0.5,
    sum p 0.5, sum t 1: 1 - 1 / 1.5 = 1/3. Sample 1 is perfect: 0 and 0."""
    p, t = _dice_case()
    kw = dict(softmax=False, smooth_nr=0.0, smooth_dr=0.0)
    none = torch.tensor([[0.2, 1 / 3], [0.0, 0.0]])
    for reduction, expected in (("none", none), ("mean", torch.tensor(8 / 60)), ("sum", torch.tensor(8 / 15))):
        module = DiceLoss(reduction=reduction, **kw)
        torch.testing.assert_close(module(p, t), expected)
        torch.testing.assert_close(dice_loss(p, t, reduction=reduction, **kw), expected)
    fg = DiceLoss(reduction="none", include_background=False, **kw)(p, t)
    torch.testing.assert_close(fg, none[:, 1:])


def test_boundary_reductions_match_hand_computed_values():
    """Foreground probabilities [0.25, 0.5] and [1, 0] against the map [-1, 2] of class 1:
    mean(p * phi) = (-0.25 + 1) / 2 = 0.375 and (-1 + 0) / 2 = -0.5."""
    p1 = torch.tensor([[[[0.25, 0.5]]], [[[1.0, 0.0]]]])
    p = torch.cat([1 - p1, p1], 1)
    t = torch.tensor([[[[1, 0]]], [[[1, 0]]]])
    phi = torch.tensor([[[[-1.0, 2.0]]], [[[-1.0, 2.0]]]])
    none = torch.tensor([[0.375], [-0.5]])
    kw = dict(softmax=False, include_background=False)
    for reduction, expected in (("none", none), ("mean", torch.tensor(-0.0625)), ("sum", torch.tensor(-0.125))):
        torch.testing.assert_close(BoundaryLoss(reduction=reduction, **kw)(p, t, dist_map=phi), expected)
        torch.testing.assert_close(boundary_loss(p, t, dist_map=phi, reduction=reduction, **kw), expected)


@pytest.mark.parametrize("name", NAMES)
def test_reduction_sum_and_mean_are_those_of_none(name):
    """For the per-class losses ``"mean"`` is the mean of ``"none"``; for all ``"sum"`` is its sum."""
    x, t = _data()
    none = build_loss(name, reduction="none", **QUIET.get(name, {}))(x, t)
    torch.testing.assert_close(build_loss(name, reduction="sum", **QUIET.get(name, {}))(x, t), none.sum(),
                               rtol=1e-5, atol=1e-5)
    if name not in ("ce", "focal", "penalized_ce"):  # torch's mean over valid pixels (weights)
        torch.testing.assert_close(build_loss(name, **QUIET.get(name, {}))(x, t), none.mean())


@pytest.mark.parametrize("name", NAMES)
def test_spacing_in_the_constructor_equals_spacing_in_the_call(name):
    x, t = _data()
    kw = QUIET.get(name, {})
    spacing, other = (1.0, 2.5), (3.0, 0.5)
    in_call = build_loss(name, **kw)(x, t, spacing=spacing)
    built = build_loss(name, spacing=spacing, **kw)
    torch.testing.assert_close(built(x, t), in_call, rtol=0, atol=0)
    # the call's spacing wins over the constructor's
    torch.testing.assert_close(built(x, t, spacing=other), build_loss(name, **kw)(x, t, spacing=other),
                               rtol=0, atol=0)
    if name in SPACING_MATTERS:
        assert not torch.allclose(in_call, build_loss(name, **kw)(x, t))
    # and the constructor's is checked, at the call, as the call's is
    with pytest.raises(ValueError, match="spacing"):
        build_loss(name, spacing=(1.0, 1.0, 1.0), **kw)(x, t)


def test_options_are_attributes_and_repr_shows_what_differs():
    loss = BoundaryLoss(include_background=False, spacing=(0.5, 0.5), empty="diagonal")
    assert (loss.include_background, loss.spacing, loss.empty) == (False, (0.5, 0.5), "diagonal")
    assert repr(loss) == "BoundaryLoss(spacing=(0.5, 0.5), include_background=False, empty='diagonal')"
    weight = torch.tensor([1.0, 2.0])
    assert repr(DiceLoss(weight=weight, smooth_nr=1e-5)) == f"DiceLoss(weight={weight!r})"
    x, t = _data()
    loss.include_background = True  # read at call time
    torch.testing.assert_close(loss(x, t), BoundaryLoss(spacing=(0.5, 0.5), empty="diagonal")(x, t))


def test_region_wise_checks_its_maps_on_the_first_call_only():
    x, t = _data()
    bad = RegionWiseLoss(map_fn=lambda onehot, spacing: torch.zeros(onehot.shape))  # ties everywhere
    with pytest.warns(RuntimeWarning, match="stability"):
        bad(x, t)
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        bad(x, t)
    assert bad.check and bad.options()["check"]


def test_a_subclass_names_its_function():
    """A new loss is its function and nothing else; a function without ``spacing`` or
    ``reduction`` keywords is refused when the class is made."""

    class MyDice(LossBase):
        function = staticmethod(dice_loss)
        defaults = {"include_background": False}

    x, t = _data()
    torch.testing.assert_close(MyDice()(x, t), dice_loss(x, t, include_background=False), rtol=0, atol=0)
    assert inspect.signature(MyDice).parameters["include_background"].default is False

    def no_spacing(input, target, *, reduction="mean"):
        return input.sum()

    with pytest.raises(TypeError, match=r"no keyword-only parameter\(s\) \['spacing'\]"):
        type("NoSpacing", (LossBase,), {"function": staticmethod(no_spacing)})
