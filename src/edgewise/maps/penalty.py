"""Bounded weight maps: RRW maps (Valverde & Tohka) and distance penalties (Calivá et al.)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import Tensor

from edgewise._core.elementwise import any_spatial, as_float, keep
from edgewise._core.spacing import SpacingLike
from edgewise._core.tensors import TensorLike

from ._edt import Backend, edt_multilabel
from ._input import Prepared, prepare
from .context import active_context, all_cached
from .distance import _boundary_distance, _inside, empty_maps, no_samples

__all__ = ["rrw_map", "penalty_map"]


def rrw_map(
    target: TensorLike,
    spacing: SpacingLike = None,
    *,
    num_classes: int | None = None,
    classes: Sequence[int] | None = None,
    spatial_dims: int | None = None,
    backend: Backend = "auto",
) -> Tensor:
    r"""Rectified region-wise (RRW) maps of Valverde & Tohka.

    Per class :math:`c` with mask :math:`Y_c` and :math:`r = \mathrm{EDT}(Y_c)`:

    .. math::
        \mathrm{RRW}_c(x) = \begin{cases} -r(x) / \max r & x \in Y_c \\ +1 & x \notin Y_c
        \end{cases}

    so class elements lie in :math:`[-1, -\min r / \max r]` and every other element is +1:
    at every element the true class has the strictly lowest value and all values are
    bounded.  The paper uses no spacing (``spacing=None``); a spacing changes ``r``.  An
    empty class is +1 everywhere (Valverde & Tohka's convention: every non-class element is
    +1; the other maps' ``empty="zero"`` does not apply); a full class uses the distance to
    just beyond the image border for ``r``.

    Args:
        target, spacing, num_classes, classes, spatial_dims, backend: as
            :func:`edgewise.maps.signed_distance`.

    Returns:
        float32 ``(B, len(classes), *spatial)`` on the target's device.

    Reference:
        Valverde & Tohka, "Region-wise loss for biomedical image segmentation", Pattern
        Recognition 2023.

    Example:
        >>> t = torch.tensor([[[[0, 1, 1, 1, 0]]]])
        >>> rrw_map(t, num_classes=2, classes=[1])[0, 0, 0]
        tensor([ 1.0000, -0.5000, -1.0000, -0.5000,  1.0000])
    """
    p = prepare(target, spacing, num_classes, classes, spatial_dims, backend)
    if no_samples(p):
        return empty_maps(p, len(p.classes))
    sel = p.selected
    present = p.present()
    r = _inside(p, sel, present)
    top = r.flatten(2).amax(-1).clamp_min(torch.finfo(torch.float32).tiny)
    r = r.div_(top.view(*top.shape, *([1] * p.ndim)))
    # where(sel, -r, 1) without where: r > 0 in the class and exactly 0 outside it, so one
    # of (1 - sel) and r is 0 at every element and the difference is exact
    return as_float(~sel, r.dtype).sub_(r)


def _own_boundary(labels: Tensor) -> Tensor:
    """``boundary_set(onehot).any(1)`` of a partition, from its ``(B, *spatial)`` labels: the
    elements with an in-image face-neighbour of another label, and the border ring of a
    sample holding one label only (a full class).  No per-class masks."""
    out = torch.zeros(labels.shape, dtype=torch.bool, device=labels.device)
    for dim in range(1, labels.dim()):
        n = labels.shape[dim]
        if n > 1:
            step = labels.narrow(dim, 1, n - 1) != labels.narrow(dim, 0, n - 1)
            out.narrow(dim, 1, n - 1).logical_or_(step)
            out.narrow(dim, 0, n - 1).logical_or_(step)
    single = out.view(torch.uint8).flatten(1).amax(1) == 0
    if bool(single.any()):
        ring = torch.zeros(labels.shape[1:], dtype=torch.bool, device=labels.device)
        for dim in range(ring.dim()):
            ring.narrow(dim, 0, 1).fill_(True)
            ring.narrow(dim, ring.shape[dim] - 1, 1).fill_(True)
        out[single] = ring
    return out


def _boundary_depth(p: Prepared) -> Tensor:
    """For every element, its distance to the boundary set of its own class, ``(B, *spatial)``.

    Needs a partition.  With the ``edt`` backend one multi-label transform does all classes:
    relabel boundary elements (of any class) as 0 and the rest as ``label + 1``; an interior
    element of class k is then nearest to a 0 of its own boundary, because any element
    outside class k is at least as far as class k's boundary set.  Inside a
    :func:`~edgewise.maps.shared_maps` block that already holds the per-class boundary
    distances of every present class (a boundary or Hausdorff term computed them), those are
    read instead; otherwise the one multi-label transform is cheaper than computing the C
    per-class ones for later terms that may not need them.
    """
    onehot = p.onehot
    present = any_spatial(onehot)
    cached = all_cached("boundary", p.selected, p.spacing, p.backend, present)
    if p.backend == "edt" and not cached:
        labels = p.partition_labels()
        assert labels is not None, "_boundary_depth needs a partition (penalty_map checks it)"
        inner = ~_own_boundary(labels)
        if p.num_classes < 255:
            # label + 1 off the boundary, 0 on it, built in uint8 (the transform's input type)
            relabelled = (labels.to(torch.uint8) + 1).mul_(inner.view(torch.uint8))
        else:
            relabelled = torch.where(inner, labels + 1, 0)
        return edt_multilabel(relabelled, p.spacing)
    if cached and onehot.device.type == "cpu":
        return _stored_depth(p, present)
    d = _boundary_distance(p, present)
    if bool(present.all()):
        return keep(d, onehot).sum(1)
    # where, not a product: the maps of absent classes are left uninitialised
    return torch.where(onehot, d, 0.0).sum(1)


def _stored_depth(p: Prepared, present: Tensor) -> Tensor:
    """:func:`_boundary_depth` from the per-class boundary distances stored in the active
    :func:`~edgewise.maps.shared_maps` block (all present classes stored, CPU): each class's
    stored map copied onto its own elements of one ``(B, *spatial)`` buffer. The same values
    as ``where(onehot, d, 0).sum(1)`` over the ``(B, C, *spatial)`` batch of stored maps (a
    sum of the own class's value and zeros), without that batch, its copies and the two
    full-size passes (the route before #27); the same reuse count."""
    ctx = active_context()
    assert ctx is not None  # all_cached() was True
    keys = ctx.keys_for(p.selected, p.spacing, p.backend, "boundary")
    labels = p.partition_labels()
    assert labels is not None, "_boundary_depth needs a partition (penalty_map checks it)"
    lab = labels.numpy()
    depth = np.zeros(lab.shape, dtype=np.float32)
    stored = ctx.stored(keys, present)
    assert len(stored) == int(present.sum()), "all_cached() was True"
    for (b, c), m in stored.items():
        np.copyto(depth[b], m.numpy(), where=lab[b] == c)
    ctx.reused += len(stored)
    return torch.from_numpy(depth)


def penalty_map(
    target: TensorLike,
    spacing: SpacingLike = None,
    *,
    num_classes: int | None = None,
    spatial_dims: int | None = None,
    backend: Backend = "auto",
) -> Tensor:
    r"""Inverted, normalised inner distance map of Calivá et al. (loss weight ``1 + map``).

    Every element belongs to exactly one class k (background included).  With
    :math:`d_k(x)` the distance from :math:`x` to the boundary set of its own class k (see
    :func:`edgewise.maps.boundary_set`; 0 on it), normalised per sample and class:

    .. math::
        \Phi(x) = 1 - \frac{d_k(x)}{\max_{y \in M_k} d_k(y)}, \qquad k = \text{class of } x,

    and :math:`\Phi = 1` on a class with no interior (max 0).  Boundary elements get 1,
    the deepest interior element of each class 0, so ``(1 + Phi) * CE`` weighs boundaries
    twice as much as class centres, per class whatever its size.  A full class has the
    image border ring as its boundary; a class absent from the sample has no element to
    weigh, so no absent-class fill is involved.

    Args:
        target: index map with ``num_classes``, or a one-hot that is a partition (each element
            in exactly one class).
        spacing, num_classes, spatial_dims, backend: as :func:`edgewise.maps.signed_distance`.

    Returns:
        float32 ``(B, 1, *spatial)`` in ``[0, 1]`` on the target's device.

    Reference:
        Calivá et al., "Distance map loss penalty term for semantic segmentation", MIDL 2019.

    Example:
        >>> t = torch.tensor([[[[0, 1, 1, 1, 1, 1, 0]]]])
        >>> penalty_map(t, num_classes=2)[0, 0, 0]
        tensor([1.0000, 1.0000, 0.5000, 0.0000, 0.5000, 1.0000, 1.0000])
    """
    p = prepare(target, spacing, num_classes, None, spatial_dims, backend)
    if no_samples(p):
        return empty_maps(p, 1)
    if p.partition_labels() is None:
        raise ValueError(
            "penalty_map needs every element in exactly one class: got a one-hot target where "
            "some elements have zero or several classes"
        )
    labels = p.labels
    assert labels is not None  # partition_labels() above set it
    depth = _boundary_depth(p)
    # Phi = 1 - depth / (max depth of the element's own class), from the label map: one
    # per-class maximum and one gather instead of (B, C, *spatial) temporaries.  The same
    # operations per element as with per-class maps (a class with no interior has max 0,
    # 0 / tiny = 0, Phi = 1).
    b = depth.shape[0]
    flat_labels = labels.reshape(b, -1)
    top = torch.zeros(b, p.num_classes, dtype=depth.dtype, device=depth.device)
    top.scatter_reduce_(1, flat_labels, depth.reshape(b, -1), reduce="amax")
    own_top = top.clamp_min(torch.finfo(torch.float32).tiny).gather(1, flat_labels)
    phi = torch.sub(1.0, depth.reshape(b, -1) / own_top)
    return phi.view(b, 1, *p.spatial)
