"""A reusable LightningModule for segmentation with edgewise losses and metrics."""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any, cast

import lightning.pytorch as pl
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torchmetrics import MeanMetric

from edgewise.losses.schedules import Gated
from edgewise.training.whole_case import SliceCollector, sliding_or_full

__all__ = ["SegmentationModule", "build_optimizer", "build_scheduler", "masked_onehot"]

log = logging.getLogger("edgewise")


def masked_onehot(
    index: Tensor, num_classes: int, mask: Tensor | None = None
) -> Tensor:
    """One-hot (B, C, *spatial) of an index map (B, 1, *spatial), background outside ``mask``.

    Restricting both prediction and ground truth to the evaluation region this way makes
    foreground Dice and surface distances count only what lies inside it (DRIVE's FOV).
    """
    idx = index[:, 0] if index.ndim >= 3 and index.shape[1] == 1 else index
    idx = idx.long()
    if mask is not None:
        m = mask[:, 0] if mask.shape[1] == 1 else mask
        idx = torch.where(m.bool(), idx, torch.zeros_like(idx))
    return F.one_hot(idx, num_classes).movedim(-1, 1).contiguous()


def build_optimizer(params: Any, cfg: Mapping[str, Any]) -> torch.optim.Optimizer:
    """Optimiser from the ``optimizer`` section of a run configuration."""
    name = cfg.get("name", "adam")
    lr = float(cfg.get("lr", 1e-3))
    wd = float(cfg.get("weight_decay", 0.0))
    if name in ("adam", "adamw"):
        cls = torch.optim.Adam if name == "adam" else torch.optim.AdamW
        return cls(
            params,
            lr=lr,
            weight_decay=wd,
            betas=tuple(cfg.get("betas", (0.9, 0.999))),
            eps=float(cfg.get("eps", 1e-8)),
            amsgrad=bool(cfg.get("amsgrad", False)),
        )
    if name == "sgd":
        return torch.optim.SGD(
            params,
            lr=lr,
            weight_decay=wd,
            momentum=float(cfg.get("momentum", 0.9)),
            nesterov=bool(cfg.get("nesterov", False)),
        )
    raise ValueError(f"optimizer.name: expected one of adam, adamw, sgd, got {name!r}")


def build_scheduler(
    optimizer: torch.optim.Optimizer, cfg: Mapping[str, Any], max_epochs: int
) -> torch.optim.lr_scheduler.LRScheduler | None:
    """Per-epoch LR schedule (linear warm-up, then cosine, poly or step decay)."""
    name = cfg.get("name", "none")
    if name == "none":
        return None
    warmup = int(cfg.get("warmup_epochs", 0))
    base_lrs = [g["lr"] for g in optimizer.param_groups]

    def factor(epoch: int, base_lr: float) -> float:
        if epoch < warmup:
            return (epoch + 1) / (warmup + 1)
        t = epoch - warmup
        span = max(1, max_epochs - warmup)
        if name == "cosine":
            floor = float(cfg.get("min_lr", 0.0)) / base_lr if base_lr > 0 else 0.0
            return floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * min(t, span) / span))
        if name == "poly":
            return max(0.0, 1 - min(t, span) / span) ** float(cfg.get("power", 0.9))
        if name == "step":
            return float(cfg.get("gamma", 0.1)) ** (t // int(cfg.get("step_size", 30)))
        raise ValueError(f"scheduler.name: expected none, cosine, poly or step, got {name!r}")

    def at(base_lr: float) -> Callable[[int], float]:
        return lambda e: factor(e, base_lr)

    lambdas = [at(b) for b in base_lrs]
    return torch.optim.lr_scheduler.LambdaLR(optimizer, lambdas)


class SegmentationModule(pl.LightningModule):
    """Train and validate any segmentation network with an edgewise loss.

    The network maps ``(B, C_in, *spatial)`` images to raw logits ``(B, num_classes,
    *spatial)``. The loss is called as ``loss(logits, label, spacing=spacing)`` with the
    index map ``label`` of shape ``(B, 1, *spatial)`` and per-sample ``spacing``
    ``(B, ndim)``; a :class:`edgewise.losses.CompoundLoss` has its weight schedule stepped
    at the end of every training epoch, its per-term values logged as ``train/<term>``
    and its weights as ``weight/<term>``. Any ``nn.Module`` with that call signature works.

    Batches are dicts with ``"image"``, ``"label"``, ``"spacing"`` and an optional
    ``"mask"`` (the evaluation region, e.g. DRIVE's field of view): validation Dice (and
    HD95 with ``compute_hd95=True``) is computed inside the mask and logged as
    ``val/dice`` (mean over cases of the foreground mean) and ``val/dice_<class>``.
    Validation scores whole cases as :func:`edgewise.training.evaluate` does: each item
    is a case, except the 2D items of a ``mode="slices"`` dataset (batches carry
    ``"slice"``), which are re-stacked into their volume on its original grid once all of
    its slices are seen (:class:`edgewise.training.whole_case.SliceCollector`); with
    ``sliding_window`` whole volumes are predicted by sliding windows of that size.

    With ``cached_maps=["boundary"]`` the batch's ``"dist_map"`` (the dataset's
    precomputed whole-volume maps, ``map_cache=`` of :func:`edgewise.data.build_dataset`)
    is handed to those terms of the :class:`~edgewise.losses.CompoundLoss` instead of
    letting them compute maps from each batch's labels:
    ``loss(logits, label, spacing=spacing, dist_map={"boundary": batch["dist_map"]})``.

    Subclass it to change the forward pass (deep supervision, sliding windows) or the
    batch layout; override :meth:`unpack_batch` for a different batch structure.

    Args:
        network: the segmentation network.
        loss: the training loss.
        num_classes: number of classes (channels of the logits), background included.
        optimizer: ``optimizer`` section of a run configuration (``name``, ``lr``, ...).
        scheduler: ``scheduler`` section (``name``: none, cosine, poly, step).
        class_names: names used in logged keys; defaults to ``class0``, ``class1``, ...
        compute_hd95: also log ``val/hd95`` (foreground mean over finite values).
        size_divisor: inputs are zero-padded up to a multiple of it and logits cropped
            back, so U-Nets accept any image size.
        cached_maps: names of loss terms that receive ``batch["dist_map"]`` as their
            ``dist_map=`` (the loss must be a ``CompoundLoss`` with those term names).
        sliding_window: window size for validation on whole volumes of a model trained
            on patches (its patch size); None: one forward pass per item.

    Example:
        >>> import torch
        >>> from torch import nn
        >>> net = nn.Conv2d(1, 2, 3, padding=1)
        >>> module = SegmentationModule(net, nn.Identity(), num_classes=2)
        >>> module(torch.zeros(1, 1, 20, 24)).shape
        torch.Size([1, 2, 20, 24])
    """

    def __init__(
        self,
        network: nn.Module,
        loss: nn.Module,
        *,
        num_classes: int,
        optimizer: Mapping[str, Any] | None = None,
        scheduler: Mapping[str, Any] | None = None,
        class_names: Sequence[str] | None = None,
        compute_hd95: bool = False,
        size_divisor: int = 1,
        cached_maps: Sequence[str] = (),
        sliding_window: Sequence[int] | None = None,
    ) -> None:
        super().__init__()
        if not isinstance(network, nn.Module):
            raise TypeError(f"expected network to be an nn.Module, got {type(network).__name__}")
        if not isinstance(num_classes, int) or num_classes < 2:
            raise ValueError(f"expected num_classes >= 2, got {num_classes!r}")
        if class_names is not None and len(class_names) != num_classes:
            raise ValueError(
                f"expected {num_classes} class names, got {len(class_names)}: {list(class_names)}"
            )
        cached_maps = [str(n) for n in cached_maps]
        term_names = getattr(loss, "names", None)
        if cached_maps and (term_names is None or set(cached_maps) - set(term_names)):
            raise ValueError(
                f"expected cached_maps among the loss's term names {term_names}, got {cached_maps}"
            )
        self.network = network
        self.loss = loss
        self.num_classes = num_classes
        self.optimizer_cfg = dict(optimizer or {"name": "adam", "lr": 1e-3})
        self.scheduler_cfg = dict(scheduler or {"name": "none"})
        self.class_names = [
            _safe_name(n) for n in (class_names or [f"class{i}" for i in range(num_classes)])
        ]
        self.compute_hd95 = compute_hd95
        self.size_divisor = int(size_divisor)
        self.cached_maps = cached_maps
        self.sliding_window = None if sliding_window is None else [int(s) for s in sliding_window]
        self.save_hyperparameters(ignore=["network", "loss"])
        self.val_dice = nn.ModuleList(
            [MeanMetric(nan_strategy="ignore") for _ in range(num_classes - 1)]
        )
        self.val_dice_mean = MeanMetric(nan_strategy="ignore")
        self.val_hd95 = MeanMetric(nan_strategy="ignore")
        self._val_slices = SliceCollector()

    # ----------------------------------------------------------------- forward
    def forward(self, image: Tensor) -> Tensor:
        spatial = image.shape[2:]
        d = self.size_divisor
        pad = [(-s) % d for s in spatial]
        if any(pad):
            # F.pad takes the last dimension first.
            widths: list[int] = []
            for p in reversed(pad):
                widths += [0, p]
            image = F.pad(image, widths)
        logits = self.network(image)
        if any(pad):
            crop = (..., *[slice(0, s) for s in spatial])
            logits = logits[crop]
        return logits

    def unpack_batch(
        self, batch: Mapping[str, Any]
    ) -> tuple[Tensor, Tensor, Tensor | None, Tensor | None]:
        """Return ``(image, label, spacing, mask)`` from a batch."""
        return batch["image"], batch["label"], batch.get("spacing"), batch.get("mask")

    def batch_dist_map(self, batch: Any) -> Tensor | None:
        """Cached ground-truth maps of a batch (``batch["dist_map"]``), if it carries any.

        Subclasses whose batches are not dictionaries (and override :meth:`unpack_batch`)
        get ``None`` unless they override this too.
        """
        return batch.get("dist_map") if isinstance(batch, Mapping) else None

    def compute_loss(
        self, logits: Tensor, label: Tensor, spacing: Tensor | None, dist_map: Tensor | None = None
    ) -> Tensor:
        kwargs: dict[str, Any] = {}
        if spacing is not None:
            kwargs["spacing"] = spacing
        if self.cached_maps:
            if dist_map is None:
                raise ValueError(
                    f"loss terms {self.cached_maps} take cached maps, but the batch has no "
                    "'dist_map': give the dataset a map_cache (data.options.map_cache)"
                )
            kwargs["dist_map"] = {name: dist_map for name in self.cached_maps}
        return self.loss(logits, label, **kwargs)

    # ---------------------------------------------------------------- training
    def on_train_epoch_start(self) -> None:
        # Keep the loss schedule on the trainer's epoch (resumed runs, manual restarts).
        loss: Any = self.loss  # a scheduled loss (CompoundLoss) has an epoch
        if hasattr(loss, "epoch") and loss.epoch != self.current_epoch:
            loss.epoch = self.current_epoch

    def training_step(self, batch: Mapping[str, Any], batch_idx: int) -> Tensor:
        image, label, spacing, _ = self.unpack_batch(batch)
        logits = self(image)
        loss = self.compute_loss(logits, label, spacing, self.batch_dist_map(batch))
        bs = image.shape[0]
        self.log("train/loss", loss, on_step=True, on_epoch=True, prog_bar=True, batch_size=bs,
                 sync_dist=True)
        terms = getattr(self.loss, "last_terms", None)
        if isinstance(terms, Mapping):
            for name, value in terms.items():
                self.log(f"train/{_safe_name(name)}", value, on_step=False, on_epoch=True,
                         batch_size=bs, sync_dist=True)
        return loss

    def on_train_epoch_end(self) -> None:
        weights = self.loss_weights()
        if weights:
            # Identical on every rank; sync_dist makes that explicit for Lightning under DDP.
            self.log_dict({f"weight/{k}": v for k, v in weights.items()}, on_epoch=True,
                          sync_dist=True)
        step = getattr(self.loss, "step", None)
        if callable(step):
            step()

    def loss_weights(self) -> dict[str, float]:
        """Current weights of the loss terms by term name (empty for a plain loss)."""
        weights = getattr(self.loss, "weights", None)
        if weights is None:
            return {}
        if isinstance(weights, Mapping):
            return {_safe_name(k): float(v) for k, v in weights.items()}
        names = getattr(self.loss, "names", None)
        if names is None:
            terms = getattr(self.loss, "last_terms", None)
            names = list(terms) if isinstance(terms, Mapping) else None
        values = [float(w) for w in (weights.tolist() if isinstance(weights, Tensor) else weights)]
        if names is None or len(names) != len(values):
            names = [f"term{i}" for i in range(len(values))]
        return {_safe_name(n): v for n, v in zip(names, values)}

    # -------------------------------------------------------------- validation
    def validation_step(self, batch: Mapping[str, Any], batch_idx: int) -> None:
        image, label, spacing, mask = self.unpack_batch(batch)
        logits = sliding_or_full(self, image, self.sliding_window)
        bs = image.shape[0]
        self.log("val/loss", self.compute_loss(logits, label, spacing, self.batch_dist_map(batch)),
                 on_epoch=True, batch_size=bs, sync_dist=True)
        pred = logits.argmax(1, keepdim=True)
        dataset = self._val_dataset()
        if isinstance(batch, Mapping) and "slice" in batch and hasattr(dataset, "restack"):
            for case in self._val_slices.add(dataset, batch, pred):
                self._score_val_volume(case)
        else:
            self._score_val_cases(pred, label, mask, spacing)

    def on_validation_epoch_end(self) -> None:
        dataset = self._val_dataset()
        if dataset is not None:
            for case in self._val_slices.flush(dataset):
                self._score_val_volume(case)
        # compute() reduces over processes, so DDP validation numbers cover every rank's
        # cases; the values are then equal on all ranks and sync_dist only tells Lightning so.
        metrics = {f"val/dice_{name}": cast(MeanMetric, m)
                   for name, m in zip(self.class_names[1:], self.val_dice)}
        metrics["val/dice"] = self.val_dice_mean
        if self.compute_hd95:
            metrics["val/hd95"] = self.val_hd95
        values = {key: metric.compute() for key, metric in metrics.items()}
        for key, metric in metrics.items():
            self.log(key, values[key], prog_bar=key == "val/dice", sync_dist=True)
            metric.reset()
        gate = getattr(self.loss, "schedule", None)
        if isinstance(gate, Gated) and not self.trainer.sanity_checking:
            started = gate.start
            gate.update(self.current_epoch, [float(values[f"val/dice_{n}"]) for n in self.class_names[1:]])
            if started is None and gate.start is not None:
                log.info("edgewise: every class reached validation Dice %.2f at epoch %d: the loss "
                         "schedule starts at epoch %d", gate.threshold, self.current_epoch, gate.start)

    def _val_dataset(self) -> Any:
        """The dataset of the (single) validation loader, if the trainer has one."""
        loaders = getattr(self._trainer, "val_dataloaders", None) if self._trainer else None
        return getattr(loaders, "dataset", None)

    def _score_val_volume(self, case: Mapping[str, Any]) -> None:
        mask = case.get("mask")
        self._score_val_cases(case["pred"][None], case["label"][None],
                              None if mask is None else mask[None], case["spacing"][None])

    def _score_val_cases(self, pred: Tensor, label: Tensor, mask: Tensor | None,
                         spacing: Tensor | None) -> None:
        """Add the Dice (and HD95) of cases ``(B, 1, *spatial)`` to the epoch's means."""
        from edgewise.metrics import dice, hausdorff_distance

        pred = pred.to(self.device)
        label = label.to(self.device)
        mask = None if mask is None else mask.to(self.device)
        pred_oh = masked_onehot(pred, self.num_classes, mask)
        true_oh = masked_onehot(label, self.num_classes, mask)
        d = dice(pred_oh, true_oh)[:, 1:].float()  # (B, C-1), foreground only
        for c, metric in enumerate(self.val_dice):
            cast(MeanMetric, metric).update(d[:, c])
        self.val_dice_mean.update(torch.nanmean(d, dim=1))
        if self.compute_hd95:
            sp = None if spacing is None else spacing.to(self.device)
            hd = hausdorff_distance(pred_oh, true_oh, spacing=sp, percentile=95)[:, 1:].float()
            hd = torch.where(torch.isfinite(hd), hd, torch.full_like(hd, float("nan")))
            self.val_hd95.update(torch.nanmean(hd, dim=1))

    # -------------------------------------------------------------- optimisers
    def configure_optimizers(self) -> Any:
        optimizer = build_optimizer(self.parameters(), self.optimizer_cfg)
        max_epochs = self.trainer.max_epochs if self._trainer is not None else None
        scheduler = build_scheduler(optimizer, self.scheduler_cfg, int(max_epochs or 1))
        if scheduler is None:
            return optimizer
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "epoch"}}

    # ------------------------------------------------------------- checkpoints
    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        state: dict[str, Any] = {}
        loss: Any = self.loss
        if hasattr(loss, "epoch"):
            state["epoch"] = int(loss.epoch)
        if self.loss_weights():
            state["weights"] = self.loss_weights()
        gate = getattr(loss, "schedule", None)
        if isinstance(gate, Gated):
            state["gate_start"] = gate.start
        checkpoint["edgewise_loss"] = state

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        state = checkpoint.get("edgewise_loss", {})
        if "epoch" in state and hasattr(self.loss, "epoch"):
            self.loss.epoch = state["epoch"]
        gate = getattr(self.loss, "schedule", None)
        if isinstance(gate, Gated) and "gate_start" in state:
            gate.start = state["gate_start"]


def _safe_name(name: Any) -> str:
    return "".join(ch if ch.isalnum() or ch in "_-" else "_" for ch in str(name))
