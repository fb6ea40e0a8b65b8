"""edgewise.metrics.convert: one-hot masks from label maps and from logits."""

from __future__ import annotations

import pytest
import torch

from edgewise.metrics import (
    one_hot_from_labels,
    one_hot_from_logits,
)


def test_one_hot_helpers():
    labels = torch.tensor([[[0, 1], [2, 255]]])
    oh = one_hot_from_labels(labels, 3, ignore_index=255)
    assert oh.shape == (1, 3, 2, 2) and oh.dtype == torch.bool
    assert oh[0, :, 1, 1].sum() == 0 and oh[0, 2, 1, 0]
    with pytest.raises(ValueError, match=r"\[0, 3\)"):
        one_hot_from_labels(labels, 3)
    logits = torch.randn(2, 4, 5, 6)
    oh = one_hot_from_logits(logits)
    assert torch.equal(oh.sum(1), torch.ones(2, 5, 6, dtype=torch.long))
    assert torch.equal(oh.float().argmax(1), logits.argmax(1))
    assert torch.equal(one_hot_from_logits(logits, sigmoid=True), logits > 0)
    with pytest.raises(TypeError):
        one_hot_from_logits(torch.ones(2, 3, 4, dtype=torch.long))
