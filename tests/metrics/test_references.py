"""Agreement with MONAI and medpy in their matching modes, on random shapes."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from edgewise.metrics import surface_distances

from ._helpers import blob

pytestmark = pytest.mark.filterwarnings(
    "ignore::UserWarning", "ignore::DeprecationWarning", "ignore::FutureWarning"
)

CASES = [
    ((40, 48), (1.0, 1.0)),
    ((40, 48), (0.5, 1.25)),
    ((14, 18, 20), (2.0, 0.75, 1.0)),
]


def _batch(ndim_shape, seed, b=2):
    rng = np.random.default_rng(seed)
    p = np.stack([np.stack([blob(rng, ndim_shape, f) for f in (0.25, 0.4)]) for _ in range(b)])
    t = np.stack([np.stack([blob(rng, ndim_shape, f) for f in (0.25, 0.4)]) for _ in range(b)])
    return torch.from_numpy(p), torch.from_numpy(t)


@pytest.mark.parametrize("shape,spacing", CASES)
def test_monai_voxel_mode(shape, spacing):
    from monai.metrics import (
        compute_average_surface_distance,
        compute_hausdorff_distance,
        compute_surface_dice,
    )

    p, t = _batch(shape, 1)
    sd = surface_distances(p, t, spacing=spacing, surface="voxel")
    kw = {"include_background": True, "spacing": list(spacing)}
    torch.testing.assert_close(sd.hausdorff(), compute_hausdorff_distance(p, t, **kw).float())
    torch.testing.assert_close(
        sd.hausdorff(95, "linear_directed"),
        compute_hausdorff_distance(p, t, percentile=95, **kw).float(),
        rtol=1e-5,
        atol=1e-5,
    )
    torch.testing.assert_close(
        sd.average(), compute_average_surface_distance(p, t, symmetric=True, **kw).float()
    )
    torch.testing.assert_close(
        sd.average(symmetric=False), compute_average_surface_distance(p, t, **kw).float()
    )
    torch.testing.assert_close(
        sd.surface_dice(1.5), compute_surface_dice(p, t, [1.5, 1.5], **kw).float()
    )


@pytest.mark.parametrize("shape,spacing", CASES)
def test_monai_subvoxel_nsd_matches_default_mode(shape, spacing):
    from monai.metrics import compute_surface_dice

    p, t = _batch(shape, 2)
    ours = surface_distances(p, t, spacing=spacing).surface_dice([1.0, 2.0])
    ref = compute_surface_dice(
        p, t, [1.0, 2.0], include_background=True, spacing=list(spacing), use_subvoxels=True
    )
    torch.testing.assert_close(ours, ref.float())


@pytest.mark.parametrize("shape,spacing", CASES)
@pytest.mark.parametrize("connectivity", [1, 2])
def test_medpy_linear_pooled_voxel_mode(shape, spacing, connectivity):
    from medpy.metric import binary

    p, t = _batch(shape, 3, b=1)
    sd = surface_distances(p, t, spacing=spacing, surface="voxel", connectivity=connectivity)
    hd95 = sd.hausdorff(95, "linear_pooled")
    assd = sd.average()
    hd = sd.hausdorff()
    for c in range(2):
        a, b = p[0, c].numpy(), t[0, c].numpy()
        kw = {"voxelspacing": spacing, "connectivity": connectivity}
        assert hd95[0, c].item() == pytest.approx(binary.hd95(a, b, **kw), rel=1e-5)
        assert assd[0, c].item() == pytest.approx(binary.assd(a, b, **kw), rel=1e-5)
        assert hd[0, c].item() == pytest.approx(binary.hd(a, b, **kw), rel=1e-5)
