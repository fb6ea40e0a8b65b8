r"""Topology metrics for thin structures: centreline Dice (clDice) and Betti number errors.

Skeletons are exact (:func:`edgewise.maps.skeleton`, scikit-image); connected components are
counted with :func:`scipy.ndimage.label`. Both run on the CPU per case and class; the
``(B, C)`` results go back to the input's device.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from scipy import ndimage
from torch import Tensor

from edgewise._core.tensors import as_mask

from ._validate import ONE_HOT_HINT, ArrayLike, EmptyPolicy, check_choice, check_pair, drop_background

__all__ = [
    "CenterlineCounts",
    "betti_error",
    "betti_numbers",
    "centerline_counts",
    "cldice",
    "topology_precision",
    "topology_sensitivity",
]


@dataclass
class CenterlineCounts:
    r"""Element counts behind clDice, each ``(B, C)`` int64.

    ``skel_pred_in_target`` = :math:`|S(P) \cap T|`, ``skel_pred`` = :math:`|S(P)|`,
    ``skel_target_in_pred`` = :math:`|S(T) \cap P|`, ``skel_target`` = :math:`|S(T)|`.
    """

    skel_pred_in_target: Tensor
    skel_pred: Tensor
    skel_target_in_pred: Tensor
    skel_target: Tensor

    def precision(self, empty: EmptyPolicy = "worst") -> Tensor:
        r"""Topology precision :math:`|S(P) \cap T| / |S(P)|`, ``(B, C)`` float32."""
        return _ratio(self.skel_pred_in_target, self.skel_pred, self.skel_target, empty)

    def sensitivity(self, empty: EmptyPolicy = "worst") -> Tensor:
        r"""Topology sensitivity :math:`|S(T) \cap P| / |S(T)|`, ``(B, C)`` float32."""
        return _ratio(self.skel_target_in_pred, self.skel_target, self.skel_pred, empty)

    def cldice(self, empty: EmptyPolicy = "worst") -> Tensor:
        """Harmonic mean of :meth:`precision` and :meth:`sensitivity`, ``(B, C)`` float32."""
        check_choice(empty, "empty", ("worst", "nan"))
        prec = self.precision("worst").double()
        sens = self.sensitivity("worst").double()
        total = prec + sens
        value = torch.where(total > 0, 2 * prec * sens / total.clamp_min(1e-300), 0.0)
        both_empty = (self.skel_pred == 0) & (self.skel_target == 0)
        value = torch.where(both_empty, 1.0 if empty == "worst" else float("nan"), value)
        return value.to(torch.float32)


def _ratio(num: Tensor, den: Tensor, other: Tensor, empty: EmptyPolicy) -> Tensor:
    check_choice(empty, "empty", ("worst", "nan"))
    value = num.double() / den.double().clamp_min(1)
    # both skeletons empty (both masks empty): 1, or nan; only this one empty: 0
    value = torch.where((den == 0) & (other == 0), 1.0 if empty == "worst" else float("nan"),
                        torch.where(den > 0, value, 0.0))
    return value.to(torch.float32)


def centerline_counts(
    pred: ArrayLike, target: ArrayLike, *, include_background: bool = True
) -> CenterlineCounts:
    """Skeletons of both masks and their overlaps, for :func:`cldice` and its two ratios.

    Args:
        pred: one-hot prediction ``(B, C, *spatial)`` (2D or 3D), bool or 0/1.
        target: one-hot target, same shape.
        include_background: keep channel 0 (default); False drops it.

    Example:
        >>> import torch
        >>> t = torch.zeros(1, 1, 5, 9, dtype=torch.bool); t[0, 0, 2, 1:8] = True
        >>> p = t.clone(); p[0, 0, 2, 4] = False                 # a break in the line
        >>> c = centerline_counts(p, t)
        >>> c.skel_pred.item(), c.skel_target_in_pred.item(), c.skel_target.item()
        (6, 6, 7)
    """
    from edgewise.maps import skeleton

    p, t = check_pair(pred, target)
    p, t = drop_background(p, t, include_background)
    device = p.device
    p, t = p.cpu(), t.cpu()
    sp = skeleton(p, dtype=torch.bool)
    st = skeleton(t, dtype=torch.bool)

    def count(x: Tensor) -> Tensor:
        return x.flatten(2).sum(-1).to(device)

    return CenterlineCounts(count(sp & t), count(sp), count(st & p), count(st))


def cldice(
    pred: ArrayLike,
    target: ArrayLike,
    *,
    include_background: bool = True,
    empty: EmptyPolicy = "worst",
) -> Tensor:
    r"""Centreline Dice (clDice, Shit et al. CVPR 2021) per case and class, on exact skeletons.

    .. math::
        T_{prec} = \frac{|S(P) \cap T|}{|S(P)|},\quad
        T_{sens} = \frac{|S(T) \cap P|}{|S(T)|},\quad
        \mathrm{clDice} = \frac{2\, T_{prec} T_{sens}}{T_{prec} + T_{sens}}

    :math:`S` is the exact binary skeleton (:func:`edgewise.maps.skeleton`). The authors'
    ``clDice(v_p, v_l)`` computes the same value (their code names the two ratios the other
    way round; the harmonic mean is symmetric). A broken vessel keeps a high Dice but loses
    topology sensitivity; a spurious branch loses topology precision.

    Args:
        pred: one-hot prediction ``(B, C, *spatial)`` (2D or 3D), bool or 0/1.
        target: one-hot target, same shape.
        include_background: keep channel 0 (default); False drops it.
        empty: ``"worst"`` (default): 1 when both masks are empty, 0 when one is; ``"nan"``:
            nan when both are empty.

    Returns:
        ``(B, C)`` float32 on the input's device.

    Example:
        >>> import torch
        >>> t = torch.zeros(1, 1, 5, 9, dtype=torch.bool); t[0, 0, 2, 1:8] = True
        >>> p = t.clone(); p[0, 0, 2, 4] = False                 # a break: Tprec 1, Tsens 6/7
        >>> cldice(p, t)
        tensor([[0.9231]])
    """
    return centerline_counts(pred, target, include_background=include_background).cldice(empty)


def topology_precision(
    pred: ArrayLike, target: ArrayLike, *, include_background: bool = True, empty: EmptyPolicy = "worst"
) -> Tensor:
    r"""Topology precision :math:`|S(P) \cap T| / |S(P)|` per case and class (see :func:`cldice`)."""
    return centerline_counts(pred, target, include_background=include_background).precision(empty)


def topology_sensitivity(
    pred: ArrayLike, target: ArrayLike, *, include_background: bool = True, empty: EmptyPolicy = "worst"
) -> Tensor:
    r"""Topology sensitivity :math:`|S(T) \cap P| / |S(T)|` per case and class (see :func:`cldice`)."""
    return centerline_counts(pred, target, include_background=include_background).sensitivity(empty)


def _structure(ndim: int, connectivity: int | None) -> tuple[np.ndarray, int]:
    conn = ndim if connectivity is None else connectivity
    if isinstance(conn, bool) or not isinstance(conn, int) or not 1 <= conn <= ndim:
        raise ValueError(f"expected connectivity None or an integer in [1, {ndim}], got {connectivity!r}")
    return ndimage.generate_binary_structure(ndim, conn), conn


def _betti(mask: np.ndarray, fg: np.ndarray, bg: np.ndarray | None) -> tuple[int, int]:
    b0 = int(ndimage.label(mask, fg)[1]) if mask.any() else 0
    if bg is None:
        return b0, 0
    # holes: background components with the dual connectivity, the outside (padded frame)
    # being one of them
    outside = ~np.pad(mask, 1)
    return b0, int(ndimage.label(outside, bg)[1]) - 1


def betti_numbers(
    masks: ArrayLike, *, connectivity: int | None = None
) -> Tensor:
    r"""Betti numbers of binary masks: :math:`b_0` (components) and, in 2D, :math:`b_1` (holes).

    Components are connected through ``connectivity`` (scipy's
    ``generate_binary_structure(ndim, connectivity)``: 1 = faces only (4 in 2D, 6 in 3D),
    ``ndim`` = full (8 in 2D, 26 in 3D), the default). Holes are the background components
    not connected to the outside of the image, counted with the dual connectivity (4 for
    8-connected foreground, 8 for 4-connected), so :math:`b_0 - b_1` is the Euler number.

    Args:
        masks: ``(B, C, H, W)`` or ``(B, C, D, H, W)``, bool or 0/1.
        connectivity: foreground connectivity; None for full.

    Returns:
        ``(B, C, 2)`` int64 ``[b0, b1]`` on the input's device (``b1 = 0`` in 3D, where holes
        are not counted).

    Example:
        >>> import torch
        >>> ring = torch.ones(1, 1, 5, 5, dtype=torch.bool); ring[0, 0, 2, 2] = False
        >>> betti_numbers(ring)[0, 0].tolist()
        [1, 1]
    """
    m = as_mask(masks, "masks", hint=ONE_HOT_HINT)
    if m.dim() not in (4, 5):
        raise ValueError(f"expected masks of shape (B, C, H, W) or (B, C, D, H, W), got {tuple(m.shape)}")
    ndim = m.dim() - 2
    fg, conn = _structure(ndim, connectivity)
    bg = None
    if ndim == 2:
        bg = ndimage.generate_binary_structure(2, 2 if conn == 1 else 1)
    arr = m.cpu().numpy()
    out = np.zeros((*arr.shape[:2], 2), dtype=np.int64)
    for b in range(arr.shape[0]):
        for c in range(arr.shape[1]):
            out[b, c] = _betti(arr[b, c], fg, bg)
    return torch.from_numpy(out).to(m.device)


def betti_error(
    pred: ArrayLike,
    target: ArrayLike,
    *,
    dim: int = 0,
    connectivity: int | None = None,
    include_background: bool = True,
    empty: EmptyPolicy = "worst",
) -> Tensor:
    r"""Betti number error :math:`|b_k(P) - b_k(T)|` per case and class.

    ``dim=0`` counts connected components (2D and 3D), ``dim=1`` holes (2D only); see
    :func:`betti_numbers` for ``connectivity`` (full by default: 8 in 2D, 26 in 3D).
    A vessel tree broken in two gives a :math:`b_0` error of 1 whatever the gap's size.

    Args:
        pred: one-hot prediction ``(B, C, *spatial)``, bool or 0/1.
        target: one-hot target, same shape.
        dim: 0 (components) or 1 (holes, 2D).
        connectivity: foreground connectivity, None for full.
        include_background: keep channel 0 (default); False drops it.
        empty: ``"worst"`` (default): both masks empty give 0 (no error); ``"nan"``: nan.

    Returns:
        ``(B, C)`` float32 on the input's device.

    Example:
        >>> import torch
        >>> t = torch.zeros(1, 1, 5, 9, dtype=torch.bool); t[0, 0, 2, 1:8] = True
        >>> p = t.clone(); p[0, 0, 2, 4] = False                 # one line becomes two
        >>> betti_error(p, t)
        tensor([[1.]])
    """
    check_choice(dim, "dim", (0, 1))
    check_choice(empty, "empty", ("worst", "nan"))
    p, t = check_pair(pred, target)
    p, t = drop_background(p, t, include_background)
    if dim == 1 and p.dim() != 4:
        raise ValueError(f"Betti 1 (holes) is computed for 2D masks (B, C, H, W), got shape {tuple(p.shape)}")
    bp = betti_numbers(p, connectivity=connectivity)[..., dim]
    bt = betti_numbers(t, connectivity=connectivity)[..., dim]
    value = (bp - bt).abs().to(torch.float32)
    if empty == "nan":
        both_empty = ~(p.flatten(2).any(-1) | t.flatten(2).any(-1))
        value = torch.where(both_empty, float("nan"), value)
    return value
