"""Unsigned maps from two-label transforms (``edt`` backend): one per sample where the masks
make two labels covering the image (binary segmentation), one per present class otherwise.
The values of the inside-map-plus-outside-transforms path and of scipy, with fewer transforms."""

import edt as edt_pkg
import numpy as np
import pytest
import torch
from scipy import ndimage

import edgewise.maps._edt as E
import edgewise.maps.distance as D
from edgewise.maps import unsigned_distance


def _reference(mask: np.ndarray, spacing) -> np.ndarray:
    return (ndimage.distance_transform_edt(mask, sampling=spacing)
            + ndimage.distance_transform_edt(~mask, sampling=spacing))


def _border(shape) -> np.ndarray:
    """Distance from each element to just outside the image (unit spacing)."""
    idx = np.meshgrid(*(np.arange(n) for n in shape), indexing="ij")
    return np.minimum.reduce([np.minimum(i + 1, n - i) for i, n in zip(idx, shape)]).astype(np.float32)


def _blobs(shape, seed: int) -> np.ndarray:
    field = ndimage.gaussian_filter(np.random.default_rng(seed).standard_normal(shape), 2)
    return field > 0


@pytest.fixture
def calls(monkeypatch):
    """Calls of the ``edt`` package, one per image (2D images are not stacked here)."""
    n = [0]
    real = edt_pkg.edt
    monkeypatch.setattr(E, "stack_2d", lambda *a: False)
    monkeypatch.setattr(D, "stack_2d", lambda *a: False)

    def counting(*args, **kwargs):
        n[0] += 1
        return real(*args, **kwargs)

    monkeypatch.setattr(edt_pkg, "edt", counting)
    return n


def _inside_plus_outside_path(monkeypatch):
    """The path taken when a shared-maps block already holds the outside distances."""
    monkeypatch.setattr(D, "all_cached", lambda *a: True)


@pytest.mark.parametrize("classes", [None, [1], [0]])
def test_binary_maps_equal_scipy_with_one_transform_per_sample(calls, classes):
    lab = np.stack([_blobs((14, 22, 19), s) for s in range(3)]).astype(np.int64)
    sp = torch.tensor([[2.5, 0.8, 0.7], [1.0, 1.0, 1.0], [0.5, 1.5, 1.0]], dtype=torch.float64)
    got = unsigned_distance(torch.from_numpy(lab)[:, None], sp, num_classes=2, classes=classes,
                            backend="edt")
    assert calls[0] == 3
    chosen = classes or [0, 1]
    assert got.shape == (3, len(chosen), 14, 22, 19)
    for b in range(3):
        for i, k in enumerate(chosen):
            ref = _reference(lab[b] == k, tuple(sp[b].tolist()))
            np.testing.assert_allclose(got[b, i].numpy(), ref, rtol=1e-5, atol=1e-5)


def test_same_values_as_the_per_class_path_bit_for_bit(monkeypatch):
    lab = torch.from_numpy(np.stack([_blobs((40, 37), s) for s in range(4)]).astype(np.int64))[:, None]
    onehot = torch.cat([lab == 0, lab == 1], 1)
    fast = [unsigned_distance(lab, (0.7, 1.3), num_classes=2, backend="edt"),
            unsigned_distance(onehot, (0.7, 1.3), backend="edt", dtype=torch.float64)]
    _inside_plus_outside_path(monkeypatch)
    slow = [unsigned_distance(lab, (0.7, 1.3), num_classes=2, backend="edt"),
            unsigned_distance(onehot, (0.7, 1.3), backend="edt", dtype=torch.float64)]
    for a, b in zip(fast, slow):
        assert a.dtype == b.dtype
        assert torch.equal(a, b)


@pytest.mark.parametrize("case", ["absent", "full", "third label", "overlap", "four classes"])
def test_other_masks_take_one_transform_per_present_class(calls, monkeypatch, case):
    lab = np.stack([_blobs((30, 26), s) for s in range(2)]).astype(np.int64)
    classes, num_classes = None, 2
    if case == "absent":
        lab[1] = 0
    elif case == "full":
        lab[1] = 1
        classes = [1]
    elif case == "third label":  # classes 1 and 2 of three do not cover the image
        lab[:, :5] = 2
        classes, num_classes = [1, 2], 3
    elif case == "four classes":
        lab[:, :8] = 2
        lab[:, 20:, :10] = 3
        num_classes = 4
    target = torch.from_numpy(lab)[:, None]
    if case == "overlap":  # a multi-label one-hot: an element in both channels
        target = torch.stack([torch.from_numpy(lab == 0), torch.from_numpy(lab == 1)], 1)
        target[0, :, :3] = True
        num_classes = None
    got = unsigned_distance(target, num_classes=num_classes, classes=classes, backend="edt")
    masks = (target[:, classes or [0, 1]] if target.shape[1] > 1 else
             torch.stack([target[:, 0] == k for k in (classes or range(num_classes))], 1)).numpy().astype(bool)
    # a class filling its sample needs no transform (the distance to just beyond the border)
    assert calls[0] == sum(1 for b in range(2) for m in masks[b] if m.any() and not m.all())
    for b in range(2):
        for i in range(masks.shape[1]):
            m = masks[b, i]
            if not m.any():
                assert (got[b, i] == 0).all()  # the references' absent-class map (#28)
            elif m.all():
                np.testing.assert_allclose(got[b, i].numpy(), _border(m.shape))
            else:
                np.testing.assert_allclose(got[b, i].numpy(), _reference(m, (1.0, 1.0)), rtol=1e-5, atol=1e-5)
    _inside_plus_outside_path(monkeypatch)
    assert torch.equal(got, unsigned_distance(target, num_classes=num_classes, classes=classes, backend="edt"))
