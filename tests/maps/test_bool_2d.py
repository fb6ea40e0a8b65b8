"""#27: 2D masks go to ``edt`` as bool (its binary path) instead of a uint8 view, and the
boundary complements come from one label map per sample instead of one pass set per class.
Both must give today's values bit for bit."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import ndimage

import edgewise.maps._edt as E
import edgewise.maps.distance as D
from edgewise.maps import as_one_hot, inside_distance, signed_distance, unsigned_distance

from ._helpers import CPU_BACKENDS


def _labels(shape: tuple[int, ...], num_classes: int, seed: int) -> torch.Tensor:
    """Random multi-class label maps ``(B, 1, *spatial)``: smooth blobs in even samples,
    speckle in odd ones; class 2 is absent from sample 0, sample 1 holds classes 0 and 1
    only, and the last sample is all class 1 (a class that fills its sample)."""
    rng = np.random.default_rng(seed)
    lab = np.empty(shape, np.int64)
    for b in range(shape[0]):
        noise = rng.standard_normal(shape[1:])
        if b % 2 == 0:
            noise = ndimage.gaussian_filter(noise, 2)
        cuts = np.quantile(noise, np.linspace(0.3, 0.85, num_classes - 1))
        lab[b] = np.digitize(noise, cuts)
    lab[0][lab[0] == 2] = 3
    lab[1] = np.minimum(lab[1], 1)
    lab[-1] = 1
    for c in range(num_classes):
        assert (lab[2] == c).any()
    return torch.from_numpy(lab)[:, None]


def _bits(x: torch.Tensor) -> torch.Tensor:
    """The float32 maps' bit patterns: equal bits also tell +0.0 from -0.0."""
    return x.contiguous().view(torch.int32)


SPACINGS = [None, (0.7, 1.9), "per-sample"]


def _spacing(spacing, batch: int, ndim: int):
    if spacing == "per-sample":
        rng = np.random.default_rng(batch)
        return torch.from_numpy(rng.uniform(0.5, 2.0, (batch, ndim)))
    return spacing


def _maps(fn, target, spacing, empty, backend, **kw) -> torch.Tensor:
    if fn is signed_distance:
        kw.setdefault("convention", "boundary")
    return fn(target, spacing, empty=empty, backend=backend, **kw)


FNS = [signed_distance, unsigned_distance, inside_distance]


@pytest.mark.parametrize("spacing", SPACINGS)
@pytest.mark.parametrize("empty", ["zero", "diagonal"])
@pytest.mark.parametrize("fn", FNS)
def test_2d_bool_path_equals_uint8_path(fn, empty, spacing, monkeypatch):
    """2D masks handed to ``edt`` as bool or as a uint8 view: the same bits, for every map
    with the ``edt`` backend, index-map and one-hot targets, absent and image-filling
    classes, isotropic, anisotropic and per-sample spacing."""
    pytest.importorskip("edt")
    lab = _labels((6, 37, 52), 5, seed=3)
    sp = _spacing(spacing, 6, 2)
    targets = [(lab, {"num_classes": 5}), (as_one_hot(lab, 5), {}),
               (lab, {"num_classes": 5, "classes": [4, 2, 1]})]
    for target, kw in targets:
        monkeypatch.setattr(E, "BOOL_2D", True)
        as_bool = _maps(fn, target, sp, empty, "edt", **kw)
        monkeypatch.setattr(E, "BOOL_2D", False)
        as_uint8 = _maps(fn, target, sp, empty, "edt", **kw)
        assert torch.equal(_bits(as_bool), _bits(as_uint8))
    if fn is signed_distance:  # the LIVIA convention transforms the masks themselves
        monkeypatch.setattr(E, "BOOL_2D", True)
        a = signed_distance(lab, sp, num_classes=5, convention="livia", empty=empty, backend="edt")
        monkeypatch.setattr(E, "BOOL_2D", False)
        b = signed_distance(lab, sp, num_classes=5, convention="livia", empty=empty, backend="edt")
        assert torch.equal(_bits(a), _bits(b))


def test_edt_input_dtypes():
    m2 = np.ones((4, 5), bool)
    m3 = np.ones((2, 4, 5), bool)
    assert E.edt_input(m2).dtype == np.bool_
    assert E.edt_input(m3).dtype == np.uint8
    assert E.edt_input(m2[:, ::2]).flags.c_contiguous
    labels = np.ones((4, 5), np.uint8)
    assert E.edt_input(labels) is labels


@pytest.mark.parametrize("shape", [(5, 33, 41), (4, 11, 14, 13)])
@pytest.mark.parametrize("empty", ["zero", "diagonal"])
@pytest.mark.parametrize("backend", [b for b in CPU_BACKENDS if b != "torch"])
def test_label_map_complements_equal_per_class_masks(backend, empty, shape, monkeypatch):
    """Boundary complements from one label map per sample (``(lab != c) | same``) against
    the per-class masks they replace (``_not_boundary_np``): the same signed and unsigned
    maps, bit for bit, for index maps, one-hot targets and class subsets."""
    nd = len(shape) - 1
    lab = _labels(shape, 4, seed=nd)
    sp = (2.5, 0.8, 1.1)[-nd:]
    onehot = as_one_hot(lab, 4)
    cases = [(lab, {"num_classes": 4}), (onehot, {}), (lab, {"num_classes": 4, "classes": [3, 1]}),
             (onehot, {"classes": [2, 0, 3]}), (lab, {"num_classes": 4, "classes": [1, 1, 2]})]
    seen = []
    real = D._label_map_np
    monkeypatch.setattr(D, "_label_map_np", lambda p: seen.append(1) or real(p))
    for target, kw in cases:
        for fn in (signed_distance, unsigned_distance):
            seen.clear()
            fast = _maps(fn, target, sp, empty, backend, **kw)
            used = bool(seen) and fn is signed_distance
            with monkeypatch.context() as m:
                m.setattr(D, "_label_map_np", lambda p: None)
                per_class = _maps(fn, target, sp, empty, backend, **kw)
            assert torch.equal(_bits(fast), _bits(per_class))
            if fn is signed_distance:
                assert used
    # inside a shared-maps block the boundary distances take the same complements
    from edgewise.maps import shared_maps

    with shared_maps():
        fast = signed_distance(lab, sp, num_classes=4, empty=empty, backend=backend)
    with monkeypatch.context() as m, shared_maps():
        m.setattr(D, "_label_map_np", lambda p: None)
        per_class = signed_distance(lab, sp, num_classes=4, empty=empty, backend=backend)
    assert torch.equal(_bits(fast), _bits(per_class))


def test_overlapping_one_hot_takes_the_per_class_masks():
    """Channels that overlap (a multi-label target) have no label map: the per-class route,
    still equal to each channel alone."""
    lab = _labels((4, 20, 24), 4, seed=5)
    onehot = as_one_hot(lab, 4)[:, :3]
    both = torch.cat([onehot, onehot[:, 1:2] | onehot[:, 2:3]], 1)
    p = D.prepare(both, None, None, None, None, "scipy")
    assert D._label_map_np(p) is None
    out = signed_distance(both, backend="scipy")
    for c in range(4):
        assert torch.equal(_bits(out[:, c:c + 1]), _bits(signed_distance(both[:, c:c + 1], backend="scipy")))


def _signed_before_27(lab: torch.Tensor, num_classes: int, spacing, empty: str, backend: str) -> torch.Tensor:
    """The CPU signed maps as computed before #27: per (sample, class) the class mask, its
    boundary complement, one transform (a uint8 view in 2D), copied, then ``0 - d`` inside."""
    from edgewise._core.spacing import spacing_table
    from edgewise.maps._input import empty_value

    onehot = as_one_hot(lab, num_classes).numpy()
    spatial = onehot.shape[2:]
    table = spacing_table(spacing, onehot.shape[0], len(spatial))  # (B, ndim)
    fill = empty_value(empty, spatial, table).numpy()
    out = np.empty(onehot.shape, np.float32)
    for b in range(onehot.shape[0]):
        for c in range(num_classes):
            m = onehot[b, c]
            if not m.any():
                out[b, c] = fill[b]
                continue
            out[b, c] = E.edt_one(D._not_boundary_np(m), table[b].numpy(), backend)
            np.subtract(0.0, out[b, c], out=out[b, c], where=m)
    return torch.from_numpy(out)


@pytest.mark.parametrize("shape", [(5, 33, 41), (4, 11, 14, 13)])
@pytest.mark.parametrize("empty", ["zero", "diagonal"])
@pytest.mark.parametrize("backend", [b for b in CPU_BACKENDS if b != "torch"])
def test_signed_maps_equal_the_code_before_27(backend, empty, shape, monkeypatch):
    """Bit for bit against the pre-#27 code (sign by a masked subtraction, per-class masks,
    uint8 masks): the sign bit set on the inside gives the same +0.0 boundary and -d inside;
    a one-hot input is left unchanged."""
    nd = len(shape) - 1
    lab = _labels(shape, 4, seed=11 + nd)
    sp = _spacing("per-sample", shape[0], nd)
    onehot = as_one_hot(lab, 4)
    kept = onehot.clone()
    for target, kw in ((lab, {"num_classes": 4}), (onehot, {})):
        new = signed_distance(target, sp, empty=empty, backend=backend, **kw)
        with monkeypatch.context() as m:
            m.setattr(E, "BOOL_2D", False)
            old = _signed_before_27(lab, 4, sp, empty, backend)
        assert torch.equal(_bits(new), _bits(old))
    assert torch.equal(onehot, kept)
