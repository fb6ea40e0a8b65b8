"""edgewise.metrics.pixel: the retinal pixel metrics (confusion, sensitivity, specificity, accuracy,
F1, ROC AUC) by hand and against scikit-learn, inside a field of view."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from edgewise.metrics import (
    accuracy,
    confusion,
    f1,
    roc_auc,
    sensitivity,
    specificity,
)


def test_pixel_metrics_hand_case_with_fov():
    t = torch.tensor([[[[1, 1, 0, 0, 0, 1]]]], dtype=torch.bool)
    p = torch.tensor([[[[1, 0, 1, 0, 1, 1]]]], dtype=torch.bool)
    fov = torch.tensor([[[[1, 1, 1, 1, 0, 0]]]], dtype=torch.bool)
    assert [int(x) for x in confusion(p, t)] == [2, 2, 1, 1]
    assert [int(x) for x in confusion(p, t, mask=fov)] == [1, 1, 1, 1]
    assert sensitivity(p, t).item() == pytest.approx(2 / 3)
    assert specificity(p, t).item() == pytest.approx(1 / 3)
    assert accuracy(p, t).item() == pytest.approx(0.5)
    assert f1(p, t).item() == pytest.approx(4 / 7)
    assert specificity(p, t, mask=fov[:, 0]).item() == pytest.approx(0.5)
    s = torch.tensor([[[[0.9, 0.2, 0.6, 0.1, 0.95, 0.2]]]])
    # in the FOV: positives 0.9, 0.2; negatives 0.6, 0.1: ordered pairs 2 + 1 of 4
    assert roc_auc(s, t, mask=fov).item() == pytest.approx(0.75)
    assert np.isnan(roc_auc(s, torch.zeros_like(t)).item())
    empty = torch.zeros_like(t)
    assert sensitivity(empty, empty).item() == 1.0 and sensitivity(p, empty).item() == 0.0
    assert np.isnan(sensitivity(empty, empty, empty="nan").item())
    with pytest.raises(ValueError, match="mask of shape"):
        sensitivity(p, t, mask=fov[..., :3])


def test_pixel_metrics_match_sklearn_on_random_masks():
    skm = pytest.importorskip("sklearn.metrics", reason="scikit-learn is not installed")
    rng = np.random.default_rng(8)
    t = torch.from_numpy(rng.random((3, 2, 20, 21)) < 0.2)
    p = torch.from_numpy(rng.random((3, 2, 20, 21)) < 0.25)
    s = torch.from_numpy(np.round(rng.random((3, 2, 20, 21)) + 0.4 * t.numpy(), 2))  # ties
    fov = torch.from_numpy(rng.random((3, 1, 20, 21)) < 0.7)
    got = {"sensitivity": sensitivity(p, t, mask=fov), "specificity": specificity(p, t, mask=fov),
           "accuracy": accuracy(p, t, mask=fov), "f1": f1(p, t, mask=fov), "auc": roc_auc(s, t, mask=fov)}
    for b in range(3):
        for c in range(2):
            keep = fov[b, 0].numpy()
            yt, yp, ys = t[b, c].numpy()[keep], p[b, c].numpy()[keep], s[b, c].numpy()[keep]
            ref = {"sensitivity": skm.recall_score(yt, yp), "specificity": skm.recall_score(~yt, ~yp),
                   "accuracy": skm.accuracy_score(yt, yp), "f1": skm.f1_score(yt, yp),
                   "auc": skm.roc_auc_score(yt, ys)}
            for k, v in ref.items():
                assert got[k][b, c].item() == pytest.approx(v, abs=1e-6), k
