"""Load a trained run and predict whole cases: :func:`load_run`, :func:`predict_cases`."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch

from edgewise.training.components import build_components, load_checkpoint
from edgewise.training.config import (
    load_config,
)

__all__ = ["load_run", "predict_cases"]

# ---------------------------------------------------------------------- evaluation
def load_run(
    run_dir: str | os.PathLike, checkpoint: str = "best", map_location: str = "cpu",
    *, data_root: str | os.PathLike | None = None,
) -> tuple[dict[str, Any], Any, dict[str, Any]]:
    """Resolved config, LightningModule with trained weights, and checkpoint metadata.

    With ``data_root`` the config's ``data.root`` is replaced by it (a folder of the same
    layout, e.g. an external test set); its classes must be those the run trained on.
    """
    run_dir = Path(run_dir)
    cfg_path = run_dir / "config.yaml"
    if not cfg_path.is_file():
        raise FileNotFoundError(f"not a run folder (no config.yaml): {run_dir}")
    cfg = load_config(cfg_path)
    ckpt_file = run_dir / "checkpoints" / f"{checkpoint}.ckpt"
    if not ckpt_file.is_file():
        raise FileNotFoundError(f"no checkpoint {ckpt_file}; did the run finish an epoch?")
    ckpt = load_checkpoint(ckpt_file, map_location)
    if data_root is not None:
        cfg["data"]["root"] = str(data_root)
    parts = build_components(cfg)
    module = parts["module"]
    if data_root is not None:
        trained = list(ckpt.get("hyper_parameters", {}).get("class_names") or [])
        if trained and trained != module.class_names:
            raise ValueError(f"the run trained on classes {trained}, the data in {data_root} "
                             f"have {module.class_names}")
        try:
            module.load_state_dict(ckpt["state_dict"])
        except RuntimeError as exc:
            raise ValueError(f"the checkpoint {ckpt_file} does not fit the data in {data_root} "
                             f"(other image channels or classes?): {exc}") from exc
    else:
        module.load_state_dict(ckpt["state_dict"])
    module.eval()
    meta = {"checkpoint": str(ckpt_file), "epoch": int(ckpt.get("epoch", -1)),
            "global_step": int(ckpt.get("global_step", -1))}
    return cfg, module, meta


def _eval_dataset(cfg: Mapping[str, Any], split: str) -> tuple[Any, Sequence[int] | None, int, str]:
    """``(dataset, sliding-window size or None, batch size, split name)`` for evaluating
    a run: a model trained on patches is applied to whole volumes by sliding windows of
    the patch size; cached distance maps (a training input) are not loaded."""
    from edgewise.training.datamodule import build_split
    from edgewise.training.whole_case import whole_case_options

    data_cfg = dict(cfg["data"])
    split_name = data_cfg["test_split"] if split == "test" else split
    options, roi = whole_case_options(data_cfg.get("options") or {})
    for k in ("map_cache", "map_kind", "map_options"):
        options.pop(k, None)
    data_cfg["options"] = options
    data_cfg["split_options"] = {
        role: {k: v for k, v in opts.items() if k not in ("map_cache", "map_kind", "map_options")}
        for role, opts in (data_cfg.get("split_options") or {}).items()
    }
    role = "test" if split == "test" else "val" if split == data_cfg["val_split"] else None
    dataset = build_split(data_cfg, split_name, role=role)
    batch = data_cfg.get("val_batch_size") or data_cfg["batch_size"]
    return dataset, roi, int(batch), split_name


@torch.no_grad()
def _predict_cases(module: Any, dataset: Any, batch_size: int, roi: Sequence[int] | None,
                   device: torch.device, n: int | None = None,
                   keep_probs: bool = False, mirror_axes: Sequence[int] = ()) -> list[dict[str, Any]]:
    """Predict the items of the first ``n`` cases (all with None); re-stack slices into
    volumes. One dict per case (CPU tensors); with ``keep_probs`` also the softmax
    probabilities ``"probs"``; ``mirror_axes`` as :func:`sliding_or_full`."""
    from torch.utils.data import DataLoader

    from edgewise.training.whole_case import restacked_case, sliding_or_full

    mode = getattr(dataset, "mode", "whole")
    loader = DataLoader(dataset, batch_size=1 if roi is not None else batch_size, shuffle=False)
    items: list[dict[str, Any]] = []
    seen: list[str] = []
    for batch in loader:
        # Items come in case order (slices of a case are consecutive): stop at case n + 1.
        keep = []
        for b, case_id in enumerate(batch["case"]):
            if case_id not in seen:
                if n is not None and len(seen) == n:
                    break
                seen.append(case_id)
            keep.append(b)
        if not keep:
            break
        logits = sliding_or_full(module, batch["image"][keep].to(device), roi, mirror_axes)
        pred = logits.argmax(1, keepdim=True).cpu()
        probs = torch.softmax(logits.float(), 1).cpu() if keep_probs else None
        for j, b in enumerate(keep):
            item = {"case": batch["case"][b], "pred": pred[j], "label": batch["label"][b],
                    "image": batch["image"][b], "spacing": batch["spacing"][b]}
            if probs is not None:
                item["probs"] = probs[j]
            if "mask" in batch:
                item["mask"] = batch["mask"][b]
            if "slice" in batch:
                item["slice"] = int(batch["slice"][b])
            items.append(item)
        if len(keep) < len(batch["case"]):
            break
    if mode != "slices":
        return items
    # Slices of 3D volumes: one 3D case each, on the original grid with its spacing.
    by_case: dict[str, list[dict[str, Any]]] = {}
    for it in items:
        by_case.setdefault(it["case"], []).append(it)
    cases = []
    for case_id, its in by_case.items():
        case = restacked_case(dataset, case_id, {it["slice"]: it["pred"] for it in its},
                              {it["slice"]: it["image"] for it in its})
        if keep_probs:
            case["probs"] = dataset.restack(case_id, {it["slice"]: it["probs"] for it in its},
                                            interpolation="linear")
        cases.append(case)
    return cases


def _predict_run(run_dir: str | os.PathLike, split: str, n: int | None, checkpoint: str,
                 device: str | None, data_root: str | os.PathLike | None = None,
                 keep_probs: bool = False, mirror_axes: Sequence[int] = ()
                 ) -> tuple[list[dict[str, Any]], Any, dict[str, Any], str]:
    """``(cases, dataset, checkpoint metadata, split name)`` of a run's predictions."""
    dev = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    cfg, module, meta = load_run(run_dir, checkpoint, map_location="cpu", data_root=data_root)
    module.to(dev)
    dataset, roi, batch, split_name = _eval_dataset(cfg, split)
    return (_predict_cases(module, dataset, batch, roi, dev, n, keep_probs, mirror_axes),
            dataset, meta, split_name)


def _predict_ensemble(run_dirs: Sequence[str | os.PathLike], split: str, checkpoint: str,
                      device: str | None, data_root: str | os.PathLike | None = None,
                      keep_probs: bool = False, mirror_axes: Sequence[int] = ()
                      ) -> tuple[list[dict[str, Any]], Any, list[dict[str, Any]], str]:
    """``(cases, dataset, checkpoint metadata per run, split name)`` of several runs' mean
    softmax: each run predicts with its own data pipeline (its normalisation and window), the
    probabilities are averaged case by case and ``"pred"`` is their argmax (for slice-trained
    runs, of the probabilities re-stacked linearly onto the volume grid). The runs must score
    the same cases, in the same order, with the same classes and grid."""
    cases: list[dict[str, Any]] = []
    dataset, split_name, members, names = None, "", [], []
    for run_dir in run_dirs:
        got, ds, meta, name = _predict_run(run_dir, split, None, checkpoint, device, data_root,
                                           keep_probs=True, mirror_axes=mirror_axes)
        members.append(meta)
        if dataset is None:
            cases, dataset, split_name, names = got, ds, name, list(ds.class_names)
            continue
        if list(ds.class_names) != names:
            raise ValueError(f"an ensemble needs runs with the same classes: {run_dirs[0]} has "
                             f"{names}, {run_dir} has {list(ds.class_names)}")
        ids, other = [c["case"] for c in cases], [c["case"] for c in got]
        if ids != other:
            raise ValueError(f"an ensemble needs runs that score the same cases: {run_dirs[0]} "
                             f"gives {len(ids)} cases ({', '.join(ids[:3])}, ...), {run_dir} "
                             f"gives {len(other)} ({', '.join(other[:3])}, ...)")
        for acc, case in zip(cases, got):
            if acc["probs"].shape != case["probs"].shape:
                raise ValueError(f"an ensemble needs runs that predict on the same grid: case "
                                 f"{case['case']} is {tuple(acc['probs'].shape)} in {run_dirs[0]}, "
                                 f"{tuple(case['probs'].shape)} in {run_dir}")
            acc["probs"] += case["probs"]
    for case in cases:
        probs = case["probs"].div_(len(run_dirs))
        case["pred"] = probs.argmax(0, keepdim=True)
        if not keep_probs:
            del case["probs"]
    return cases, dataset, members, split_name


def predict_cases(
    run_dir: str | os.PathLike,
    split: str = "test",
    n: int | None = None,
    checkpoint: str = "best",
    *,
    device: str | None = None,
) -> list[dict[str, Any]]:
    """Predictions of a trained run on a split, one dict per case, as :func:`evaluate` scores them.

    2D slices of 3D volumes are re-stacked onto the original volume grid (with the volume's
    spacing); a model trained on patches is applied to whole volumes by sliding windows.

    Args:
        run_dir: a folder written by :func:`train`.
        split: ``"test"`` (``data.test_split``) or a dataset split name.
        n: only the first ``n`` cases (in dataset order); None for all.
        checkpoint: ``"best"`` or ``"last"``.
        device: torch device for inference (default CUDA when available).

    Returns:
        ``[{"case": str, "pred": (1, *spatial) int64, "label": (1, *spatial) int64,
        "image": (C, *spatial) float32, "spacing": (ndim,) float32, "mask": (1, *spatial)
        bool (when the dataset has one)}, ...]`` on the CPU.
    """
    if n is not None and (isinstance(n, bool) or not isinstance(n, int) or n < 0):
        raise ValueError(f"expected n to be None or a non-negative integer, got {n!r}")
    if checkpoint not in ("best", "last"):
        raise ValueError(f"expected checkpoint 'best' or 'last', got {checkpoint!r}")
    if n == 0:
        return []
    return _predict_run(run_dir, split, n, checkpoint, device)[0]
