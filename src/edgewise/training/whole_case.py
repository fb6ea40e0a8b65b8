"""Whole-case predictions, shared by validation and evaluation.

Both score the same thing: a model trained on patches is applied to whole volumes by
sliding windows of its patch size, and a model trained on 2D slices of 3D volumes is
scored on the slices re-stacked onto each volume's original grid, against the stored
label, with the volume's spacing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, cast

import numpy as np
import torch
from torch import Tensor

__all__ = ["SliceCollector", "restacked_case", "sliding_or_full", "whole_case_options"]

# Options that only make sense for random patches: dropped when a split is read whole.
_PATCH_OPTIONS = ("patch_size", "samples_per_volume", "foreground_oversample")


def whole_case_options(options: Mapping[str, Any]) -> tuple[dict[str, Any], list[int] | None]:
    """Dataset options that yield whole cases, and the sliding-window size to apply a model.

    ``mode: patches`` becomes ``mode: whole`` and the window is the training patch size;
    other options are returned unchanged with no window.

    Example:
        >>> whole_case_options({"mode": "patches", "patch_size": [8, 8], "normalize": "zscore"})
        ({'mode': 'whole', 'normalize': 'zscore'}, [8, 8])
    """
    options = dict(options)
    if options.get("mode") != "patches":
        return options, None
    roi = [int(s) for s in options["patch_size"]]
    options["mode"] = "whole"
    for key in _PATCH_OPTIONS:
        options.pop(key, None)
    return options, roi


def _windows(module: Any, image: Tensor, roi: Sequence[int] | None) -> Tensor:
    if roi is None:
        return module(image)
    from monai.inferers import sliding_window_inference

    # the network returns one tensor of logits, so the windows' result is one tensor
    return torch.cat([
        cast(Tensor, sliding_window_inference(img[None], tuple(roi), sw_batch_size=2, predictor=module,
                                              overlap=0.25, mode="gaussian", cval=float(img.min())))
        for img in image
    ])


def sliding_or_full(module: Any, image: Tensor, roi: Sequence[int] | None,
                    mirror_axes: Sequence[int] = ()) -> Tensor:
    """Logits of ``module`` on whole images: one forward pass, or MONAI sliding windows of
    size ``roi`` (a quarter overlap, Gaussian weighting) when given.

    An image smaller than the window is padded with its own minimum, as training pads its
    patches (:class:`edgewise.data.SegmentationDataset`): MONAI's default zero would be the
    mean intensity of a z-scored image, and a network with instance norm then sees other
    statistics than it was trained on.

    With ``mirror_axes`` (spatial axes, 0 = first) the image is also predicted flipped along
    every non-empty combination of them (nnU-Net's test-time mirroring, 2^k passes); the
    result is the log of the mean softmax, so its softmax is that mean and its argmax the
    averaged decision.
    """
    axes = [int(a) for a in mirror_axes]
    nd = image.dim() - 2
    if any(a < 0 or a >= nd for a in axes) or len(set(axes)) != len(axes):
        raise ValueError(f"expected mirror_axes as distinct spatial axes in 0..{nd - 1}, got {list(mirror_axes)}")
    if not axes:
        return _windows(module, image, roi)
    total = torch.softmax(_windows(module, image, roi).float(), 1)
    for k in range(1, 1 << len(axes)):
        dims = [2 + a for i, a in enumerate(axes) if k >> i & 1]
        total += torch.softmax(_windows(module, image.flip(dims), roi).float(), 1).flip(dims)
    return total.div_(1 << len(axes)).log_()


def restacked_case(dataset: Any, case_id: str, preds: Mapping[int, Tensor],
                   images: Mapping[int, Tensor] | None = None) -> dict[str, Any]:
    """One 3D case from per-slice predictions of a ``mode="slices"`` dataset.

    The predictions ``{slice index: (1, H, W)}`` are re-stacked onto the original volume
    grid (nearest neighbour) and paired with the stored label, mask and spacing, so the
    case is scored as it was annotated. ``images`` (same keys) are re-stacked linearly.

    Returns:
        ``{"case", "pred" (1, *raw) int64, "label" (1, *raw) int64, "spacing" (3,)
        float32}``, plus ``"image"`` with ``images`` and ``"mask"`` when the dataset has one.
    """
    raw = dataset.load_case(dataset.cases[dataset.case_ids.index(case_id)])
    case: dict[str, Any] = {
        "case": case_id, "pred": dataset.restack(case_id, preds).long(),
        "label": torch.as_tensor(np.asarray(raw.label), dtype=torch.int64)[None],
        "spacing": torch.as_tensor(raw.spacing, dtype=torch.float32),
    }
    if images is not None:
        case["image"] = dataset.restack(case_id, images, interpolation="linear").float()
    if raw.mask is not None:
        case["mask"] = torch.as_tensor(np.asarray(raw.mask), dtype=torch.bool)[None]
    return case


class SliceCollector:
    """Gathers per-slice predictions of a ``mode="slices"`` dataset into whole cases.

    :meth:`add` takes a batch's predictions and returns the cases it completed (every
    slice seen), re-stacked by :func:`restacked_case`. :meth:`flush` returns the cases
    left incomplete (a validation cut short by ``limit_val_batches``): their seen slices
    stacked in slice order at the item grid against the items' labels, with the
    preprocessed volume's spacing, since the original grid cannot be filled.
    """

    def __init__(self) -> None:
        self._slices: dict[str, dict[int, dict[str, Tensor]]] = {}

    def add(self, dataset: Any, batch: Mapping[str, Any], pred: Tensor) -> list[dict[str, Any]]:
        """Store ``pred`` ``(B, 1, H, W)`` of ``batch`` (with ``"case"`` and ``"slice"``)."""
        done = []
        for b, case_id in enumerate(batch["case"]):
            item = {"pred": pred[b].detach().cpu(), "label": batch["label"][b].detach().cpu()}
            if batch.get("mask") is not None:
                item["mask"] = batch["mask"][b].detach().cpu()
            seen = self._slices.setdefault(case_id, {})
            seen[int(batch["slice"][b])] = item
            n = dataset.raw_shape(dataset.case_ids.index(case_id))[dataset.slice_axis]
            if len(seen) == n:
                del self._slices[case_id]
                done.append(restacked_case(dataset, case_id, {s: it["pred"] for s, it in seen.items()}))
        return done

    def flush(self, dataset: Any) -> list[dict[str, Any]]:
        """The incomplete cases, scored on their seen slices; the collector is emptied."""
        cases = []
        for case_id, seen in self._slices.items():
            order = sorted(seen)
            ax = 1 + dataset.slice_axis
            case = {
                "case": case_id,
                "pred": torch.stack([seen[s]["pred"] for s in order], dim=ax).long(),
                "label": torch.stack([seen[s]["label"] for s in order], dim=ax).long(),
                "spacing": torch.as_tensor(
                    dataset.volume(dataset.case_ids.index(case_id)).spacing, dtype=torch.float32),
            }
            if "mask" in seen[order[0]]:
                case["mask"] = torch.stack([seen[s]["mask"] for s in order], dim=ax)
            cases.append(case)
        self._slices = {}
        return cases
