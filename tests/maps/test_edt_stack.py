"""2D transforms with the ``edt`` backend run as one stacked call (``edt_stack_2d``, opt-in
through ``edgewise.maps._edt.STACK_2D`` since #27): the same values, bit for bit, as one
``edt`` call per image."""

import numpy as np
import pytest
import torch
from scipy import ndimage

import edgewise.maps._edt as E
import edgewise.maps.distance as D
from edgewise.maps import as_one_hot, inside_distance, signed_distance, unsigned_distance


def _labels() -> torch.Tensor:
    """Six 2D label maps of smooth blobs with four classes; sample 2 is all background and
    sample 3 all class 1 (absent and image-filling classes)."""
    lab = np.zeros((6, 48, 72), np.int64)
    for i in range(6):
        for c, t, off in ((1, 0.0, 0), (2, 0.5, 50), (3, 1.0, 90)):
            field = ndimage.gaussian_filter(np.random.default_rng(i + off).standard_normal((48, 72)), 5)
            lab[i][field / field.std() > t] = c
    lab[2], lab[3] = 0, 1
    assert all(len(np.unique(lab[i])) == 4 for i in (0, 1, 4, 5))
    return torch.from_numpy(lab)[:, None]


@pytest.fixture
def threads(monkeypatch):
    """Run with the given torch thread count (the stacked call needs two or more), stacking
    switched on."""
    monkeypatch.setattr(E, "STACK_2D", True)
    before = torch.get_num_threads()
    yield torch.set_num_threads
    torch.set_num_threads(before)


def _per_image(monkeypatch):
    """The path before stacking: one ``edt`` call per (sample, class)."""
    monkeypatch.setattr(E, "stack_2d", lambda *a: False)
    monkeypatch.setattr(D, "stack_2d", lambda *a: False)


@pytest.mark.parametrize("spacing", [None, (0.7, 1.3), "mixed"])
@pytest.mark.parametrize("fn", [signed_distance, unsigned_distance, inside_distance])
def test_stacked_2d_transforms_equal_one_call_per_image(fn, spacing, monkeypatch, threads):
    pytest.importorskip("edt")
    threads(2)
    # off by default: one call per image even with two threads
    monkeypatch.setattr(E, "STACK_2D", False)
    assert not E.stack_2d("edt", 2, 8)
    monkeypatch.setattr(E, "STACK_2D", True)
    threads(2)
    lab = _labels()
    if spacing == "mixed":  # two spacings in one batch: one stacked call per spacing
        spacing = torch.tensor([[1.0, 1.0]] * 3 + [[0.5, 2.0]] * 3)
    onehot = as_one_hot(lab, 4)
    stacked = fn(onehot, spacing, backend="edt")
    calls = []
    real = E.edt_stack_2d
    monkeypatch.setattr(D, "edt_stack_2d", lambda *a: calls.append(1) or real(*a))
    monkeypatch.setattr(E, "edt_stack_2d", lambda *a: calls.append(1) or real(*a))
    assert torch.equal(fn(onehot, spacing, backend="edt"), stacked) and calls
    # one thread: one call per image, the same values
    threads(1)
    calls.clear()
    assert torch.equal(fn(onehot, spacing, backend="edt"), stacked) and not calls
    threads(2)
    _per_image(monkeypatch)
    reference = fn(onehot, spacing, backend="edt")
    assert torch.equal(stacked, reference)
    # and both agree with scipy (float64 inside, float32 out)
    torch.testing.assert_close(stacked, fn(onehot, spacing, backend="scipy"), rtol=1e-5, atol=1e-4)


def test_edt_stack_2d_keeps_each_image_apart():
    pytest.importorskip("edt")
    import edt

    rng = np.random.default_rng(0)
    # sparse seeds: an image's nearest seed is often far, a neighbouring slice's is near
    images = [rng.random((40, 30)) > 0.002 for _ in range(5)]
    for im in images:
        im[rng.integers(40), rng.integers(30)] = False
    sp = np.array([[1.0, 1.0], [1.0, 1.0], [2.0, 0.5], [1.0, 1.0], [2.0, 0.5]])
    out = E.edt_stack_2d(images, sp)
    for im, s, o in zip(images, sp, out):
        np.testing.assert_array_equal(o, edt.edt(im.view(np.uint8), anisotropy=tuple(s), black_border=False))


def test_edt_stack_2d_in_bounded_chunks(monkeypatch):
    pytest.importorskip("edt")
    import edt

    monkeypatch.setattr(E, "_STACK_ELEMENTS", 3 * 40 * 30)  # three images per call
    rng = np.random.default_rng(1)
    images = [rng.random((40, 30)) > 0.01 for _ in range(7)]
    sp = np.array([[1.0, 1.0]] * 5 + [[2.0, 0.5]] * 2)
    sizes = []
    real = edt.edt
    monkeypatch.setattr(edt, "edt", lambda a, **k: sizes.append(a.shape[0]) or real(a, **k))
    out = E.edt_stack_2d(images, sp)
    assert sizes == [3, 2, 2]  # spacing (1, 1): 3 + 2 images, then (2, 0.5): 2 images
    for im, s, o in zip(images, sp, out):
        np.testing.assert_array_equal(o, real(im.view(np.uint8), anisotropy=tuple(s), black_border=False))
