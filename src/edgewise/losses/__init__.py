"""Boundary-aware and regional segmentation losses with one set of conventions.

Conventions shared by every loss (details in ``docs/losses.md``):

* ``input``: ``(B, C, *spatial)`` raw logits; ``softmax=True`` by default, ``sigmoid=True``
  for independent channels (binary heads with ``C = 1``), both ``False`` for
  probabilities; ``softmax`` and ``sigmoid`` together raise ``ValueError``.
* ``target``: index map ``(B, 1, *spatial)`` / ``(B, *spatial)`` or one-hot
  ``(B, C, *spatial)``; ``to_onehot_y=None`` infers it from the shape.
* ``include_background=True`` by default (channel 0 is the background when ``C > 1``);
  ``classes=[...]`` selects channels explicitly.
* ``reduction``: ``"mean"`` (default), ``"sum"``, or ``"none"``: ``(B, C')`` per sample
  and selected class; exceptions: pixel-wise losses (CE, focal, penalised CE) give the
  per-pixel map, generalised Dice ``(B, 1)``.
* ``forward(input, target, *, spacing=None)`` for every loss (regional ones ignore it), and
  ``spacing=`` in every module's constructor (the call's wins); a module takes exactly its
  function's options with the same defaults (one base, ``edgewise.losses._base.LossBase``);
  distance-map losses also take ``dist_map=``, and without a spacing read it from a MONAI
  ``MetaTensor`` target or input (per sample, from the affine).
* Bad input raises ``ValueError``/``TypeError`` naming what was expected and what came.
* The math runs in float32 (float64 stays float64) with autocast disabled.
"""

from __future__ import annotations

from .active_contour import ActiveContourLoss, active_contour_loss
from .boundary import BoundaryLoss, boundary_loss
from .centerline import (
    ClDiceLoss,
    DiceClDiceLoss,
    SkeletonRecallLoss,
    cldice_loss,
    dice_cldice_loss,
    skeleton_recall_loss,
    soft_skeleton,
)
from .compound import CompoundLoss
from .hausdorff import HausdorffDTLoss, HausdorffERLoss, hausdorff_dt_loss, hausdorff_er_loss
from .penalized import DistancePenalizedCELoss, penalized_ce_loss
from .perimeter import PerimeterLoss, perimeter_loss, soft_perimeter
from .region_wise import RegionWiseLoss, StabilityReport, check_stability, region_wise_loss, rrw_maps
from .regional import (
    CrossEntropyLoss,
    DiceLoss,
    FocalLoss,
    GeneralizedDiceLoss,
    TverskyLoss,
    cross_entropy_loss,
    dice_loss,
    focal_loss,
    generalized_dice_loss,
    tversky_loss,
)
from .registry import LOSSES, build_loss, loss_from_config
from .schedules import (
    Constant,
    Delayed,
    FromCallable,
    Gated,
    Gradual,
    Increase,
    Rebalance,
    RebalanceConvex,
    Schedule,
)
from .sdf import SignedDistanceLoss, normalized_signed_distance, signed_distance_loss

__all__ = [
    "LOSSES",
    "ActiveContourLoss",
    "BoundaryLoss",
    "ClDiceLoss",
    "CompoundLoss",
    "Constant",
    "CrossEntropyLoss",
    "DiceClDiceLoss",
    "DiceLoss",
    "DistancePenalizedCELoss",
    "Delayed",
    "Gated",
    "FocalLoss",
    "FromCallable",
    "GeneralizedDiceLoss",
    "Gradual",
    "HausdorffDTLoss",
    "HausdorffERLoss",
    "Increase",
    "PerimeterLoss",
    "Rebalance",
    "RebalanceConvex",
    "RegionWiseLoss",
    "Schedule",
    "SignedDistanceLoss",
    "SkeletonRecallLoss",
    "StabilityReport",
    "TverskyLoss",
    "active_contour_loss",
    "boundary_loss",
    "build_loss",
    "check_stability",
    "cldice_loss",
    "cross_entropy_loss",
    "dice_cldice_loss",
    "dice_loss",
    "focal_loss",
    "generalized_dice_loss",
    "hausdorff_dt_loss",
    "hausdorff_er_loss",
    "loss_from_config",
    "normalized_signed_distance",
    "penalized_ce_loss",
    "perimeter_loss",
    "region_wise_loss",
    "rrw_maps",
    "signed_distance_loss",
    "skeleton_recall_loss",
    "soft_perimeter",
    "soft_skeleton",
    "tversky_loss",
]
