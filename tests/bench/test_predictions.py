"""edgewise.bench.predictions: the report's overlay panels of a run, computed once from its
predictions and cached in the run folder (here from hand-made predictions, no training; a
whole bench draws them in test_bench.py)."""

import numpy as np
import pytest
import torch

import edgewise.training.prediction as prediction
from edgewise.bench.predictions import CACHE_NAME, load_predictions


def _case(name: str) -> dict:
    """A 4x4 case: a 2x2 square of class 1, predicted with one pixel missed (2, 2) and one
    false positive (0, 3); the image is 0 on the left half, 10 on the right."""
    label = torch.zeros(1, 4, 4, dtype=torch.long)
    label[0, 1:3, 1:3] = 1
    pred = label.clone()
    pred[0, 2, 2] = 0
    pred[0, 0, 3] = 1
    image = torch.zeros(1, 4, 4)
    image[0, :, 2:] = 10.0
    return {"case": name, "pred": pred, "label": label, "image": image,
            "spacing": torch.tensor([1.0, 1.0])}


@pytest.fixture
def calls(monkeypatch):
    """predict_cases of a run of 4 test cases, recording how it was called."""
    seen = []

    def predict_cases(run_dir, split="test", n=None, checkpoint="best", *, device=None):
        seen.append((split, n, checkpoint, device))
        return [_case(f"case{i}") for i in range(4)][:n]

    monkeypatch.setattr(prediction, "predict_cases", predict_cases)
    return seen


def test_panels_are_the_overlay_of_the_best_checkpoint_in_small_types(tmp_path, calls):
    panels = load_predictions(tmp_path, n_cases=2)
    assert calls == [("test", 2, "best", "cpu")]
    assert list(panels) == ["case0", "case1"]
    p = panels["case0"]
    assert set(p) == {"image", "ground truth", "prediction", "errors"}
    assert p["image"].dtype == np.float16 and p["image"].tolist() == [[0, 0, 1, 1]] * 4  # 1-99 % range
    assert p["ground truth"].dtype == p["prediction"].dtype == np.uint8
    assert p["ground truth"].tolist() == [[0, 0, 0, 0], [0, 1, 1, 0], [0, 1, 1, 0], [0, 0, 0, 0]]
    assert p["prediction"].tolist() == [[0, 0, 0, 1], [0, 1, 1, 0], [0, 1, 0, 0], [0, 0, 0, 0]]
    errors = p["errors"]
    assert errors.dtype == np.uint8 and errors.shape == (4, 4, 3)
    assert errors[1, 1].tolist() == [26, 204, 26]  # found: green (0.1, 0.8, 0.1) x 255
    assert errors[0, 3].tolist() == [230, 26, 26]  # false positive: red (0.9, 0.1, 0.1)
    assert errors[2, 2, 2] == 255 and errors[2, 2, 0] == 26  # missed: blue (0.1, 0.3, 1.0)
    assert errors[0, 0].tolist() == [0, 0, 0]  # background


def test_panels_are_cached_and_predicted_again_only_for_more_cases(tmp_path, calls):
    first = load_predictions(tmp_path, n_cases=3)
    assert (tmp_path / CACHE_NAME).is_file() and len(calls) == 1
    again = load_predictions(tmp_path, n_cases=2)  # fewer cases: the first of the cache
    assert len(calls) == 1 and list(again) == ["case0", "case1"]
    for case in again:
        for panel, array in again[case].items():
            assert array.dtype == first[case][panel].dtype
            assert np.array_equal(array, first[case][panel]), (case, panel)
    more = load_predictions(tmp_path, n_cases=4)  # more than cached: predicted, cache replaced
    assert calls[1] == ("test", 4, "best", "cpu") and list(more) == ["case0", "case1", "case2", "case3"]
    load_predictions(tmp_path, n_cases=4)
    assert len(calls) == 2
    assert not list(tmp_path.glob("*.tmp"))
