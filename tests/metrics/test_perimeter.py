"""Perimeter error: hand-computed contour lengths and deepmind's surfel areas."""

from __future__ import annotations

import math

import numpy as np
import pytest

from edgewise.metrics import perimeter_error

from ._helpers import bc, blob

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def test_perimeter_error():
    t = np.zeros((12, 12), bool)
    t[2:6, 2:6] = True
    p = np.zeros((12, 12), bool)
    p[2:6, 2:4] = True
    # 4x4 square: 12 unit edges + 4 cut corners; 4x2: 8 + 4 cut corners
    assert perimeter_error(bc(p), bc(t)).item() == pytest.approx(4.0)
    assert perimeter_error(bc(p), bc(t), relative=True).item() == pytest.approx(
        4.0 / (12 + 2 * math.sqrt(2))
    )
    assert perimeter_error(bc(p), bc(t), spacing=(2.0, 2.0)).item() == pytest.approx(8.0)
    z = np.zeros_like(t)
    assert math.isinf(perimeter_error(bc(p), bc(z), relative=True).item())
    assert perimeter_error(bc(z), bc(z), relative=True).item() == 0.0


def test_surface_area_3d_matches_deepmind_surfels():
    sdm = pytest.importorskip("surface_distance")
    rng = np.random.default_rng(17)
    t = blob(rng, (12, 14, 16))
    spacing = (2.0, 1.0, 0.5)
    ref = sdm.compute_surface_distances(t, t, spacing)["surfel_areas_gt"].sum()
    empty = np.zeros_like(t)
    area = perimeter_error(bc(empty), bc(t), spacing=spacing)
    assert area.item() == pytest.approx(ref, rel=1e-6)
