"""``build_dataset``: one entry point for configs (``data: {name: drive, root: ...}``)."""

from __future__ import annotations

from typing import Any

from edgewise.data.augment import Augment
from edgewise.data.base import SegmentationDataset

__all__ = ["build_dataset", "DATASET_NAMES"]

DATASET_NAMES = ("synthetic", "drive", "acdc", "decathlon", "folder")


def build_dataset(name: str, split: str, **options: Any) -> SegmentationDataset:
    """Build a dataset by name.

    Args:
        name: ``"synthetic"``, ``"drive"``, ``"acdc"``, ``"decathlon"`` or ``"folder"``.
        split: ``"train"``, ``"val"``, ``"test"`` (and ``"all"`` for the readers).
        **options: keyword arguments of the dataset class (see ``docs/data.md``), plus:

            * ``augment``: ``True`` (default :class:`Augment`), a dict of
              :class:`Augment` arguments, or ``False``/``None``. Applied to the
              ``"train"`` split only, so validation and test stay deterministic.
            * ``n_val`` (synthetic only): number of samples for ``"val"``/``"test"``
              (default ``max(8, n // 4)``); ``n`` is the ``"train"`` count (default 64).

    Example:
        >>> ds = build_dataset("synthetic", "val", n=32, shape=(64, 64), seed=1)
        >>> len(ds), ds.num_classes, ds.in_channels, ds.spatial_dims
        (8, 2, 1, 2)
    """
    key = name.lower()
    if key not in DATASET_NAMES:
        raise ValueError(f"expected dataset name in {DATASET_NAMES}, got {name!r}")
    options = dict(options)
    augment = options.pop("augment", None)
    if augment and split == "train":
        if "transform" in options:
            raise ValueError("give either augment= or transform=, not both")
        options["transform"] = Augment(**augment) if isinstance(augment, dict) else Augment()
    elif augment not in (None, False, True) and not isinstance(augment, dict):
        raise ValueError(f"expected augment to be a bool or a dict of Augment options, got {augment!r}")
    for k in ("size", "shape", "patch_size"):
        if k in options and options[k] is not None:
            options[k] = tuple(int(s) for s in options[k])

    if key == "synthetic":
        from edgewise.data.synthetic import SyntheticDataset

        n = int(options.pop("n", 64))
        n_val = options.pop("n_val", None)
        if split != "train":
            n = int(n_val) if n_val is not None else max(8, n // 4)
        return SyntheticDataset(n=n, split=split, **options)
    if "root" not in options:
        raise ValueError(f"dataset {name!r} needs root= (the folder you downloaded)")
    if key == "drive":
        from edgewise.data.readers import DriveDataset

        return DriveDataset(split=split, **options)
    if key == "acdc":
        from edgewise.data.readers import ACDCDataset

        return ACDCDataset(split=split, **options)
    if key == "decathlon":
        from edgewise.data.readers import DecathlonDataset

        return DecathlonDataset(split=split, **options)
    from edgewise.data.readers import FolderDataset

    return FolderDataset(split=split, **options)
