"""nnU-Net v2 trainers that add an edgewise boundary-aware term to nnU-Net's Dice + CE.

Importing this module imports nnU-Net when it is installed (``pip install nnunetv2``; see
``docs/integrations/nnunet.md``); without it the module still imports, and creating a
trainer raises ``ImportError``. Select a trainer with ``nnUNetv2_train ... -tr NAME``
after pointing nnU-Net at the plugin folder::

    export nnUNet_extTrainer=$(python -m edgewise.integrations.nnunet --plugin-dir)

Every trainer computes its distance maps inside the loss, on the GPU, from the targets
nnU-Net already produces (all deep-supervision scales), so nothing in nnU-Net's
preprocessing or data loading changes. The loss is

.. math::
    L = \\sum_i \\omega_i \\left[ w_r(e) (L_{Dice} + L_{CE}) + w_b(e) L_{edgewise} \\right](y_i, t_i)

with nnU-Net's deep-supervision weights :math:`\\omega_i`, and the term weights set from
the trainer's ``current_epoch`` :math:`e` by a schedule (:class:`RampUp` by default: Dice + CE
keeps weight 1, the edgewise term rises linearly to ``edgewise_max_weight`` during the first
``edgewise_ramp_fraction`` of ``num_epochs``). Each scale gets its physical spacing (the
configuration's spacing times the downsampling factor).

Customise by subclassing (put the file in a folder listed in ``nnUNet_extTrainer``)::

    class nnUNetTrainerBoundaryStrong(nnUNetTrainerBoundary):
        edgewise_max_weight = 1.0

    class nnUNetTrainerBoundarySegWithDistMap(nnUNetTrainerBoundary):
        def build_edgewise_schedule(self):
            return RebalanceConvex(step=0.01, floor=0.01)  # a(Dice+CE) + (1-a)BL, JunMa11
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
from torch import nn

from ...losses import CompoundLoss, build_loss
from ...losses.schedules import Schedule
from .loss import DeepSupervisionLoss, NoSpacing, RampUp

_NEEDS_NNUNET = (
    "the edgewise nnU-Net trainers need nnU-Net v2, which is not installed; see "
    "docs/integrations/nnunet.md for installing it (also without torchvision)"
)

try:
    from nnunetv2.training.loss.compound_losses import DC_and_CE_loss
    from nnunetv2.training.loss.dice import MemoryEfficientSoftDiceLoss
    from nnunetv2.training.nnUNetTrainer.nnUNetTrainer import nnUNetTrainer
except ImportError as err:
    # An optional integration must not break `import edgewise.<anything>` (nor pytest's
    # --doctest-modules collection, which imports every module): without nnU-Net the
    # classes below still exist, on a stand-in base that refuses to be instantiated.
    _nnunet_error: ImportError = err

    class nnUNetTrainer:  # type: ignore[no-redef]
        """Stand-in for nnU-Net's trainer where nnU-Net v2 is not installed."""

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            raise ImportError(_NEEDS_NNUNET) from _nnunet_error


__all__ = [
    "nnUNetTrainerEdgewise",
    "nnUNetTrainerBoundary",
    "nnUNetTrainerRRW",
    "nnUNetTrainerPerimeter",
    "nnUNetTrainerPenalizedCE",
    "nnUNetTrainerHausdorffDT",
]


class nnUNetTrainerEdgewise(nnUNetTrainer):
    """Base trainer: nnU-Net's Dice + CE plus the edgewise loss named by ``edgewise_loss``.

    Class attributes (override in a subclass):
        edgewise_loss: :func:`edgewise.losses.build_loss` name of the added term.
        edgewise_loss_kwargs: its constructor arguments.
        edgewise_max_weight: weight of the term once ramped up.
        edgewise_ramp_fraction: fraction of ``num_epochs`` over which it ramps up from 0
            (0 means full weight from the first epoch).

    Label-region training and ignore labels are not supported (``ValueError`` when the
    trainer builds its loss).
    """

    edgewise_loss: ClassVar[str] = "boundary"
    edgewise_loss_kwargs: ClassVar[dict[str, Any]] = {"include_background": False}
    edgewise_max_weight: ClassVar[float] = 0.1
    edgewise_ramp_fraction: ClassVar[float] = 0.1

    def build_edgewise_schedule(self) -> Schedule:
        """Weights ``[Dice + CE, edgewise term]`` as a function of the epoch."""
        ramp = int(round(self.edgewise_ramp_fraction * self.num_epochs))
        return RampUp(max_weight=self.edgewise_max_weight, epochs=ramp)

    def build_edgewise_term(self) -> nn.Module:
        """The edgewise loss module (called as ``term(logits, target, spacing=...)``)."""
        return build_loss(self.edgewise_loss, **self.edgewise_loss_kwargs)

    def _deep_supervision_weights(self) -> list[float] | None:
        if not self.enable_deep_supervision:
            return None
        n = len(self._get_deep_supervision_scales())
        weights = np.array([1 / (2**i) for i in range(n)])
        # Same as nnUNetTrainer: the lowest output is unused, except under DDP without
        # compile, where a zero weight leaves parameters unused and DDP fails.
        weights[-1] = 1e-6 if (self.is_ddp and not self._do_i_compile()) else 0.0
        return (weights / weights.sum()).tolist()

    def _build_loss(self) -> DeepSupervisionLoss:
        if self.label_manager.has_regions:
            raise ValueError(
                f"{type(self).__name__} supports label maps, not region-based training "
                "(dataset.json 'regions_class_order')"
            )
        if self.label_manager.has_ignore_label:
            raise ValueError(
                f"{type(self).__name__} does not support an ignore label "
                f"(label {self.label_manager.ignore_label} in dataset.json)"
            )
        regional = DC_and_CE_loss(
            {"batch_dice": self.configuration_manager.batch_dice, "smooth": 1e-5,
             "do_bg": False, "ddp": self.is_ddp},
            {}, weight_ce=1, weight_dice=1, ignore_label=None,
            dice_class=MemoryEfficientSoftDiceLoss,
        )
        compound = CompoundLoss(
            {"dice_ce": NoSpacing(regional), self.edgewise_loss: self.build_edgewise_term()},
            schedule=self.build_edgewise_schedule(),
            epoch=self.current_epoch,
        )
        return DeepSupervisionLoss(
            compound,
            weights=self._deep_supervision_weights(),
            spacing=self.configuration_manager.spacing,
        )

    def on_train_epoch_start(self) -> None:
        # current_epoch is restored from checkpoints, so resumed runs get the same weights.
        self.loss.epoch = self.current_epoch
        super().on_train_epoch_start()
        weights = dict(zip(self.loss.compound.names, self.loss.compound.weights))
        self.print_to_log_file(f"edgewise loss weights: {weights}")


class nnUNetTrainerBoundary(nnUNetTrainerEdgewise):
    """Dice + CE + boundary loss (Kervadec et al.) on the foreground classes.

    Signed distance maps in mm; weight ramps to 0.1 over the first 10% of the epochs.
    """

    edgewise_loss = "boundary"
    edgewise_loss_kwargs = {"include_background": False}
    edgewise_max_weight = 0.1


class nnUNetTrainerRRW(nnUNetTrainerEdgewise):
    """Dice + CE + region-wise loss with RRW maps (Valverde & Tohka), background included.

    RRW maps are bounded in [-1, 1]; weight ramps to 1 over the first 10% of the epochs.
    """

    edgewise_loss = "region_wise"
    edgewise_loss_kwargs = {"include_background": True}
    edgewise_max_weight = 1.0


class nnUNetTrainerPerimeter(nnUNetTrainerEdgewise):
    """Dice + CE + perimeter loss (El Jurdi et al.) on the foreground classes.

    Weight ramps to 0.01 (the paper's starting weight) over the first 10% of the epochs.
    """

    edgewise_loss = "perimeter"
    edgewise_loss_kwargs = {"include_background": False}
    edgewise_max_weight = 0.01


class nnUNetTrainerPenalizedCE(nnUNetTrainerEdgewise):
    """Dice + CE + distance-map penalised CE (Caliva et al.), full weight from epoch 0.

    Caliva et al. train with the penalised CE from the first epoch.
    """

    edgewise_loss = "penalized_ce"
    edgewise_loss_kwargs: ClassVar[dict[str, Any]] = {}
    edgewise_max_weight = 1.0
    edgewise_ramp_fraction = 0.0


class nnUNetTrainerHausdorffDT(nnUNetTrainerEdgewise):
    """Dice + CE + distance-transform Hausdorff loss (Karimi & Salcudean), foreground classes.

    Weight ramps to 0.1 over the first 10% of the epochs.
    """

    edgewise_loss = "hausdorff_dt"
    edgewise_loss_kwargs = {"include_background": False}
    edgewise_max_weight = 0.1
