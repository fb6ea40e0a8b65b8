"""Voxel spacing read from MONAI ``MetaTensor`` metadata, without importing MONAI.

The resolver itself is :mod:`edgewise._core.spacing`, below the losses and metrics that call it
(so that they never import this package); this module keeps its public name.
"""

from __future__ import annotations

from edgewise._core.spacing import (
    is_metatensor,
    item_spacing_from_meta,
    spacing_from_meta,
    spacing_or_meta,
)

__all__ = ["is_metatensor", "spacing_from_meta", "spacing_or_meta", "item_spacing_from_meta"]
