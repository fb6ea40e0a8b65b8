"""Synthetic 2D/3D segmentation data with the cases boundary losses exist for.

Structures (``kind``):

* ``"vessels"``: thin branching trees (random walks with persistence that branch and
  thin out, down to one-pixel-wide twigs); each foreground class is its own tree family
  (think arteries/veins).
* ``"blobs"``: tiny ellipses/ellipsoids (radius about 1-4 px), each of a random class.
* ``"rings"``: thin annuli (2D) or spherical shells (3D). With ``num_classes == 2`` a
  ring is a one-to-three-pixel wall around background; with more classes the layers from
  the outside in get classes ``1, 2, ...``, the innermost one filled (a myocardium-like
  wall around a cavity).
* ``"mixed"``: vessels, blobs and rings together; structure type ``t`` (0, 1, 2) gets
  class ``1 + t % (num_classes - 1)``.

Structures are added until the foreground fraction reaches ``foreground_fraction`` (the
imbalance knob). The image is a class-wise mean intensity, blurred by ``blur`` (partial
volume), plus smooth background texture, times a smooth multiplicative bias field of
strength ``bias_field``, plus Gaussian noise of std ``noise``. Everything is drawn from one
``numpy.random.Generator``, so a sample is a pure function of its seed.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
from scipy import ndimage

from edgewise.data.base import Case, SegmentationDataset, Volume

__all__ = ["make_synthetic", "SyntheticDataset", "SyntheticKind", "DEFAULT_FOREGROUND_FRACTION"]

SyntheticKind = Literal["vessels", "blobs", "rings", "mixed"]

#: foreground fraction used when ``foreground_fraction=None`` (vessels: DRIVE-like 8%).
DEFAULT_FOREGROUND_FRACTION = {"vessels": 0.08, "blobs": 0.02, "rings": 0.06, "mixed": 0.08}


def _unit(v: np.ndarray) -> np.ndarray:
    n = np.linalg.norm(v)
    return v / n if n > 0 else v


def _rasterise_tree(shape: tuple[int, ...], points: np.ndarray, radii: np.ndarray) -> np.ndarray:
    """Union of balls around centreline points: a voxel is inside if its distance to the
    nearest centreline voxel is at most that voxel's radius."""
    idx = np.clip(np.rint(points).astype(int), 0, np.array(shape) - 1)
    centre = np.zeros(shape, dtype=bool)
    rad = np.zeros(shape, dtype=np.float64)
    centre[tuple(idx.T)] = True
    np.maximum.at(rad, tuple(idx.T), radii)
    dist, inds = ndimage.distance_transform_edt(~centre, return_indices=True)
    return dist <= rad[tuple(inds)]


def _vessel_tree(shape: tuple[int, ...], rng: np.random.Generator, budget: float) -> np.ndarray:
    """One branching tree whose estimated area/volume stops growing at ``budget`` pixels."""
    ndim = len(shape)
    size = np.array(shape, dtype=float)
    r0 = max(1.2, float(min(shape)) / 50.0) * rng.uniform(0.8, 1.25)
    # start on a random face, heading inwards
    axis = int(rng.integers(ndim))
    start = rng.uniform(0.15, 0.85, ndim) * (size - 1)
    start[axis] = 0.0 if rng.random() < 0.5 else size[axis] - 1
    direction = _unit((size - 1) / 2 - start + rng.normal(0, 0.25 * size.min(), ndim))
    stack = [(start, direction, r0, 0)]
    pts: list[np.ndarray] = []
    rads: list[float] = []
    max_len = 1.2 * float(size.max())
    area = 0.0
    while stack and area < budget:
        pos, d, r, gen = stack.pop(0)  # breadth first: big branches before twigs
        length = 0.0
        while length < max_len * 0.75**gen and r >= 0.45 and area < budget:
            pts.append(pos.copy())
            rads.append(r)
            area += 0.7 * (2 * r if ndim == 2 else np.pi * r * r)
            d = _unit(d + rng.normal(0, 0.12, ndim))
            pos = pos + 0.7 * d
            length += 0.7
            if np.any(pos < 0) or np.any(pos > size - 1):
                break
            if gen < 6 and rng.random() < 0.05:
                side = _unit(rng.normal(0, 1, ndim))
                side = _unit(side - side.dot(d) * d)
                angle = rng.uniform(0.45, 1.0)
                child_dir = _unit(np.cos(angle) * d + np.sin(angle) * side)
                stack.append((pos.copy(), child_dir, r * rng.uniform(0.5, 0.75), gen + 1))
                r *= 0.9
            r *= 0.998
    return _rasterise_tree(shape, np.array(pts), np.array(rads))


def _random_rotation(ndim: int, rng: np.random.Generator) -> np.ndarray:
    q, r = np.linalg.qr(rng.normal(size=(ndim, ndim)))
    return q * np.sign(np.diag(r))


def _local_grid(shape, centre, half):
    lo = np.maximum(np.floor(centre - half).astype(int), 0)
    hi = np.minimum(np.ceil(centre + half).astype(int) + 1, np.array(shape))
    if np.any(hi <= lo):
        return None, None
    sl = tuple(slice(a, b) for a, b in zip(lo, hi))
    grids = np.meshgrid(*[np.arange(a, b) for a, b in zip(lo, hi)], indexing="ij")
    coords = np.stack(grids, -1).astype(float) - centre
    return sl, coords


def _blob(shape, rng: np.random.Generator):
    ndim = len(shape)
    scale = max(1.0, min(shape) / 64.0)
    radii = rng.uniform(1.0, 3.5, ndim) * scale
    centre = rng.uniform(0, 1, ndim) * (np.array(shape) - 1)
    sl, coords = _local_grid(shape, centre, radii.max() + 1)
    if sl is None:
        return None
    rot = _random_rotation(ndim, rng)
    q = ((coords @ rot) / radii) ** 2
    return sl, [q.sum(-1) <= 1.0]


def _ring(shape, rng: np.random.Generator, layers: int, budget: float):
    """Concentric layers of a ring/shell, outermost first; the innermost one is filled
    when there is more than one layer. The outer radius is capped so that the expected
    area/volume stays within ``budget`` pixels."""
    ndim = len(shape)
    if layers > 1:
        r_max = np.sqrt(budget / np.pi) if ndim == 2 else np.cbrt(3 * budget / (4 * np.pi))
    else:
        r_max = budget / (2 * np.pi * 1.75) if ndim == 2 else np.sqrt(budget / (4 * np.pi * 1.75))
    walls = rng.uniform(1.0, 2.5, max(layers - 1, 1)) * max(1.0, min(shape) / 128.0)
    outer = min(rng.uniform(0.06, 0.16) * min(shape), max(float(r_max), 3.0))
    if layers > 1:  # leave room for the filled innermost layer
        outer = max(outer, float(walls.sum()) + 1.5)
    centre = rng.uniform(0, 1, ndim) * (np.array(shape) - 1 - 2 * outer) + outer
    ecc = rng.uniform(0.8, 1.25, ndim)
    sl, coords = _local_grid(shape, centre, outer * ecc.max() + 2)
    if sl is None:
        return None
    rot = _random_rotation(ndim, rng)
    r = np.sqrt((((coords @ rot) / ecc) ** 2).sum(-1))
    masks = []
    edge = outer
    for k in range(layers):
        if k == layers - 1 and layers > 1:
            masks.append(r <= edge)
        else:
            masks.append((r <= edge) & (r > edge - walls[k]))
            edge -= walls[k]
    return sl, masks


def _smooth_field(shape: tuple[int, ...], rng: np.random.Generator, degree: int = 2) -> np.ndarray:
    """Random low-order polynomial over ``[-1, 1]^ndim`` with unit max-abs."""
    axes = np.meshgrid(*[np.linspace(-1, 1, s) for s in shape], indexing="ij")
    field = np.zeros(shape)
    for exps in np.ndindex(*(degree + 1,) * len(shape)):
        if 0 < sum(exps) <= degree:
            term = np.ones(shape)
            for ax, e in zip(axes, exps):
                term = term * ax**e
            field += rng.normal() * term
    m = np.abs(field).max()
    return field / m if m > 0 else field


def make_synthetic(
    shape: Sequence[int] = (128, 128),
    kind: SyntheticKind = "vessels",
    num_classes: int = 2,
    *,
    foreground_fraction: float | None = None,
    noise: float = 0.25,
    bias_field: float = 0.3,
    contrast: float = 1.0,
    blur: float = 0.6,
    rng: np.random.Generator | int | None = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """Draw one synthetic image/label pair.

    Args:
        shape: spatial shape, 2D ``(H, W)`` or 3D ``(D, H, W)``.
        kind: ``"vessels"``, ``"blobs"``, ``"rings"`` or ``"mixed"`` (see module doc).
        num_classes: classes including background (>= 2).
        foreground_fraction: target fraction of foreground pixels (the imbalance knob);
            structures are added until it is reached. ``None`` uses
            :data:`DEFAULT_FOREGROUND_FRACTION`.
        noise: std of additive Gaussian noise (foreground contrast is ``contrast``).
        bias_field: strength of the multiplicative bias field ``exp(b * poly)``.
        contrast: mean intensity of the brightest class over background.
        blur: std (pixels) of the partial-volume blur of the clean image.
        rng: a ``numpy.random.Generator`` or a seed.

    Returns:
        ``(image, label)``: float32 ``(1, *shape)`` and int64 ``shape``.

    Example:
        >>> image, label = make_synthetic((64, 64), "blobs", 3, rng=0)
        >>> image.shape, label.shape, int(label.max()) <= 2
        ((1, 64, 64), (64, 64), True)
    """
    shape = tuple(int(s) for s in shape)
    if len(shape) not in (2, 3) or min(shape) < 8:
        raise ValueError(f"expected a 2D or 3D shape with sides >= 8, got {shape}")
    if kind not in DEFAULT_FOREGROUND_FRACTION:
        raise ValueError(f"expected kind in {tuple(DEFAULT_FOREGROUND_FRACTION)}, got {kind!r}")
    if num_classes < 2:
        raise ValueError(f"expected num_classes >= 2, got {num_classes}")
    target = DEFAULT_FOREGROUND_FRACTION[kind] if foreground_fraction is None else float(foreground_fraction)
    if not 0.0 < target < 0.6:
        raise ValueError(f"expected foreground_fraction in (0, 0.6), got {target}")
    rng = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
    n_fg = num_classes - 1
    label = np.zeros(shape, dtype=np.int64)
    # Units share the target equally so that every class (or, for "mixed", every
    # structure type) is present: foreground classes for vessels/blobs, structure types
    # for mixed, and a single unit for rings (each ring holds all its layer classes).
    if kind == "mixed":
        units = [(t, 1 + t % n_fg) for t in range(3)]
    elif kind == "rings":
        units = [(2, 0)]
    else:
        units = [({"vessels": 0, "blobs": 1}[kind], c) for c in range(1, num_classes)]
    share = target / len(units) * label.size
    owned = np.zeros(len(units))  # pixels each unit has drawn (overlaps ignored)
    for attempt in range(60 * len(units) + 200):
        if np.count_nonzero(label) >= target * label.size:
            break
        u = int(np.argmin(owned / share))
        t, cls = units[u]
        remaining = max(share - owned[u], 1.0)
        cand = label.copy()
        if t == 0:
            m = _vessel_tree(shape, rng, budget=remaining)
            cand[m] = cls
        else:
            out = _blob(shape, rng) if t == 1 else _ring(shape, rng, n_fg if kind == "rings" else 1, remaining)
            if out is None:
                continue
            sl, masks = out
            view = cand[sl]
            for k, m in enumerate(masks):
                view[m] = int(rng.integers(1, num_classes)) if kind == "blobs" else (k + 1 if kind == "rings" else cls)
        added = np.count_nonzero(cand) - np.count_nonzero(label)
        # one structure may overshoot a small share a lot: retry a few times for a closer one
        if added > 1.3 * remaining + 2 and attempt < 40 * len(units):
            continue
        label = cand
        owned[u] += max(added, 1)

    means = np.zeros(num_classes)
    means[1:] = contrast * (np.linspace(0.35, 1.0, n_fg) if n_fg > 1 else np.ones(1))
    clean = means[label]
    if blur > 0:
        clean = ndimage.gaussian_filter(clean, blur)
    texture = ndimage.gaussian_filter(rng.normal(size=shape), 3.0 * max(1.0, min(shape) / 64.0))
    texture *= 0.1 * contrast / max(float(np.abs(texture).max()), 1e-12)
    bias = np.exp(bias_field * _smooth_field(shape, rng))
    image = (clean + texture + 0.2 * contrast) * bias + noise * rng.normal(size=shape)
    return image[None].astype(np.float32), label


class SyntheticDataset(SegmentationDataset):
    """The built-in dataset: synthetic vessels/blobs/rings, deterministic per seed.

    Sample ``i`` of split ``s`` is drawn from ``numpy.random.default_rng((seed, s, i))``
    (``s`` = 0/1/2 for train/val/test), so items are identical across runs, processes
    and DataLoader workers, and splits never share samples.

    Args:
        n: number of samples.
        shape: spatial shape ``(H, W)`` or ``(D, H, W)``.
        kind, num_classes, foreground_fraction, noise, bias_field, contrast, blur: see
            :func:`make_synthetic`.
        seed: base seed.
        split: ``"train"``, ``"val"`` or ``"test"`` (selects the seed stream).
        normalize: per-image normalisation (default ``"none"``: the generator already
            gives intensities around ``[0, 1.5]``).
        **kwargs: ``mode``, ``patch_size``, ``transform``, ``cache``... of
            :class:`SegmentationDataset`.

    Example:
        >>> ds = SyntheticDataset(n=4, shape=(64, 64), kind="vessels", seed=0)
        >>> item = ds[0]
        >>> tuple(item["image"].shape), tuple(item["label"].shape), item["case"]
        ((1, 64, 64), (1, 64, 64), 'synthetic_train_0000')
    """

    _SPLITS = {"train": 0, "val": 1, "test": 2}

    def __init__(
        self,
        n: int = 64,
        shape: Sequence[int] = (128, 128),
        kind: SyntheticKind = "vessels",
        num_classes: int = 2,
        *,
        seed: int = 0,
        split: str = "train",
        foreground_fraction: float | None = None,
        noise: float = 0.25,
        bias_field: float = 0.3,
        contrast: float = 1.0,
        blur: float = 0.6,
        normalize: Literal["zscore", "minmax", "percentile", "none"] = "none",
        **kwargs: Any,
    ) -> None:
        if split not in self._SPLITS:
            raise ValueError(f"expected split in {tuple(self._SPLITS)}, got {split!r}")
        if n < 1:
            raise ValueError(f"expected n >= 1, got {n}")
        shape = tuple(int(s) for s in shape)
        self.shape = shape
        self.kind = kind
        self.seed = int(seed)
        self.split = split
        self._gen_kwargs: dict[str, Any] = dict(
            kind=kind,
            num_classes=num_classes,
            foreground_fraction=foreground_fraction,
            noise=noise,
            bias_field=bias_field,
            contrast=contrast,
            blur=blur,
        )
        if kind not in DEFAULT_FOREGROUND_FRACTION:
            raise ValueError(f"expected kind in {tuple(DEFAULT_FOREGROUND_FRACTION)}, got {kind!r}")
        cases = [Case(f"synthetic_{split}_{i:04d}", meta={"index": i}) for i in range(n)]
        names = ["background"] + [f"class{c}" for c in range(1, num_classes)]
        super().__init__(
            cases,
            num_classes=num_classes,
            class_names=names,
            in_channels=1,
            volume_dims=len(shape),
            normalize=normalize,
            **kwargs,
        )

    def load_case(self, case: Case) -> Volume:
        rng = np.random.default_rng((self.seed, self._SPLITS[self.split], int(case.meta["index"])))
        image, label = make_synthetic(self.shape, rng=rng, **self._gen_kwargs)
        return Volume(image, label, (1.0,) * len(self.shape))

    def case_shape(self, case: Case) -> tuple[int, ...]:
        return self.shape
