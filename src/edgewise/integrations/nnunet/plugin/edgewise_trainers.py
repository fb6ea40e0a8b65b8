"""nnU-Net loads this file when ``nnUNet_extTrainer`` lists this folder (see ``trainers``)."""

from edgewise.integrations.nnunet.trainers import (  # noqa: F401
    nnUNetTrainerBoundary,
    nnUNetTrainerEdgewise,
    nnUNetTrainerHausdorffDT,
    nnUNetTrainerPenalizedCE,
    nnUNetTrainerPerimeter,
    nnUNetTrainerRRW,
)
