"""On-disk cache of whole-volume distance maps, memory-mapped for cropping in data loaders."""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch

from edgewise._io import atomic_write, claim_dir

from .distance import inside_distance, signed_distance, unsigned_distance
from .penalty import penalty_map, rrw_map
from .skeleton import skeleton, skeleton_tube

__all__ = ["MapCache"]

MapKind = Literal["signed", "unsigned", "inside", "rrw", "penalty", "skeleton", "skeleton_tube"]
#: ``"physical"``: maps computed with the volume's spacing; ``"voxel"``: with spacing 1
MapUnits = Literal["physical", "voxel"]
MAP_UNITS: tuple[str, ...] = ("physical", "voxel")

_KINDS: dict[str, Callable[..., torch.Tensor]] = {
    "signed": signed_distance,
    "unsigned": unsigned_distance,
    "inside": inside_distance,
    "rrw": rrw_map,
    "penalty": penalty_map,
    "skeleton": skeleton,
    "skeleton_tube": skeleton_tube,
}

# Bump when the stored maps' definition changes, so older files are never reused.
_FORMAT_VERSION = 1
# Arguments that change how a map is computed but not its values.
_VALUE_NEUTRAL = frozenset({"backend"})
# Kinds with an absent-class fill (``empty=``): the fill is always part of their key, so the
# maps of edgewise before #28 (keys without it, absent classes at the image diagonal) are
# never read as today's default (0).
_EMPTY_FILLED = frozenset({"signed", "unsigned", "inside"})


class MapCache:
    """Distance maps of whole label volumes, stored as ``.npy`` and opened memory-mapped.

    Maps are computed on the whole volume (so a crop without foreground still sees the true
    distances) and stored in ``dtype`` (float16 by default: ~3 significant digits, values up
    to 65504; a map that does not fit raises and asks for float32).  The file name is a
    SHA-256 of the label array's bytes, shape and dtype, the spacing, the map kind and its
    parameters, so a changed label file or parameter never reuses a stale map.  Writes go to a
    temporary file in ``root`` then ``os.replace``, so concurrent workers never read a
    partial file.  Cached maps are invalid under spatial augmentation applied before
    cropping (elastic, rotation, scaling); crop and flip them together with the labels.

    Args:
        root: directory for the ``.npy`` files (created if missing and marked as
            edgewise's); an existing non-empty folder must be a map cache: a folder
            holding other files is refused, so the cache never writes among them.
        dtype: storage dtype, ``np.float16`` or ``np.float32``.

    Raises:
        FileExistsError: ``root`` holds files that are not cached maps.

    Example:
        >>> import tempfile, numpy as np
        >>> cache = MapCache(tempfile.mkdtemp())
        >>> labels = np.zeros((4, 6, 6), dtype=np.uint8)
        >>> labels[1:3, 2:4, 2:4] = 1
        >>> m = cache.get_or_compute(labels, kind="signed", spacing=(2.0, 1.0, 1.0), num_classes=2)
        >>> m.shape, m.dtype, float(m[1, 1, 2, 2])
        ((2, 4, 6, 6), dtype('float16'), 0.0)
    """

    def __init__(self, root: str | os.PathLike[str], dtype: Any = np.float16) -> None:
        self.root = Path(root)
        self.dtype = np.dtype(dtype)
        if self.dtype not in (np.dtype(np.float16), np.dtype(np.float32)):
            raise ValueError(f"expected dtype float16 or float32, got {self.dtype}")
        claim_dir(self.root, "map-cache", what="map cache folder", adopt=_only_cached_maps)

    def key(
        self,
        labels: np.ndarray,
        *,
        kind: MapKind = "signed",
        spacing: float | Sequence[float] | None = None,
        num_classes: int,
        **kwargs: Any,
    ) -> str:
        """Hex digest identifying the map of ``labels`` with these parameters."""
        if kind not in _KINDS:
            raise ValueError(f"expected kind in {tuple(_KINDS)}, got {kind!r}")
        arr = np.ascontiguousarray(labels)
        h = hashlib.sha256()
        h.update(arr.tobytes())
        params = {k: v for k, v in kwargs.items() if k not in _VALUE_NEUTRAL}
        if kind in _EMPTY_FILLED:
            params.setdefault("empty", "zero")
        sp = None if spacing is None else np.broadcast_to(
            np.asarray(spacing, dtype=np.float64), (arr.ndim,)
        ).tolist()
        meta = (
            _FORMAT_VERSION,
            arr.shape,
            arr.dtype.str,
            sp,
            kind,
            num_classes,
            sorted((k, _canonical(v)) for k, v in params.items()),
            self.dtype.str,
        )
        h.update(repr(meta).encode())
        return h.hexdigest()

    def path(self, labels: np.ndarray, **kwargs: Any) -> Path:
        """File the map of ``labels`` is (or would be) stored in; arguments as :meth:`key`."""
        return self.root / f"{kwargs.get('kind', 'signed')}-{self.key(labels, **kwargs)}.npy"

    def get_or_compute(
        self,
        labels: np.ndarray,
        *,
        kind: MapKind = "signed",
        spacing: float | Sequence[float] | None = None,
        num_classes: int,
        slice_axis: int | None = None,
        units: MapUnits = "physical",
        **kwargs: Any,
    ) -> np.ndarray:
        """Memory-mapped map of a whole label volume, computed and stored on first use.

        Args:
            labels: integer label map ``(*spatial)`` (2D or 3D) with values in
                ``[0, num_classes)``.
            kind: ``"signed"``, ``"unsigned"``, ``"inside"``, ``"rrw"``, ``"penalty"``,
                ``"skeleton"`` or ``"skeleton_tube"`` (:mod:`edgewise.maps.skeleton`; 0/1
                values, exact in float16).
            spacing: physical spacing per axis (array order), a float, or None.
            num_classes: number of classes.
            slice_axis: for a 3D volume, compute the maps of each 2D slice along this axis
                on its own, with the in-plane spacing ("2D maps" in Kervadec et al.'s
                journal comparison); ``None`` (default): one 3D map of the whole volume.
            units: ``"physical"`` (default): distances with ``spacing``; ``"voxel"``: with
                spacing 1 whatever ``spacing`` says (the papers' pixel maps; a training
                run's ``loss.map_units``). Stored under the key of ``spacing=None``.
            **kwargs: passed to the map function (e.g. ``classes``, ``convention``,
                ``empty``, ``backend``, ``radius``).

        Returns:
            read-only ``np.memmap`` of shape ``(C', *spatial)`` (``(1, *spatial)`` for
            ``"penalty"``) in the cache's dtype.
        """
        if units not in MAP_UNITS:
            raise ValueError(f"expected units in {MAP_UNITS}, got {units!r}")
        if units == "voxel":
            spacing = None
        labels = np.asarray(labels)
        if labels.ndim not in (2, 3):
            raise ValueError(f"expected a 2D or 3D label map (*spatial), got shape {labels.shape}")
        if slice_axis is not None and (labels.ndim != 3 or not 0 <= slice_axis < 3):
            raise ValueError(
                f"slice_axis needs a 3D label map and an axis in [0, 3), got shape {labels.shape} "
                f"and slice_axis={slice_axis}"
            )
        # a whole-volume map keeps the key it had before slice_axis existed
        per_slice = {} if slice_axis is None else {"slice_axis": slice_axis}
        target = self.path(labels, kind=kind, spacing=spacing, num_classes=num_classes, **per_slice, **kwargs)
        if not target.exists():
            fn = _KINDS[kind]
            t = torch.from_numpy(np.ascontiguousarray(labels)).long()
            if slice_axis is None:
                maps = fn(t[None, None], spacing, num_classes=num_classes, **kwargs)[0].cpu().numpy()
            else:
                # each slice is a sample of its own, with the in-plane spacing
                sp = None if spacing is None else [
                    s for a, s in enumerate(np.broadcast_to(np.asarray(spacing, np.float64), (3,))) if a != slice_axis
                ]
                per = fn(t.movedim(slice_axis, 0)[:, None], sp, num_classes=num_classes, **kwargs)
                maps = per.movedim(0, 1 + slice_axis).cpu().numpy()
            if np.abs(maps).max(initial=0.0) > np.finfo(self.dtype).max:
                raise ValueError(
                    f"map values up to {np.abs(maps).max():.4g} do not fit in {self.dtype}: "
                    "use MapCache(root, dtype=np.float32)"
                )
            stored = maps.astype(self.dtype)
            atomic_write(target, lambda f: np.save(f, stored))
        return np.load(target, mmap_mode="r")


_CACHE_FILE = re.compile(rf"(\.)?({'|'.join(_KINDS)})-[0-9a-f]{{64}}\.npy(\..+\.tmp)?")


def _only_cached_maps(folder: Path) -> bool:
    """A cache made by an edgewise without folder markers holds only map files."""
    return all(_CACHE_FILE.fullmatch(p.name) for p in folder.iterdir())


def _canonical(value: Any) -> Any:
    if isinstance(value, (list, tuple)):
        return tuple(_canonical(v) for v in value)
    if isinstance(value, torch.dtype):
        return str(value)
    return value
