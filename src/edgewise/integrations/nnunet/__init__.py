"""nnU-Net v2 integration: trainers with boundary-aware losses, shipped as a plugin.

Nothing here imports nnU-Net until a trainer is used: ``from
edgewise.integrations.nnunet import nnUNetTrainerBoundary`` imports it then.

Usage (details in ``docs/integrations/nnunet.md``)::

    export nnUNet_extTrainer=$(python -m edgewise.integrations.nnunet --plugin-dir)
    nnUNetv2_train DATASET 3d_fullres 0 -tr nnUNetTrainerBoundary

Where nnU-Net was installed without ``timm`` (no torchvision), nnU-Net's own trainer lookup
fails before it reaches ``nnUNet_extTrainer``; run its commands through
``python -m edgewise.integrations.nnunet nnUNetv2_train ...`` instead, which resolves the
edgewise trainers directly.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

__all__ = [
    "TRAINERS",
    "plugin_dir",
    "find_trainer",
    "DeepSupervisionLoss",
    "RampUp",
    "nnUNetTrainerEdgewise",
    "nnUNetTrainerBoundary",
    "nnUNetTrainerRRW",
    "nnUNetTrainerPerimeter",
    "nnUNetTrainerPenalizedCE",
    "nnUNetTrainerHausdorffDT",
]

TRAINERS: tuple[str, ...] = (
    "nnUNetTrainerEdgewise",
    "nnUNetTrainerBoundary",
    "nnUNetTrainerRRW",
    "nnUNetTrainerPerimeter",
    "nnUNetTrainerPenalizedCE",
    "nnUNetTrainerHausdorffDT",
)


def plugin_dir() -> Path:
    """Folder to put in the ``nnUNet_extTrainer`` environment variable."""
    return Path(__file__).resolve().parent / "plugin"


def find_trainer(name: str) -> type | None:
    """The edgewise trainer class called ``name`` (imports nnU-Net), or ``None``."""
    if name not in TRAINERS:
        return None
    from . import trainers

    return getattr(trainers, name)


def __getattr__(name: str) -> Any:
    if name in TRAINERS:
        return find_trainer(name)
    if name in ("DeepSupervisionLoss", "RampUp", "NoSpacing"):
        from . import loss

        return getattr(loss, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
