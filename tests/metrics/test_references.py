"""Agreement with MONAI and medpy in their matching modes, on random shapes."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from edgewise.metrics import surface_distances

from ._helpers import assert_matches_monai_voxel_mode, blob

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
    p, t = _batch(shape, 1)
    assert_matches_monai_voxel_mode(p, t, spacing, 1.5)


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
