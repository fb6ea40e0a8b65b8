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


@pytest.fixture
def tiny_overrides() -> list[str]:
    """The tiny run's overrides, for the command line."""
    return list(TINY)


@pytest.fixture
def tiny_config():
    from edgewise.training.config import load_config

    def make(*overrides: str) -> dict:
        return load_config(overrides=[*TINY, *overrides])

    return make

