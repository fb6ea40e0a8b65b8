"""edgewise.metrics.overlap: Dice and IoU on hand-counted masks, the empty policy, background."""

from __future__ import annotations

import torch

from edgewise.metrics import (
    dice,
    iou,
)


def test_dice_iou_values():
    t = torch.tensor([[[[1, 1, 1, 0]], [[0, 0, 0, 1]]]])
    p = torch.tensor([[[[1, 1, 0, 0]], [[0, 0, 1, 1]]]])
    torch.testing.assert_close(dice(p, t), torch.tensor([[0.8, 2 / 3]]))
    torch.testing.assert_close(iou(p, t), torch.tensor([[2 / 3, 0.5]]))
    torch.testing.assert_close(dice(p, t, include_background=False), torch.tensor([[2 / 3]]))
    z = torch.zeros(1, 2, 1, 4, dtype=torch.bool)
    assert torch.equal(dice(z, z), torch.ones(1, 2))
    assert torch.isnan(iou(z, z, empty="nan")).all()
    assert dice(p.bool(), z)[0, 0] == 0
