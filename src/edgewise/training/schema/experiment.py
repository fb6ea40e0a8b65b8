"""Bench experiment files: :class:`Experiment` (datasets x losses x seeds over a shared
``base`` run config), its compared losses and views, and the labels that become folder names.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Annotated, Any

from annotated_types import MinLen
from pydantic import AfterValidator, BeforeValidator, ConfigDict, Field, model_validator

from edgewise.metrics.registry import METRIC_SPECS
from edgewise.training.schema.run_config import DataConfig, LossConfig, RunConfig
from edgewise.training.schema.values import Name, _distinct, _Section

_LABEL = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.+-]*$")


def validate_label(label: str, kind: str = "label") -> str:
    """Return ``label`` if it is safe as a folder name, else raise ``ValueError``."""
    if not isinstance(label, str) or not _LABEL.match(label):
        raise ValueError(
            f"expected a {kind} label of letters, digits, '_', '.', '+', '-' (not starting with "
            f"a symbol), got {label!r}"
        )
    return label


def _label_check(kind: str) -> AfterValidator:
    return AfterValidator(lambda label: validate_label(label, kind))


# labels that become folder names (spelled out so a type checker reads them as types)
DatasetLabel = Annotated[str, _label_check("dataset")]
LossLabel = Annotated[str, _label_check("loss")]
ViewLabel = Annotated[str, _label_check("view")]


def _seeds(value: Any) -> Any:
    # These messages predate the schema and are what users (and tests) read.
    if not isinstance(value, Sequence) or isinstance(value, str) or not value:
        raise ValueError(f"expected 'seeds' to be a non-empty list of integers, got {value!r}")
    if any(isinstance(s, bool) or not isinstance(s, int) for s in value):
        raise ValueError(f"expected 'seeds' to be integers, got {list(value)!r}")
    if any(s < 0 for s in value):  # a run's seed is >= 0: every cell failed on its own
        raise ValueError(f"expected 'seeds' to be integers >= 0, got {list(value)!r}")
    if len(set(value)) != len(value):
        raise ValueError(f"expected distinct seeds, got {list(value)!r}")
    return list(value)


class ExperimentLoss(LossConfig):
    """One compared loss of an experiment: a ``loss`` section plus per-loss overrides."""

    overrides: dict[str, Any] | None = Field(
        None, description="other run config keys for this loss's runs only, merged last"
    )


class ExperimentView(_Section):
    """One paper's comparison inside a larger grid: a subset of its losses and their baseline."""

    losses: Annotated[list[str], MinLen(2), AfterValidator(_distinct)] = Field(
        description="loss labels of the grid shown in this view"
    )
    baseline: str | None = Field(None, description="loss the view tests the others against (default: its first)")
    description: str | None = Field(None, description="one line for the report")

    @model_validator(mode="after")
    def _baseline_in_view(self) -> ExperimentView:
        if self.baseline is not None and self.baseline not in self.losses:
            raise ValueError(f"expected the view's baseline among its losses {self.losses}, got {self.baseline!r}")
        return self


class BaselineLevel(_Section):
    """The level the baseline's recipe documents, which a report checks before comparing."""

    metric: str = Field("dice", description="metric of the level (a column of the cells' results)")
    at_least: float | None = Field(None, description="the baseline's mean must reach this (higher-is-better metrics)")
    at_most: float | None = Field(None, description="the baseline's mean must not exceed this (lower-is-better metrics)")
    split: str = Field("test", description="the split the level was measured on; cells scored on another "
                                           "split (`evaluation.bench_split`) are not checked against it")
    source: str = Field(description="where the level is documented (a config, a docs page and its number)")

    @model_validator(mode="after")
    def _one_bound(self) -> BaselineLevel:
        if (self.at_least is None) == (self.at_most is None):
            raise ValueError(f"expected exactly one of 'at_least' and 'at_most', got "
                             f"at_least={self.at_least!r}, at_most={self.at_most!r}")
        spec = METRIC_SPECS.get(self.metric)
        if spec is None:
            raise ValueError(f"expected a metric among {sorted(METRIC_SPECS)}, got {self.metric!r}")
        wanted = "at_least" if spec.higher_is_better else "at_most"
        if getattr(self, wanted) is None:
            other = "at_most" if wanted == "at_least" else "at_least"
            raise ValueError(f"expected '{wanted}' for {self.metric} ({'higher' if spec.higher_is_better else 'lower'} "
                             f"is better), got '{other}'")
        return self


class Experiment(_Section):
    """A bench experiment: datasets x losses x seeds over a shared ``base`` run config."""

    model_config = ConfigDict(extra="forbid", title="edgewise bench experiment")

    name: Name | None = Field(None, description="experiment name (default: the file's stem)")
    description: str | None = Field(None, description="one line for the report")
    baseline: str | None = Field(None, description="loss label the report tests the others against")
    base: RunConfig = Field(
        default_factory=RunConfig, description="run config keys shared by every run of the grid"
    )
    datasets: Annotated[dict[DatasetLabel, DataConfig], MinLen(1)] = Field(
        description="label -> data config, merged into each run's `data`"
    )
    losses: Annotated[dict[LossLabel, ExperimentLoss], MinLen(1)] = Field(
        description="label -> loss config (the run's `loss`, plus optional `overrides`)"
    )
    seeds: Annotated[list[int], BeforeValidator(_seeds)] = Field(
        default_factory=lambda: [0], description="distinct seeds, one run per seed"
    )
    variants: dict[str, dict[str, Any] | None] | None = Field(
        None, description="named overrides deep-merged over the file (`--variant`); null deletes a key"
    )
    views: dict[ViewLabel, ExperimentView] | None = Field(
        None,
        description="named subsets of the losses, each one paper's table: "
        "`edgewise report BENCH_DIR --view NAME`",
    )
    baseline_level: dict[DatasetLabel, BaselineLevel] | None = Field(
        None,
        description="dataset label -> the level the baseline's recipe documents: a report whose baseline "
        "misses it shows the values but no comparison (a baseline that did not train well is not a baseline)",
    )
    variant: str | None = Field(None, description="set by `--variant`, not written in files")

    @model_validator(mode="after")
    def _baseline_is_a_loss(self) -> Experiment:
        if self.baseline is not None and self.baseline not in self.losses:
            raise ValueError(
                f"expected 'baseline' among the losses {sorted(self.losses)}, got {self.baseline!r}"
            )
        unknown_ds = sorted(set(self.baseline_level or {}) - set(self.datasets))
        if unknown_ds:
            raise ValueError(f"expected 'baseline_level' keys among the datasets {sorted(self.datasets)}, "
                             f"got {unknown_ds}")
        for name, view in (self.views or {}).items():
            unknown = [loss for loss in view.losses if loss not in self.losses]
            if unknown:
                raise ValueError(
                    f"view {name!r}: expected losses of the grid {sorted(self.losses)}, got {unknown}"
                )
        return self


#: keys an experiment file may hold (``variant`` is set by ``--variant``)
EXPERIMENT_FILE_KEYS = frozenset(Experiment.model_fields) - {"variant"}
