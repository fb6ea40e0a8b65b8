"""The run configuration: one model per section of a run config file (``data``, ``model``,
``loss``, ``optimizer``, ``scheduler``, ``trainer``, ``validation``, ``evaluation``) and
:class:`RunConfig`, the whole file (what ``edgewise train --config`` reads).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Annotated, Any, Literal

from annotated_types import MaxLen, MinLen
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    SerializerFunctionWrapHandler,
    Tag,
    model_serializer,
    model_validator,
)

from edgewise.metrics.registry import EXTRA_METRICS as _EXTRA_METRICS
from edgewise.metrics.registry import METRIC_SPECS, SWEEP_METRICS
from edgewise.training.schema.values import (
    Beta,
    Bool,
    ExtraMetric,
    LimitFraction,
    Name,
    NonNegInt,
    NonNegNumber,
    Options,
    PosInt,
    _distinct,
    _empty_if_null,
    _Section,
)


def _extra_of(*kinds: str) -> tuple[str, ...]:
    """The metrics of these kinds that ``evaluation.metrics`` accepts, in the registry's order."""
    return tuple(m for m in _EXTRA_METRICS if METRIC_SPECS[m].kind in kinds)


def _listed(names: Sequence[str], suffix: str = "") -> str:
    """``["a", "b"]`` -> ```a`, `b```, for a field's description."""
    return ", ".join(f"`{n}{suffix}`" for n in names)


class DataConfig(_Section):
    """The ``data`` section: which dataset, its splits and loaders."""

    name: Name = Field("synthetic", description="dataset: `synthetic`, `drive`, `acdc`, `decathlon`, `folder`")
    root: Name | None = Field(None, description="dataset folder (passed as `root=`)")
    options: Options = Field(
        default_factory=dict,
        description="keyword arguments of `edgewise.data.build_dataset` for every split: `size`, "
        "`mode` (`whole`/`slices`/`patches`), `patch_size`, `augment` (applied to `train_split` only), "
        "`val_fraction`, `channels`, `normalize`, `max_cases` (first N cases of each split: "
        "quick trials), ...",
    )
    split_options: Annotated[
        dict[Literal["train", "val", "test"], Options] | None, AfterValidator(_empty_if_null)
    ] = Field(
        default_factory=dict,
        description="extra options per role: `{train: {...}, val: {...}, test: {...}}`",
    )
    train_split: Name = Field("train", description="dataset split trained on")
    val_split: Name | None = Field("val", description="split validated on; null disables validation")
    test_split: Name = Field("test", description="split `edgewise eval` scores by default")
    val_is_test: Bool = Field(
        False,
        description="allow `val_split` equal to `test_split`: validation is then a learning "
        "curve on the test set, and nothing may be chosen on it (`evaluation.checkpoint` must "
        "be `last`). Without it such a config is refused: carve validation from training "
        "(`options.val_fraction`)",
    )
    batch_size: PosInt = Field(8, description="training batch size")
    val_batch_size: PosInt | None = Field(None, description="validation batch size (null: `batch_size`)")
    num_workers: NonNegInt = Field(0, description="DataLoader worker processes")


class ModelConfig(_Section):
    """The ``model`` section: network built by :func:`edgewise.models.build_model`."""

    name: Name = Field("unet", description="`edgewise.models.build_model(name, **args)`: `unet`, `enet`, `monai_unet`")
    args: Options = Field(
        default_factory=dict,
        description="keyword arguments of the network (`unet`: `base_channels`, `depth`, `norm`, ...)",
    )
    size_divisor: PosInt | None = Field(
        None,
        description="inputs zero-padded to a multiple (null: `2**depth` for U-Nets, 8 for ENet)",
    )


class LossTerm(_Section):
    """One term of the compound loss."""

    name: Name = Field(description="a loss of `edgewise.losses` (`ce`, `dice`, `gdl`, `boundary`, ...)")
    weight: NonNegNumber = Field(1.0, description="initial weight of the term (the schedule may change it)")
    args: Options = Field(default_factory=dict, description="keyword arguments of the loss")
    maps: Literal["on_the_fly", "cached"] = Field(
        "on_the_fly",
        description="distance maps from each batch's labels, or `cached`: the dataset's "
        "precomputed whole-volume maps (see \"Cached distance maps\")",
    )

    @model_serializer(mode="wrap")
    def _only_given(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        # A resolved config keeps a term as written: defaults belong to loss_from_config.
        return {k: v for k, v in handler(self).items() if k in self.model_fields_set}


class LossSchedule(BaseModel):
    """The weight schedule of the loss terms; its parameters depend on ``name``."""

    model_config = ConfigDict(extra="allow")
    name: Name = Field(
        description="`constant`, `increase`, `rebalance`, `rebalance_convex` or `gradual`; "
        "its other keys are the schedule's parameters, and every schedule takes `delay` "
        "(epochs with the first term alone before the schedule starts) or `start_when_found` "
        "(a validation Dice: the first term alone until every class's validation Dice reaches "
        "it, then the schedule)"
    )


class LossConfig(_Section):
    """The ``loss`` section, built by :func:`edgewise.losses.loss_from_config`."""

    terms: Annotated[list[LossTerm], MinLen(1)] = Field(
        description="the weighted terms, summed: `[{name, weight, args, maps}]`"
    )
    schedule: LossSchedule | None = Field(
        None,
        description="weight schedule `{name, ...}` stepped each epoch: `constant`, `increase`, "
        "`rebalance`, `rebalance_convex`, `gradual` (null: fixed weights)",
    )
    map_units: Literal["voxel", "physical"] = Field(
        default="voxel",
        description="units of the terms' distance maps: `voxel` (spacing 1, the papers' pixel "
        "maps, which their weights such as boundary 0.01 assume) or `physical` (the image "
        "spacing, e.g. mm: the only behaviour before #28). Anisotropic 3D data: `physical` "
        "(voxel maps count a step across thick slices as one voxel). Cached maps (`maps: cached`) are "
        "computed in these units (`data.options.map_options.units` must agree if given)",
    )


def _default_loss() -> LossConfig:
    return LossConfig(terms=[LossTerm(name="ce", weight=1.0)])


class _Optimizer(_Section):
    name: str  # first in the resolved config; each kind narrows it to its literal
    lr: NonNegNumber = Field(1e-3, description="learning rate")
    weight_decay: NonNegNumber = Field(0.0, description="weight decay")


class AdamConfig(_Optimizer):
    name: Literal["adam"] = "adam"
    betas: Annotated[list[Beta], MinLen(2), MaxLen(2)] = Field(
        default_factory=lambda: [0.9, 0.999], description="Adam's moment decay rates"
    )
    eps: NonNegNumber = Field(1e-8, description="Adam's denominator term")
    amsgrad: Bool = Field(False, description="the AMSGrad variant")


class AdamWConfig(AdamConfig):
    name: Literal["adamw"] = "adamw"  # type: ignore[assignment]


class SGDConfig(_Optimizer):
    name: Literal["sgd"] = "sgd"
    momentum: NonNegNumber = Field(0.9, description="SGD momentum")
    nesterov: Bool = Field(False, description="Nesterov momentum")


class _Scheduler(_Section):
    name: str  # first in the resolved config; each kind narrows it to its literal
    warmup_epochs: NonNegInt = Field(0, description="linear warm-up epochs before the schedule")


class NoScheduler(_Section):
    name: Literal["none"] = "none"


class CosineScheduler(_Scheduler):
    name: Literal["cosine"] = "cosine"
    min_lr: NonNegNumber = Field(0.0, description="learning rate at the last epoch")


class PolyScheduler(_Scheduler):
    name: Literal["poly"] = "poly"
    power: NonNegNumber = Field(0.9, description="`lr * (1 - epoch / max_epochs) ** power`")


class StepScheduler(_Scheduler):
    name: Literal["step"] = "step"
    step_size: PosInt = Field(30, description="epochs between decays")
    gamma: NonNegNumber = Field(0.1, description="factor of each decay")


def _by_name(default: str) -> Callable[[Any], str | None]:
    # ``name`` may be left out: the section then takes its default kind.
    def tag(value: Any) -> str | None:
        if isinstance(value, Mapping):
            name = value.get("name", default)
            return str(name)
        return getattr(value, "name", None)

    return tag


Optimizer = Annotated[
    Annotated[AdamConfig, Tag("adam")] | Annotated[AdamWConfig, Tag("adamw")] | Annotated[SGDConfig, Tag("sgd")],
    Discriminator(_by_name("adam")),
]
Scheduler = Annotated[
    Annotated[NoScheduler, Tag("none")]
    | Annotated[CosineScheduler, Tag("cosine")]
    | Annotated[PolyScheduler, Tag("poly")]
    | Annotated[StepScheduler, Tag("step")],
    Discriminator(_by_name("none")),
]


class TrainerConfig(_Section):
    """The ``trainer`` section: options of ``lightning.pytorch.Trainer``."""

    max_epochs: PosInt = Field(10, description="training epochs")
    accelerator: Name = Field("auto", description="Lightning accelerator (`auto`, `cpu`, `gpu`, ...)")
    devices: Literal[-1] | PosInt | Name | Annotated[list[NonNegInt], MinLen(1)] = Field(
        1, description="Lightning devices: a count, -1 (all), `auto` or a list of device indices"
    )
    num_nodes: PosInt = Field(1, description="Lightning num_nodes (multi-node DDP)")
    strategy: Name = Field("auto", description="Lightning strategy (`auto`, `ddp`, ...)")
    precision: Name | PosInt = Field("32-true", description="Lightning precision (`32-true`, `16-mixed`, `bf16-mixed`, ...)")
    deterministic: Bool | Literal["warn"] = Field(
        "warn", description="deterministic algorithms (`warn`: where available, warn otherwise)"
    )
    gradient_clip_val: NonNegNumber | None = Field(None, description="as in Lightning")
    accumulate_grad_batches: PosInt = Field(1, description="as in Lightning")
    log_every_n_steps: PosInt = Field(10, description="as in Lightning")
    check_val_every_n_epoch: PosInt = Field(1, description="as in Lightning")
    limit_train_batches: PosInt | LimitFraction | None = Field(
        None, description="as in Lightning: a batch count or a fraction (null: all)"
    )
    limit_val_batches: PosInt | LimitFraction | None = Field(
        None, description="as in Lightning: a batch count or a fraction (null: all)"
    )
    enable_progress_bar: Bool = Field(True, description="as in Lightning")
    num_threads: PosInt | Literal["auto"] | None = Field(
        "auto",
        description="torch CPU threads during training and evaluation: `auto` (the cores less "
        "the load of other jobs and the data workers, at least 1; `OMP_NUM_THREADS` kept where "
        "set), a number, or null (torch's default, one per core: much slower on a busy machine)",
    )


class ValidationConfig(_Section):
    """The ``validation`` section."""

    hd95: Bool = Field(False, description="also log `val/hd95` (a 3D surface-distance pass per case)")


class EvaluationConfig(_Section):
    """The ``evaluation`` section: what ``edgewise eval`` does by default."""

    checkpoint: Literal["best", "last"] = Field("best", description="`best` (by `val/dice`) or `last`")
    bench_split: Literal["test", "val"] = Field(
        "test",
        description="what `edgewise bench` scores each cell on: `test`, or `val` (`data.val_split`) "
        "for a grid that chooses weights or recipes on validation and must never score the test set",
    )
    tolerance: NonNegNumber = Field(
        1.0, description="NSD / boundary-F1 tolerance in mm (columns "
        f"{_listed(SWEEP_METRICS)})"
    )
    tolerances: Annotated[list[NonNegNumber], MinLen(1), AfterValidator(_distinct)] | None = Field(
        None,
        description="a sweep of distinct tolerances, e.g. `[1, 2, 3, 4]` (mm): extra columns "
        f"{_listed(SWEEP_METRICS, '@<t>')}",
    )
    overlays: NonNegInt = Field(4, description="PNG overlays written by `edgewise eval`")
    mirror_axes: Annotated[list[NonNegInt], AfterValidator(_distinct)] | None = Field(
        None,
        description="test-time mirroring (nnU-Net's): average the softmax over every "
        "combination of flips along these spatial axes (0 = first), e.g. `[0]` for a "
        "left-right axis; 2^k forward passes. Train with flips along the same axes",
    )
    metrics: Annotated[list[ExtraMetric], AfterValidator(_distinct)] | None = Field(
        None,
        description="metrics written on request beside the fixed ones: topology ("
        f"{_listed(_extra_of('centerline', 'betti'))}) and pixel counts in the evaluation mask "
        f"({_listed(_extra_of('pixel', 'ranking'))})",
    )


class RunConfig(_Section):
    """A training run: what ``edgewise train --config`` reads."""

    model_config = ConfigDict(extra="forbid", title="edgewise run configuration")

    name: Name = Field("run", description="run name; the run folder is `<output_root>/<name>` unless `--output`")
    seed: NonNegInt = Field(0, description="`seed_everything` (+ worker seeding) and the shuffling order")
    output_root: Name = Field("runs", description="folder of the run folders")
    data: DataConfig = Field(default_factory=DataConfig)
    model: ModelConfig = Field(default_factory=ModelConfig)
    loss: LossConfig = Field(default_factory=_default_loss)
    optimizer: Optimizer = Field(
        default_factory=AdamConfig,
        description="the optimiser; the keys below marked with kinds belong to those kinds only",
    )
    scheduler: Scheduler = Field(
        default_factory=NoScheduler,
        description="learning-rate schedule, stepped per epoch; the keys below marked with kinds "
        "belong to those kinds only",
    )
    trainer: TrainerConfig = Field(default_factory=TrainerConfig)
    validation: ValidationConfig = Field(default_factory=ValidationConfig)
    evaluation: EvaluationConfig = Field(default_factory=EvaluationConfig)

    @model_validator(mode="before")
    @classmethod
    def _null_section_is_default(cls, data: Any) -> Any:
        # ``trainer:`` with every key commented out reads as null in YAML: take the defaults.
        if isinstance(data, Mapping):
            return {k: v for k, v in data.items() if v is not None or k not in cls.model_fields}
        return data

    @model_validator(mode="after")
    def _validation_is_not_test(self) -> RunConfig:
        # Whatever validation picks (checkpoint, epoch, weight, recipe) must not see the test
        # set, or the test score is no longer an estimate of anything.
        data = self.data
        if data.val_split is None or data.val_split != data.test_split:
            return self
        if not data.val_is_test:
            raise ValueError(
                f"data.val_split and data.test_split are both {data.test_split!r}: validation "
                "would choose on the test set. Carve validation from the training images "
                "(data.val_split: val with data.options.val_fraction), or set "
                "data.val_is_test: true to keep validation as a test-set learning curve only"
            )
        if self.evaluation.checkpoint != "last":
            raise ValueError(
                "data.val_is_test is true, so validation may not choose the checkpoint: expected "
                f"evaluation.checkpoint: last, got {self.evaluation.checkpoint!r}"
            )
        return self
