"""Weight schedules, CompoundLoss and the registry / config builder."""

from __future__ import annotations

import pytest
import torch

from edgewise.losses import (
    CompoundLoss,
    Constant,
    CrossEntropyLoss,
    DiceLoss,
    FromCallable,
    Gradual,
    Increase,
    Rebalance,
    RebalanceConvex,
    build_loss,
    cross_entropy_loss,
    dice_loss,
    loss_from_config,
)


def _approx(values):
    return [pytest.approx(v, abs=1e-12) for v in values]


def test_schedules_hand_listed_values():
    assert Constant([1.0, 0.01])(7) == [1.0, 0.01]
    inc = Increase([1.0, 0.0], [0.0, 0.5])
    assert [inc(e) for e in range(3)] == [[1.0, 0.0], [1.0, 0.5], [1.0, 1.0]]
    assert Increase([1.0, 2.0], 0.25)(4) == [2.0, 3.0]
    steal = Rebalance()  # LIVIAETS StealWeight: start [1, 0.01], s = 0.01, floor 0.1
    assert steal(0) == _approx([1.0, 0.01])
    assert steal(1) == _approx([0.99, 0.02])
    assert steal(50) == _approx([0.5, 0.51])
    assert steal(90) == _approx([0.1, 0.91])
    assert steal(200) == _approx([0.1, 2.01])  # the boundary weight keeps growing
    convex = RebalanceConvex()
    assert convex(0) == _approx([1.0, 0.0])
    assert convex(30) == _approx([0.7, 0.3])
    assert convex(99) == _approx([0.01, 0.99])
    assert convex(500) == _approx([0.01, 0.99])
    grad = Gradual()
    assert grad(0) == _approx([1.0, 0.0])
    assert grad(25) == _approx([0.75, 0.25])
    assert grad(99) == _approx([0.01, 0.99])
    assert grad(150) == _approx([0.01, 0.99])
    assert FromCallable(lambda e: [1.0, e / 10])(3) == [1.0, 0.3]
    with pytest.raises(ValueError, match="non-negative integer epoch"):
        grad(-1)


def test_resume_is_exact():
    # iterating StealWeight epoch by epoch accumulates rounding; the closed form does not
    a, b = 1.0, 0.01
    for _ in range(37):
        a, b = max(0.1, a - 0.01), b + 0.01
    assert Rebalance()(37) == _approx([a, b])
    loss = CompoundLoss({"gdl": DiceLoss(), "ce": CrossEntropyLoss()}, schedule=Rebalance())
    for _ in range(37):
        loss.step()
    resumed = CompoundLoss({"gdl": DiceLoss(), "ce": CrossEntropyLoss()}, schedule=Rebalance())
    resumed.load_state_dict(loss.state_dict())
    assert resumed.epoch == 37
    assert resumed.weights == loss.weights


def test_compound_total_and_terms():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(2, 3, 6, 6, generator=g)
    t = torch.randint(0, 3, (2, 1, 6, 6), generator=g)
    loss = CompoundLoss({"ce": CrossEntropyLoss(), "dice": DiceLoss()}, weights=[0.5, 2.0])
    total = loss(x, t, spacing=(1.0, 2.0))
    expected = 0.5 * cross_entropy_loss(x, t) + 2.0 * dice_loss(x, t)
    torch.testing.assert_close(total, expected)
    assert set(loss.last_terms) == {"ce", "dice"}
    assert not loss.last_terms["ce"].requires_grad
    total2, terms = loss(x, t, return_terms=True)
    torch.testing.assert_close(terms["dice"], dice_loss(x, t))
    # a zero weight is skipped
    g_loss = CompoundLoss({"ce": CrossEntropyLoss(), "dice": DiceLoss()}, schedule=Gradual(epochs=4))
    torch.testing.assert_close(g_loss(x, t), cross_entropy_loss(x, t))
    assert list(g_loss.last_terms) == ["ce"]
    g_loss.step()
    torch.testing.assert_close(g_loss(x, t), 0.75 * cross_entropy_loss(x, t) + 0.25 * dice_loss(x, t))
    with pytest.raises(ValueError, match="scalar"):
        CompoundLoss({"ce": CrossEntropyLoss(reduction="none")})(x, t)
    with pytest.raises(ValueError, match="2 terms"):
        CompoundLoss({"ce": CrossEntropyLoss()}, schedule=Rebalance())


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
