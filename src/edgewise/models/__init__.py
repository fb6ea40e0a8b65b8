"""Segmentation networks: classic UNet (2D/3D), ENet (2D), and ``build_model``."""

from edgewise.models.enet import ENet
from edgewise.models.factory import MODEL_NAMES, build_model
from edgewise.models.unet import UNet

__all__ = ["ENet", "MODEL_NAMES", "UNet", "build_model"]
