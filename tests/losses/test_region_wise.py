"""The region-wise loss (``edgewise.losses.region_wise``): the RRW maps' definition, the stability
check."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from scipy import ndimage

from edgewise.losses import RegionWiseLoss, check_stability, region_wise_loss
from edgewise.maps import signed_distance

from ._helpers import _labels, _probs


def _rrw_reference(onehot: np.ndarray) -> np.ndarray:
    out = np.ones(onehot.shape, dtype=np.float64)
    for k in range(onehot.shape[0]):
        m = onehot[k].astype(bool)
        if m.any():
            r = ndimage.distance_transform_edt(m)
            out[k][m] = -r[m] / r.max()
    return out


def test_region_wise_rrw_definition_and_stability():
    t = _labels(3)
    probs = _probs(4, 2, 3, (12, 10))
    onehot = torch.nn.functional.one_hot(t[:, 0], 3).permute(0, 3, 1, 2).numpy()
    maps = np.stack([_rrw_reference(o) for o in onehot])
    ref = (probs.numpy() * maps).mean()
    assert region_wise_loss(probs, t, softmax=False).item() == pytest.approx(ref, rel=1e-6)
    report = check_stability(torch.from_numpy(maps), t)
    assert report.ok and report.max_abs == pytest.approx(1.0)
    # boundary-loss maps of the foreground only: ties with the implicit zero background map
    bl = signed_distance(t, num_classes=3, classes=[1, 2])
    bad = check_stability(bl, t, classes=[1, 2])
    assert not bad.ok and bad.tie_fraction > 0 and not bad.bounded


def test_region_wise_module_warns_once():
    t = _labels(5)
    x = torch.randn(2, 3, 12, 10)

    def bl_maps(onehot, spacing):
        return signed_distance(onehot, spacing)

    loss = RegionWiseLoss(map_fn=bl_maps)
    with pytest.warns(RuntimeWarning, match="stability"):
        loss(x, t)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        loss(x, t)
        RegionWiseLoss()(x, t)  # RRW maps pass
