"""LightningDataModule over :func:`edgewise.data.build_dataset`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import lightning.pytorch as pl
import torch
from torch.utils.data import DataLoader, Dataset, DistributedSampler, RandomSampler

if TYPE_CHECKING:
    from edgewise.data.base import SegmentationDataset

__all__ = ["CaseShardSampler", "EpochRandomSampler", "SegmentationDataModule", "build_split"]

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

    def __iter__(self):
        g = torch.Generator()
        g.manual_seed(self.seed * 100_003 + self.epoch)
        yield from torch.randperm(len(self.data_source), generator=g).tolist()


class CaseShardSampler(DistributedSampler):
    """Validation under DDP for ``mode="slices"``: each process gets whole cases (cases
    ``rank``, ``rank + world``, ...), each case's slices in order, so every volume is
    re-stacked and scored by one process. Shares may differ by a case; nothing is repeated.
    Lightning keeps a ``DistributedSampler`` it is given instead of replacing it."""

    def __init__(self, dataset: Any, num_replicas: int | None = None, rank: int | None = None) -> None:
        super().__init__(dataset, num_replicas=num_replicas, rank=rank, shuffle=False)
        self.indices = [i for ci, case_id in enumerate(dataset.case_ids)
                        if ci % self.num_replicas == self.rank
                        for i in dataset.indices_of_case(case_id)]

    def __iter__(self):
        return iter(self.indices)

    def __len__(self) -> int:
        return len(self.indices)


def build_split(data_cfg: Mapping[str, Any], split: str, *, role: str | None = None,
                whole_cases: bool = False) -> SegmentationDataset:
    """Dataset of one split from the ``data`` section of a run configuration.

    ``role`` (``"train"``, ``"val"`` or ``"test"``) selects extra options from
    ``data.split_options``. Augmentation is the dataset's ``augment`` option, applied to
    the training role only, whatever its split is called (``train_split: all`` is
    augmented; ``val_split: train``, or ``edgewise eval --split train``, is not). With
    ``whole_cases`` a patch split is read as whole volumes (see
    :func:`edgewise.training.whole_case.whole_case_options`).
    """
    from edgewise.data import build_dataset
    from edgewise.data.factory import make_augment
    from edgewise.training.whole_case import whole_case_options

    options = dict(data_cfg.get("options") or {})
    options.update((data_cfg.get("split_options") or {}).get(role or "", {}))
    if whole_cases:
        options = whole_case_options(options)[0]
    if data_cfg.get("root") is not None:
        options["root"] = data_cfg["root"]
    # build_dataset augments the split named "train"; a run augments what it trains on
    transform = make_augment(options.pop("augment", None))
    if role == "train" and transform is not None:
        if "transform" in options:
            raise ValueError("give either augment= or transform=, not both")
        options["transform"] = transform
    return build_dataset(data_cfg["name"], split, **options)


class SegmentationDataModule(pl.LightningDataModule):
    """Train/validation/test loaders for a run configuration.

    Validation measures what evaluation measures: a patch-trained configuration validates
    on whole volumes (one per batch; the module slides its window over them), and under
    DDP the slices of a volume stay on one process (:class:`CaseShardSampler`).

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
            self._datasets[which] = build_split(self.cfg, split, role=which,
                                                whole_cases=which == "val")
        return self._datasets[which]

    def _loader(self, which: str, shuffle: bool) -> DataLoader:
        ds = self.dataset(which)
        bs = self.cfg["batch_size"] if which == "train" else (
            self.cfg.get("val_batch_size") or self.cfg["batch_size"]
        )
        sampler: Any = EpochRandomSampler(ds, self.seed) if shuffle else None  # type: ignore[arg-type]
        if which == "val":
            if self.sliding_window() is not None:
                bs = 1  # whole volumes differ in size
            if getattr(ds, "mode", None) == "slices" and torch.distributed.is_available() \
                    and torch.distributed.is_initialized() and torch.distributed.get_world_size() > 1:
                sampler = CaseShardSampler(ds)
        workers = int(self.cfg.get("num_workers", 0))
        return DataLoader(
            ds,  # type: ignore[arg-type]
            batch_size=bs,
            sampler=sampler,
            num_workers=workers,
            persistent_workers=workers > 0,
            pin_memory=torch.cuda.is_available(),
        )

    def sliding_window(self) -> list[int] | None:
        """Window over whole validation volumes: the patch size of a patch-trained split."""
        from edgewise.training.whole_case import whole_case_options

        options = {**(self.cfg.get("options") or {}),
                   **(self.cfg.get("split_options") or {}).get("val", {})}
        return whole_case_options(options)[1]

    def train_dataloader(self) -> DataLoader:
        return self._loader("train", shuffle=True)

    def val_dataloader(self) -> DataLoader | list:
        return [] if self.cfg.get("val_split") is None else self._loader("val", shuffle=False)

    def test_dataloader(self) -> DataLoader:
        return self._loader("test", shuffle=False)
