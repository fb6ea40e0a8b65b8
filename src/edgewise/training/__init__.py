"""Training, evaluation and the demo: Lightning-based, driven by YAML run configurations.

Python API::

    from edgewise.training import load_config, train, evaluate
    cfg = load_config("configs/drive.yaml", ["data.root=/data/drive", "trainer.max_epochs=50"])
    run_dir = train(cfg, output_dir="runs/drive_ce")
    summary = evaluate(run_dir, split="test", tolerances=[1, 2, 3, 4])
    cases = predict_cases(run_dir, split="test", n=2)   # [{"case", "pred", "label", ...}]

:class:`SegmentationModule` is the reusable LightningModule (any network, any
``CompoundLoss``). Attributes are imported lazily so ``import edgewise.training`` stays
light (Lightning is loaded on first use).
"""

from __future__ import annotations

from edgewise._core.lazy import lazy_attributes

__all__ = [
    "DEFAULT_CONFIG",
    "SegmentationDataModule",
    "SegmentationModule",
    "apply_overrides",
    "evaluate",
    "load_config",
    "load_run",
    "predict_cases",
    "train",
    "validate_config",
]

_WHERE = {
    "DEFAULT_CONFIG": "config",
    "apply_overrides": "config",
    "load_config": "config",
    "validate_config": "config",
    "SegmentationModule": "module",
    "SegmentationDataModule": "datamodule",
    "train": "trainer",
    "evaluate": "evaluation",
    "load_run": "prediction",
    "predict_cases": "prediction",
}


__getattr__, __dir__ = lazy_attributes(__name__, _WHERE, __all__)
