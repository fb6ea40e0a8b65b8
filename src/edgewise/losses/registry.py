"""Build losses by name and compound losses from configuration mappings (YAML)."""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from typing import Any

from torch import nn

from ..maps.cache import MAP_UNITS
from ._base import LossBase
from .active_contour import ActiveContourLoss
from .boundary import BoundaryLoss
from .centerline import ClDiceLoss, DiceClDiceLoss, SkeletonRecallLoss
from .compound import CompoundLoss
from .hausdorff import HausdorffDTLoss, HausdorffERLoss
from .penalized import DistancePenalizedCELoss
from .perimeter import PerimeterLoss
from .region_wise import RegionWiseLoss
from .regional import CrossEntropyLoss, DiceLoss, FocalLoss, GeneralizedDiceLoss, TverskyLoss
from .schedules import Constant, Delayed, Gated, Gradual, Increase, Rebalance, RebalanceConvex, Schedule
from .sdf import SignedDistanceLoss

__all__ = ["LOSSES", "SCHEDULES", "build_loss", "loss_from_config"]

LOSSES: dict[str, type[LossBase]] = {
    "ce": CrossEntropyLoss,
    "dice": DiceLoss,
    "gdl": GeneralizedDiceLoss,
    "focal": FocalLoss,
    "tversky": TverskyLoss,
    "boundary": BoundaryLoss,
    "region_wise": RegionWiseLoss,
    "rrw": RegionWiseLoss,
    "penalized_ce": DistancePenalizedCELoss,
    "perimeter": PerimeterLoss,
    "hausdorff_dt": HausdorffDTLoss,
    "hausdorff_er": HausdorffERLoss,
    "sdf": SignedDistanceLoss,
    "active_contour": ActiveContourLoss,
    "cldice": ClDiceLoss,
    "dice_cldice": DiceClDiceLoss,
    "skeleton_recall": SkeletonRecallLoss,
}

# schedule name -> accepted keys (besides "name" and "delay", which every schedule takes)
SCHEDULES: dict[str, tuple[str, ...]] = {
    "constant": ("weights",),
    "increase": ("step",),
    "rebalance": ("step", "floor"),
    "rebalance_convex": ("step", "floor", "start"),
    "gradual": ("epochs", "floor"),
}


def _accepted(cls: type[LossBase]) -> list[str]:
    params = inspect.signature(cls.__init__).parameters
    return [n for n, p in params.items() if n != "self" and p.kind is not p.VAR_KEYWORD]


def build_loss(name: str, **kwargs: Any) -> nn.Module:
    """Instantiate a loss by its registry name.

    Names: ``ce``, ``dice``, ``gdl``, ``focal``, ``tversky``, ``boundary``, ``region_wise``
    (alias ``rrw``), ``penalized_ce``, ``perimeter``, ``hausdorff_dt``, ``hausdorff_er``,
    ``sdf``, ``active_contour``, ``cldice``, ``dice_cldice``, ``skeleton_recall``.

    Raises:
        ValueError: unknown name or keyword, listing the valid ones.

    Example:
        >>> build_loss("boundary", include_background=False)
        BoundaryLoss(include_background=False)
    """
    if name not in LOSSES:
        raise ValueError(f"unknown loss {name!r}; expected one of {sorted(LOSSES)}")
    cls = LOSSES[name]
    valid = _accepted(cls)
    unknown = sorted(set(kwargs) - set(valid))
    if unknown:
        raise ValueError(f"unknown argument(s) {unknown} for loss {name!r}; expected some of {valid}")
    return cls(**kwargs)


def _schedule(cfg: Mapping[str, Any], weights: list[float]) -> Schedule:
    if not isinstance(cfg, Mapping) or "name" not in cfg:
        raise ValueError(f"expected schedule as a mapping with a 'name' among {sorted(SCHEDULES)}, got {cfg!r}")
    name = cfg["name"]
    if name not in SCHEDULES:
        raise ValueError(f"unknown schedule {name!r}; expected one of {sorted(SCHEDULES)}")
    unknown = sorted(set(cfg) - {"name", "delay", "start_when_found", *SCHEDULES[name]})
    if unknown:
        raise ValueError(f"unknown key(s) {unknown} for schedule {name!r}; "
                         f"expected some of {[*SCHEDULES[name], 'delay', 'start_when_found']}")
    delay = cfg.get("delay", 0)
    if isinstance(delay, bool) or not isinstance(delay, int) or delay < 0:
        raise ValueError(f"expected schedule delay as a non-negative whole number of epochs, got {delay!r}")
    found = cfg.get("start_when_found")
    if found is not None and delay:
        raise ValueError("give a schedule either delay (epochs) or start_when_found (a validation Dice), not both")
    schedule = _undelayed(name, cfg, weights)
    if found is not None:
        if isinstance(found, bool) or not isinstance(found, (int, float)) or not 0 < found <= 1:
            raise ValueError(f"expected start_when_found as a validation Dice in (0, 1], got {found!r}")
        return Gated(schedule, float(found))
    return Delayed(schedule, delay) if delay else schedule


def _undelayed(name: str, cfg: Mapping[str, Any], weights: list[float]) -> Schedule:
    if name == "constant":
        return Constant(cfg.get("weights", weights))
    if name == "increase":
        if "step" not in cfg:
            raise ValueError("schedule 'increase' needs 'step' (a float or one value per term)")
        return Increase(weights, cfg["step"])
    if len(weights) != 2:
        raise ValueError(f"schedule {name!r} needs exactly 2 terms (regional first), got {len(weights)}")
    if name == "rebalance":
        return Rebalance(weights, step=float(cfg.get("step", 0.01)), floor=float(cfg.get("floor", 0.1)))
    if name == "rebalance_convex":
        return RebalanceConvex(step=float(cfg.get("step", 0.01)), floor=float(cfg.get("floor", 0.01)),
                               start=float(cfg.get("start", 1.0)), scales=weights)
    return Gradual(epochs=int(cfg.get("epochs", 100)), floor=float(cfg.get("floor", 0.01)), scales=weights)


def loss_from_config(cfg: Mapping[str, Any]) -> CompoundLoss:
    """Build a :class:`CompoundLoss` from a mapping (e.g. parsed YAML).

    Accepts the mapping under a top-level ``loss`` key or the inner mapping itself::

        loss:
          terms:
            - {name: gdl, weight: 1.0}
            - {name: boundary, weight: 0.01, args: {include_background: false}}
          schedule: {name: rebalance, step: 0.01}   # optional

    Term keys: ``name`` (a :func:`build_loss` name), ``weight`` (default 1.0), ``args``
    (constructor keywords). The term is logged under its name (``name_2``, ... for repeats).
    Optional ``map_units``: ``physical`` (default here: the ``spacing`` passed to the loss) or
    ``voxel`` (spacing 1, the papers' pixel maps), see :class:`CompoundLoss`; a training run's
    ``loss.map_units`` defaults to ``voxel``.
    Schedules: ``constant`` (default; ``weights`` or the terms' weights), ``increase``
    (``step``: float or list), ``rebalance`` (LIVIAETS ``StealWeight`` from the terms'
    weights; ``step`` 0.01, ``floor`` 0.1), ``rebalance_convex`` (``a*R + (1-a)*B``;
    ``step`` 0.01, ``floor`` 0.01, ``start`` 1.0), ``gradual`` (``epochs`` 100, ``floor``
    0.01). For ``rebalance_convex`` and ``gradual`` the terms' weights scale ``a`` and ``1 - a``.

    Raises:
        ValueError: unknown names or keys, listing the valid ones.
    """
    if not isinstance(cfg, Mapping):
        raise ValueError(f"expected a mapping, got {type(cfg).__name__}")
    if "loss" in cfg:
        extra = sorted(set(cfg) - {"loss"})
        if extra and "terms" not in cfg:
            cfg = cfg["loss"]
        elif not extra:
            cfg = cfg["loss"]
    if not isinstance(cfg, Mapping):
        raise ValueError(f"expected the loss config as a mapping, got {type(cfg).__name__}")
    unknown = sorted(set(cfg) - {"terms", "schedule", "map_units"})
    if unknown:
        raise ValueError(f"unknown key(s) {unknown} in loss config; expected 'terms' and optional "
                         "'schedule' and 'map_units'")
    terms_cfg = cfg.get("terms")
    if not isinstance(terms_cfg, (list, tuple)) or not terms_cfg:
        raise ValueError(f"expected 'terms' as a non-empty list of {{name, weight, args}}, got {terms_cfg!r}")
    terms: list[tuple[str, nn.Module]] = []
    weights: list[float] = []
    seen: dict[str, int] = {}
    for i, term in enumerate(terms_cfg):
        if not isinstance(term, Mapping) or "name" not in term:
            raise ValueError(f"expected term {i} as a mapping with 'name', 'weight', 'args', got {term!r}")
        bad = sorted(set(term) - {"name", "weight", "args"})
        if bad:
            raise ValueError(f"unknown key(s) {bad} in term {i}; expected 'name', 'weight', 'args'")
        args = term.get("args") or {}
        if not isinstance(args, Mapping):
            raise ValueError(f"expected 'args' of term {i} as a mapping, got {args!r}")
        name = str(term["name"])
        module = build_loss(name, **dict(args))
        seen[name] = seen.get(name, 0) + 1
        label = name if seen[name] == 1 else f"{name}_{seen[name]}"
        terms.append((label, module))
        weights.append(float(term.get("weight", 1.0)))
    schedule_cfg = cfg.get("schedule")
    schedule = Constant(weights) if schedule_cfg is None else _schedule(schedule_cfg, weights)
    map_units = cfg.get("map_units", "physical")
    if map_units not in MAP_UNITS:
        raise ValueError(f"expected map_units in {MAP_UNITS}, got {map_units!r}")
    return CompoundLoss(terms, schedule=schedule, map_units=map_units)
