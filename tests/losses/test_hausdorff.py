"""The Hausdorff losses (``edgewise.losses.hausdorff``).

HD-DT against MONAI and SegWithDistMap's definition. HD-ER's two forms (issue #24), each against a plain reference written out here, then the
installed kornia against the form its version implements.

* ``variant="morphological"``: Karimi & Salcudean's Eq. 12 with exact erosions of the
  misclassified set (kornia >= 0.9.2).
* ``variant="convolution"``: convolution + soft threshold + min-max normalisation
  (PatRyg99/HausdorffLoss, kornia <= 0.9.0).

The references below are numpy/scipy in float64, one (image, class) map at a time, and do not
depend on kornia, so upgrading or downgrading kornia cannot move what either form is checked
against; only the kornia tests read kornia, and they pick the form by its version. Last, HD-ER's
hand-written erosion backward (``variant="convolution"``) against autograd of the plain formula.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from packaging.version import Version
from scipy import ndimage

from edgewise.losses import HausdorffERLoss, build_loss, hausdorff_dt_loss, hausdorff_er_loss
from edgewise.losses.hausdorff import _ErosionLoss, _WeightedSquaredError

from ._helpers import _disc, _labels, _probs

VARIANTS = ("morphological", "convolution")


# --- references ----------------------------------------------------------------------------

def _cross(nd: int) -> np.ndarray:
    """The face-neighbour cross: the pixel and its 2 nd face neighbours."""
    return ndimage.generate_binary_structure(nd, 1)


def _onehot(labels: np.ndarray, c: int) -> np.ndarray:
    """(B, 1, *spatial) labels -> (B, C, *spatial) float64."""
    return np.stack([(labels[:, 0] == i) for i in range(c)], 1).astype(np.float64)


def ref_morphological(p: np.ndarray, t: np.ndarray, alpha: float = 2.0, k: int = 10) -> np.ndarray:
    """Per-(b, c) loss ``(B, C)`` of Eq. 12 with exact erosions, as kornia 0.9.2 states it:
    ``mean(e * sum_i i^alpha erode^i([e > 0]))``, ``e = max(((p - t)^2 - 1/4) / (3/4), 0)``;
    an erosion is the minimum over the cross with +inf outside the image."""
    out = np.zeros(p.shape[:2])
    cross = _cross(p.ndim - 2)
    for b in range(p.shape[0]):
        for c in range(p.shape[1]):
            e = np.maximum(((p[b, c] - t[b, c]) ** 2 - 0.25) / 0.75, 0.0)
            survivors = (e > 0).astype(np.float64)
            weight = np.zeros_like(e)
            for i in range(1, k + 1):
                survivors = ndimage.minimum_filter(survivors, footprint=cross, mode="constant", cval=np.inf)
                weight += survivors * i**alpha
            out[b, c] = (e * weight).mean()
    return out


def ref_morphological_grad(p: np.ndarray, t: np.ndarray, alpha: float = 2.0, k: int = 10) -> np.ndarray:
    """d mean-over-(b, c) of :func:`ref_morphological` / d p, by hand: the erosion weight is a
    constant, so each misclassified pixel gets ``weight * 2 (p - t) / (3/4)``, over the count."""
    g = np.zeros_like(p)
    cross = _cross(p.ndim - 2)
    n = p[0, 0].size * p.shape[0] * p.shape[1]
    for b in range(p.shape[0]):
        for c in range(p.shape[1]):
            d = p[b, c] - t[b, c]
            miss = (d**2 - 0.25) > 0
            survivors = miss.astype(np.float64)
            weight = np.zeros_like(d)
            for i in range(1, k + 1):
                survivors = ndimage.minimum_filter(survivors, footprint=cross, mode="constant", cval=np.inf)
                weight += survivors * i**alpha
            g[b, c] = np.where(miss, weight * 2 * d / 0.75, 0.0) / n
    return g


def ref_convolution(p: np.ndarray, t: np.ndarray, alpha: float = 2.0, k: int = 10) -> np.ndarray:
    """Per-(b, c) loss ``(B, C)`` of PatRyg99's ``HausdorffERLoss.perform_erosion`` (kornia <= 0.9.0):
    convolve ``(p - t)^2`` with the cross over its size, ``max(. - 0.5, 0)``, min-max normalise
    (unless constant), weight erosion ``i`` by ``i^alpha``; mean over the pixels."""
    out = np.zeros(p.shape[:2])
    cross = _cross(p.ndim - 2).astype(np.float64)
    kernel = cross / cross.sum()
    for b in range(p.shape[0]):
        for c in range(p.shape[1]):
            bound = (p[b, c] - t[b, c]) ** 2
            eroded = np.zeros_like(bound)
            for i in range(1, k + 1):
                e = np.maximum(ndimage.convolve(bound, kernel, mode="constant", cval=0.0) - 0.5, 0.0)
                if np.ptp(e) != 0:
                    e = (e - e.min()) / np.ptp(e)
                eroded += e * i**alpha
                bound = e
            out[b, c] = eroded.mean()
    return out


def ref_convolution_torch(p: torch.Tensor, t: torch.Tensor, alpha: float = 2.0, k: int = 10) -> torch.Tensor:
    """:func:`ref_convolution` op by op in torch (conv, relu, amin/amax, where), for autograd
    gradients; mean over (b, c)."""
    nd = p.dim() - 2
    cross = torch.as_tensor(_cross(nd), dtype=p.dtype)
    kernel = (cross / cross.sum())[None, None]
    conv = F.conv2d if nd == 2 else F.conv3d
    dims = tuple(range(2, 2 + nd))
    total = []
    for c in range(p.shape[1]):
        bound = (p[:, c : c + 1] - t[:, c : c + 1]) ** 2
        eroded = torch.zeros_like(bound)
        for i in range(1, k + 1):
            e = torch.relu(conv(bound, kernel, padding=1) - 0.5)
            lo, hi = e.amin(dims, keepdim=True), e.amax(dims, keepdim=True)
            ok = hi - lo != 0
            e = torch.where(ok, (e - lo) / torch.where(ok, hi - lo, torch.ones_like(hi)), e)
            eroded = eroded + e * i**alpha
            bound = e
        total.append(eroded.flatten(1).mean(1))
    return torch.stack(total, 1).mean()


REFS = {"morphological": ref_morphological, "convolution": ref_convolution}


# --- cases ----------------------------------------------------------------------------------

# kornia's own kinds: uniform "probabilities" (not normalised) and softmaxes against random
# labels in [0, C - 1), 2D and 3D, several sizes, 2 and 3 classes; plus thick errors (random
# inputs erode to nothing after two steps, so they alone would not test the later erosions)
SHAPES = [(5, 5), (10, 10), (17, 23), (50, 50), (5, 5, 5), (10, 10, 10), (7, 9, 11)]


def _case(shape: tuple[int, ...], c: int, kind: str, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed + 31 * c + sum(shape))
    labels = (torch.rand(2, 1, *shape, generator=g) * (c - 1)).long()
    p = torch.rand(2, c, *shape, generator=g, dtype=torch.float64)
    if kind == "softmax":
        p = (4 * p - 2).softmax(1)
    elif kind == "thick":
        # a box labelled c - 1 in image 0, predicted over half of it; a false box in image 1;
        # noisy logits, so that no two pixels tie (ties make the subgradients of the
        # convolution form's min and max differ between implementations)
        labels = torch.zeros(2, 1, *shape, dtype=torch.long)
        box = tuple(slice(n // 5, n - n // 5) for n in shape)
        labels[(0, 0, *box)] = c - 1
        predicted = torch.zeros(2, *shape, dtype=torch.bool)
        predicted[(0, *box[:-1], slice(box[-1].start, (box[-1].start + box[-1].stop) // 2))] = True
        predicted[(1, *(slice(n // 8, n - n // 3) for n in shape))] = True
        logits = 0.05 * torch.randn(2, c, *shape, generator=g, dtype=torch.float64)
        logits[:, c - 1] += 4 * predicted
        logits[:, 0] += 4 * ~predicted
        p = logits.softmax(1)
    return p, labels


CASES = [(s, c, kind) for s in SHAPES for c in (2, 3) for kind in ("rand", "softmax", "thick")]


def _id(case: tuple) -> str:
    s, c, kind = case
    return f"{'x'.join(map(str, s))}-c{c}-{kind}"


# --- each form against its reference --------------------------------------------------------

@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("case", CASES, ids=_id)
def test_value_matches_reference(variant, case):
    shape, c, kind = case
    p, labels = _case(shape, c, kind)
    ref = REFS[variant](p.numpy(), _onehot(labels.numpy(), c))
    ours = hausdorff_er_loss(p, labels, softmax=False, variant=variant, reduction="none")
    assert ours.shape == (2, c)
    np.testing.assert_allclose(ours.numpy(), ref, rtol=1e-10, atol=1e-12)
    ours32 = hausdorff_er_loss(p.float(), labels, softmax=False, variant=variant)
    assert ours32.dtype == torch.float32
    assert ours32.item() == pytest.approx(ref.mean(), rel=2e-5, abs=1e-7)


def test_thick_cases_reach_the_later_erosions():
    """The thick cases keep errors through the later erosions (all ten in 2D), so they test
    the weights of erosions 3-10; the random ones are gone after two."""
    for shape, k in (((50, 50), 10), ((20, 20, 20), 4)):
        p, labels = _case(shape, 2, "thick")
        t = _onehot(labels.numpy(), 2)
        for variant in VARIANTS:
            assert REFS[variant](p.numpy(), t, k=k).mean() > REFS[variant](p.numpy(), t, k=k - 1).mean()
        np.testing.assert_allclose(hausdorff_er_loss(p, labels, softmax=False, k=k).numpy(),
                                   ref_morphological(p.numpy(), t, k=k).mean(), rtol=1e-12)


def test_convolution_matches_kornias_scipy_value():
    """kornia's test_numeric_every_erosion_counts: the PatRyg99 algorithm in float64 with scipy
    gives 12.540735900430166 (a constant written in kornia's tests, independent of this file)."""
    target = torch.zeros(2, 1, 32, 32, dtype=torch.long)
    target[0, :, 6:26, 6:26] = 1
    fg = torch.zeros(2, 32, 32, dtype=torch.float64)
    fg[0, 6:26, 6:16] = 0.9
    fg[1, 4:20, 10:26] = 0.8
    pred = torch.stack([1 - fg, fg], 1)
    conv = hausdorff_er_loss(pred, target, softmax=False, variant="convolution")
    assert conv.item() == pytest.approx(12.540735900430166, rel=1e-12)
    assert ref_convolution(pred.numpy(), _onehot(target.numpy(), 2)).mean() == pytest.approx(12.540735900430166)
    morph = hausdorff_er_loss(pred, target, softmax=False, variant="morphological")
    assert morph.item() == pytest.approx(ref_morphological(pred.numpy(), _onehot(target.numpy(), 2)).mean())
    assert morph.item() != pytest.approx(conv.item(), rel=0.01)


@pytest.mark.parametrize("case", [c for c in CASES if c[2] != "softmax" or len(c[0]) == 2], ids=_id)
def test_morphological_gradient_matches_hand_derivative(case):
    shape, c, kind = case
    p, labels = _case(shape, c, kind)
    x = p.clone().requires_grad_(True)
    hausdorff_er_loss(x, labels, softmax=False).backward()
    ref = ref_morphological_grad(p.numpy(), _onehot(labels.numpy(), c))
    np.testing.assert_allclose(x.grad.numpy(), ref, rtol=1e-10, atol=1e-15)
    if kind == "thick":
        assert np.abs(ref).sum() > 0


@pytest.mark.parametrize("case", [c for c in CASES if c[2] != "softmax" and c[0] != (50, 50)], ids=_id)
def test_convolution_gradient_matches_autograd_reference(case):
    """Against autograd through the plain torch reference. Inputs without exact ties: where
    the convolution lands exactly on 0.5, or several pixels share an erosion's minimum or
    maximum, subgradients differ (kornia 0.9.0: 1 at the threshold, amin/amax split ties)."""
    shape, c, kind = case
    p, labels = _case(shape, c, kind)
    t = torch.as_tensor(_onehot(labels.numpy(), c))
    x, y = p.clone().requires_grad_(True), p.clone().requires_grad_(True)
    ours = hausdorff_er_loss(x, labels, softmax=False, variant="convolution")
    ref = ref_convolution_torch(y, t)
    ours.backward()
    ref.backward()
    torch.testing.assert_close(ours, ref, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(x.grad, y.grad, rtol=1e-7, atol=1e-12 * max(1.0, float(y.grad.abs().max())))


# --- hand values ----------------------------------------------------------------------------

def test_morphological_hand_values():
    # a 5x5 miss in a 9x9 image, in both channels: the 3x3 core survives one erosion (weight
    # 1), its centre two (1 + 4); the outer ring of the miss gets 0: (8 * 1 + 1 * 5) / 81
    t = torch.zeros(1, 1, 9, 9, dtype=torch.long)
    p = torch.zeros(1, 2, 9, 9, dtype=torch.float64)
    p[:, 0] = 1
    t[..., 2:7, 2:7] = 1
    loss = hausdorff_er_loss(p, t, softmax=False, reduction="none")
    torch.testing.assert_close(loss, torch.full((1, 2), 13 / 81, dtype=torch.float64))
    # the image border is not an edge: a miss covering the image keeps it through every
    # erosion, sum_{i <= 10} i^2 = 385 at each pixel, in 2D and 3D
    for shape in ((6, 7), (3, 4, 5)):
        full = torch.zeros(1, 2, *shape, dtype=torch.float64)
        full[:, 1] = 1
        zero = torch.zeros(1, 1, *shape, dtype=torch.long)
        assert hausdorff_er_loss(full, zero, softmax=False).item() == pytest.approx(385.0)
        assert hausdorff_er_loss(full, zero, softmax=False, k=3, alpha=1.0).item() == pytest.approx(6.0)
    # a correct pixel adds nothing however uncertain: p = 0.5 everywhere is not misclassified
    half = torch.full((1, 2, 9, 9), 0.5, dtype=torch.float64, requires_grad=True)
    loss = hausdorff_er_loss(half, t, softmax=False)
    loss.backward()
    assert loss.item() == 0.0 and float(half.grad.abs().sum()) == 0.0


def test_morphological_is_eq12_with_exact_erosions_on_binary_predictions():
    """On a binary prediction the morphological form is Eq. 12 with exact erosions of
    (p - t)^2 itself; the convolution form's soft erosions give another value."""
    p, labels = _case((20, 20), 2, "thick")
    binary = (p > 0.5).double()
    t = _onehot(labels.numpy(), 2)
    cross = _cross(2)
    eq12 = np.zeros((2, 2))
    for b in range(2):
        for c in range(2):
            x, total = (binary[b, c].numpy() - t[b, c]) ** 2, 0.0
            for i in range(1, 11):
                x = ndimage.grey_erosion(x, footprint=cross, mode="constant", cval=np.inf)
                total += (x * i**2).mean()
            eq12[b, c] = total
    ours = hausdorff_er_loss(binary, labels, softmax=False, reduction="none").numpy()
    np.testing.assert_allclose(ours, eq12, rtol=1e-12)
    assert hausdorff_er_loss(binary, labels, softmax=False, variant="convolution").item() != pytest.approx(
        float(eq12.mean()), rel=0.01)


# --- options shared with the rest of edgewise -----------------------------------------------

@pytest.mark.parametrize("variant", VARIANTS)
def test_selection_reduction_and_logits(variant):
    p, labels = _case((17, 23), 3, "thick")
    ref = REFS[variant](p.numpy(), _onehot(labels.numpy(), 3))
    kw = {"softmax": False, "variant": variant}
    none = hausdorff_er_loss(p, labels, reduction="none", **kw)
    np.testing.assert_allclose(none.numpy(), ref, rtol=1e-10, atol=1e-12)
    assert hausdorff_er_loss(p, labels, reduction="sum", **kw).item() == pytest.approx(ref.sum())
    assert hausdorff_er_loss(p, labels, include_background=False, **kw).item() == pytest.approx(ref[:, 1:].mean())
    assert hausdorff_er_loss(p, labels, classes=[2], **kw).item() == pytest.approx(ref[:, 2].mean())
    # logits: softmax by default, the same as probabilities given
    logits = torch.randn(2, 3, 17, 23, dtype=torch.float64)
    torch.testing.assert_close(hausdorff_er_loss(logits, labels, variant=variant),
                               hausdorff_er_loss(logits.softmax(1), labels, **kw))
    # the module reads the same options
    mod = HausdorffERLoss(variant=variant, include_background=False, softmax=False)
    assert mod(p, labels).item() == pytest.approx(ref[:, 1:].mean())


def test_default_is_morphological_and_registry_passes_variant():
    p, labels = _case((10, 10), 2, "thick")
    torch.testing.assert_close(hausdorff_er_loss(p, labels, softmax=False),
                               hausdorff_er_loss(p, labels, softmax=False, variant="morphological"))
    assert HausdorffERLoss().variant == "morphological"
    loss = build_loss("hausdorff_er", variant="convolution", include_background=False)
    assert isinstance(loss, HausdorffERLoss) and loss.variant == "convolution"


@pytest.mark.parametrize("bad", ["erosion", "Morphological", "", None])
def test_bad_variant_names_the_allowed_values_and_the_given_one(bad):
    p, labels = _case((5, 5), 2, "rand")
    pattern = r"expected variant in \('morphological', 'convolution'\), got " + repr(bad).replace("(", r"\(")
    with pytest.raises(ValueError, match=pattern):
        hausdorff_er_loss(p, labels, softmax=False, variant=bad)
    with pytest.raises(ValueError, match=pattern):
        HausdorffERLoss(variant=bad)


@pytest.mark.parametrize("shape", [(2, 2, 7, 6), (1, 3, 4, 5, 4)])
def test_morphological_gradcheck_float64(shape):
    g = torch.Generator().manual_seed(3)
    labels = torch.zeros(shape[0], 1, *shape[2:], dtype=torch.long)
    labels[..., 1:, 1:] = shape[1] - 1
    # logits that miss a thick region, away from the |p - t| = 1/2 kink
    x = torch.randn(shape, generator=g, dtype=torch.float64)
    x[:, 0] += 3.0
    x.requires_grad_(True)
    assert torch.autograd.gradcheck(lambda v: hausdorff_er_loss(v, labels, k=4), (x,), eps=1e-6, atol=1e-8)
    hausdorff_er_loss(x, labels, k=4).backward()
    assert float(x.grad.abs().sum()) > 0


# --- the installed kornia, against the form its version implements -------------------------

def _kornia_form() -> tuple[object, str]:
    kornia = pytest.importorskip("kornia")
    v = Version(kornia.__version__)
    if v >= Version("0.9.2"):
        return kornia, "morphological"
    if v <= Version("0.9.0"):
        return kornia, "convolution"
    # 0.9.1 was not on the package index to read, so which form it ships is unknown here
    pytest.skip(f"kornia {kornia.__version__}: which HausdorffERLoss form it implements is not known "
                "(0.9.0 and before: convolution; 0.9.2 and later: morphological)")


def _compare(theirs_fn, ours_fn, p: torch.Tensor, dtype: torch.dtype, rtol: float, grads: bool) -> torch.Tensor:
    a = p.to(dtype, copy=True).requires_grad_(True)
    b = p.to(dtype, copy=True).requires_grad_(True)
    theirs, ours = theirs_fn(a), ours_fn(b)
    torch.testing.assert_close(ours, theirs, rtol=rtol, atol=rtol * 1e-2)
    if grads:
        theirs.backward()
        ours.backward()
        # where the loss is flat (the convolution form's normalisation of a single surviving
        # pixel) both gradients are rounding noise: an absolute floor of the dtype's size
        floor = 1e-7 if dtype == torch.float32 else 1e-13
        torch.testing.assert_close(b.grad, a.grad, rtol=rtol, atol=rtol * float(a.grad.abs().max()) + floor)
    return theirs


@pytest.mark.parametrize("case", CASES, ids=_id)
def test_installed_kornia_matches_its_form(case):
    kornia, variant = _kornia_form()
    shape, c, kind = case
    p, labels = _case(shape, c, kind)
    cls = kornia.losses.HausdorffERLoss if len(shape) == 2 else kornia.losses.HausdorffERLoss3D

    def ours(x: torch.Tensor) -> torch.Tensor:
        return hausdorff_er_loss(x, labels, softmax=False, variant=variant)

    def theirs(x: torch.Tensor) -> torch.Tensor:
        return cls(k=10)(x, labels)

    if variant == "morphological":
        value = _compare(theirs, ours, p, torch.float64, 1e-10, grads=True)
        _compare(theirs, ours, p, torch.float32, 1e-5, grads=True)
    else:
        # kornia <= 0.9.0 keeps its kernel (0.2 or 1/7 per element) as a float32 buffer, also
        # in float64: 1e-8 off per convolution, up to 1e-6 after the min-max normalisations
        value = _compare(theirs, ours, p, torch.float64, 1e-5, grads=True)
        # with the kernel in float64 the two agree to rounding
        exact = cls(k=10)
        exact.kernel = torch.as_tensor(_cross(len(shape)), dtype=torch.float64)[None, None] / (2 * len(shape) + 1)
        _compare(lambda x: exact(x, labels), ours, p, torch.float64, 1e-10, grads=True)
        # float32: the soft threshold and normalisation amplify rounding; values only
        _compare(theirs, ours, p, torch.float32, 1e-4, grads=False)
    if kind == "thick":
        # the case tells the forms apart, so a kornia that changed form again would fail here
        other = "convolution" if variant == "morphological" else "morphological"
        assert hausdorff_er_loss(p, labels, softmax=False, variant=other).item() != pytest.approx(
            value.item(), rel=1e-3)


def test_hausdorff_dt_matches_monai_boundary_definition():
    monai = pytest.importorskip("monai")
    t = _labels(8)
    x = torch.randn(2, 3, 12, 10)
    ref = monai.losses.HausdorffDTLoss(softmax=True, to_onehot_y=True, include_background=True)(x, t)
    torch.testing.assert_close(hausdorff_dt_loss(x, t, distance="boundary"), ref, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("binary", ["softmax", "sigmoid"])
def test_hausdorff_dt_binary_matches_monai(binary):
    """Binary targets take one multi-label transform per map (edgewise.maps.unsigned_distance);
    the loss and its gradient are still MONAI's."""
    monai = pytest.importorskip("monai")
    t = torch.zeros(2, 1, 20, 18, dtype=torch.long)
    t[0, 0] = _disc(20, 18, 8.0, 9.0, 5.0)
    t[1, 0, 3:15, 2:9] = 1
    x = torch.randn(2, 2 if binary == "softmax" else 1, 20, 18, generator=torch.Generator().manual_seed(4))
    opts = {"softmax": True, "to_onehot_y": True} if binary == "softmax" else {"sigmoid": True}
    xa, xb = x.clone().requires_grad_(True), x.clone().requires_grad_(True)
    # a float target for MONAI: its distance field takes the target's dtype (zeros_like), so
    # an integer target would truncate the distances
    ref = monai.losses.HausdorffDTLoss(include_background=True, **opts)(xa, t.float())
    got = hausdorff_dt_loss(xb, t, distance="boundary", **opts)
    torch.testing.assert_close(got, ref, rtol=1e-5, atol=1e-6)
    ref.backward()
    got.backward()
    torch.testing.assert_close(xb.grad, xa.grad, rtol=1e-5, atol=1e-8)


def test_hausdorff_dt_differs_from_monai_where_a_target_channel_is_all_ones():
    """docs/losses.md: MONAI's HausdorffDTLoss zeroes the target field of a channel that fills
    the sample (as for an empty one); edgewise uses the distance to just beyond the image border
    there. Both behaviours pinned: with that channel's field zeroed, edgewise gives MONAI's value."""
    from pathlib import Path

    monai = pytest.importorskip("monai")
    from edgewise.maps import unsigned_distance

    g = torch.Generator().manual_seed(3)
    x = torch.randn(2, 2, 8, 8, generator=g, dtype=torch.float64)
    t = torch.zeros(2, 1, 8, 8, dtype=torch.long)
    t[0, :, 2:5, 2:6] = 1
    t[1] = 1  # sample 1: the foreground fills the image, the background is absent
    for include_background in (False, True):
        ref = monai.losses.HausdorffDTLoss(softmax=True, to_onehot_y=True, reduction="none",
                                           include_background=include_background)(x, t)
        ref = ref.flatten(2).mean(2)  # MONAI's "none" keeps (B, C) plus singleton spatial dims
        ours = hausdorff_dt_loss(x, t, include_background=include_background, reduction="none")
        fg = ours.shape[1] - 1
        # same where no channel is all ones: sample 0, and sample 1's absent background (d_t = 0)
        torch.testing.assert_close(ours[0], ref[0], rtol=1e-6, atol=1e-9)
        if include_background:
            torch.testing.assert_close(ours[1, 0], ref[1, 0], rtol=1e-6, atol=1e-9)
        # the full channel: edgewise's field is positive there, so its loss is larger than MONAI's
        # (the values docs/losses.md quotes)
        assert ours[1, fg].item() == pytest.approx(2.0532, abs=1e-4)
        assert ref[1, fg].item() == pytest.approx(0.5427, abs=1e-4)
        field = unsigned_distance(t, num_classes=2).double()
        assert field[1, 1].min() == 1.0  # distance to just beyond the border, never 0
        zeroed = field.clone()
        zeroed[1, 1] = 0.0
        classes = slice(None) if include_background else slice(1, None)
        torch.testing.assert_close(
            hausdorff_dt_loss(x, t, include_background=include_background, reduction="none",
                              dist_map=zeroed[:, classes]),
            ref, rtol=1e-6, atol=1e-9)
        torch.testing.assert_close(
            hausdorff_dt_loss(x, t, include_background=include_background, reduction="none",
                              dist_map=field[:, classes]),
            ours, rtol=1e-6, atol=1e-9)
    doc = " ".join((Path(__file__).resolve().parents[2] / "docs" / "losses.md").read_text().split())
    assert "except where a target channel is all ones: MONAI zeroes the field" in doc
    assert "2.053 against 0.543" in doc


def test_hausdorff_dt_precomputed_maps_equal_on_the_fly_with_absent_class():
    """edgewise.maps fills an absent class with the image diagonal; fed back as dist_map it
    weighed that class's errors by diagonal^2 (17.8 instead of 0.27 here)."""
    from edgewise.maps import inside_distance, unsigned_distance

    t = _labels(13)  # class 2 absent from sample 0
    x = torch.randn(2, 3, 12, 10, dtype=torch.float64)
    sp = (1.0, 0.6)
    for distance, fn in (("boundary", unsigned_distance), ("inside", inside_distance)):
        maps = fn(t, sp, num_classes=3)
        torch.testing.assert_close(
            hausdorff_dt_loss(x, t, spacing=sp, distance=distance, dist_map=maps, reduction="none"),
            hausdorff_dt_loss(x, t, spacing=sp, distance=distance, reduction="none"))


def test_hausdorff_dt_inside_definition():
    """SegWithDistMap's hd_loss with compute_dtm (distance inside the object), from scipy."""
    t = _labels(9, b=2, c=2)
    probs = _probs(10, 2, 2, (12, 10))
    gt = t[:, 0].numpy() == 1
    seg = probs[:, 1].numpy() > 0.5

    def dtm(mask):
        return np.stack([ndimage.distance_transform_edt(m) if m.any() else np.zeros(m.shape) for m in mask])

    ref = ((probs[:, 1].numpy() - gt) ** 2 * (dtm(seg) ** 2 + dtm(gt) ** 2)).mean()
    ours = hausdorff_dt_loss(probs, t, softmax=False, include_background=False, distance="inside")
    assert ours.item() == pytest.approx(ref, rel=1e-6)


def test_hausdorff_er_matches_kornia_and_has_gradients():
    """kornia's HausdorffERLoss against the form its version implements: the convolution form up
    to 0.9.0, the morphological (Eq. 12) form from 0.9.2 (issue #24). The forms against
    references that do not depend on kornia, and more kornia cases: the variant tests above."""
    kornia = pytest.importorskip("kornia")
    from packaging.version import Version

    version = Version(kornia.__version__)
    if version >= Version("0.9.2"):
        variant = "morphological"
    elif version <= Version("0.9.0"):
        variant = "convolution"
    else:
        pytest.skip(f"kornia {kornia.__version__}: which HausdorffERLoss form it implements is not known")
    t = _labels(11)
    x = torch.randn(2, 3, 12, 10, requires_grad=True)
    p = torch.softmax(x, 1)
    torch.testing.assert_close(hausdorff_er_loss(p, t, softmax=False, variant=variant),
                               kornia.losses.HausdorffERLoss()(p, t), rtol=1e-5, atol=1e-7)
    t3 = torch.zeros(1, 1, 8, 8, 8, dtype=torch.long)
    t3[..., 2:6, 2:6, 2:6] = 1
    x3 = torch.randn(1, 2, 8, 8, 8)
    p3 = torch.softmax(x3, 1)
    torch.testing.assert_close(hausdorff_er_loss(p3, t3, softmax=False, variant=variant),
                               kornia.losses.HausdorffERLoss3D()(p3, t3), rtol=1e-5, atol=1e-7)
    # gradients reach the logits in both forms where the prediction misses a thick region
    x = torch.zeros(2, 3, 12, 10)
    x[:, 0] = 4.0
    for form in ("morphological", "convolution"):
        xg = x.clone().requires_grad_(True)
        hausdorff_er_loss(xg, t, variant=form).backward()
        assert xg.grad is not None and float(xg.grad.abs().sum()) > 0


def _reference(input: torch.Tensor, target: torch.Tensor, alpha: float = 2.0, k: int = 10) -> torch.Tensor:
    """The loss written op by op (pad + shifted sums, min-max with torch.where), autograd only."""
    p = torch.softmax(input, 1)
    t = torch.zeros_like(p).scatter_(1, target, 1.0)
    b, c = p.shape[:2]
    spatial = p.shape[2:]
    nd = len(spatial)
    bound = (p - t).pow(2).reshape(b * c, 1, *spatial)
    total = torch.zeros_like(bound)
    view = (b * c, 1, *([1] * nd))
    for j in range(1, k + 1):
        padded = F.pad(bound, (1, 1) * nd)
        inner = [slice(1, -1)] * nd
        s = bound.clone()
        for axis in range(nd):
            for lo in (0, 2):
                idx = list(inner)
                idx[axis] = slice(lo, lo + spatial[axis])
                s = s + padded[(..., *idx)]
        eroded = torch.relu(s / (2 * nd + 1) - 0.5)
        flat = eroded.flatten(1)
        lo_v = flat.min(1).values.view(view)
        rng = flat.max(1).values.view(view) - lo_v
        ok = rng != 0
        eroded = torch.where(ok, (eroded - lo_v) / torch.where(ok, rng, torch.ones_like(rng)), eroded)
        total = total + eroded * float(j) ** alpha
        bound = eroded
    return total.reshape(b, c, -1).mean(-1).mean()


@pytest.mark.parametrize("shape", [(2, 3, 14, 11), (1, 2, 7, 8, 6)])
@pytest.mark.parametrize("k", [1, 3])
def test_erosion_chain_gradcheck(shape, k):
    g = torch.Generator().manual_seed(0)
    x = (torch.rand(shape[0] * shape[1], 1, *shape[2:], generator=g, dtype=torch.float64) * 1.2)
    x.requires_grad_(True)
    n = 2 * (len(shape) - 2) + 1
    weights = tuple(float(j) ** 2 for j in range(1, k + 1))
    assert torch.autograd.gradcheck(lambda v: _ErosionLoss.apply(v, n, weights), (x,), eps=1e-6, atol=1e-6)


@pytest.mark.parametrize("shape", [(3, 3, 30, 26), (2, 2, 12, 14, 10)])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_matches_plain_autograd(shape, dtype):
    g = torch.Generator().manual_seed(1)
    x = (torch.randn(shape, generator=g) * 3).to(dtype)
    t = torch.randint(0, shape[1], (shape[0], 1, *shape[2:]), generator=g)
    # thick error regions, so that the erosions keep something
    t[..., : shape[2] // 2, :] = 0
    x[:, 1, : shape[2] // 2] += 6
    xa = x.clone().requires_grad_(True)
    xb = x.clone().requires_grad_(True)
    ours = hausdorff_er_loss(xa, t, variant="convolution")
    ref = _reference(xb, t)
    ours.backward()
    ref.backward()
    assert ours.item() > 0
    tol = 1e-6 if dtype == torch.float32 else 1e-12
    torch.testing.assert_close(ours, ref, rtol=tol * 10, atol=0)
    scale = xb.grad.abs().max().item()
    assert scale > 0
    torch.testing.assert_close(xa.grad, xb.grad, rtol=1e-5, atol=tol * scale)


# HD-DT's weighted squared error as one autograd Function (#27): the values and gradients of
# the plain expression it replaced, bit for bit


def _plain_weighted_squared_error(p: torch.Tensor, t: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """The expression before #27: autograd through the difference, square, product and mean."""
    return ((p - t).square() * w).flatten(2).mean(-1)


@pytest.mark.parametrize("shape", [(2, 3, 11, 13), (2, 2, 5, 7, 9), (1, 1, 1, 1), (3, 4, 96, 7)])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_hausdorff_dt_weighted_error_matches_autograd_bit_for_bit(shape, dtype):
    g = torch.Generator().manual_seed(sum(shape))
    x = torch.randn(shape, generator=g, dtype=dtype)
    t = (torch.rand(shape, generator=g) > 0.6).to(dtype)
    w = torch.rand(shape, generator=g, dtype=dtype) * 50
    a = x.clone().requires_grad_(True)
    b = x.clone().requires_grad_(True)
    ref = _plain_weighted_squared_error(torch.softmax(a, 1), t, w)
    out = _WeightedSquaredError.apply(torch.softmax(b, 1), t, w)
    assert torch.equal(out, ref)
    v = torch.randn(out.shape, generator=g, dtype=dtype)
    (ref * v).sum().backward()
    (out * v).sum().backward()
    assert torch.equal(a.grad, b.grad)


def test_hausdorff_dt_weighted_error_gradcheck():
    g = torch.Generator().manual_seed(5)
    p = torch.rand(2, 3, 4, 5, dtype=torch.float64, generator=g)
    t = (torch.rand(2, 3, 4, 5, generator=g) > 0.5).double()
    w = torch.rand(2, 3, 4, 5, dtype=torch.float64, generator=g)
    assert torch.autograd.gradcheck(lambda z: _WeightedSquaredError.apply(z, t, w), (p.requires_grad_(True),))


@pytest.mark.parametrize("distance", ["boundary", "inside"])
def test_hausdorff_dt_given_map_is_left_unchanged_and_gives_the_plain_gradient(distance):
    """With dist_map given (a map the loss must not change in place) the loss and gradient
    equal the plain formula on maps computed here."""
    from edgewise.maps import inside_distance, unsigned_distance

    g = torch.Generator().manual_seed(11)
    x = torch.randn(2, 3, 20, 24, generator=g)
    t = torch.zeros(2, 1, 20, 24, dtype=torch.long)
    t[0, 0, 3:12, 4:15] = 1
    t[1, 0, 8:18, 6:20] = 2
    fn = unsigned_distance if distance == "boundary" else inside_distance
    d_t = fn(t, num_classes=3)
    kept = d_t.clone()
    a = x.clone().requires_grad_(True)
    b = x.clone().requires_grad_(True)
    got = hausdorff_dt_loss(a, t, dist_map=d_t, distance=distance)
    assert torch.equal(d_t, kept)
    p = torch.softmax(b, 1)
    onehot = torch.cat([t == k for k in range(3)], 1).float()
    present = onehot.flatten(2).amax(-1).view(2, 3, 1, 1)
    d_p = fn(p.detach() > 0.5)
    ref = _plain_weighted_squared_error(p, onehot, d_p.square() + (d_t * present).square()).mean()
    assert torch.equal(got, ref)
    got.backward()
    ref.backward()
    assert torch.equal(a.grad, b.grad)
