"""A weighted sum of named loss terms whose weights follow a per-epoch schedule."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from torch import Tensor, nn

from edgewise._core.spacing import SpacingLike
from edgewise._core.tensors import check_not_empty
from edgewise.maps import MapContext, shared_maps
from edgewise.maps.cache import MAP_UNITS, MapUnits

from ._utils import shared_inputs
from .schedules import Constant, Schedule, as_schedule

__all__ = ["CompoundLoss"]


class CompoundLoss(nn.Module):
    r"""``total = sum_k w_k(epoch) * term_k(input, target)``.

    Returns the total as a Tensor, so it drops into any training loop. After each call,
    :attr:`last_terms` holds every computed term (detached) for logging and :attr:`weights`
    the weights in use. Call :meth:`step` at the end of every epoch; set :attr:`epoch` to
    resume (schedules are pure functions of the epoch, so resuming is exact). The epoch is
    also saved in ``state_dict()``.

    A term whose current weight is exactly 0 is not computed (its distance maps cost time)
    and is absent from :attr:`last_terms` for that call. The terms of one call share one
    :func:`edgewise.maps.shared_maps` context: terms that build maps of the same target (e.g.
    boundary, distance-penalised CE, RRW, Hausdorff DT) compute each distance transform once.

    Args:
        terms: mapping ``name -> loss module`` or a sequence of ``(name, module)`` pairs.
            Each module is called as ``module(input, target, spacing=spacing)`` (plus
            ``dist_map=`` when given for that term) and must return a scalar.
        weights: constant weights (default 1 for each term) when ``schedule`` is None.
        schedule: a :class:`~edgewise.losses.schedules.Schedule` or any callable
            ``epoch -> weights``.
        epoch: the starting epoch.
        map_units: ``"physical"`` (default): each term gets the ``spacing`` passed to the call
            (distance maps in mm); ``"voxel"``: each term gets ``spacing=1.0`` whatever the
            call (or a ``MetaTensor``'s affine) says, so maps are in voxels as in the papers
            (Kervadec et al., LIVIAETS), whose weights (boundary 0.01) assume pixel maps. A
            training run sets it from ``loss.map_units`` (default ``voxel``).

    Example:
        >>> from edgewise.losses import DiceLoss, CrossEntropyLoss
        >>> from edgewise.losses.schedules import Gradual
        >>> loss = CompoundLoss({"ce": CrossEntropyLoss(), "dice": DiceLoss()}, schedule=Gradual(epochs=10))
        >>> logits, target = torch.zeros(2, 3, 8, 8), torch.randint(0, 3, (2, 1, 8, 8))
        >>> total = loss(logits, target)
        >>> sorted(loss.last_terms), loss.weights
        (['ce'], [1.0, 0.0])
        >>> loss.step(); loss.weights
        [0.9, 0.09999999999999998]
    """

    def __init__(
        self,
        terms: Mapping[str, nn.Module] | Sequence[tuple[str, nn.Module]],
        weights: Sequence[float] | None = None,
        schedule: Schedule | Callable[[int], Sequence[float]] | None = None,
        epoch: int = 0,
        map_units: MapUnits = "physical",
    ) -> None:
        super().__init__()
        if map_units not in MAP_UNITS:
            raise ValueError(f"expected map_units in {MAP_UNITS}, got {map_units!r}")
        self.map_units: MapUnits = map_units
        items = list(terms.items()) if isinstance(terms, Mapping) else list(terms)
        if not items:
            raise ValueError("expected at least one loss term, got none")
        names = [str(n) for n, _ in items]
        if len(set(names)) != len(names):
            raise ValueError(f"expected distinct term names, got {names}")
        for n, m in items:
            if not callable(m):
                raise TypeError(f"expected term {n!r} to be a callable loss, got {type(m).__name__}")
        if weights is not None and schedule is not None:
            raise ValueError("give either constant weights or a schedule, not both")
        self.names: list[str] = names
        self.terms = nn.ModuleDict({n: m for n, m in items if isinstance(m, nn.Module)})
        self._callables = {n: m for n, m in items}
        if schedule is None:
            schedule = Constant(weights if weights is not None else [1.0] * len(names))
        self.schedule: Schedule = as_schedule(schedule)
        expected = self.schedule.num_terms
        if expected is not None and expected != len(names):
            raise ValueError(
                f"expected a schedule for {len(names)} terms {names}, got one for {expected} terms"
            )
        self.epoch = epoch
        _ = self.weights  # refuse bad weights now, not at the first forward
        self.last_terms: dict[str, Tensor] = {}

    @property
    def epoch(self) -> int:
        return self._epoch

    @epoch.setter
    def epoch(self, value: int) -> None:
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ValueError(f"expected a non-negative integer epoch, got {value!r}")
        self._epoch = value

    @property
    def weights(self) -> list[float]:
        w = self.schedule(self._epoch)
        if len(w) != len(self.names):
            raise ValueError(
                f"schedule returned {len(w)} weights at epoch {self._epoch}, expected {len(self.names)}"
            )
        # a nan or inf weight turns every total into nan or inf, and training on silently
        if not all(math.isfinite(float(x)) for x in w):
            raise ValueError(
                f"expected finite term weights, got {list(w)} at epoch {self._epoch} for terms {self.names}"
            )
        # a negative one trains the network to make its term worse
        if any(float(x) < 0 for x in w):
            raise ValueError(
                f"expected term weights >= 0, got {list(w)} at epoch {self._epoch} for terms {self.names}"
            )
        return w

    def step(self) -> None:
        """Advance one epoch."""
        self._epoch += 1

    def forward(
        self,
        input: Tensor,
        target: Tensor,
        *,
        spacing: SpacingLike = None,
        dist_map: Mapping[str, Tensor] | None = None,
        return_terms: bool = False,
    ) -> Tensor | tuple[Tensor, dict[str, Tensor]]:
        """Weighted total; with ``return_terms=True`` also the (undetached) terms."""
        if isinstance(input, Tensor):
            # terms with weight 0 are skipped, so an empty batch is refused here, not by them
            check_not_empty(tuple(input.shape), "input", input.dim() - 2)
        if dist_map is not None:
            unknown = set(dist_map) - set(self.names)
            if unknown:
                raise ValueError(f"dist_map keys must be term names {self.names}, got {sorted(unknown)}")
        total: Tensor | None = None
        terms: dict[str, Tensor] = {}
        # terms that build maps of the same target share their distance transforms, and
        # terms with the same activation one softmax, one-hot and input check
        maps = MapContext()
        inputs: dict[tuple[Any, ...], Any] = {}
        if self.map_units not in MAP_UNITS:
            raise ValueError(f"expected map_units in {MAP_UNITS}, got {self.map_units!r}")
        if self.map_units == "voxel":
            # 1.0, not None: None would let a term read a MetaTensor's spacing
            spacing = 1.0
        for name, w in zip(self.names, self.weights):
            if w == 0.0:
                continue
            kwargs: dict[str, Any] = {"spacing": spacing}
            if dist_map is not None and name in dist_map:
                kwargs["dist_map"] = dist_map[name]
            with shared_maps(maps), shared_inputs(inputs):
                value = self._callables[name](input, target, **kwargs)
            if not isinstance(value, Tensor) or value.dim() != 0:
                shape = tuple(value.shape) if isinstance(value, Tensor) else type(value).__name__
                raise ValueError(
                    f"expected term {name!r} to return a scalar tensor (reduction 'mean' or 'sum'), got {shape}"
                )
            terms[name] = value
            total = w * value if total is None else total + w * value
        if total is None:
            total = input.new_zeros(()).float() + 0.0 * input.sum()
        self.last_terms = {k: v.detach() for k, v in terms.items()}
        if return_terms:
            return total, terms
        return total

    def get_extra_state(self) -> dict[str, int]:
        return {"epoch": self._epoch}

    def set_extra_state(self, state: dict[str, int]) -> None:
        self.epoch = int(state["epoch"])

    def extra_repr(self) -> str:
        units = "" if self.map_units == "physical" else f", map_units={self.map_units!r}"
        return f"epoch={self._epoch}, schedule={self.schedule!r}{units}"

