"""Dataset core: item schema, per-volume preprocessing, whole/slice/patch views.

Item schema (every dataset in :mod:`edgewise.data` returns a ``dict``):

========== ========================= ==================================================
key        type / shape              meaning
========== ========================= ==================================================
image      float32 ``(C_in, *sp)``   normalised image, channels first
label      int64 ``(1, *sp)``        class indices in ``[0, num_classes)``
spacing    float32 ``(ndim,)``       voxel size in array axis order (after resizing)
mask       bool ``(1, *sp)``         optional: region to evaluate (e.g. DRIVE FOV);
                                     absent means everywhere
case       str                       case id
slice      int                       optional: slice index (``mode="slices"`` only)
origin     int64 ``(ndim,)``         optional: patch corner (``mode="patches"`` only)
dist_map   float32 ``(K, *sp)``      optional: cached distance map (``map_cache=``)
========== ========================= ==================================================

``*sp`` is the item's spatial shape (``(H, W)`` or ``(D, H, W)``); ``ndim = len(sp)``.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import Dataset

if TYPE_CHECKING:
    from edgewise.maps.cache import MapKind

__all__ = [
    "Case",
    "Volume",
    "SegmentationDataset",
    "normalize_volume",
    "resize_volume",
    "split_cases",
    "Mode",
    "Normalize",
]

Mode = Literal["whole", "slices", "patches"]
Normalize = Literal["zscore", "minmax", "percentile", "none"]
Split = Literal["train", "val", "test", "all"]


@dataclass(frozen=True)
class Case:
    """One case of a dataset: an id plus whatever its reader needs to load it."""

    case_id: str
    image: tuple[Path, ...] = ()
    label: Path | None = None
    mask: Path | None = None
    meta: Mapping[str, Any] = field(default_factory=dict)


@dataclass
class Volume:
    """A loaded case in array order: image ``(C, *sp)``, label ``(*sp)``, mask ``(*sp)``."""

    image: np.ndarray
    label: np.ndarray
    spacing: tuple[float, ...]
    mask: np.ndarray | None = None


def normalize_volume(image: np.ndarray, method: Normalize) -> np.ndarray:
    """Per-channel normalisation over the whole volume (all spatial axes).

    ``zscore``: zero mean, unit std; ``minmax``: to ``[0, 1]`` (the boundary-loss
    protocol); ``percentile``: clip to the 0.5/99.5 percentiles then to ``[0, 1]``
    (robust for CT); ``none``: unchanged. Constant channels map to 0.
    """
    image = image.astype(np.float32, copy=True)
    if method == "none":
        return image
    for c in range(image.shape[0]):
        ch = image[c]
        if method == "zscore":
            std = float(ch.std())
            image[c] = (ch - float(ch.mean())) / std if std > 0 else 0.0
        elif method in ("minmax", "percentile"):
            if method == "percentile":
                lo, hi = np.percentile(ch, (0.5, 99.5))
                ch = np.clip(ch, lo, hi)
            lo, hi = float(ch.min()), float(ch.max())
            image[c] = (ch - lo) / (hi - lo) if hi > lo else 0.0
        else:
            raise ValueError(f"expected normalize in ('zscore', 'minmax', 'percentile', 'none'), got {method!r}")
    return image


def resize_volume(
    vol: Volume, size: Sequence[int], axes: Sequence[int] | None = None
) -> Volume:
    """Resize the given spatial axes of a volume to ``size``.

    Images use (bi/tri)linear interpolation, labels and masks nearest neighbour; spacing is
    scaled so that the physical extent is kept. Axes not in ``axes`` are left as they are
    (used to resize slices in-plane while keeping the slice axis).
    """
    ndim = vol.label.ndim
    axes = tuple(range(ndim)) if axes is None else tuple(axes)
    if len(size) != len(axes):
        raise ValueError(f"expected size with {len(axes)} entries for axes {axes}, got {tuple(size)}")
    old = [vol.label.shape[a] for a in axes]
    if list(size) == old:
        return vol
    keep = [a for a in range(ndim) if a not in axes]
    perm = keep + list(axes)  # batch-like axes first, resized axes last
    inv = np.argsort(perm)

    def _resize(arr: np.ndarray, mode: str, channels: bool) -> np.ndarray:
        t = torch.from_numpy(np.ascontiguousarray(arr))
        if channels:
            t = t.permute(*([p + 1 for p in perm]), 0)  # (*keep, *axes, C)
        else:
            t = t.permute(*perm).unsqueeze(-1)
        lead = t.shape[: len(keep)]
        t = t.reshape(-1, *t.shape[len(keep):])  # (N, *axes, C)
        t = t.movedim(-1, 1)  # (N, C, *axes)
        dtype = t.dtype
        if mode == "nearest":
            out = F.interpolate(t.float(), size=tuple(size), mode="nearest-exact").to(dtype)
        else:
            interp = {1: "linear", 2: "bilinear", 3: "trilinear"}[len(axes)]
            out = F.interpolate(t.float(), size=tuple(size), mode=interp, align_corners=False)
        out = out.movedim(1, -1).reshape(*lead, *size, out.shape[1])
        if channels:
            out = out.permute(out.ndim - 1, *[int(i) for i in inv])
        else:
            out = out.squeeze(-1).permute(*[int(i) for i in inv])
        return out.numpy()

    spacing = list(vol.spacing)
    for a, o, n in zip(axes, old, size):
        spacing[a] = spacing[a] * o / n
    return Volume(
        image=_resize(vol.image, "linear", True).astype(np.float32),
        label=_resize(vol.label, "nearest", False),
        spacing=tuple(spacing),
        mask=None if vol.mask is None else _resize(vol.mask.astype(np.uint8), "nearest", False).astype(bool),
    )


def split_cases(
    cases: Sequence[Case],
    split: str,
    *,
    val_fraction: float = 0.0,
    test_fraction: float = 0.0,
    seed: int = 0,
) -> list[Case]:
    """Deterministic case-level split by seed and fractions.

    Cases are sorted by id, shuffled with ``numpy.random.default_rng(seed)``, then the
    first ``round(test_fraction * n)`` go to ``"test"``, the next
    ``round(val_fraction * n)`` to ``"val"`` and the rest to ``"train"``. ``"all"``
    returns every case. The result is in case-id order.
    """
    for name, frac in (("val_fraction", val_fraction), ("test_fraction", test_fraction)):
        if not 0.0 <= frac < 1.0:
            raise ValueError(f"expected {name} in [0, 1), got {frac}")
    if val_fraction + test_fraction >= 1.0:
        raise ValueError(f"expected val_fraction + test_fraction < 1, got {val_fraction} + {test_fraction}")
    ordered = sorted(cases, key=lambda c: c.case_id)
    if split == "all":
        return ordered
    n = len(ordered)
    perm = np.random.default_rng(seed).permutation(n)
    n_test = int(round(test_fraction * n))
    n_val = int(round(val_fraction * n))
    groups = {
        "test": perm[:n_test],
        "val": perm[n_test : n_test + n_val],
        "train": perm[n_test + n_val :],
    }
    if split not in groups:
        raise ValueError(f"expected split in ('train', 'val', 'test', 'all'), got {split!r}")
    idx = sorted(groups[split].tolist())
    if not idx:
        frac = {"test": test_fraction, "val": val_fraction, "train": 1 - val_fraction - test_fraction}[split]
        raise ValueError(
            f"split {split!r} is empty: {n} cases with {split} fraction {frac}; "
            f"set {'val_fraction' if split == 'val' else 'test_fraction' if split == 'test' else 'smaller fractions'}"
        )
    return [ordered[i] for i in idx]


class SegmentationDataset(Dataset):
    """Base class: cases -> preprocessed volumes -> items (whole, 2D slices or 3D patches).

    Subclasses implement :meth:`load_case` (raw volume in array order) and may override
    :meth:`case_shape` (spatial shape without reading voxels) for fast slice indexing.

    Args:
        cases: the cases of this split.
        num_classes: number of classes including background.
        class_names: one name per class.
        in_channels: image channels.
        volume_dims: spatial dims of the stored volumes (2 or 3).
        mode: ``"whole"`` one item per case; ``"slices"`` one 2D item per slice of a 3D
            volume along ``slice_axis``; ``"patches"`` random crops of ``patch_size``.
        size: target spatial size: in-plane ``(H, W)`` for slices, full for whole.
        patch_size: patch shape for ``mode="patches"``.
        samples_per_volume: patches drawn per case per epoch.
        foreground_oversample: probability that a patch is centred on a random
            foreground voxel (nnU-Net uses 0.33); otherwise the corner is uniform.
        slice_axis: array axis sliced in ``mode="slices"`` (0 = through-plane for the
            reversed NIfTI order, see :mod:`edgewise.data.image_files`).
        normalize: per-volume, per-channel normalisation, see :func:`normalize_volume`.
        transform: callable applied to each item dict (e.g. :class:`Augment`).
        cache: keep preprocessed volumes in memory (per process).
        map_cache: optional :class:`edgewise.maps.MapCache` (or a folder path for one):
            each case's whole-volume map (computed on the preprocessed, possibly resized
            label volume with its spacing) is sliced/cropped with the label into
            ``item["dist_map"]`` ``(K, *sp)``. Without it, losses compute maps on the fly.
        map_kind: map kind for the cache (``"signed"``, ``"unsigned"``, ``"inside"``,
            ``"rrw"``, ``"penalty"``, ``"skeleton"``, ``"skeleton_tube"``).
        map_options: extra keyword arguments of the map function (e.g. ``classes``).
        max_cases: keep only the first ``max_cases`` cases of the split (in the reader's
            order) for quick trials and smoke tests; the split itself is unchanged.
        nonfinite: an image voxel that is NaN or infinite: ``"error"`` (default; a
            ``ValueError`` naming the file and the count) or ``"mean"`` (replaced by the
            finite mean of its channel before normalisation, and counted in a warning
            naming the file). Without this check z-scoring turns the whole image into NaN
            or zeros and training goes on, silently, on blank images.
    """

    @staticmethod
    def subject_of(case_id: str) -> str:
        """The subject (patient) case ``case_id`` belongs to: the unit over which a bench
        report tests losses (cases of one subject are not independent). Every case is its
        own subject unless a reader says otherwise (ACDC: the ED and ES frames of a patient).

        Example:
            >>> SegmentationDataset.subject_of("test_01")
            'test_01'
        """
        return case_id

    def __init__(
        self,
        cases: Sequence[Case],
        *,
        num_classes: int,
        class_names: Sequence[str],
        in_channels: int,
        volume_dims: int,
        mode: Mode = "whole",
        size: Sequence[int] | None = None,
        patch_size: Sequence[int] | None = None,
        samples_per_volume: int = 1,
        foreground_oversample: float = 0.33,
        slice_axis: int = 0,
        normalize: Normalize = "zscore",
        transform: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
        cache: bool = True,
        map_cache: Any | None = None,
        map_kind: MapKind = "signed",
        map_options: Mapping[str, Any] | None = None,
        max_cases: int | None = None,
        nonfinite: Literal["error", "mean"] = "error",
    ) -> None:
        if nonfinite not in ("error", "mean"):
            raise ValueError(f"expected nonfinite in ('error', 'mean'), got {nonfinite!r}")
        self.nonfinite = nonfinite
        if max_cases is not None:
            if isinstance(max_cases, bool) or not isinstance(max_cases, int) or max_cases < 1:
                raise ValueError(f"expected max_cases to be None or an integer >= 1, got {max_cases!r}")
            cases = list(cases)[:max_cases]
        if not cases:
            raise ValueError(f"{type(self).__name__}: no cases found for this split")
        if mode not in ("whole", "slices", "patches"):
            raise ValueError(f"expected mode in ('whole', 'slices', 'patches'), got {mode!r}")
        if normalize not in ("zscore", "minmax", "percentile", "none"):
            raise ValueError(f"expected normalize in ('zscore', 'minmax', 'percentile', 'none'), got {normalize!r}")
        if isinstance(num_classes, bool) or not isinstance(num_classes, (int, np.integer)) or num_classes < 1:
            raise ValueError(f"expected num_classes to be an integer >= 1 (background included), got {num_classes!r}")
        if len(class_names) != num_classes:
            raise ValueError(f"expected {num_classes} class names, got {list(class_names)}")
        if mode == "slices" and volume_dims != 3:
            raise ValueError(f"mode='slices' needs 3D volumes, this dataset has {volume_dims}D images")
        if not 0 <= slice_axis < volume_dims:
            raise ValueError(f"expected slice_axis in [0, {volume_dims}), got {slice_axis}")
        item_dims = volume_dims - 1 if mode == "slices" else volume_dims
        if size is not None:
            size = tuple(int(s) for s in size)
            if len(size) != item_dims:
                raise ValueError(f"expected size with {item_dims} entries for mode={mode!r}, got {size}")
        if mode == "patches":
            if patch_size is None:
                raise ValueError("mode='patches' needs patch_size")
            patch_size = tuple(int(s) for s in patch_size)
            if len(patch_size) != volume_dims:
                raise ValueError(f"expected patch_size with {volume_dims} entries, got {patch_size}")
        not_int = isinstance(samples_per_volume, bool) or not isinstance(samples_per_volume, (int, np.integer))
        if mode == "patches" and (not_int or samples_per_volume < 1):
            # 0 gave an empty dataset: nothing trained, or a sampler's unclear error later
            raise ValueError(f"expected samples_per_volume to be an integer >= 1, got {samples_per_volume!r}")
        if not 0.0 <= foreground_oversample <= 1.0:
            raise ValueError(f"expected foreground_oversample in [0, 1], got {foreground_oversample}")
        self.cases = list(cases)
        self.num_classes = int(num_classes)
        self.class_names = list(class_names)
        self.in_channels = int(in_channels)
        self.volume_dims = int(volume_dims)
        self.spatial_dims = item_dims
        self.mode = mode
        self.size = size
        self.patch_size = patch_size
        self.samples_per_volume = int(samples_per_volume)
        self.foreground_oversample = float(foreground_oversample)
        self.slice_axis = int(slice_axis)
        self.normalize = normalize
        self.transform = transform
        self.cache = cache
        if isinstance(map_cache, (str, Path)):
            from edgewise.maps import MapCache

            map_cache = MapCache(map_cache)
        if map_cache is not None and not hasattr(map_cache, "get_or_compute"):
            raise TypeError(f"expected map_cache to be an edgewise.maps.MapCache or a folder path, got {type(map_cache)}")
        self.map_cache = map_cache
        self.map_kind = map_kind
        self.map_options = dict(map_options or {})
        self._volumes: dict[int, Volume] = {}
        self._raw_shapes: dict[int, tuple[int, ...]] = {}
        self._index: list[tuple[int, int]] = []
        if mode == "slices":
            for ci in range(len(self.cases)):
                n = self.raw_shape(ci)[self.slice_axis]
                self._index.extend((ci, s) for s in range(n))
        elif mode == "patches":
            self._index = [(ci, k) for ci in range(len(self.cases)) for k in range(self.samples_per_volume)]
        else:
            self._index = [(ci, 0) for ci in range(len(self.cases))]

    # ---- to implement in readers -------------------------------------------------
    def load_case(self, case: Case) -> Volume:
        raise NotImplementedError

    def case_shape(self, case: Case) -> tuple[int, ...]:
        """Raw spatial shape in array order; the default loads the case."""
        return tuple(self.load_case(case).label.shape)

    # ---- public helpers --------------------------------------------------------------
    @property
    def case_ids(self) -> list[str]:
        return [c.case_id for c in self.cases]

    def raw_shape(self, case_index: int) -> tuple[int, ...]:
        """Spatial shape of a case as stored (before resizing)."""
        if case_index not in self._raw_shapes:
            self._raw_shapes[case_index] = tuple(int(s) for s in self.case_shape(self.cases[case_index]))
        return self._raw_shapes[case_index]

    def indices_of_case(self, case_id: str) -> list[int]:
        """Dataset indices whose items belong to ``case_id`` (slice order for slices)."""
        ci = self.case_ids.index(case_id)
        return [i for i, (c, _) in enumerate(self._index) if c == ci]

    def volume(self, case_index: int) -> Volume:
        """Preprocessed volume of a case (normalised; resized in-plane/whole if ``size``)."""
        if case_index in self._volumes:
            return self._volumes[case_index]
        case = self.cases[case_index]
        vol = self.load_case(case)
        self._raw_shapes[case_index] = tuple(vol.label.shape)
        self._check_volume(vol, case)
        vol = Volume(normalize_volume(self._finite(vol.image, case), self.normalize), vol.label,
                     tuple(vol.spacing), vol.mask)
        if self.size is not None:
            if self.mode == "slices":
                axes = [a for a in range(self.volume_dims) if a != self.slice_axis]
                vol = resize_volume(vol, self.size, axes)
            elif self.mode == "whole":
                vol = resize_volume(vol, self.size)
        if self.cache:
            self._volumes[case_index] = vol
        return vol

    def restack(
        self,
        case_id: str,
        slices: Sequence[torch.Tensor] | Mapping[int, torch.Tensor],
        interpolation: Literal["nearest", "linear"] = "nearest",
    ) -> torch.Tensor:
        """Re-stack per-slice outputs of ``mode="slices"`` into the original volume grid.

        Args:
            case_id: the case.
            slices: one tensor ``(C, H, W)`` per slice of the case (a sequence in slice
                order, or a mapping ``slice index -> tensor``), at the item size.
            interpolation: ``"nearest"`` for labels, ``"linear"`` for probabilities/logits
                when resizing back to the original in-plane size.

        Returns:
            ``(C, *raw_shape)`` with the slices placed along ``slice_axis``.
        """
        if self.mode != "slices":
            raise ValueError(f"restack needs mode='slices', this dataset has mode={self.mode!r}")
        ci = self.case_ids.index(case_id)
        raw = self.raw_shape(ci)
        n = raw[self.slice_axis]
        if isinstance(slices, Mapping):
            missing = sorted(set(range(n)) - set(slices))
            if missing:
                raise ValueError(f"restack of {case_id}: missing slices {missing[:10]} of {n}")
            seq = [slices[s] for s in range(n)]
        else:
            seq = list(slices)
            if len(seq) != n:
                raise ValueError(f"restack of {case_id}: expected {n} slices, got {len(seq)}")
        stack = torch.stack([torch.as_tensor(s) for s in seq], dim=0)  # (n, C, h, w)
        if stack.ndim != 4:
            raise ValueError(f"expected slices of shape (C, H, W), got {tuple(stack.shape[1:])}")
        inplane = tuple(raw[a] for a in range(3) if a != self.slice_axis)
        if tuple(stack.shape[-2:]) != inplane:
            dtype = stack.dtype
            if interpolation == "nearest":
                stack = F.interpolate(stack.float(), size=inplane, mode="nearest-exact").to(dtype)
            else:
                stack = F.interpolate(stack.float(), size=inplane, mode="bilinear", align_corners=False)
        # (n, C, a, b) -> (C, *raw) with n at slice_axis
        return stack.movedim(0, 1 + self.slice_axis)

    # ---- Dataset protocol ----------------------------------------------------------
    def __len__(self) -> int:
        return len(self._index)

    def __getitem__(self, index: int) -> dict[str, Any]:
        if not -len(self) <= index < len(self):
            raise IndexError(f"index {index} out of range for dataset of length {len(self)}")
        ci, sub = self._index[index]
        vol = self.volume(ci)
        case = self.cases[ci]
        dist_map = self._cached_map(case, vol)
        item: dict[str, Any] = {"case": case.case_id}
        if self.mode == "slices":
            ax = self.slice_axis
            image = np.take(vol.image, sub, axis=1 + ax)
            label = np.take(vol.label, sub, axis=ax)
            mask = None if vol.mask is None else np.take(vol.mask, sub, axis=ax)
            spacing = tuple(s for a, s in enumerate(vol.spacing) if a != ax)
            if dist_map is not None:
                dist_map = np.take(dist_map, sub, axis=1 + ax)
            item["slice"] = int(sub)
        elif self.mode == "patches":
            image, label, mask, dist_map, origin = self._random_patch(vol, dist_map)
            spacing = vol.spacing
            item["origin"] = torch.as_tensor(origin, dtype=torch.int64)
        else:
            image, label, mask, spacing = vol.image, vol.label, vol.mask, vol.spacing
        item["image"] = torch.from_numpy(np.ascontiguousarray(image, dtype=np.float32))
        item["label"] = torch.from_numpy(np.ascontiguousarray(label, dtype=np.int64))[None]
        item["spacing"] = torch.tensor(spacing, dtype=torch.float32)
        if mask is not None:
            item["mask"] = torch.from_numpy(np.ascontiguousarray(mask, dtype=bool))[None]
        if dist_map is not None:
            item["dist_map"] = torch.from_numpy(np.array(dist_map, dtype=np.float32))
        if self.transform is not None:
            item = self.transform(item)
        return item

    # ---- internals -------------------------------------------------------------------
    def _finite(self, image: np.ndarray, case: Case) -> np.ndarray:
        bad = ~np.isfinite(image)
        n = int(bad.sum())
        if n == 0:
            return image
        src = ", ".join(str(p) for p in case.image) if case.image else f"case {case.case_id}"
        if self.nonfinite == "error":
            raise ValueError(
                f"image {src} has {n} non-finite voxel(s) (NaN or infinite) of {image.size}: expected "
                "finite intensities; fix the file, or set the dataset option nonfinite: mean to "
                "replace them by their channel's finite mean"
            )
        image = image.astype(np.float32, copy=True)
        for c in range(image.shape[0]):
            finite = image[c][~bad[c]]
            image[c][bad[c]] = float(finite.mean()) if finite.size else 0.0
        warnings.warn(f"image {src}: replaced {n} non-finite voxel(s) by their channel's finite mean "
                      "(nonfinite: mean)", stacklevel=2)
        return image

    def _check_volume(self, vol: Volume, case: Case) -> None:
        where = case.label if case.label is not None else case.case_id
        if vol.image.ndim != vol.label.ndim + 1:
            raise ValueError(f"expected image (C, *spatial) for label {vol.label.shape} in {where}, got {vol.image.shape}")
        if vol.image.shape[1:] != vol.label.shape:
            src = case.image[0] if case.image else case.case_id
            raise ValueError(
                f"image/label size mismatch for case {case.case_id}: image {src} has spatial shape "
                f"{vol.image.shape[1:]}, label {where} has {vol.label.shape}"
            )
        if vol.mask is not None and vol.mask.shape != vol.label.shape:
            raise ValueError(
                f"mask/label size mismatch for case {case.case_id}: mask {case.mask} has shape "
                f"{vol.mask.shape}, label has {vol.label.shape}"
            )
        if vol.mask is not None and not vol.mask.any():
            # metrics inside an empty mask compare two empty sets: a perfect score whatever
            # the prediction, which would raise the mean silently
            raise ValueError(
                f"evaluation mask {case.mask} of case {case.case_id} is all zero: expected a "
                "mask with at least one pixel inside (non-zero), as nothing could be scored"
            )
        if vol.image.shape[0] != self.in_channels:
            raise ValueError(
                f"expected {self.in_channels} image channels for case {case.case_id}, got {vol.image.shape[0]}"
            )
        if vol.label.ndim != self.volume_dims:
            raise ValueError(f"expected {self.volume_dims}D volumes, case {case.case_id} is {vol.label.ndim}D")

    def _cached_map(self, case: Case, vol: Volume) -> np.ndarray | None:
        if self.map_cache is None:
            return None
        dm = self.map_cache.get_or_compute(
            vol.label, kind=self.map_kind, spacing=vol.spacing, num_classes=self.num_classes, **self.map_options
        )
        if dm.ndim != vol.label.ndim + 1 or tuple(dm.shape[1:]) != vol.label.shape:
            raise ValueError(
                f"map_cache returned a map of shape {tuple(dm.shape)} for case {case.case_id}, "
                f"expected (K, *{vol.label.shape})"
            )
        return dm

    def _random_patch(self, vol: Volume, dist_map: np.ndarray | None):
        shape = vol.label.shape
        ps = self.patch_size or ()
        # pad volumes smaller than the patch (image with its minimum, label with background)
        pad = [(0, max(0, p - s)) for p, s in zip(ps, shape)]
        image, label, mask = vol.image, vol.label, vol.mask
        if any(b for _, b in pad):
            image = np.pad(image, [(0, 0)] + pad, mode="constant", constant_values=float(image.min()))
            label = np.pad(label, pad)
            mask = None if mask is None else np.pad(mask, pad)
            dist_map = None if dist_map is None else np.pad(dist_map, [(0, 0)] + pad, mode="edge")
            shape = label.shape
        origin = [0] * len(shape)
        if float(torch.rand(())) < self.foreground_oversample:
            fg = np.argwhere(label > 0)
            if len(fg):
                centre = fg[int(torch.randint(len(fg), ()))]
                origin = [int(min(max(c - p // 2, 0), s - p)) for c, p, s in zip(centre, ps, shape)]
            else:
                origin = [int(torch.randint(s - p + 1, ())) for p, s in zip(ps, shape)]
        else:
            origin = [int(torch.randint(s - p + 1, ())) for p, s in zip(ps, shape)]
        sl = tuple(slice(o, o + p) for o, p in zip(origin, ps))
        return (
            image[(slice(None),) + sl],
            label[sl],
            None if mask is None else mask[sl],
            None if dist_map is None else dist_map[(slice(None),) + sl],
            origin,
        )

