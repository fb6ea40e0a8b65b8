from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

# Tiny runs: 16x16 synthetic vessels, a 4-channel U-Net of depth 2, CPU.
TINY = [
    "data.options={n: 4, n_val: 2, shape: [16, 16], seed: 0}",
    "model.args={base_channels: 4, depth: 2}",
    "data.batch_size=2",
    "trainer.accelerator=cpu",
    "trainer.enable_progress_bar=false",
    "trainer.log_every_n_steps=1",
    "trainer.max_epochs=1",
    "evaluation.overlays=1",
]


def _tiny_config(*overrides: str) -> dict:
    from edgewise.training.config import load_config

    return load_config(overrides=[*TINY, *overrides])


@pytest.fixture
def tiny_overrides() -> list[str]:
    """The tiny run's overrides, for the command line."""
    return list(TINY)


@pytest.fixture
def tiny_config():
    return _tiny_config


# Runs trained once for the tests of several modules (train's folder in test_trainer.py, its
# evaluation in test_evaluation.py, its predictions in test_prediction.py). Tests may add
# results folders to them (evaluate's eval_test), never change what was trained.


@pytest.fixture(scope="session")
def three_class_run(tmp_path_factory) -> Path:
    """Two epochs on 3 classes (mixed shapes), validation HD95 logged; overlays=1."""
    from edgewise.training import train

    cfg = _tiny_config("data.options.num_classes=3", "data.options.kind=mixed",
                       "trainer.max_epochs=2", "validation.hd95=true")
    return train(cfg, output_dir=tmp_path_factory.mktemp("three_class") / "run")


@pytest.fixture(scope="session")
def tolerance_sweep_run(tmp_path_factory) -> Path:
    """Two epochs on 3 classes (mixed shapes), evaluated at tolerances 1-4 mm; overlays=0."""
    from edgewise.training import train

    cfg = _tiny_config("data.options.num_classes=3", "data.options.kind=mixed",
                       "trainer.max_epochs=2", "evaluation.tolerances=[1, 2, 3, 4]",
                       "evaluation.overlays=0")
    return train(cfg, output_dir=tmp_path_factory.mktemp("tolerance_sweep") / "run")
