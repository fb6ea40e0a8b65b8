"""Thin structures in runs: 2D patches with sliding-window evaluation, extra metrics, cached tubes."""

import csv

import numpy as np
import pytest
import torch

from edgewise.training import evaluate, train
from edgewise.training.evaluation import _case_metrics


def test_case_metrics_extra_metrics_inside_the_mask():
    label = torch.zeros(1, 9, 14, dtype=torch.long)
    label[0, 4, 1:13] = 1                      # a 12-pixel vessel
    pred = label.clone()
    pred[0, 4, 6] = 0                          # broken once
    pred[0, 0, 0:3] = 1                        # a spurious segment outside the FOV
    mask = torch.ones(1, 9, 14, dtype=torch.bool)
    mask[0, :2] = False
    probs = torch.stack([1 - pred.float(), pred.float()], 1)[0] * 0.8 + 0.1
    case = {"pred": pred, "label": label, "mask": mask, "probs": probs,
            "spacing": torch.tensor([1.0, 1.0])}
    v = _case_metrics(case, 2, tolerance=1.0, extra=["cldice", "topology_sensitivity",
                                                     "betti0_error", "specificity", "auc"])
    assert v["topology_sensitivity"][0] == pytest.approx(11 / 12)
    assert v["cldice"][0] == pytest.approx(2 * 11 / 12 / (1 + 11 / 12))
    assert v["betti0_error"][0] == 1.0          # the outside segment does not count
    assert v["specificity"][0] == 1.0
    # in the FOV, 11 vessel pixels score 0.9 and one 0.1, as every background pixel
    n_neg = int(mask.sum()) - 12
    assert v["auc"][0] == pytest.approx((11 * n_neg + 0.5 * n_neg) / (12 * n_neg))


def test_config_rejects_unknown_extra_metric(tiny_config):
    with pytest.raises(ValueError, match="evaluation.metrics"):
        tiny_config("evaluation.metrics=[cldice, hd42]")


def test_2d_patches_cached_tubes_and_sliding_window_evaluation(tmp_path, tiny_config):
    """2D training on patches with Skeleton Recall reading cached tubes; validation and
    evaluation on whole images (sliding windows of the patch size), with extra metrics."""
    cfg = tiny_config(
        "data.options={n: 4, n_val: 2, shape: [24, 24], seed: 0, kind: vessels, mode: patches, "
        f"patch_size: [16, 16], samples_per_volume: 2, map_cache: {tmp_path / 'maps'}, "
        "map_kind: skeleton_tube}",
        "loss.terms=[{name: ce}, {name: skeleton_recall, args: {include_background: false}, "
        "maps: cached}]",
        "evaluation.metrics=[cldice, betti0_error, sensitivity, auc]",
        "evaluation.overlays=0",
    )
    run_dir = train(cfg, output_dir=tmp_path / "run")
    assert list((tmp_path / "maps").glob("skeleton_tube-*.npy"))
    summary = evaluate(run_dir, split="test")
    with open(run_dir / "eval_test" / "per_case.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 2
    for r in rows:
        assert 0.0 <= float(r["cldice"]) <= 1.0 and 0.0 <= float(r["auc"]) <= 1.0
        assert float(r["betti0_error"]) >= 0
    assert summary["extra_metrics"] == ["cldice", "betti0_error", "sensitivity", "auc"]
    assert np.isfinite(summary["mean"]["auc"])


def test_cached_tubes_need_the_tube_kind(tmp_path, tiny_config):
    from edgewise.training.components import build_components

    cfg = tiny_config(
        f"data.options={{n: 4, n_val: 2, shape: [16, 16], map_cache: {tmp_path}, map_kind: signed}}",
        "loss.terms=[{name: ce}, {name: skeleton_recall, maps: cached}]",
    )
    with pytest.raises(ValueError, match="skeleton_tube"):
        build_components(cfg)
