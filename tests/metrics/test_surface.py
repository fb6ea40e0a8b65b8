"""Surface model: derived lookup tables and surface extraction."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch
from scipy import ndimage

from edgewise.metrics.surface import corner_codes, surface_points, surfel_measure_table

SPACINGS_3D = [(1.0, 1.0, 1.0), (0.7, 1.3, 2.1), (2.0, 0.5, 1.1), (0.3, 1.0, 5.0)]


@pytest.mark.parametrize("spacing", SPACINGS_3D)
def test_area_table_matches_deepmind(spacing):
    lt = pytest.importorskip("surface_distance.lookup_tables")
    ours = surfel_measure_table(torch.tensor(spacing, dtype=torch.float64)).numpy()
    np.testing.assert_allclose(
        ours, lt.create_table_neighbour_code_to_surface_area(spacing), rtol=1e-12, atol=1e-14
    )


@pytest.mark.parametrize("spacing", [(1.0, 1.0), (0.7, 1.3), (3.0, 0.25)])
def test_contour_table_matches_deepmind(spacing):
    lt = pytest.importorskip("surface_distance.lookup_tables")
    ours = surfel_measure_table(torch.tensor(spacing, dtype=torch.float64)).numpy()
    np.testing.assert_allclose(
        ours, lt.create_table_neighbour_code_to_contour_length(spacing), rtol=1e-12
    )


@pytest.mark.parametrize("spacing", [(0.7, 1.3, 2.1), (0.7, 1.3)])
def test_tables_match_monai(spacing):
    from monai.metrics.utils import get_code_to_measure_table

    ref, _ = get_code_to_measure_table(spacing)
    ours = surfel_measure_table(torch.tensor(spacing, dtype=torch.float64))
    np.testing.assert_allclose(ours.numpy(), ref.double().numpy(), rtol=1e-6)


def test_table_hand_values():
    # 2D: one corner pixel -> half diagonal; a straight edge along axis 0 -> spacing[0]
    t = surfel_measure_table(torch.tensor([2.0, 3.0], dtype=torch.float64))
    assert t[0b0001] == pytest.approx(0.5 * np.hypot(2, 3))
    assert t[0b0101] == pytest.approx(2.0) and t[0b0011] == pytest.approx(3.0)
    assert t[0b0110] == pytest.approx(np.hypot(2, 3)) and t[0] == 0 and t[15] == 0
    # 3D: a face-parallel plane (4 corners on one side of axis 0) has area s1 * s2
    t3 = surfel_measure_table(torch.tensor([2.0, 3.0, 5.0], dtype=torch.float64))
    assert t3[0b11110000] == pytest.approx(15.0)
    # one corner cut off: triangle with area vector (1/8)(s1 s2, s0 s2, s0 s1)
    assert t3[1] == pytest.approx(0.125 * np.linalg.norm([15.0, 10.0, 6.0]))
    # per-sample spacing gives one table per sample
    assert surfel_measure_table(torch.ones(4, 3, dtype=torch.float64)).shape == (4, 256)


def test_corner_codes_single_pixel():
    m = torch.zeros(1, 3, 3, dtype=torch.bool)
    m[0, 1, 1] = True
    codes = corner_codes(m, 2)
    assert codes.shape == (1, 4, 4)
    # the pixel is bottom-right of corner (1, 1), top-left of corner (2, 2)
    assert codes[0, 1, 1] == 0b0001 and codes[0, 1, 2] == 0b0010
    assert codes[0, 2, 1] == 0b0100 and codes[0, 2, 2] == 0b1000
    assert int((codes != 0).sum()) == 4


def test_border_is_surface_false_full_image_has_no_surface():
    m = torch.ones(1, 5, 6, dtype=torch.bool)
    surf = surface_points(m, torch.ones(2, dtype=torch.float64), border_is_surface=False)
    assert not surf.points.any() and surf.counts == [0]
    surf = surface_points(m, torch.ones(2, dtype=torch.float64))
    # contour of the whole image: 4 + 5 unit segments per side pair, 4 cut corners
    assert float(surf.weights.sum()) == pytest.approx(2 * (4 + 5) + 4 * np.sqrt(0.5))
    assert torch.equal(surf.points[0].flatten().nonzero().squeeze(1), surf.position)


@pytest.mark.parametrize("connectivity", [1, 2, 3])
def test_voxel_boundary_matches_scipy_erosion(connectivity):
    rng = np.random.default_rng(3)
    m = rng.random((2, 7, 8, 9)) > 0.4
    surf = surface_points(
        torch.from_numpy(m),
        torch.ones(3, dtype=torch.float64),
        surface="voxel",
        connectivity=connectivity,
    )
    pts = surf.points
    st = ndimage.generate_binary_structure(3, connectivity)
    for i in range(2):
        ref = m[i] ^ ndimage.binary_erosion(m[i], structure=st)
        np.testing.assert_array_equal(pts[i].numpy(), ref)
        ref_in = m[i] ^ ndimage.binary_erosion(m[i], structure=st, border_value=1)
        inner = surface_points(
            torch.from_numpy(m[i : i + 1]),
            torch.ones(3, dtype=torch.float64),
            surface="voxel",
            connectivity=connectivity,
            border_is_surface=False,
        )
        np.testing.assert_array_equal(inner.points[0].numpy(), ref_in)
        assert torch.equal(
            surf.weights[surf.sample == i], torch.ones(int(ref.sum()), dtype=torch.float64)
        )


def test_surface_errors():
    m = torch.ones(1, 4, 4, dtype=torch.bool)
    with pytest.raises(ValueError, match="connectivity"):
        surface_points(m, torch.ones(2, dtype=torch.float64), surface="voxel", connectivity=3)
    with pytest.raises(ValueError, match="surface"):
        bad: Any = "mesh"
        surface_points(m, torch.ones(2, dtype=torch.float64), surface=bad)
