"""The value types of the schema (constrained numbers, names, options handed to another
component) and :class:`_Section`, the base of every section: unknown keys are refused.

A number also accepts a numeric string: PyYAML (YAML 1.1) reads ``1e-3`` as one.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any, Literal, get_args

from annotated_types import Ge, Gt, Le, Lt, MinLen
from pydantic import AfterValidator, AllowInfNan, BaseModel, BeforeValidator, ConfigDict, Strict

from edgewise.metrics.registry import EXTRA_METRICS as _EXTRA_METRICS
from edgewise.metrics.registry import MetricName


def _yaml_number(value: Any) -> Any:
    # PyYAML (YAML 1.1) reads 1e-3 (no dot) as a string: accept numeric strings for numbers.
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return value
    return value


def _distinct(values: list[Any]) -> list[Any]:
    if len(set(values)) != len(values):
        raise ValueError(f"expected distinct values, got {values!r}")
    return values


def _empty_if_null(value: dict[str, Any] | None) -> dict[str, Any]:
    return {} if value is None else value


PosInt = Annotated[int, Strict(), Ge(1)]
NonNegInt = Annotated[int, Strict(), Ge(0)]
#: metrics written on request (``evaluation.metrics``), the registry's extra metrics:
#: topology ones skeletonise or label every case on the CPU; the pixel ones count inside the
#: evaluation mask; ``auc`` keeps the predicted probabilities.
if TYPE_CHECKING:  # a Literal built at run time is no type to mypy: any metric name
    ExtraMetric = MetricName
else:
    ExtraMetric = Literal[_EXTRA_METRICS]
EXTRA_METRICS: tuple[str, ...] = get_args(ExtraMetric)
Number = Annotated[float, Strict(), AllowInfNan(False), BeforeValidator(_yaml_number)]
NonNegNumber = Annotated[Number, Ge(0.0)]
Fraction = Annotated[Number, Ge(0.0), Le(1.0)]
#: a batch limit's fraction: 0 (what `limit_train_batches=0` became) trained nothing and
#: wrote no checkpoint, and `train` said it had finished
LimitFraction = Annotated[Number, Gt(0.0), Le(1.0)]
Beta = Annotated[Number, Ge(0.0), Lt(1.0)]
Name = Annotated[str, Strict(), MinLen(1)]
Bool = Annotated[bool, Strict()]
#: a mapping handed to another component; ``null`` reads as ``{}``
Options = Annotated[dict[str, Any] | None, AfterValidator(_empty_if_null)]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")
