"""What google-deepmind/surface-distance gives for empty masks, as docs/metrics.md says.

surface-distance 0.1 (PyPI) uses ``np.Inf``/``np.NaN`` on exactly these paths, which NumPy 2
removed; the shim restores the two aliases (same values) for these calls only.
"""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from edgewise.metrics import average_surface_distance, hausdorff_distance, surface_dice

DOC = Path(__file__).resolve().parents[2] / "docs" / "metrics.md"


@pytest.fixture
def sdm(monkeypatch):
    sdm = pytest.importorskip("surface_distance")
    monkeypatch.setattr(np, "Inf", np.inf, raising=False)
    monkeypatch.setattr(np, "NaN", np.nan, raising=False)
    return sdm


def _masks():
    empty = np.zeros((9, 8), dtype=bool)
    blob = empty.copy()
    blob[2:5, 3:7] = True
    return empty, blob


def test_deepmind_two_empty_masks(sdm):
    empty, _ = _masks()
    d = sdm.compute_surface_distances(empty, empty, (1.0, 0.5))
    assert sdm.compute_robust_hausdorff(d, 100) == math.inf  # not nan
    assert sdm.compute_robust_hausdorff(d, 95) == math.inf
    with np.errstate(invalid="ignore"):
        gt_to_pred, pred_to_gt = sdm.compute_average_surface_distance(d)
        assert math.isnan(gt_to_pred) and math.isnan(pred_to_gt)
        assert math.isnan(sdm.compute_surface_dice_at_tolerance(d, 1.0))
    assert math.isnan(sdm.compute_dice_coefficient(empty, empty))
    # edgewise: empty="nan" gives nan, the default "worst" a perfect score (docs/metrics.md)
    e = torch.from_numpy(empty)[None, None]
    assert math.isnan(hausdorff_distance(e, e, empty="nan").item())
    assert hausdorff_distance(e, e).item() == 0.0


def test_deepmind_one_empty_mask(sdm):
    empty, blob = _masks()
    for gt, pred in ((blob, empty), (empty, blob)):
        d = sdm.compute_surface_distances(gt, pred, (1.0, 0.5))
        assert sdm.compute_robust_hausdorff(d, 95) == math.inf
        with np.errstate(invalid="ignore"):
            gt_to_pred, pred_to_gt = sdm.compute_average_surface_distance(d)
        # inf from the non-empty surface, nan from the empty one
        from_full, from_empty = (gt_to_pred, pred_to_gt) if gt is blob else (pred_to_gt, gt_to_pred)
        assert from_full == math.inf and math.isnan(from_empty)
        assert sdm.compute_surface_dice_at_tolerance(d, 1.0) == 0.0
        assert sdm.compute_dice_coefficient(gt, pred) == 0.0
        p, t = (torch.from_numpy(m)[None, None] for m in (pred, gt))
        assert hausdorff_distance(p, t, percentile=95).item() == math.inf
        assert average_surface_distance(p, t).item() == math.inf
        assert surface_dice(p, t, 1.0).item() == 0.0


def test_numpy2_alias_is_why_the_shim_exists():
    # In a fresh interpreter: torchmetrics (imported by lightning) puts np.Inf back on import,
    # so in this test process the alias may exist already.
    pytest.importorskip("surface_distance")
    code = (
        "import numpy as np, surface_distance as sd\n"
        "if int(np.__version__.split('.')[0]) < 2:\n"
        "    print('numpy<2'); raise SystemExit\n"
        "e = np.zeros((4, 4), bool)\n"
        "try:\n"
        "    sd.compute_robust_hausdorff(sd.compute_surface_distances(e, e, (1.0, 1.0)), 95)\n"
        "except AttributeError as err:\n"
        "    print('AttributeError:', err)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    if out.startswith("numpy<2"):
        pytest.skip("NumPy < 2 still has np.Inf")
    assert "AttributeError: `np.Inf` was removed in the NumPy 2.0 release" in out


def test_doc_states_what_deepmind_gives():
    doc = " ".join(DOC.read_text().split())
    assert "deepmind gives `inf` distances for one empty mask and nan for two" not in doc
    assert ("deepmind's Hausdorff distance (HD and HD95) is `inf` whenever a mask is empty, "
            "**two empty masks included**") in doc
    assert "nan both ways for two empty masks" in doc
    assert "0 for one empty mask and nan for two" in doc
