"""Weight schedules for compound losses: pure functions ``epoch -> weights``.

Each schedule is a closed form of the epoch, so resuming at epoch ``e`` gives exactly the
weights an uninterrupted run had (no accumulated state, no accumulated rounding). Epoch 0
is the first epoch; :meth:`CompoundLoss.step` advances after each epoch, the way the
reference schedulers update the weights at the end of an epoch.

=====================  =================================================================
schedule               weights at epoch ``e``
=====================  =================================================================
``Constant(w)``        ``w``
``Increase(w, s)``     ``w + e * s`` (LIVIAETS ``AddWeightLoss``)
``Rebalance(w, s)``    ``[max(floor, a - e*s), b + e*s]`` (LIVIAETS ``StealWeight``, floor
                       0.1; the second weight keeps growing)
``RebalanceConvex``    ``[a, 1 - a]``, ``a = clip(start - e*s, floor, 1)`` (LIVIAETS Keras)
``Gradual``            ``[a, 1 - a]``, ``a = max((E - e)/E, floor)`` (Valverde & Tohka)
``FromCallable(f)``    ``f(e)``
``Delayed(s, d)``      the first term alone (its weight at epoch 0, the others 0) for the
                       first ``d`` epochs, then ``s(e - d)``
=====================  =================================================================
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import ClassVar

__all__ = [
    "Constant",
    "Delayed",
    "FromCallable",
    "Gated",
    "Gradual",
    "Increase",
    "Rebalance",
    "RebalanceConvex",
    "Schedule",
    "as_schedule",
]


def _epoch(epoch: int) -> int:
    if isinstance(epoch, bool) or not isinstance(epoch, int) or epoch < 0:
        raise ValueError(f"expected a non-negative integer epoch, got {epoch!r}")
    return epoch


def _two_scales(scales: Sequence[float]) -> tuple[float, float]:
    values = tuple(float(v) for v in scales)
    if len(values) != 2:
        raise ValueError(f"expected 2 scales (regional, boundary), got {len(values)}")
    return values


class Schedule:
    """Base class: ``schedule(epoch)`` returns one weight per term."""

    num_terms: ClassVar[int | None] = None

    def __call__(self, epoch: int) -> list[float]:  # pragma: no cover - abstract
        raise NotImplementedError


@dataclass(frozen=True)
class Constant(Schedule):
    """The same weights at every epoch."""

    weights: Sequence[float]

    def __post_init__(self) -> None:
        object.__setattr__(self, "weights", tuple(float(w) for w in self.weights))

    @property
    def num_terms(self) -> int:  # type: ignore[override]
        return len(self.weights)

    def __call__(self, epoch: int) -> list[float]:
        _epoch(epoch)
        return list(self.weights)


@dataclass(frozen=True)
class Increase(Schedule):
    """Add ``step`` (a float for every term, or one value per term) each epoch."""

    initial: Sequence[float]
    step: float | Sequence[float]

    def __post_init__(self) -> None:
        init = tuple(float(w) for w in self.initial)
        step = (float(self.step),) * len(init) if isinstance(self.step, (int, float)) else tuple(
            float(s) for s in self.step)
        if len(step) != len(init):
            raise ValueError(f"expected step with {len(init)} values (one per term), got {len(step)}")
        object.__setattr__(self, "initial", init)
        object.__setattr__(self, "step", step)

    @property
    def num_terms(self) -> int:  # type: ignore[override]
        return len(self.initial)

    def __call__(self, epoch: int) -> list[float]:
        e = _epoch(epoch)
        return [w + e * s for w, s in zip(self.initial, self.step)]  # type: ignore[arg-type]


@dataclass(frozen=True)
class Rebalance(Schedule):
    """LIVIAETS ``StealWeight``: ``[a, b] -> [max(floor, a - step), b + step]`` per epoch.

    Example:
        >>> steal = Rebalance(initial=(1.0, 0.01), step=0.01)
        >>> steal(0), steal(1), steal(120)
        ([1.0, 0.01], [0.99, 0.02], [0.1, 1.21])
    """

    initial: Sequence[float] = (1.0, 0.01)
    step: float = 0.01
    floor: float = 0.1
    num_terms: ClassVar[int] = 2

    def __post_init__(self) -> None:
        init = tuple(float(w) for w in self.initial)
        if len(init) != 2:
            raise ValueError(f"rebalance needs exactly 2 terms (regional, boundary), got {len(init)}")
        object.__setattr__(self, "initial", init)

    def __call__(self, epoch: int) -> list[float]:
        e = _epoch(epoch)
        a, b = self.initial
        # max(floor, .) applied once equals applying it every epoch: a - e*s only decreases.
        return [max(self.floor, a - e * self.step), b + e * self.step]


@dataclass(frozen=True)
class RebalanceConvex(Schedule):
    """``a * R + (1 - a) * B`` with ``a <- clip(a - step, floor, 1)`` per epoch, ``a`` from ``start``."""

    step: float = 0.01
    floor: float = 0.01
    start: float = 1.0
    scales: Sequence[float] = (1.0, 1.0)
    num_terms: ClassVar[int] = 2

    def __post_init__(self) -> None:
        object.__setattr__(self, "scales", _two_scales(self.scales))

    def __call__(self, epoch: int) -> list[float]:
        e = _epoch(epoch)
        a = min(max(self.start - e * self.step, self.floor), 1.0)
        return [self.scales[0] * a, self.scales[1] * (1 - a)]


@dataclass(frozen=True)
class Gradual(Schedule):
    """Valverde & Tohka: ``a = max((epochs - e) / epochs, floor)`` on the regional term, ``1 - a`` on the other."""

    epochs: int = 100
    floor: float = 0.01
    scales: Sequence[float] = (1.0, 1.0)
    num_terms: ClassVar[int] = 2

    def __post_init__(self) -> None:
        if self.epochs <= 0:
            raise ValueError(f"expected epochs > 0, got {self.epochs}")
        object.__setattr__(self, "scales", _two_scales(self.scales))

    def __call__(self, epoch: int) -> list[float]:
        e = _epoch(epoch)
        a = max((self.epochs - e) / self.epochs, self.floor)
        return [self.scales[0] * a, self.scales[1] * (1 - a)]


@dataclass(frozen=True)
class FromCallable(Schedule):
    """Any function of the epoch returning one weight per term."""

    fn: Callable[[int], Sequence[float]]

    def __call__(self, epoch: int) -> list[float]:
        return [float(w) for w in self.fn(_epoch(epoch))]


@dataclass(frozen=True)
class Delayed(Schedule):
    """Train with the first (regional) term alone for ``epochs`` epochs, then run ``schedule``
    from its epoch 0.

    Why: at initialisation a distance-map term pushes a class down on every pixel outside
    it (ACDC slices, boundary loss in mm: summed gradient +3.6 on the RV channel against
    GDL's +0.007, ``benchmarks/term_balance.py``), so a class can be driven out before the
    regional term has found it; in the ACDC runs of ``docs/results/acdc`` the RV never
    appeared with a boundary term on from the first step, even at weight 0.001, and did with
    a 3-epoch delay.

    Example:
        >>> d = Delayed(Rebalance(initial=(1.0, 0.01), step=0.01), epochs=2)
        >>> d(0), d(1), d(2), d(3)
        ([1.0, 0.0], [1.0, 0.0], [1.0, 0.01], [0.99, 0.02])
    """

    schedule: Schedule
    epochs: int

    def __post_init__(self) -> None:
        if isinstance(self.epochs, bool) or not isinstance(self.epochs, int) or self.epochs < 0:
            raise ValueError(f"expected a non-negative integer number of delay epochs, got {self.epochs!r}")

    @property
    def num_terms(self) -> int | None:  # type: ignore[override]
        return self.schedule.num_terms

    def __call__(self, epoch: int) -> list[float]:
        e = _epoch(epoch)
        if e >= self.epochs:
            return list(self.schedule(e - self.epochs))
        first = list(self.schedule(0))
        return [first[0]] + [0.0] * (len(first) - 1)


class Gated(Schedule):
    """Train with the first (regional) term alone until every class is found, then run
    ``schedule`` from its epoch 0.

    "Found" is decided by the training loop, not by the epoch: it calls :meth:`update` with
    each class's validation Dice after every validation, and the schedule starts at the epoch
    after the first validation where every foreground class reached ``threshold``. Why: a
    distance-map term switched on before the network has found a small class can push it out
    for good (ACDC's right ventricle, docs/results/acdc); a fixed ``delay`` guesses when the
    class is found, this waits for it.

    The start epoch is state (:attr:`start`): training checkpoints save it, so a resumed run
    goes on with the same weights.

    Example:
        >>> g = Gated(Rebalance(initial=(1.0, 0.01), step=0.01), threshold=0.5)
        >>> g(0), g(3)
        ([1.0, 0.0], [1.0, 0.0])
        >>> g.update(epoch=3, dice=[0.7, 0.4]); g.start is None
        True
        >>> g.update(epoch=4, dice=[0.7, 0.6]); g.start
        5
        >>> g(4), g(5), g(6)
        ([1.0, 0.0], [1.0, 0.01], [0.99, 0.02])
    """

    def __init__(self, schedule: Schedule, threshold: float, start: int | None = None) -> None:
        if isinstance(threshold, bool) or not isinstance(threshold, (int, float)) or not 0 < threshold <= 1:
            raise ValueError(f"expected a validation Dice threshold in (0, 1], got {threshold!r}")
        self.schedule = schedule
        self.threshold = float(threshold)
        self.start = start

    @property
    def num_terms(self) -> int | None:  # type: ignore[override]
        return self.schedule.num_terms

    def update(self, epoch: int, dice: Sequence[float]) -> None:
        """Record the validation Dice of every foreground class after epoch ``epoch``; the
        schedule starts at ``epoch + 1`` the first time all reach the threshold. A NaN (a
        class absent from every validation case) counts as not found."""
        e = _epoch(epoch)
        if self.start is None and len(dice) > 0 and all(float(d) >= self.threshold for d in dice):
            self.start = e + 1

    def __call__(self, epoch: int) -> list[float]:
        e = _epoch(epoch)
        if self.start is not None and e >= self.start:
            return list(self.schedule(e - self.start))
        first = list(self.schedule(0))
        return [first[0]] + [0.0] * (len(first) - 1)

    def __repr__(self) -> str:
        return f"Gated({self.schedule!r}, threshold={self.threshold}, start={self.start})"


def as_schedule(schedule: Schedule | Callable[[int], Sequence[float]] | Sequence[float]) -> Schedule:
    """Wrap a weight vector or a callable as a :class:`Schedule`."""
    if isinstance(schedule, Schedule):
        return schedule
    if callable(schedule):
        return FromCallable(schedule)
    return Constant(schedule)
