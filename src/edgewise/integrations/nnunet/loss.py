"""Loss plumbing for the nnU-Net trainers; plain PyTorch, no nnU-Net import.

nnU-Net calls its loss as ``loss(output, target)``: with deep supervision ``output`` is a
list of logits ``(B, C, *spatial_i)`` from full resolution downwards and ``target`` the
matching list of index maps ``(B, 1, *spatial_i)`` (floats holding integers). It knows
nothing about spacing or epochs. :class:`DeepSupervisionLoss` supplies both: it computes
each scale's spacing from the configuration's spacing and the ratio of the shapes, and
forwards ``epoch`` to an :class:`~edgewise.losses.CompoundLoss` whose schedule sets the
term weights. Distance maps are computed inside the edgewise terms, on the logits' device.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from torch import Tensor, nn

from ...losses import CompoundLoss
from ...losses.schedules import Schedule

__all__ = ["DeepSupervisionLoss", "NoSpacing", "RampUp"]


@dataclass(frozen=True)
class RampUp(Schedule):
    """``[regional, w(e)]`` with ``w`` rising linearly from 0 to ``max_weight`` in ``epochs``.

    .. math::
        w(e) = w_{max} \\min(1, e / E)

    The regional term (nnU-Net's Dice + CE) keeps ``regional`` throughout, so the boundary
    term refines a segmentation that the regional term has already made plausible (boundary
    losses alone collapse to an empty foreground, LIVIAETS/boundary-loss issues #15, #57).
    ``epochs=0`` gives ``max_weight`` from the first epoch.

    Example:
        >>> RampUp(max_weight=0.5, epochs=10)(4)
        [1.0, 0.2]
    """

    max_weight: float = 0.1
    epochs: int = 100
    regional: float = 1.0
    num_terms: ClassVar[int] = 2

    def __post_init__(self) -> None:
        if isinstance(self.epochs, bool) or not isinstance(self.epochs, int) or self.epochs < 0:
            raise ValueError(f"expected epochs a non-negative int, got {self.epochs!r}")
        if not self.max_weight >= 0:
            raise ValueError(f"expected max_weight >= 0, got {self.max_weight!r}")

    def __call__(self, epoch: int) -> list[float]:
        if isinstance(epoch, bool) or not isinstance(epoch, int) or epoch < 0:
            raise ValueError(f"expected a non-negative integer epoch, got {epoch!r}")
        frac = 1.0 if self.epochs == 0 else min(1.0, epoch / self.epochs)
        return [float(self.regional), float(self.max_weight) * frac]


class NoSpacing(nn.Module):
    """Adapt a ``loss(input, target)`` (nnU-Net's ``DC_and_CE_loss``) to edgewise's call.

    :class:`~edgewise.losses.CompoundLoss` calls every term as
    ``term(input, target, spacing=...)``; regional losses have no use for the spacing.
    """

    def __init__(self, loss: Callable[[Tensor, Tensor], Tensor]) -> None:
        super().__init__()
        self.loss = loss

    def forward(self, input: Tensor, target: Tensor, *, spacing: Any = None) -> Tensor:
        return self.loss(input, target)


class DeepSupervisionLoss(nn.Module):
    """A :class:`~edgewise.losses.CompoundLoss` applied at every deep-supervision scale.

    .. math::
        L = \\sum_i \\omega_i \\, L_{compound}(y_i, t_i; s_i), \\qquad
        s_i = s \\odot \\mathrm{shape}(t_0) / \\mathrm{shape}(t_i)

    Args:
        compound: the per-scale loss; its ``epoch`` is what :attr:`epoch` sets.
        weights: one weight per scale (nnU-Net's halving weights, last one 0); scales with
            weight 0 are not computed. ``None`` when the network has no deep supervision.
        spacing: spacing of the full-resolution patch, array axis order (nnU-Net's
            ``configuration_manager.spacing``); ``None`` for voxel units. Longer sequences
            are cut to their last ``ndim`` entries (a 2D configuration of a 3D dataset).

    Shapes:
        - output: ``(B, C, *spatial)`` or a list of them, full resolution first.
        - target: ``(B, 1, *spatial)`` index maps, or a list matching ``output``.

    Example:
        >>> from edgewise.losses import BoundaryLoss, CrossEntropyLoss
        >>> import torch
        >>> loss = DeepSupervisionLoss(
        ...     CompoundLoss({"ce": CrossEntropyLoss(), "boundary": BoundaryLoss()}, schedule=RampUp(0.1, 10)),
        ...     weights=[4 / 7, 2 / 7, 1 / 7], spacing=(0.5, 0.5))
        >>> out = [torch.randn(2, 2, 16, 16), torch.randn(2, 2, 8, 8), torch.randn(2, 2, 4, 4)]
        >>> tgt = [torch.randint(0, 2, (2, 1, s, s)).float() for s in (16, 8, 4)]
        >>> loss.epoch = 5
        >>> loss(out, tgt).dim(), loss.compound.weights
        (0, [1.0, 0.05])
    """

    def __init__(
        self,
        compound: CompoundLoss,
        weights: Sequence[float] | None = None,
        spacing: Sequence[float] | None = None,
    ) -> None:
        super().__init__()
        if not isinstance(compound, CompoundLoss):
            raise TypeError(f"expected an edgewise CompoundLoss, got {type(compound).__name__}")
        self.compound = compound
        if weights is not None:
            weights = tuple(float(w) for w in weights)
            if not weights or not any(w != 0 for w in weights):
                raise ValueError(f"expected at least one non-zero scale weight, got {weights}")
        self.weights = weights
        self.spacing = None if spacing is None else tuple(float(s) for s in spacing)
        self.last_terms: dict[str, Tensor] = {}

    @property
    def epoch(self) -> int:
        return self.compound.epoch

    @epoch.setter
    def epoch(self, value: int) -> None:
        self.compound.epoch = value

    def _spacing(self, shape: Sequence[int], full: Sequence[int]) -> tuple[float, ...] | None:
        if self.spacing is None:
            return None
        nd = len(shape)
        if len(self.spacing) < nd:
            raise ValueError(
                f"expected spacing with at least {nd} entries for {nd}D patches, got {self.spacing}"
            )
        base = self.spacing[-nd:]
        return tuple(s * f / n for s, f, n in zip(base, full, shape))

    def forward(self, output: Tensor | Sequence[Tensor], target: Tensor | Sequence[Tensor]) -> Tensor:
        if isinstance(output, Tensor):
            if not isinstance(target, Tensor):
                raise TypeError("expected a single target tensor for a single output tensor")
            spatial = tuple(target.shape[2:])
            value = self.compound(output, target, spacing=self._spacing(spatial, spatial))
            self.last_terms = dict(self.compound.last_terms)
            return value
        if isinstance(target, Tensor) or len(output) != len(target):
            n_t = 1 if isinstance(target, Tensor) else len(target)
            raise ValueError(f"expected one target per output scale ({len(output)}), got {n_t}")
        weights = self.weights if self.weights is not None else (1.0,) * len(output)
        if len(weights) < len(output):
            raise ValueError(f"expected {len(output)} scale weights, got {len(weights)}")
        full = tuple(target[0].shape[2:])
        total: Tensor | None = None
        for w, out, tgt in zip(weights, output, target):
            if w == 0:
                continue
            value = w * self.compound(out, tgt, spacing=self._spacing(tuple(tgt.shape[2:]), full))
            if total is None:
                # Full-resolution terms are the ones worth logging.
                self.last_terms = dict(self.compound.last_terms)
                total = value
            else:
                total = total + value
        if total is None:
            raise ValueError(f"all scale weights used for {len(output)} outputs are 0: {weights}")
        return total
