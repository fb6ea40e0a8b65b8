"""2D panels of test-case predictions for the report's overlay grid.

The panels of the first ``n`` test cases of a run (image, ground truth and prediction
inside the evaluation mask, error map; a 3D case at its slice with most foreground, see
:func:`edgewise.training.plots.overlay_panels`) are computed once from the run's best
checkpoint (:func:`edgewise.training.predict_cases`, the inference of ``evaluate``) and
cached in ``<run>/overlay_cases.npz``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from edgewise._io import atomic_write

__all__ = ["load_predictions"]

CACHE_NAME = "overlay_cases.npz"
_PANELS = ("image", "ground truth", "prediction", "errors")


def load_predictions(run_dir: str | Path, n_cases: int = 3) -> dict[str, dict[str, np.ndarray]]:
    """``{case: {"image", "ground truth", "prediction", "errors"}}`` for the first test cases."""
    run_dir = Path(run_dir)
    cache = run_dir / CACHE_NAME
    if cache.is_file():
        with np.load(cache) as z:
            cases = [str(c) for c in z["cases"]]
            if len(cases) >= n_cases:
                return {c: {p: z[f"{i}/{p}"] for p in _PANELS} for i, c in enumerate(cases[:n_cases])}
    panels = _predict(run_dir, n_cases)
    # Any: savez_compressed's stub types **kwds against its allow_pickle keyword too
    arrays: dict[str, Any] = {"cases": np.array(list(panels))}
    for i, per in enumerate(panels.values()):
        arrays.update({f"{i}/{p}": per[p] for p in _PANELS})
    atomic_write(cache, lambda f: np.savez_compressed(f, **arrays))
    return panels


def _predict(run_dir: Path, n_cases: int) -> dict[str, dict[str, np.ndarray]]:
    from edgewise.training.plots import overlay_panels
    from edgewise.training.prediction import predict_cases

    out = {}
    for case in predict_cases(run_dir, "test", n=n_cases, checkpoint="best", device="cpu"):
        p = overlay_panels(case)
        out[str(case["case"])] = {
            "image": np.asarray(p["image"], dtype=np.float16),
            "ground truth": np.asarray(p["ground truth"], dtype=np.uint8),
            "prediction": np.asarray(p["prediction"], dtype=np.uint8),
            "errors": (np.asarray(p["errors"]) * 255).round().astype(np.uint8),
        }
    return out
