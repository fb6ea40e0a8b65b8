"""LightningDataModule over :func:`edgewise.data.build_dataset`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import lightning.pytorch as pl
import torch
from torch.utils.data import DataLoader, Dataset, RandomSampler

__all__ = ["EpochRandomSampler", "SegmentationDataModule", "build_split"]

class EpochRandomSampler(RandomSampler):
    """Shuffles with a generator seeded by ``(seed, epoch)``: a resumed run sees the same
    order of samples as an uninterrupted one. Lightning calls :meth:`set_epoch`; under
    DDP it swaps this sampler for a ``DistributedSampler``, which is epoch-seeded too."""

    def __init__(self, data_source: Dataset, seed: int = 0) -> None:
        super().__init__(data_source)  # type: ignore[arg-type]
        self.seed = int(seed)
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __iter__(self):  # type: ignore[override]
        g = torch.Generator()
        g.manual_seed(self.seed * 100_003 + self.epoch)
        yield from torch.randperm(len(self.data_source), generator=g).tolist()  # type: ignore[arg-type]


def build_split(data_cfg: Mapping[str, Any], split: str, *, role: str | None = None) -> Dataset:
    """Dataset of one split from the ``data`` section of a run configuration.

    ``role`` (``"train"``, ``"val"`` or ``"test"``) selects extra options from
    ``data.split_options``. Augmentation is the dataset's ``augment`` option, which
    :func:`edgewise.data.build_dataset` applies to the ``"train"`` split only.
    """
    from edgewise.data import build_dataset

    options = dict(data_cfg.get("options") or {})
    options.update((data_cfg.get("split_options") or {}).get(role or "", {}))
    if data_cfg.get("root") is not None:
        options["root"] = data_cfg["root"]
    return build_dataset(data_cfg["name"], split, **options)


class SegmentationDataModule(pl.LightningDataModule):
    """Train/validation/test loaders for a run configuration.

    Args:
        data: the ``data`` section of a run configuration.
        seed: shuffling seed (see :class:`EpochRandomSampler`).
    """

    def __init__(self, data: Mapping[str, Any], seed: int = 0) -> None:
        super().__init__()
        self.cfg = dict(data)
        self.seed = int(seed)
        self._datasets: dict[str, Dataset] = {}

    def dataset(self, which: str) -> Dataset | None:
        """``"train"``, ``"val"`` or ``"test"`` dataset (built once, lazily)."""
        split = self.cfg[f"{which}_split"]
        if split is None:
            return None
        if which not in self._datasets:
            self._datasets[which] = build_split(self.cfg, split, role=which)
        return self._datasets[which]

    def _loader(self, which: str, shuffle: bool) -> DataLoader:
        ds = self.dataset(which)
        bs = self.cfg["batch_size"] if which == "train" else (
            self.cfg.get("val_batch_size") or self.cfg["batch_size"]
        )
        workers = int(self.cfg.get("num_workers", 0))
        return DataLoader(
            ds,  # type: ignore[arg-type]
            batch_size=bs,
            sampler=EpochRandomSampler(ds, self.seed) if shuffle else None,  # type: ignore[arg-type]
            num_workers=workers,
            persistent_workers=workers > 0,
            pin_memory=torch.cuda.is_available(),
        )

    def train_dataloader(self) -> DataLoader:
        return self._loader("train", shuffle=True)

    def val_dataloader(self) -> DataLoader | list:
        return [] if self.cfg.get("val_split") is None else self._loader("val", shuffle=False)

    def test_dataloader(self) -> DataLoader:
        return self._loader("test", shuffle=False)
