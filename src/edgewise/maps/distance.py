"""Exact Euclidean distance transforms and per-class distance maps.

Shared rules (see ``docs/maps.md``):

- Distances are in the units of ``spacing``: None (1.0: voxel units, the papers' pixel
  maps), a float, a per-axis sequence in array axis order (physical units, e.g. mm), or a
  per-sample ``(B, ndim)`` tensor/array.
- Target forms are never guessed from the shape alone: with ``num_classes`` the target is an
  index map ``(B, 1, *spatial)`` (``(B, *spatial)`` only together with ``spatial_dims``);
  without it, a one-hot ``(B, C, *spatial)`` of bool or 0/1 values.
- Empty class (absent from a sample), signed, unsigned and inside maps: ``empty="zero"``
  (default since #28) gives an all-0 map, as the references (LIVIAETS/boundary-loss
  ``one_hot2dist``, SegWithDistMap, MONAI's ``HausdorffDTLoss``): a class with no boundary
  has no distance to it. ``empty="diagonal"`` gives the constant diagonal of the image
  extent ``sqrt(sum_i (n_i * s_i)^2)``, larger than any distance inside the image, so a
  ``sum(p * map)`` loss penalises that class's false positives (edgewise's rule before #28).
  RRW maps (:mod:`edgewise.maps.penalty`) keep Valverde & Tohka's +1.
- Full class (fills its sample): the outside of the image counts as outside the class, so its
  boundary is the image's border ring and its inside values are negative (signed maps). No
  reference defines it (scipy's transform of a mask with no background is meaningless), so it
  is kept whatever ``empty`` says.
- CPU backends (``"edt"``, ``"scipy"``) move data to numpy and back; ``"cupy"`` and
  ``"torch"`` stay on the device.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import partial
from typing import Literal

import torch
from torch import Tensor

import numpy as np

from edgewise._core.elementwise import as_float, keep
from edgewise._core.spacing import SpacingLike, spacing_ndim, spacing_table
from edgewise._core.tensors import Empty, TensorLike, as_mask, check_empty, check_not_empty

from ._edt import (
    Backend,
    border_distance,
    edt_multilabel,
    edt_one,
    edt_stack_2d,
    edt_samples,
    resolve_backend,
    run_tasks,
    stack_2d,
    transform_all,
)
from ._input import (
    Prepared,
    check_distance_range,
    check_float_dtype,
    check_spatial_dims,
    empty_value,
    onehot_from_labels,
    parse_labels,
    prepare,
)
from .context import Key, active_context, all_cached, note_transforms, per_class_cached

__all__ = [
    "edt",
    "signed_distance",
    "unsigned_distance",
    "inside_distance",
    "as_one_hot",
    "boundary_set",
]


def edt(
    mask: TensorLike,
    spacing: SpacingLike = None,
    *,
    spatial_dims: int | None = None,
    backend: Backend = "auto",
) -> Tensor:
    r"""Exact Euclidean distance from every True element to the nearest False element.

    Same values as ``scipy.ndimage.distance_transform_edt(mask, sampling=spacing)`` per
    sample, for a batch of 2D or 3D masks:

    .. math::
        d(x) = \min_{y:\, \mathrm{mask}(y) = 0} \lVert (x - y) \odot s \rVert_2,
        \qquad d(x) = 0 \text{ where } \mathrm{mask}(x) = 0.

    A sample with no False element is treated as surrounded by False outside the image: its
    values are the distance to the nearest point just beyond the border,
    ``min_i min(k_i + 1, n_i - k_i) * s_i`` (finite; scipy returns meaningless values there).

    Args:
        mask: bool or 0/1 tensor (or numpy array) of shape ``(*batch, *spatial)``.
        spacing: None (1.0), a float, a per-axis sequence in array axis order, or a per-sample
            ``(B, ndim)`` tensor; per-sample spacing applies along the first batch dim (the
            mask needs a leading dim of size B; any further batch dims share it).
        spatial_dims: 2 or 3. Inferred from ``len(spacing)`` when spacing is a sequence or
            table, else from ``mask.ndim`` when it is 2 or 3; otherwise required.
        backend: ``"auto"`` (CPU: ``edt`` package if installed, else scipy; CUDA: CuPy if
            installed, else torch), ``"torch"`` (exact pure torch, any device), ``"scipy"``,
            ``"edt"`` (both CPU: data goes through numpy and back), ``"cupy"`` (CUDA).

    Returns:
        float32 tensor of ``mask``'s shape on ``mask``'s device (numpy input gives a CPU tensor).

    Shapes:
        - mask: :math:`(*, H, W)` or :math:`(*, D, H, W)`
        - output: same as mask

    Example:
        >>> m = torch.zeros(1, 5, 5, dtype=torch.bool)
        >>> m[0, 1:4, 1:4] = True
        >>> edt(m, spatial_dims=2)[0, 2]
        tensor([0., 1., 2., 1., 0.])
    """
    m = as_mask(mask, "mask")
    check_spatial_dims(spatial_dims)
    snd = spacing_ndim(spacing)
    if spatial_dims is not None and snd is not None and snd != spatial_dims:
        raise ValueError(f"spacing has {snd} entries per sample but spatial_dims={spatial_dims}")
    nd = spatial_dims if spatial_dims is not None else snd
    if nd is None:
        if m.ndim not in (2, 3):
            raise ValueError(
                f"cannot infer the spatial dims of a mask of shape {tuple(m.shape)}: pass "
                "spatial_dims=2 or 3 (or a per-axis spacing)"
            )
        nd = m.ndim
    if nd not in (2, 3):
        raise ValueError(f"expected 2 or 3 spatial dims, got {nd}")
    if m.ndim < nd:
        raise ValueError(f"expected a mask with at least {nd} dims, got shape {tuple(m.shape)}")
    check_not_empty(tuple(m.shape), "mask", nd, spatial_only=True)
    batch = tuple(m.shape[: m.ndim - nd])
    spatial = tuple(m.shape[m.ndim - nd :])
    table = spacing_table(spacing, batch[0] if batch else None, nd)
    check_distance_range(table, spatial)
    flat = m.reshape(-1, *spatial)
    n = flat.shape[0]
    # row b of the table serves every sample under batch index b (further batch dims share it)
    table = table.repeat_interleave(n // table.shape[0] if table.shape[0] else 0, dim=0)
    out = edt_samples(flat, table, resolve_backend(backend, m.device))
    return out.reshape(m.shape)


def as_one_hot(
    target: TensorLike, num_classes: int | None = None, spatial_dims: int | None = None
) -> Tensor:
    """Validated bool one-hot ``(B, C, *spatial)`` from an index map or a one-hot target.

    With ``num_classes``: ``target`` is an index map ``(B, 1, *spatial)`` (``(B, *spatial)``
    only with ``spatial_dims``) with integer values in ``[0, num_classes)``.  Without it:
    ``target`` is already one-hot ``(B, C, *spatial)`` with bool or 0/1 values.

    Example:
        >>> as_one_hot(torch.tensor([[[[0, 2], [1, 1]]]]), num_classes=3).shape
        torch.Size([1, 3, 2, 2])
    """
    if num_classes is not None:
        labels, _ = parse_labels(target, num_classes, spatial_dims)
        return onehot_from_labels(labels, num_classes)
    return prepare(target, None, None, None, spatial_dims, "torch").onehot


def boundary_set(one_hot: TensorLike) -> Tensor:
    """Elements of each class having a face-neighbour outside the class, ``(B, C, *spatial)``.

    Neighbours beyond the image border do not count, except for a class that fills its whole
    sample: there the outside of the image counts as outside, so its boundary set is the
    image's border ring.

    Example:
        >>> m = torch.zeros(1, 1, 4, 4, dtype=torch.bool)
        >>> m[0, 0, :3, :3] = True
        >>> boundary_set(m)[0, 0].int()
        tensor([[0, 0, 1, 0],
                [0, 0, 1, 0],
                [1, 1, 1, 0],
                [0, 0, 0, 0]], dtype=torch.int32)
    """
    m = as_mask(one_hot, "one_hot")
    if m.ndim not in (4, 5):
        raise ValueError(
            f"expected a one-hot of shape (B, C, H, W) or (B, C, D, H, W), got {tuple(m.shape)}"
        )
    interior = m.clone()
    ring = torch.zeros(m.shape[2:], dtype=torch.bool, device=m.device)
    for dim in range(2, m.ndim):
        size = m.shape[dim]
        if size > 1:
            a = interior.narrow(dim, 1, size - 1)
            a &= m.narrow(dim, 0, size - 1)
            a = interior.narrow(dim, 0, size - 1)
            a &= m.narrow(dim, 1, size - 1)
        ring.narrow(dim - 2, 0, 1).fill_(True)
        ring.narrow(dim - 2, size - 1, 1).fill_(True)
    out = m & ~interior
    full = m.flatten(2).all(-1)
    if bool(full.any()):
        out[full] = ring
    return out


def _not_boundary_np(mask: np.ndarray) -> np.ndarray:
    """Complement of one class mask's boundary set (numpy twin of :func:`boundary_set`)."""
    if mask.all():
        keep = np.ones(mask.shape, dtype=bool)
        keep[tuple(slice(1, -1) for _ in mask.shape)] = False
        return ~keep
    interior = mask.copy()
    for ax, size in enumerate(mask.shape):
        if size > 1:
            lo = [slice(None)] * mask.ndim
            hi = [slice(None)] * mask.ndim
            lo[ax], hi[ax] = slice(0, size - 1), slice(1, size)
            interior[tuple(hi)] &= mask[tuple(lo)]
            interior[tuple(lo)] &= mask[tuple(hi)]
    interior |= ~mask
    return interior


class _Complements:
    """Boundary-set complements of the selected classes (the transforms' inputs) on a CPU
    backend, per (sample, class).

    From one uint8 label map per sample where the selected classes are disjoint (an index
    map, or a one-hot without overlaps): ``same`` marks, once per sample, the elements whose
    in-image face-neighbours all share their label, and class ``c``'s complement is then
    ``(lab != c) | same``, two byte passes, where the per-class route (:func:`_not_boundary_np`,
    kept for overlapping one-hot channels) copies the mask and makes two passes per axis.
    The same values: an element of ``c`` is on its boundary exactly when a face-neighbour has
    another label.
    """

    def __init__(self, p: Prepared) -> None:
        self.p = p
        self.lab: np.ndarray | None = None
        self.values: list[int] = []
        self.same: np.ndarray | None = None
        found = _label_map_np(p)
        if found is not None:
            self.lab, self.values = found
            self.same = _same_label_np(self.lab)

    def complement(self, b: int, i: int) -> np.ndarray | None:
        """Complement of class ``i``'s boundary set in sample ``b``; None where it is absent."""
        if self.lab is None or self.same is None:
            m = self.p.class_mask_np(b, i)
            return _not_boundary_np(m) if m.any() else None
        lab, v = self.lab[b], self.values[i]
        comp = np.not_equal(lab, v)
        comp |= self.same[b]
        if comp.all():  # no boundary element: the class is absent or fills the sample
            return _not_boundary_np(np.ones(lab.shape, dtype=bool)) if lab.flat[0] == v else None
        return comp

    def inside(self, b: int, i: int, complement: np.ndarray) -> np.ndarray:
        """Elements of class ``i`` off its boundary set in sample ``b`` (``complement`` from
        :meth:`complement`), where its signed map is negative."""
        if self.lab is None:
            return np.logical_and(self.p.class_mask_np(b, i), complement)
        mask = np.equal(self.lab[b], self.values[i])
        return np.logical_and(mask, complement, out=mask)

    def complement_and_inside(self, b: int, i: int) -> tuple[np.ndarray, np.ndarray] | None:
        """:meth:`complement` and :meth:`inside` of class ``i`` in sample ``b`` together (None
        where it is absent): from the labels, ``ne = lab != c`` gives the complement
        ``ne | same`` and the inside ``complement ^ ne`` (``same & (lab == c)``), one byte pass
        fewer than the two apart."""
        if self.lab is None or self.same is None:
            comp = self.complement(b, i)
            return None if comp is None else (comp, self.inside(b, i, comp))
        lab, v = self.lab[b], self.values[i]
        ne = np.not_equal(lab, v)
        comp = np.logical_or(ne, self.same[b])
        if comp.all():  # no boundary element: the class is absent or fills the sample
            if lab.flat[0] != v:
                return None
            comp = _not_boundary_np(np.ones(lab.shape, dtype=bool))
            return comp, comp.copy()
        return comp, np.logical_xor(comp, ne, out=ne)


def _negated_inside(out: np.ndarray, dist: np.ndarray, inside: np.ndarray) -> None:
    """``out = dist``, negated where ``inside`` (a class's elements off its boundary, where
    ``dist`` > 0): setting their float32 sign bit negates them exactly, and the boundary keeps
    +0.0. Integer passes: ``np.subtract(0.0, d, where=mask)`` after a copy gave the same bits
    1.5-3x slower (a masked ufunc; scratch timings of #27). The bytes are widened by
    ``copyto`` (a plain cast loop), not by the shift's own buffered cast."""
    bits = out.view(np.uint32)
    np.copyto(bits, inside.view(np.uint8), casting="unsafe")
    np.left_shift(bits, np.uint32(31), out=bits)
    np.bitwise_or(bits, dist.view(np.uint32), out=bits)


def _label_map_np(p: Prepared) -> tuple[np.ndarray, list[int]] | None:
    """``(B, *spatial)`` uint8 labels of a CPU :class:`Prepared` and each selected class's
    label, where the selected classes are disjoint and fit in a byte; else None."""
    if p.labels is not None:
        if p.num_classes > 256:
            return None
        return p.labels.numpy().astype(np.uint8), list(p.classes)
    if len(p.classes) >= 255:
        return None
    lab = _disjoint_labels_np(p.selected.numpy())
    if lab is None:
        return None
    return lab, [i + 1 for i in range(len(p.classes))]


def _disjoint_labels_np(sel: np.ndarray) -> np.ndarray | None:
    """numpy twin of :func:`_disjoint_labels` for fewer than 255 masks, uint8 (numpy on one
    thread: see :func:`~edgewise.maps._input.cpu_integer_array`)."""
    m = sel.view(np.uint8)
    counts = m[:, 0].copy()
    labels = counts.copy()
    step = np.empty_like(labels)
    for k in range(1, sel.shape[1]):
        counts += m[:, k]
        np.multiply(m[:, k], k + 1, out=step)
        labels += step
    if counts.size and int(counts.max()) > 1:
        return None
    return labels


def _same_label_np(lab: np.ndarray) -> np.ndarray:
    """Elements of ``lab`` ``(B, *spatial)`` whose in-image face-neighbours all share their
    label (the complement of every class's boundary set at once)."""
    same = np.ones(lab.shape, dtype=bool)
    for ax in range(1, lab.ndim):
        size = lab.shape[ax]
        if size > 1:
            lo = [slice(None)] * lab.ndim
            hi = [slice(None)] * lab.ndim
            lo[ax], hi[ax] = slice(0, size - 1), slice(1, size)
            eq = lab[tuple(hi)] == lab[tuple(lo)]
            same[tuple(hi)] &= eq
            same[tuple(lo)] &= eq
    return same


def _boundary_distance_cpu(p: Prepared, need: Tensor) -> Tensor:
    """:func:`_boundary_distance` with a CPU backend: one transform per (b, c), each into
    its slice of one numpy buffer (no full-size one-hot or temporaries)."""
    n_cls = len(p.classes)
    # entries not in ``need`` are never read (absent classes are filled by the callers)
    out = np.empty((p.spacing.shape[0], n_cls, *p.spatial), dtype=np.float32)
    sp = p.spacing.numpy()
    todo = need.nonzero().tolist()
    cx = _Complements(p)

    def image(i: int) -> np.ndarray:
        comp = cx.complement(*todo[i])
        assert comp is not None  # ``need`` holds present classes only
        return comp

    def store(i: int, res: np.ndarray) -> None:
        b, c = todo[i]
        out[b, c] = res

    transform_all(len(todo), image, sp[[b for b, _ in todo]], p.backend, store)
    note_transforms(len(todo))
    return torch.from_numpy(out)


def _signed_boundary_cpu(p: Prepared, empty: Empty) -> Tensor:
    """Boundary-convention signed maps with a CPU backend: per (b, c) the boundary complement
    (:class:`_Complements`), its transform, and the inside negated in place, in one numpy
    buffer (no one-hot, no full-size float temporaries). Absent classes get ``empty``'s fill.

    Inside a :func:`shared_maps` block the transforms are read from and stored in it, as
    :func:`_boundary_distance` does (the same keys, counts and values): a stored transform
    is the array ``edt`` returned, never changed afterwards (the signed map is written
    beside it), so it needs no copy; before #27 a block took :func:`_boundary_distance`, a
    copy of every transform for the block, and ``d - 2 d [M]`` and the absent-class fill as
    full-size torch passes, the same values."""
    n_b, n_cls = p.spacing.shape[0], len(p.classes)
    out = np.empty((n_b, n_cls, *p.spatial), dtype=np.float32)
    sp = p.spacing.numpy()
    dg = empty_value(empty, p.spatial, p.spacing).numpy()
    done = np.zeros(n_b * n_cls, dtype=bool)
    cx = _Complements(p)
    ctx = active_context()
    keys: list[list[Key]] | None = None
    hits: dict[int, np.ndarray] = {}
    if ctx is not None:
        keys = ctx.keys_for(p.selected, p.spacing, p.backend, "boundary")
        hits = {b * n_cls + c: m.numpy() for (b, c), m in ctx.stored(keys, p.present()).items()}
        ctx.reused += len(hits)

    def keep_transform(i: int, res: np.ndarray) -> None:
        done[i] = True
        if ctx is not None and keys is not None:
            b, c = divmod(i, n_cls)
            ctx.put(keys[b][c], torch.from_numpy(res))

    if stack_2d(p.backend, len(p.spatial), n_b * n_cls):
        pairs = [cx.complement_and_inside(*divmod(i, n_cls)) for i in range(n_b * n_cls)]
        present = {i: m for i, m in enumerate(pairs) if m is not None}
        todo = [i for i in present if i not in hits]
        res = edt_stack_2d([present[i][0] for i in todo], sp[[i // n_cls for i in todo]]) if todo \
            else np.empty((0, *p.spatial), dtype=np.float32)
        for i, r in zip(todo, res):
            keep_transform(i, r)
        for i in set(range(n_b * n_cls)).difference(present):
            out[divmod(i, n_cls)].fill(dg[i // n_cls])
        for i, r in [*zip(todo, res), *hits.items()]:
            _negated_inside(out[divmod(i, n_cls)], r, present[i][1])
        note_transforms(len(todo))
        return torch.from_numpy(out)

    spacings = [tuple(float(s) for s in row) for row in sp]

    def task(i: int) -> None:
        b, c = divmod(i, n_cls)
        both = cx.complement_and_inside(b, c)
        if both is None:
            out[b, c].fill(dg[b])
            return
        comp, inside = both
        res = hits.get(i)
        if res is None:
            res = edt_one(comp, spacings[b], p.backend)
            keep_transform(i, res)
        _negated_inside(out[b, c], res, inside)

    run_tasks(task, n_b * n_cls, p.backend)
    note_transforms(int(done.sum()))
    return torch.from_numpy(out)


def _boundary_distance(p: Prepared, todo: Tensor) -> Tensor:
    """Distance to each selected class's boundary set (:func:`boundary_set`), both sides.

    ``(B, C', *spatial)`` float32, computed where ``todo`` ``(B, C')`` (present classes),
    one transform of the boundary set's complement per class: outside the class the
    nearest boundary element is the nearest class element, so the outside values are
    ``EDT(~M)`` too.
    """
    compute: Callable[[Tensor], Tensor]
    if p.backend in ("edt", "scipy") and _device(p).type == "cpu":
        compute = partial(_boundary_distance_cpu, p)
    else:
        def compute(need: Tensor) -> Tensor:
            return _stack_edt(~boundary_set(p.selected), p.spacing, need, p.backend)

    return per_class_cached("boundary", p.selected, p.spacing, p.backend, todo, compute)


def _device(p: Prepared) -> torch.device:
    return p.labels.device if p.labels is not None else p.onehot.device


def no_samples(p: Prepared) -> bool:
    """A batch of 0 samples: nothing in, nothing out (as :func:`edt`); the label-map paths
    raised torch's "max(): Expected reduction dim" on it."""
    return p.spacing.shape[0] == 0


def empty_maps(p: Prepared, channels: int, dtype: torch.dtype = torch.float32) -> Tensor:
    return torch.zeros((0, channels, *p.spatial), dtype=dtype, device=_device(p))


def _stack_edt(masks: Tensor, spacing: Tensor, todo: Tensor, backend: str) -> Tensor:
    """EDT of ``masks`` ``(B, C, *spatial)`` where ``todo`` ``(B, C)``; zeros elsewhere."""
    b, c = masks.shape[:2]
    out = torch.zeros(masks.shape, dtype=torch.float32, device=masks.device)
    flat_todo = todo.reshape(-1)
    if not bool(flat_todo.any()):
        return out
    sel = flat_todo.nonzero().flatten()
    sp = spacing.repeat_interleave(c, dim=0)[sel.cpu()]
    res = edt_samples(masks.reshape(b * c, *masks.shape[2:])[sel], sp, backend)
    out.view(b * c, *masks.shape[2:])[sel] = res
    return out


def _disjoint_labels(sel: Tensor) -> Tensor | None:
    """``(B, *spatial)`` labels ``i + 1`` of the masks ``sel`` ``(B, C, *spatial)`` where no
    element is in two of them (0 where in none), else None."""
    dt = torch.uint8 if sel.shape[1] < 255 else torch.int32
    # a running sum over the classes: reductions over the strided class axis are ~10x slower
    m = sel.view(torch.uint8)
    counts = m[:, 0].to(dt, copy=True)
    labels = counts.clone()
    for k in range(1, sel.shape[1]):
        counts += m[:, k]
        labels.add_(m[:, k], alpha=k + 1)
    if int(counts.max()) > 1:
        return None
    return labels


def _inside(p: Prepared, sel: Tensor, todo: Tensor) -> Tensor:
    """EDT of each selected class mask (distance to the nearest non-class element)."""
    labels = _disjoint_labels(sel) if p.backend == "edt" and len(p.classes) > 1 else None

    def compute(need: Tensor) -> Tensor:
        if labels is not None:
            # One multi-label transform per sample gives every class's inside distances: an
            # element's nearest element of another label (or of none) is its nearest non-class one.
            rows = need.any(1).nonzero().flatten().cpu()
            if rows.numel() == sel.shape[0]:
                return keep(edt_multilabel(labels, p.spacing).unsqueeze(1), sel)
            out = torch.zeros(sel.shape, dtype=torch.float32, device=sel.device)
            if rows.numel():
                ml = edt_multilabel(labels[rows], p.spacing[rows])
                out[rows] = keep(ml.unsqueeze(1), sel[rows])
            return out
        return _stack_edt(sel, p.spacing, need, p.backend)

    return per_class_cached("inside", sel, p.spacing, p.backend, todo, compute)


def _two_label_unsigned(p: Prepared, sel: Tensor, present: Tensor) -> Tensor | None:
    """:func:`unsigned_distance` of two classes that partition the image (binary segmentation
    with its background channel, or a thresholded two-channel softmax) from one multi-label
    transform per sample: each element's distance to the nearest element of the other class
    is ``EDT(M)`` inside either class and ``EDT(~M)`` outside it, so both maps are that one
    transform (instead of one per class). None where this does not hold in every sample (a
    class absent, an element in neither class or in both). ``edt`` backend only."""
    if len(p.classes) != 2 or not bool(present.all()):
        return None
    m = sel.view(torch.uint8)
    if not bool(m[:, 0].bitwise_xor(m[:, 1]).all()):
        return None
    d = edt_multilabel(2 - m[:, 0], p.spacing).unsqueeze(1)  # labels: first class 1, second 2
    return d.expand(-1, 2, *d.shape[2:]).contiguous()


def _per_class_two_label(sel: Tensor, present: Tensor, spacing: Tensor, fill: Tensor) -> Tensor:
    """Unsigned maps of the ``present`` classes, one two-label transform (the class and the
    rest of the image) per class: its inside and outside distances at once, so C transforms
    per sample where the inside map and one outside transform per class need C + 1. Absent
    classes get ``fill`` ``(B,)``.

    Each transform's labels (class 1, the rest 2) are made when its turn comes and its
    result lands in its slice of one numpy buffer, the absent classes filled there: the
    same ``edt`` calls and values as :func:`edt_multilabel` of the gathered ``(N, *spatial)``
    labels followed by a scatter into a zeroed batch and :func:`_empty_fill` (the code before
    #27), without those three full-size passes. A class that fills its sample (one label)
    gets :func:`~edgewise.maps._edt.border_distance`, as there.
    """
    masks = sel.detach().cpu().numpy()
    out = np.empty(masks.shape, dtype=np.float32)
    values = fill.to(torch.float32).numpy()
    todo: list[tuple[int, int]] = []
    full: list[tuple[int, int]] = []
    here = present.cpu().numpy()
    for b, c in np.argwhere(here).tolist():
        (full if masks[b, c].all() else todo).append((b, c))
    for b, c in np.argwhere(~here).tolist():
        out[b, c].fill(values[b])
    sp = spacing.double().cpu().numpy()

    def image(i: int) -> np.ndarray:
        b, c = todo[i]
        return np.subtract(np.uint8(2), masks[b, c].view(np.uint8))

    def store(i: int, res: np.ndarray) -> None:
        b, c = todo[i]
        out[b, c] = res

    transform_all(len(todo), image, sp[[b for b, _ in todo]], "edt", store)
    note_transforms(len(todo))
    if full:
        idx = [b for b, _ in full]
        ring = border_distance(masks.shape[2:], spacing[idx], torch.device("cpu")).numpy()
        for j, (b, c) in enumerate(full):
            out[b, c] = ring[j]
    return torch.from_numpy(out).to(sel.device)


def _empty_fill(maps: Tensor, present: Tensor, value: Tensor | float) -> Tensor:
    """Replace the maps of absent classes (``present`` False) by ``value`` (per sample)."""
    if bool(present.all()):
        return maps
    if not isinstance(value, Tensor):
        value = torch.full((present.shape[0],), float(value))
    tail = [1] * (maps.ndim - 2)
    v = value.to(device=maps.device, dtype=maps.dtype).view(-1, 1, *tail)
    return torch.where(present.view(*present.shape, *tail), maps, v)


def signed_distance(
    target: TensorLike,
    spacing: SpacingLike = None,
    *,
    num_classes: int | None = None,
    classes: Sequence[int] | None = None,
    convention: Literal["boundary", "livia"] = "boundary",
    empty: Empty = "zero",
    spatial_dims: int | None = None,
    backend: Backend = "auto",
    dtype: torch.dtype = torch.float32,
) -> Tensor:
    r"""Per-class signed distance maps (negative inside, positive outside).

    ``convention="boundary"`` (default; Hegazy & Vati's clean definition): the boundary set
    :math:`\partial M` of class mask :math:`M` holds the class elements with a face-neighbour
    outside the class (see :func:`boundary_set`), and

    .. math::
        \phi(x) = \begin{cases} -d(x, \partial M) & x \in M \\
                                 +d(x, \partial M) & x \notin M \end{cases}

    with :math:`d` the Euclidean distance in the units of ``spacing``, so :math:`\phi = 0` exactly on the
    boundary set under any spacing.  Computed with one exact EDT of :math:`\neg\partial M`
    per class (outside the class the nearest boundary element is the nearest class element).

    ``convention="livia"`` reproduces LIVIAETS/boundary-loss ``one_hot2dist`` in float:
    :math:`\phi = \mathrm{EDT}(\neg M)\,[\neg M] - (\mathrm{EDT}(M) - 1)\,[M]` with the
    ``-1`` in voxels (so the inner boundary is ``1 - min spacing``, not 0, under anisotropy),
    and an all-zero map for an empty class (their behaviour).

    Empty class (either convention): all 0 with ``empty="zero"`` (default; LIVIAETS: no
    boundary, no distance), or the image extent's diagonal :math:`\sqrt{\sum_i (n_i s_i)^2}`
    with ``empty="diagonal"`` (strictly positive, so a ``sum(p * phi)`` loss penalises false
    positives of the absent class; edgewise's default before #28).
    Full class: the outside of the image counts as outside the class (boundary convention:
    the border ring is the boundary set, values :math:`\le 0` inside; livia: ``EDT(M)`` is
    the distance to just beyond the border).  No nan or inf.

    Args:
        target: index map ``(B, 1, *spatial)`` with ``num_classes`` (``(B, *spatial)`` only
            with ``spatial_dims``), else one-hot ``(B, C, *spatial)`` of bool or 0/1 values.
        spacing: None, a float, a per-axis sequence (array axis order), or ``(B, ndim)``.
        num_classes: number of classes of an index map; None for a one-hot target.
        classes: channels to compute, in output order (default: all).
        convention: ``"boundary"`` or ``"livia"``.
        empty: map of a class absent from a sample: ``"zero"`` or ``"diagonal"``.
        spatial_dims: 2 or 3 (needed for a ``(B, *spatial)`` index map).
        backend: see :func:`edt`.
        dtype: output floating dtype.

    Returns:
        ``(B, len(classes), *spatial)`` tensor on the target's device.

    Example:
        >>> t = torch.zeros(1, 1, 1, 7, dtype=torch.long)
        >>> t[..., 2:5] = 1
        >>> signed_distance(t, num_classes=2, classes=[1])[0, 0, 0]
        tensor([ 2.,  1.,  0., -1.,  0.,  1.,  2.])
    """
    if convention not in ("boundary", "livia"):
        raise ValueError(f"expected convention 'boundary' or 'livia', got {convention!r}")
    check_empty(empty)
    check_float_dtype(dtype)
    p = prepare(target, spacing, num_classes, classes, spatial_dims, backend)
    if no_samples(p):
        return empty_maps(p, len(p.classes), dtype)
    if convention == "boundary" and p.backend in ("edt", "scipy") and _device(p).type == "cpu":
        return _signed_boundary_cpu(p, empty).to(dtype)
    sel = p.selected
    present = p.present()
    if convention == "boundary":
        d = _boundary_distance(p, present)
        # d - 2d inside, in place: exact, and the boundary stays +0.0 (0 + -0.0)
        phi = d.addcmul_(d, as_float(sel, d.dtype), value=-2.0)
    else:
        inside = _inside(p, sel, present)
        outside = _stack_edt(~sel, p.spacing, present, p.backend)
        phi = torch.where(sel, 1.0 - inside, outside)
    phi = _empty_fill(phi, present, empty_value(empty, p.spatial, p.spacing))
    return phi.to(dtype)


def unsigned_distance(
    target: TensorLike,
    spacing: SpacingLike = None,
    *,
    num_classes: int | None = None,
    classes: Sequence[int] | None = None,
    empty: Empty = "zero",
    spatial_dims: int | None = None,
    backend: Backend = "auto",
    dtype: torch.dtype = torch.float32,
) -> Tensor:
    r"""Distance to the class boundary on both sides.

    .. math:: u = \mathrm{EDT}(M) + \mathrm{EDT}(\neg M)

    As MONAI's ``HausdorffDTLoss`` builds its field (inside: distance to the nearest outside
    element; outside: distance to the nearest class element; never 0), plus spacing.  Empty
    class: 0 everywhere with ``empty="zero"`` (default, as MONAI), the image diagonal with
    ``empty="diagonal"``; full class: distance to just beyond the image border (MONAI: 0).
    Arguments as :func:`signed_distance`.

    With the ``edt`` backend each class takes one two-label transform (the class against the
    rest of the image) and a binary target's two classes one together.

    Example:
        >>> t = torch.zeros(1, 1, 1, 5, dtype=torch.long)
        >>> t[..., 1:3] = 1
        >>> unsigned_distance(t, num_classes=2, classes=[1])[0, 0, 0]
        tensor([1., 1., 1., 1., 2.])
    """
    check_empty(empty)
    check_float_dtype(dtype)
    p = prepare(target, spacing, num_classes, classes, spatial_dims, backend)
    sel = p.selected
    present = p.present()
    fill = empty_value(empty, p.spatial, p.spacing)
    # an earlier map of a shared-maps block (a boundary loss's) left every outside distance:
    # then only the inside map is new, cheaper than any transform of both sides
    if p.backend == "edt" and not all_cached("boundary", sel, p.spacing, p.backend, present):
        two_sided = _two_label_unsigned(p, sel, present)
        if two_sided is None:
            two_sided = _per_class_two_label(sel, present, p.spacing, fill)
        return two_sided.to(dtype)
    # outside the class, the distance to its boundary set is the distance to the class
    # absent classes' entries of _boundary_distance are uninitialised (any value, nan
    # included): the product keeps them only where _empty_fill replaces them below
    d = _inside(p, sel, present) + keep(_boundary_distance(p, present), ~sel)
    return _empty_fill(d, present, fill).to(dtype)


def inside_distance(
    target: TensorLike,
    spacing: SpacingLike = None,
    *,
    num_classes: int | None = None,
    classes: Sequence[int] | None = None,
    empty: Empty = "zero",
    spatial_dims: int | None = None,
    backend: Backend = "auto",
    dtype: torch.dtype = torch.float32,
) -> Tensor:
    r"""Distance inside the class only: :math:`\mathrm{EDT}(M)` (0 outside).

    Karimi & Salcudean's HD-DT variant as in LIVIAETS/SegWithDistMap.  Empty class: 0
    everywhere with ``empty="zero"`` (default, as SegWithDistMap's ``compute_dtm``), the image
    diagonal with ``empty="diagonal"``; full class: distance to just beyond the image border.
    Arguments as :func:`signed_distance`.

    Example:
        >>> t = torch.zeros(1, 1, 1, 5, dtype=torch.long)
        >>> t[..., 1:4] = 1
        >>> inside_distance(t, num_classes=2, classes=[1])[0, 0, 0]
        tensor([0., 1., 2., 1., 0.])
    """
    check_empty(empty)
    check_float_dtype(dtype)
    p = prepare(target, spacing, num_classes, classes, spatial_dims, backend)
    if no_samples(p):
        return empty_maps(p, len(p.classes), dtype)
    sel = p.selected
    present = p.present()
    d = _inside(p, sel, present)
    return _empty_fill(d, present, empty_value(empty, p.spatial, p.spacing)).to(dtype)

