"""Skeletons and tubes (``edgewise.maps.skeleton``): a one-pixel line is its own skeleton, an
empty class has none, a 3D component that scikit-image's thinning deletes keeps its deepest
voxel, and a tube is the skeleton dilated ``radius`` times by the face-connected cross, kept
inside the class (checked against scipy's binary dilation). The Skeleton Recall authors' tube:
tests/losses/test_centerline.py."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import ndimage

from edgewise.maps import skeleton, skeleton_tube


def test_a_one_pixel_line_is_its_own_skeleton_and_an_absent_class_has_none():
    t = torch.zeros(1, 1, 7, 9, dtype=torch.long)
    t[0, 0, 3, 1:8] = 1  # Zhang-Suen keeps both ends (one neighbour) and the inner pixels (two runs)
    s = skeleton(t, num_classes=3, dtype=torch.long)
    assert s.shape == (1, 3, 7, 9)
    assert torch.equal(s[0, 1], t[0, 0])
    assert s[0, 2].sum() == 0  # class 2 absent
    assert s.dtype == torch.long and skeleton(t, num_classes=3, dtype=torch.bool).dtype == torch.bool


def test_a_3d_rod_of_even_thickness_keeps_its_deepest_voxel():
    t = torch.zeros(1, 1, 6, 6, 9, dtype=torch.long)
    t[0, 0, 2:4, 2:4, 2:7] = 1  # a 2 x 2 x 5 rod
    s = skeleton(t, num_classes=2, classes=[1], dtype=torch.bool)[0, 0]
    assert s.sum() >= 1 and not (s & (t[0, 0] == 0)).any()
    # the rod's deepest voxels (distance 1 to the background) lie inside it; the middle slab is
    # where skimage's thinning, or the restored voxel, puts its one element
    assert s[2:4, 2:4, 2:7].any()


@pytest.mark.parametrize("shape", [(20, 24), (10, 12, 11)])
@pytest.mark.parametrize("radius", [0, 1, 2, 3])
def test_tube_is_the_skeleton_dilated_by_the_cross_inside_the_class(shape, radius):
    g = np.random.default_rng(len(shape) * 10 + radius)
    noise = ndimage.gaussian_filter(g.standard_normal(shape), 2.0)
    lab = (noise > 0).astype(np.int64) + (noise > 0.15)
    t = torch.from_numpy(lab)[None, None]
    skel = skeleton(t, num_classes=3, dtype=torch.bool)[0].numpy()
    tube = skeleton_tube(t, num_classes=3, radius=radius, dtype=torch.bool)[0].numpy()
    cross = ndimage.generate_binary_structure(len(shape), 1)
    for k in range(3):
        mask = lab == k
        ref = ndimage.binary_dilation(skel[k], cross, iterations=radius) if radius else skel[k]
        np.testing.assert_array_equal(tube[k], ref & mask)
        assert mask[skel[k]].all()
