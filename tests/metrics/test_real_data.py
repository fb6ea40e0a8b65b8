"""Distance metrics on real 3D masks (../shared/data/samples) against deepmind and MONAI.

The spleen CT crop has 5 mm slices under 0.8 mm pixels (strong anisotropy), the spinal-cord
MRI a thin structure (0.4 % of the volume). Predictions are the manual masks perturbed in the
ways segmentations go wrong: shifted, eroded, dilated, and with a false positive far away (its
surface points are settled by the k-d tree rather than the lattice shells)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import ndimage

from edgewise.data import read_nifti
from edgewise.metrics import surface_distances

from ._helpers import assert_matches_monai_voxel_mode

pytestmark = [
    pytest.mark.data,
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),
    pytest.mark.filterwarnings("ignore::FutureWarning"),  # MONAI 1.6 about its own arguments
]

SAMPLES = {
    "spleen": "sub-spleen2_ct_seg-manual.nii.gz",
    "cord": "sub-unf01_T2w_seg-manual.nii.gz",
}


def _load(shared, name: str) -> tuple[np.ndarray, tuple[float, ...]]:
    path = shared / "samples" / SAMPLES[name]
    if not path.is_file():
        pytest.skip(f"no {path.name} in the shared data")
    mask, spacing = read_nifti(path)
    return np.asarray(mask) > 0, tuple(float(s) for s in spacing)


def _predictions(target: np.ndarray) -> list[np.ndarray]:
    shifted = np.roll(target, (1, 2, -1), axis=(0, 1, 2))
    eroded = ndimage.binary_erosion(target, iterations=1)
    dilated = ndimage.binary_dilation(target, ndimage.generate_binary_structure(3, 1), 2)
    outlier = target.copy()
    corner = tuple(slice(0, 3) if n > 12 else slice(0, 1) for n in target.shape)
    outlier[corner] = True  # a false positive in the image corner, far from the target
    return [shifted, eroded, dilated, outlier]


@pytest.mark.parametrize("name", list(SAMPLES))
def test_real_masks_match_deepmind(shared, name):
    sdm = pytest.importorskip("surface_distance")
    target, spacing = _load(shared, name)
    preds = _predictions(target)
    sd = surface_distances(
        torch.from_numpy(np.stack(preds)[:, None]),
        torch.from_numpy(np.stack([target] * len(preds))[:, None]),
        spacing=spacing,
    )
    hd, hd95 = sd.hausdorff()[:, 0], sd.hausdorff(95)[:, 0]
    assd, nsd = sd.average()[:, 0], sd.surface_dice(2.0)[:, 0]
    for i, pred in enumerate(preds):
        ref = sdm.compute_surface_distances(target, pred, spacing)
        gt_to_pred, pred_to_gt = sdm.compute_average_surface_distance(ref)
        n_gt, n_pred = ref["surfel_areas_gt"].sum(), ref["surfel_areas_pred"].sum()
        assert hd[i].item() == pytest.approx(sdm.compute_robust_hausdorff(ref, 100), rel=1e-6)
        assert hd95[i].item() == pytest.approx(sdm.compute_robust_hausdorff(ref, 95), rel=1e-6)
        expected_assd = (gt_to_pred * n_gt + pred_to_gt * n_pred) / (n_gt + n_pred)
        assert assd[i].item() == pytest.approx(expected_assd, rel=1e-5)
        expected_nsd = sdm.compute_surface_dice_at_tolerance(ref, 2.0)
        assert nsd[i].item() == pytest.approx(expected_nsd, rel=1e-5)
    # the false positive is far from the target: many times the one-voxel erosion's distance
    assert hd[3] > 5 * hd[1]


@pytest.mark.parametrize("name", list(SAMPLES))
def test_real_masks_match_monai_voxel_mode(shared, name):
    target, spacing = _load(shared, name)
    preds = _predictions(target)
    p = torch.from_numpy(np.stack(preds)[:, None])
    t = torch.from_numpy(np.stack([target] * len(preds))[:, None])
    assert_matches_monai_voxel_mode(p, t, spacing, 2.0)
