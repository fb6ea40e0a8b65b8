"""Joint augmentation of item dicts (image, label, mask and any distance map together).

Distance maps are normally computed by the loss *after* augmentation (on the fly), so
only image/label/mask need transforming; a cached ``dist_map`` item is transformed along
(exact for flips and 90-degree rotations, interpolated for small-angle rotations).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F

__all__ = ["Augment"]

_SPATIAL_KEYS = ("image", "label", "mask", "dist_map")


class Augment:
    """Random flips, 90-degree and small-angle rotations, intensity scale/shift/noise.

    Spatial transforms act on every key of ``spatial_keys`` present in the item, with the
    same random draw; intensity transforms act on ``"image"`` only. Labels and masks are
    never interpolated (nearest for small-angle rotations), so label values are kept.
    90-degree rotations swap the spacing of the rotated axes. Random numbers come from
    ``generator`` or torch's global RNG (seeded per DataLoader worker by PyTorch, so runs
    are reproducible under ``torch.manual_seed``).

    Args:
        flip_prob: probability of flipping each axis in ``flip_axes``.
        flip_axes: spatial axes that may flip (``None``: all).
        rot90_prob: probability of a rotation by k*90 degrees (k uniform in 1..3) in the
            plane ``rot90_axes`` (spatial axes; skipped when that plane is not square).
        rot90_axes: the rotation plane, default the last two spatial axes.
        rotate_degrees: small-angle rotation range ``[-r, r]`` in the last two spatial
            axes, in physical space (spacing-aware); 0 disables it.
        rotate_prob: probability of a small-angle rotation.
        scale: intensity multiplier range; ``shift``: additive range (applied with
            ``intensity_prob``); ``noise_std``: std of additive Gaussian noise (0: off).
        spatial_keys: keys transformed spatially.
        generator: optional ``torch.Generator``.

    Example:
        >>> import torch
        >>> aug = Augment(flip_prob=1.0, rot90_prob=0.0, intensity_prob=0.0)
        >>> item = {"image": torch.arange(4.0).view(1, 2, 2), "label": torch.tensor([[[0, 1], [1, 0]]])}
        >>> aug(item)["image"].tolist()
        [[[3.0, 2.0], [1.0, 0.0]]]
    """

    def __init__(
        self,
        *,
        flip_prob: float = 0.5,
        flip_axes: Sequence[int] | None = None,
        rot90_prob: float = 0.0,
        rot90_axes: tuple[int, int] = (-2, -1),
        rotate_degrees: float = 0.0,
        rotate_prob: float = 0.5,
        scale: tuple[float, float] = (0.9, 1.1),
        shift: tuple[float, float] = (-0.1, 0.1),
        intensity_prob: float = 0.5,
        noise_std: float = 0.0,
        spatial_keys: Sequence[str] = _SPATIAL_KEYS,
        generator: torch.Generator | None = None,
    ) -> None:
        for name, p in (("flip_prob", flip_prob), ("rot90_prob", rot90_prob), ("rotate_prob", rotate_prob),
                        ("intensity_prob", intensity_prob)):
            if not 0.0 <= p <= 1.0:
                raise ValueError(f"expected {name} in [0, 1], got {p}")
        if rotate_degrees < 0 or noise_std < 0:
            raise ValueError(f"expected rotate_degrees >= 0 and noise_std >= 0, got {rotate_degrees}, {noise_std}")
        self.flip_prob = flip_prob
        self.flip_axes = None if flip_axes is None else tuple(flip_axes)
        self.rot90_prob = rot90_prob
        self.rot90_axes = tuple(rot90_axes)
        self.rotate_degrees = float(rotate_degrees)
        self.rotate_prob = rotate_prob
        self.scale = tuple(scale)
        self.shift = tuple(shift)
        self.intensity_prob = intensity_prob
        self.noise_std = float(noise_std)
        self.spatial_keys = tuple(spatial_keys)
        self.generator = generator

    def _rand(self) -> float:
        return float(torch.rand((), generator=self.generator))

    def _uniform(self, lo: float, hi: float) -> float:
        return lo + (hi - lo) * self._rand()

    def __call__(self, item: dict[str, Any]) -> dict[str, Any]:
        if "image" not in item or "label" not in item:
            raise ValueError(f"expected an item with 'image' and 'label', got keys {sorted(item)}")
        item = dict(item)
        keys = [k for k in self.spatial_keys if k in item]
        ndim = item["label"].ndim - 1
        spacing = item.get("spacing")
        # flips
        axes = range(ndim) if self.flip_axes is None else [a % ndim for a in self.flip_axes]
        for a in axes:
            if self.flip_prob > 0 and self._rand() < self.flip_prob:
                for key in keys:
                    item[key] = torch.flip(item[key], dims=(item[key].ndim - ndim + a,))
        # 90-degree rotations
        if ndim >= 2 and self.rot90_prob > 0 and self._rand() < self.rot90_prob:
            a0, a1 = (a % ndim for a in self.rot90_axes)
            shape = item["label"].shape[1:]
            k = 1 + int(torch.randint(3, (), generator=self.generator))
            if k % 2 == 0 or shape[a0] == shape[a1]:
                for key in keys:
                    off = item[key].ndim - ndim
                    item[key] = torch.rot90(item[key], k, dims=(off + a0, off + a1))
                if k % 2 == 1 and spacing is not None:
                    spacing = spacing.clone()
                    spacing[[a0, a1]] = spacing[[a1, a0]]
                    item["spacing"] = spacing
        # small-angle rotation in the last two axes
        if ndim >= 2 and self.rotate_degrees > 0 and self._rand() < self.rotate_prob:
            angle = math.radians(self._uniform(-self.rotate_degrees, self.rotate_degrees))
            sp = (1.0, 1.0) if spacing is None else (float(spacing[-2]), float(spacing[-1]))
            for key in keys:
                item[key] = _rotate_last2(item[key], angle, sp, key)
        # intensity
        image = item["image"]
        if self.intensity_prob > 0 and self._rand() < self.intensity_prob:
            image = image * self._uniform(*self.scale) + self._uniform(*self.shift)
        if self.noise_std > 0:
            image = image + self.noise_std * torch.randn(image.shape, generator=self.generator, dtype=image.dtype)
        item["image"] = image
        return item


def _rotate_last2(t: torch.Tensor, angle: float, spacing: tuple[float, float], key: str) -> torch.Tensor:
    """Rotate ``(C, ..., H, W)`` by ``angle`` about the centre, in physical coordinates."""
    h, w = t.shape[-2:]
    lead = t.shape[:-2]
    x = t.reshape(1, -1, h, w)
    dtype = x.dtype
    # grid coords are normalised per axis: conjugate the rotation with the half extents
    # (in mm) so that it is a true rotation for non-square images and anisotropic pixels
    ey, ex = h * spacing[0] / 2, w * spacing[1] / 2
    c, s = math.cos(angle), math.sin(angle)
    theta = torch.tensor([[c, -s * ey / ex, 0.0], [s * ex / ey, c, 0.0]], dtype=torch.float32)[None]
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    is_label = key in ("label", "mask")
    out = F.grid_sample(
        x.float(),
        grid,
        mode="nearest" if is_label else "bilinear",
        padding_mode="zeros" if is_label else "border",
        align_corners=False,
    )
    return out.to(dtype).reshape(*lead, h, w)
