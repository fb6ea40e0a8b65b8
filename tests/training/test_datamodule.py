"""edgewise.training.datamodule: the samplers and the loaders a run trains and validates on
(building a split, augmentation by role, is tested in tests/data/test_data_hostile_inputs.py)."""

from edgewise.data import build_dataset
from edgewise.training.datamodule import CaseShardSampler, EpochRandomSampler, SegmentationDataModule


def test_epoch_random_sampler_orders_by_seed_and_epoch():
    data = list(range(10))
    sampler = EpochRandomSampler(data, seed=3)
    sampler.set_epoch(0)
    first = list(sampler)
    sampler.set_epoch(1)
    second = list(sampler)
    assert sorted(first) == sorted(second) == data  # every sample once per epoch
    assert first != second  # shuffled again each epoch
    assert list(sampler) == second  # the same epoch again: the same order
    resumed = EpochRandomSampler(data, seed=3)
    resumed.set_epoch(1)
    assert list(resumed) == second  # a resumed run sees the order of an uninterrupted one
    other = EpochRandomSampler(data, seed=4)
    other.set_epoch(1)
    assert list(other) != second


def test_case_shard_sampler_keeps_each_volume_on_one_process():
    ds = build_dataset("synthetic", "val", n=1, n_val=5, shape=(4, 8, 8), mode="slices", seed=0)
    shards = [list(CaseShardSampler(ds, num_replicas=2, rank=r)) for r in range(2)]
    assert shards[0] == list(range(0, 4)) + list(range(8, 12)) + list(range(16, 20))
    assert shards[1] == list(range(4, 8)) + list(range(12, 16))
    assert len(CaseShardSampler(ds, num_replicas=2, rank=1)) == 8


def test_a_patch_trained_run_validates_on_whole_volumes_one_per_batch(tiny_config):
    data = tiny_config("data.options={n: 2, n_val: 2, shape: [8, 16, 16], kind: blobs, "
                       "mode: patches, patch_size: [8, 8, 8], seed: 0}")["data"]
    dm = SegmentationDataModule(data, seed=0)
    assert dm.sliding_window() == [8, 8, 8]
    train = dm.train_dataloader()
    assert isinstance(train.sampler, EpochRandomSampler) and train.batch_size == 2
    assert next(iter(train))["image"].shape == (2, 1, 8, 8, 8)  # patches
    val = dm.val_dataloader()
    assert val.batch_size == 1 and len(val) == 2  # whole volumes differ in size: one per batch
    assert next(iter(val))["image"].shape == (1, 1, 8, 16, 16)
    whole = SegmentationDataModule(tiny_config()["data"], seed=0)
    assert whole.sliding_window() is None and whole.val_dataloader().batch_size == 2
    assert SegmentationDataModule({**data, "val_split": None}).val_dataloader() == []
