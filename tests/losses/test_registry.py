"""The loss registry (``edgewise.losses.registry``): build_loss by name and its errors,
loss_from_config's terms, schedules and messages."""

from __future__ import annotations

import pytest
import torch

from edgewise.losses import build_loss, loss_from_config

from ._helpers import _approx


def test_build_loss_and_errors():
    assert type(build_loss("rrw")).__name__ == "RegionWiseLoss"
    for name in ["ce", "dice", "gdl", "focal", "tversky", "boundary", "region_wise", "penalized_ce",
                 "perimeter", "hausdorff_dt", "hausdorff_er", "sdf", "active_contour"]:
        assert isinstance(build_loss(name), torch.nn.Module)
    with pytest.raises(ValueError, match="expected one of"):
        build_loss("bondary")
    with pytest.raises(ValueError, match="include_background"):
        build_loss("boundary", include_backgroud=False)
    with pytest.raises(ValueError, match="mutually exclusive"):
        build_loss("dice", softmax=True, sigmoid=True)


def test_loss_from_config():
    cfg = {"loss": {"terms": [{"name": "gdl", "weight": 1.0},
                              {"name": "boundary", "weight": 0.01, "args": {"include_background": False}}],
                    "schedule": {"name": "rebalance", "step": 0.01}}}
    loss = loss_from_config(cfg)
    assert loss.names == ["gdl", "boundary"]
    assert loss.terms["boundary"].include_background is False
    assert loss.weights == _approx([1.0, 0.01])
    loss.epoch = 10
    assert loss.weights == _approx([0.9, 0.11])
    plain = loss_from_config({"terms": cfg["loss"]["terms"]})
    assert plain.weights == [1.0, 0.01]
    conv = loss_from_config({"terms": [{"name": "dice"}, {"name": "boundary"}],
                             "schedule": {"name": "rebalance_convex", "step": 0.1, "floor": 0.2}})
    conv.epoch = 5
    assert conv.weights == _approx([0.5, 0.5])
    gradual = loss_from_config({"terms": [{"name": "dice"}, {"name": "rrw"}], "schedule": {"name": "gradual", "epochs": 10}})
    gradual.epoch = 3
    assert gradual.weights == _approx([0.7, 0.3])
    inc = loss_from_config({"terms": [{"name": "dice"}, {"name": "ce", "weight": 0.0}],
                            "schedule": {"name": "increase", "step": [0.0, 0.1]}})
    inc.epoch = 2
    assert inc.weights == _approx([1.0, 0.2])
    dup = loss_from_config({"terms": [{"name": "dice"}, {"name": "dice", "args": {"include_background": False}}]})
    assert dup.names == ["dice", "dice_2"]
    bad = [
        ({"terms": [{"name": "nope"}]}, "expected one of"),
        ({"terms": [{"name": "dice", "wieght": 1}]}, "name', 'weight', 'args"),
        ({"terms": [{"name": "dice"}], "extra": 1}, "unknown key"),
        ({"terms": []}, "non-empty list"),
        ({"terms": [{"name": "dice"}, {"name": "ce"}], "schedule": {"name": "steal"}}, "expected one of"),
        ({"terms": [{"name": "dice"}, {"name": "ce"}], "schedule": {"name": "gradual", "step": 1}}, "epochs"),
        ({"terms": [{"name": "dice"}], "schedule": {"name": "rebalance"}}, "exactly 2 terms"),
        ({"terms": [{"name": "dice", "args": {"smooth": 1}}]}, "unknown argument"),
    ]
    for cfg_bad, msg in bad:
        with pytest.raises(ValueError, match=msg):
            loss_from_config(cfg_bad)
