"""Contours (``edgewise.maps.contour``): ``soft_contour`` of squares, a line and a cube by hand
with its gradient; and (#27) the contour of every class of a label map at once (``label_contour``) equals the
per-class contour of its one-hot (``soft_contour``: erosion, dilation, difference)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from scipy import ndimage

from edgewise.maps import soft_contour
from edgewise.maps.contour import label_contour, label_perimeters, partition_labels


def _labels(shape: tuple[int, ...], num_classes: int, seed: int) -> torch.Tensor:
    """``(B, *spatial)`` int64: smooth blobs in even samples, speckle in odd ones, one class
    absent from sample 0, the last sample all one class."""
    rng = np.random.default_rng(seed)
    lab = np.empty(shape, np.int64)
    for b in range(shape[0]):
        noise = rng.standard_normal(shape[1:])
        if b % 2 == 0 and min(shape[1:]) > 3:
            noise = ndimage.gaussian_filter(noise, 1.5)
        lab[b] = np.digitize(noise, np.quantile(noise, np.linspace(0.3, 0.85, num_classes - 1)))
    lab[0][lab[0] == 1] = 0
    if shape[0] > 1:
        lab[-1] = num_classes - 1
    return torch.from_numpy(lab)


def _pooled_contour(onehot: torch.Tensor) -> torch.Tensor:
    """The reference expression per channel: ``relu(maxpool3(e) - e)``, ``e = -maxpool3(-t)``."""
    pool = F.max_pool2d if onehot.dim() == 4 else F.max_pool3d
    e = -pool(-onehot, 3, 1, 1)
    return F.relu(pool(e, 3, 1, 1) - e)


SHAPES = [(4, 40, 53), (3, 1, 17), (2, 2, 9), (4, 13, 16, 11), (3, 1, 12, 9), (2, 2, 1, 7)]


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("num_classes", [2, 4])
def test_label_contour_equals_per_class_contour(shape, num_classes):
    lab = _labels(shape, num_classes, seed=len(shape) + num_classes)
    onehot = F.one_hot(lab, num_classes).movedim(-1, 1).to(torch.float64)
    reference = _pooled_contour(onehot)
    per_class = torch.cat([soft_contour(onehot[:, c:c + 1]) for c in range(num_classes)], 1)
    assert torch.equal(per_class, reference)  # one channel: the per-class Boolean passes
    for dtype in (torch.uint8, torch.int64):
        k = label_contour(lab.to(dtype))
        assert k.dtype == torch.bool and k.shape == lab.shape
        by_label = k.unsqueeze(1) & onehot.bool()
        assert torch.equal(by_label, reference.bool())
        assert torch.equal(label_perimeters(lab.to(dtype), num_classes),
                           reference.flatten(2).sum(-1).long())
    # soft_contour of the whole one-hot takes the label route: the same values
    for dtype in (torch.float32, torch.float64):
        assert torch.equal(soft_contour(onehot.to(dtype)), reference.to(dtype))


def test_partition_labels():
    lab = _labels((3, 10, 12), 3, seed=0)
    onehot = F.one_hot(lab, 3).movedim(-1, 1)
    out = partition_labels(onehot.bool())
    assert out is not None and out.dtype == torch.uint8 and torch.equal(out.long(), lab)
    assert torch.equal(partition_labels(onehot.float()), out)
    overlap = onehot.bool().clone()
    overlap[0, 1, 0, 0] = True
    assert partition_labels(overlap) is None
    assert partition_labels(onehot[:, 1:].bool()) is None  # background left out: a gap
    # a multi-label {0, 1} target (overlapping channels) keeps the per-class contour
    ref = _pooled_contour(overlap.double())
    assert torch.equal(soft_contour(overlap.double()), ref)


def test_soft_contour_square_and_gradient():
    for side in (3, 4, 7):
        x = torch.zeros(1, 1, 12, 12)
        x[..., 2 : 2 + side, 3 : 3 + side] = 1
        assert soft_contour(x).sum().item() == 4 * side - 4
    line = torch.zeros(1, 1, 8, 8)
    line[..., 4, :] = 1
    assert soft_contour(line).sum().item() == 0  # thinner than 3 px vanishes
    cube = torch.zeros(1, 2, 8, 8, 8)
    cube[:, 0, 2:6, 2:6, 2:6] = 1
    c3 = soft_contour(cube)
    assert c3[:, 0].sum().item() == 4**3 - 2**3  # the cube's outer shell
    assert c3[:, 1].sum().item() == 0
    x = torch.rand(1, 2, 6, 7, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda v: soft_contour(v).sum(), (x,))
    with pytest.raises(ValueError, match="B, C, H, W"):
        soft_contour(torch.zeros(4, 4))
    with pytest.raises(TypeError):
        soft_contour(torch.zeros(1, 1, 4, 4, dtype=torch.long))
