"""Input handling of the distance-map functions: one target to per-class maps.

The conventions maps share with losses and metrics (spacing, masks, empty axes, the ``empty``
fill) live in :mod:`edgewise._core`; what is here only the maps do: index maps parsed to
labels, the validated :class:`Prepared` target, float32 range of distances, fills.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import Tensor

from edgewise._core.elementwise import any_spatial
from edgewise._core.spacing import SpacingLike, spacing_ndim, spacing_table
from edgewise._core.tensors import TensorLike, as_mask, as_tensor, check_empty, check_not_empty

from ._edt import resolve_backend


def check_float_dtype(dtype: torch.dtype) -> None:
    """Output dtype of a distance map: floating only (an integer dtype truncates distances)."""
    if not isinstance(dtype, torch.dtype):
        raise TypeError(f"expected dtype as a torch.dtype (e.g. torch.float32), got {dtype!r}")
    if not dtype.is_floating_point:
        raise TypeError(
            f"expected a floating-point dtype (distances cast to {dtype} lose their fractions), "
            f"got {dtype}"
        )


def check_spatial_dims(spatial_dims: int | None) -> None:
    if spatial_dims is not None and spatial_dims not in (2, 3):
        raise ValueError(f"expected spatial_dims 2 or 3, got {spatial_dims}")


def check_distance_range(spacing: Tensor, spatial: Sequence[int]) -> None:
    """Refuse a ``(B, ndim)`` spacing whose image diagonal squared overflows float32.

    Why: the transforms work on squared distances in float32; past ~1.8e19 per image they
    were inf, and the maps inf or nan, silently.
    """
    diag = float(diagonal(spatial, spacing).max()) if spacing.shape[0] else 0.0
    if not diag ** 2 < float(np.finfo(np.float32).max):
        shown = spacing[:1] if bool((spacing == spacing[:1]).all()) else spacing
        raise ValueError(
            f"expected a spacing that keeps distances in float32, got {shown.tolist()} (an image "
            f"diagonal of {diag:.3g}, whose square overflows): give the spacing in mm"
        )


def diagonal(shape: Sequence[int], spacing: Tensor) -> Tensor:
    """Length of the image extent's diagonal ``sqrt(sum((n_i * s_i)^2))`` per spacing row."""
    sizes = torch.tensor([float(s) for s in shape], dtype=torch.float64)
    return (spacing * sizes).square().sum(-1).sqrt()


def empty_value(empty: str, shape: Sequence[int], spacing: Tensor) -> Tensor:
    """Per-sample ``(B,)`` fill of an absent class's map: 0, or :func:`diagonal`."""
    check_empty(empty)
    if empty == "zero":
        return torch.zeros(spacing.shape[0], dtype=torch.float64)
    return diagonal(shape, spacing)


def onehot_from_labels(labels: Tensor, num_classes: int) -> Tensor:
    """``(B, *spatial)`` integer labels to a ``(B, C, *spatial)`` bool one-hot."""
    ar = torch.arange(num_classes, device=labels.device).view(1, -1, *([1] * (labels.ndim - 1)))
    return labels.unsqueeze(1) == ar


def parse_labels(
    target: TensorLike, num_classes: int, spatial_dims: int | None
) -> tuple[Tensor, int]:
    """Validate an index map and return ``(labels (B, *spatial) int64, spatial_dims)``."""
    check_spatial_dims(spatial_dims)
    t = as_tensor(target, "target")
    if not isinstance(num_classes, int) or isinstance(num_classes, bool) or num_classes < 1:
        raise ValueError(f"expected num_classes a positive int, got {num_classes!r}")
    if spatial_dims is None:
        if t.ndim not in (4, 5) or t.shape[1] != 1:
            raise ValueError(
                "with num_classes, expected an index map of shape (B, 1, H, W) or (B, 1, D, H, W); "
                f"got {tuple(t.shape)} (pass spatial_dims for a (B, *spatial) map)"
            )
        nd = t.ndim - 2
        lab = t[:, 0]
    else:
        nd = spatial_dims
        if t.ndim == nd + 2 and t.shape[1] == 1:
            lab = t[:, 0]
        elif t.ndim == nd + 1:
            lab = t
        else:
            raise ValueError(
                f"with num_classes and spatial_dims={nd}, expected an index map of shape "
                f"(B, 1, *spatial) or (B, *spatial) with {nd} spatial dims, got {tuple(t.shape)}"
            )
    if lab.is_complex():
        raise TypeError(f"expected an integer label map, got dtype {lab.dtype}")
    if lab.dtype.is_floating_point:
        if not bool((lab == lab.round()).all()):
            raise ValueError("expected integer label values, got non-integral floats")
    arr = cpu_integer_array(lab)
    if lab.numel() and not (arr is not None and _below(arr, num_classes)):
        if arr is not None:
            lo, hi = int(arr.min()), int(arr.max())
        else:
            lo_t, hi_t = torch.aminmax(lab)
            lo, hi = int(lo_t), int(hi_t)
        if lo < 0 or hi >= num_classes:
            raise ValueError(
                f"expected label values in [0, {num_classes}), got values in [{lo}, {hi}]"
            )
    if arr is not None and lab.dtype != torch.int64:
        return torch.from_numpy(arr.astype(np.int64)), nd
    return lab.long(), nd


def _below(arr: np.ndarray, n: int) -> bool:
    """Whether every value of the integer or bool ``arr`` lies in ``[0, n)``, in one pass: the
    maximum of its bits read as unsigned, where a negative value reads as at least half the
    range (numpy's separate min and max were two passes, 0.9 ms against 0.27 ms on a 2D
    8x256^2 int64 batch, #27). False also where that cannot tell (``n`` past half the range
    of a signed type): the caller then takes both."""
    if arr.dtype == np.bool_:
        return n >= 2 or not arr.any()
    unsigned = np.dtype(f"u{arr.dtype.itemsize}")
    if arr.dtype.kind == "i" and n > 1 << (8 * arr.dtype.itemsize - 1):
        return False
    return int(arr.view(unsigned).max()) < n


def cpu_integer_array(t: Tensor) -> np.ndarray | None:
    """numpy view of a CPU integer or bool tensor that needs no gradient, else None.

    Why: full-size checks and casts of label maps run in numpy, on one thread. torch splits
    such an op over its threads, and with two threads on a shared machine whose cores are
    busy each op waited for a descheduled thread: about 12 ms per op at 2 threads beside the
    training grid, against 0.3 ms at one (2026-12-07, #27).
    """
    if t.device.type != "cpu" or t.requires_grad or t.is_floating_point() or t.is_complex():
        return None
    return t.numpy()


@dataclass
class Prepared:
    """One validated target of a per-class map function; the one-hot is built only if needed.

    (The losses' ``Prepared`` is another thing: a prediction and its target, activated.)
    """

    classes: list[int]
    num_classes: int
    spatial: tuple[int, ...]
    spacing: Tensor  # (B, ndim) float64 CPU
    ndim: int
    backend: str
    labels: Tensor | None = None  # (B, *spatial) int64 when the classes form a partition
    _onehot: Tensor | None = field(default=None, repr=False)
    _partition_checked: bool = field(default=False, repr=False)

    @property
    def onehot(self) -> Tensor:
        """``(B, C, *spatial)`` bool, all classes."""
        if self._onehot is None:
            assert self.labels is not None  # one of labels / one-hot is always set
            self._onehot = onehot_from_labels(self.labels, self.num_classes)
        return self._onehot

    @property
    def selected(self) -> Tensor:
        if self.classes == list(range(self.num_classes)):
            return self.onehot
        return self.onehot[:, self.classes]

    def present(self) -> Tensor:
        """``(B, len(classes))`` bool: which selected classes occur in each sample."""
        return any_spatial(self.selected)

    def class_mask_np(self, b: int, i: int) -> np.ndarray:
        """Numpy bool mask of selected class ``i`` in sample ``b`` (CPU only)."""
        c = self.classes[i]
        if self._onehot is None and self.labels is not None:
            return self.labels[b].numpy() == c
        return self.onehot[b, c].numpy()

    def partition_labels(self) -> Tensor | None:
        """Label map when every element belongs to exactly one class, else None."""
        if self.labels is None and not self._partition_checked:
            self._partition_checked = True
            oh = self.onehot
            # small integer sums instead of argmax: argmax over the class dim is ~100x slower
            dt = torch.uint8 if oh.shape[1] < 256 else torch.int32
            if bool((oh.sum(1, dtype=dt) == 1).all()):
                w = torch.arange(oh.shape[1], dtype=dt, device=oh.device)
                self.labels = (oh.to(dt) * w.view(1, -1, *[1] * (oh.ndim - 2))).sum(1, dtype=dt).long()
        return self.labels


def _num_classes_hint(t: Tensor) -> str:
    """Say so when a would-be one-hot target looks like an index map passed without num_classes."""
    if t.is_complex() or not bool((t == t.round()).all()):
        return ""
    lo, hi = int(t.min()), int(t.max())
    if lo < 0:
        return ""
    return (
        f"; it looks like an index map (integer labels in [{lo}, {hi}]): pass num_classes, "
        f"e.g. num_classes={hi + 1}"
    )


def prepare(
    target: TensorLike,
    spacing: SpacingLike,
    num_classes: int | None,
    classes: Sequence[int] | None,
    spatial_dims: int | None,
    backend: str,
) -> Prepared:
    check_spatial_dims(spatial_dims)
    snd = spacing_ndim(spacing)
    if spatial_dims is not None and snd is not None and snd != spatial_dims:
        raise ValueError(f"spacing has {snd} entries per sample but spatial_dims={spatial_dims}")
    labels = None
    if num_classes is not None:
        labels, nd = parse_labels(target, num_classes, spatial_dims)
        onehot = None
        ref = labels
        c_all = num_classes
    else:
        t = as_tensor(target, "target")
        nd = spatial_dims if spatial_dims is not None else t.ndim - 2
        if nd not in (2, 3) or t.ndim != nd + 2:
            raise ValueError(
                "without num_classes, expected a one-hot target of shape (B, C, H, W) or "
                f"(B, C, D, H, W), got {tuple(t.shape)} (pass num_classes for an index map)"
            )
        try:
            onehot = as_mask(t, "one-hot target")
        except ValueError as err:
            raise ValueError(f"{err}{_num_classes_hint(t)}") from None
        ref = onehot
        c_all = onehot.shape[1]
    if snd is not None and snd != nd:
        raise ValueError(
            f"spacing has {snd} entries per sample but the target has {nd} spatial dims"
        )
    check_not_empty(tuple(target.shape), "target", nd, spatial_only=True)
    if classes is None:
        cls = list(range(c_all))
    else:
        cls = [int(c) for c in classes]
        bad = [c for c in cls if not 0 <= c < c_all]
        if bad or not cls:
            raise ValueError(f"expected classes in [0, {c_all}), non-empty, got {list(classes)}")
    table = spacing_table(spacing, ref.shape[0], nd)
    check_distance_range(table, tuple(ref.shape[-nd:]))
    return Prepared(
        classes=cls,
        num_classes=c_all,
        spatial=tuple(ref.shape[-nd:]),
        spacing=table,
        ndim=nd,
        backend=resolve_backend(backend, ref.device),
        labels=labels,
        _onehot=onehot,
    )
