"""edgewise: boundary-aware losses, exact distance maps and metrics for medical image segmentation."""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]
