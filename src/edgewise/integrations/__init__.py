"""Bridges to the frameworks edgewise users already train with.

Each submodule imports its framework only when it is itself imported, so ``import edgewise``
never needs MONAI, Lightning or nnU-Net:

- :mod:`edgewise.integrations.metatensor`: spacing from MONAI ``MetaTensor`` metadata
  (no MONAI import; the losses and metrics use the same resolver, ``edgewise._core.spacing``,
  when they get no ``spacing``).
- :mod:`edgewise.integrations.monai`: MONAI array and dictionary transforms for the
  distance maps (``SignedDistanced``, ``RRWMapd``, ...).
- :mod:`edgewise.integrations.nnunet`: nnU-Net v2 trainers with boundary-aware losses,
  loadable through ``nnUNet_extTrainer``.
"""
