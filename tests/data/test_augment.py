"""edgewise.data.augment: flips, 90-degree turns and small rotations keep image, label, mask and
spacing aligned."""

from __future__ import annotations

import pytest
import torch

from edgewise.data import Augment


def _item(ndim=2):
    g = torch.Generator().manual_seed(0)
    shape = (6, 8) if ndim == 2 else (4, 6, 6)
    label = torch.randint(0, 3, (1, *shape), generator=g)
    return {
        "image": label.float() * 10 + torch.rand((2, *shape), generator=g),
        "label": label,
        "mask": label > 0,
        "spacing": torch.tensor([1.0, 2.0] if ndim == 2 else [3.0, 1.0, 2.0]),
        "case": "x",
    }


@pytest.mark.parametrize("ndim", [2, 3])
def test_flip_twice_is_identity_and_alignment(ndim):
    item = _item(ndim)
    flip = Augment(flip_prob=1.0, intensity_prob=0.0)
    once = flip(item)
    assert not torch.equal(once["label"], item["label"])
    twice = flip(once)
    for k in ("image", "label", "mask"):
        assert torch.equal(twice[k], item[k])
    # image was built from the label: still aligned after any augmentation
    aug = Augment(flip_prob=0.5, rot90_prob=1.0, rot90_axes=(-2, -1) if ndim == 2 else (0, 1), intensity_prob=0.0,
                  generator=torch.Generator().manual_seed(3))
    for _ in range(5):
        out = aug(item)
        assert torch.equal((out["image"] / 10).floor().long()[:1], out["label"])
        assert torch.equal(out["mask"], out["label"] > 0)


def test_rot90_swaps_spacing_and_four_times_is_identity():
    item = _item(2)
    item = {**item, "image": item["image"][:, :6, :6], "label": item["label"][:, :6, :6], "mask": item["mask"][:, :6, :6]}
    aug = Augment(flip_prob=0.0, rot90_prob=1.0, intensity_prob=0.0, generator=torch.Generator().manual_seed(1))
    out = item
    ks = 0
    while True:
        before = out["label"]
        out = aug(out)
        for k in range(1, 4):
            if torch.equal(torch.rot90(before, k, dims=(1, 2)), out["label"]):
                ks += k
                break
        if ks % 4 == 0 and ks > 0:
            break
    assert torch.equal(out["label"], item["label"]) and torch.equal(out["image"], item["image"])
    one = Augment(flip_prob=0.0, rot90_prob=1.0, intensity_prob=0.0, generator=torch.Generator().manual_seed(0))(item)
    k = next(k for k in range(1, 4) if torch.equal(torch.rot90(item["label"], k, dims=(1, 2)), one["label"]))
    expected = [2.0, 1.0] if k % 2 else [1.0, 2.0]
    assert one["spacing"].tolist() == expected


def test_small_rotation_keeps_label_values_and_intensity_changes_image_only():
    item = _item(2)
    aug = Augment(flip_prob=0.0, rotate_degrees=15.0, rotate_prob=1.0, intensity_prob=1.0, noise_std=0.1,
                  generator=torch.Generator().manual_seed(0))
    out = aug(item)
    assert set(out["label"].unique().tolist()) <= {0, 1, 2} and out["label"].dtype == torch.int64
    assert out["mask"].dtype == torch.bool and out["image"].shape == item["image"].shape
    ident = Augment(flip_prob=0.0, rotate_degrees=0.0, intensity_prob=1.0, scale=(2.0, 2.0), shift=(1.0, 1.0))(item)
    torch.testing.assert_close(ident["image"], item["image"] * 2 + 1)
    assert torch.equal(ident["label"], item["label"])
