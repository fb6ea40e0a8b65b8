"""Weight schedules (``edgewise.losses.schedules``): hand-listed values, the reference update
loops, exact resume, delayed and gated starts."""

from __future__ import annotations

import pytest
import torch

from edgewise.losses import (
    CompoundLoss,
    Constant,
    CrossEntropyLoss,
    Delayed,
    DiceLoss,
    FromCallable,
    Gradual,
    Increase,
    Rebalance,
    RebalanceConvex,
    loss_from_config,
)

from ._helpers import _approx


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
    # a wrong number of scales used to fail only when called (IndexError) or be truncated
    for bad in (lambda: RebalanceConvex(scales=(1.0,)), lambda: Gradual(scales=(1.0, 1.0, 1.0))):
        with pytest.raises(ValueError, match="2 scales"):
            bad()


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


def test_schedules_equal_the_reference_update_loops():
    """Each reference scheduler re-implemented literally as its per-epoch update, applied at the
    end of every epoch (LIVIAETS main.py calls the scheduler after epoch i); the closed forms
    must give the weights in use during each epoch."""
    epochs = 260
    # LIVIAETS scheduler.StealWeight(0.01), start [1, 0.01]
    w = [1.0, 0.01]
    steal = []
    for _ in range(epochs):
        steal.append(list(w))
        w = [max(0.1, w[0] - 0.01), w[1] + 0.01]
    # LIVIAETS scheduler.AddWeightLoss([0, 0.05]) from [1, 0.01]
    w = [1.0, 0.01]
    add = []
    for _ in range(epochs):
        add.append(list(w))
        w = [a + s for a, s in zip(w, [0.0, 0.05])]
    # LIVIAETS keras_loss: alpha <- clip(alpha - 0.01, 0.01, 1) on epoch end, loss a*R + (1-a)*B
    a = 1.0
    convex = []
    for _ in range(epochs):
        convex.append([a, 1 - a])
        a = min(max(a - 0.01, 0.01), 1.0)
    # SegWithDistMap HD: a from 1, -0.001 per epoch, floor 0.001
    a = 1.0
    hd = []
    for _ in range(epochs):
        hd.append([a, 1 - a])
        a = max(a - 0.001, 0.001)
    # jmlipman RegionWiseLoss: alpha = np.max([(100 - e) / 100, 0.01]) at epoch e
    gradual = [[max((100 - e) / 100, 0.01), 1 - max((100 - e) / 100, 0.01)] for e in range(epochs)]
    cases = [
        (Rebalance(initial=(1.0, 0.01), step=0.01, floor=0.1), steal),
        (Increase([1.0, 0.01], [0.0, 0.05]), add),
        (RebalanceConvex(step=0.01, floor=0.01), convex),
        (RebalanceConvex(step=0.001, floor=0.001), hd),
        (Gradual(epochs=100, floor=0.01), gradual),
    ]
    for schedule, expected in cases:
        for e in range(epochs):
            assert schedule(e) == _approx_tol(expected[e]), (schedule, e)
    assert steal[95] == _approx_tol([0.1, 0.96]) and steal[259][1] == pytest.approx(2.6)


def _approx_tol(values):
    # the loops accumulate a rounding error of ~1e-15 per epoch
    return [pytest.approx(v, abs=1e-9) for v in values]


def test_delayed_schedule_starts_the_other_terms_late():
    """``delay``: the regional term alone (its epoch-0 weight), then the wrapped trajectory
    from its own epoch 0; resuming is exact; a term at weight 0 is not evaluated."""
    d = Delayed(Rebalance(), 3)
    assert [d(e) for e in range(3)] == [[1.0, 0.0]] * 3
    assert d(3) == _approx(Rebalance()(0)) and d(40) == _approx(Rebalance()(37))
    assert Delayed(Gradual(epochs=10), 2)(7) == _approx([0.5, 0.5])
    assert Delayed(Constant([0.5, 0.2, 0.3]), 1)(0) == [0.5, 0.0, 0.0]
    assert Delayed(Rebalance(), 0)(5) == Rebalance()(5)
    for bad in (-1, 1.5, True):
        with pytest.raises(ValueError, match="delay epochs"):
            Delayed(Rebalance(), bad)
    cfg = {"terms": [{"name": "gdl"}, {"name": "boundary", "weight": 0.01}],
           "schedule": {"name": "rebalance", "step": 0.0625, "delay": 3}}
    loss = loss_from_config(cfg)
    assert loss.weights == [1.0, 0.0]
    loss.epoch = 5
    assert loss.weights == _approx([1.0 - 2 * 0.0625, 0.01 + 2 * 0.0625])
    resumed = loss_from_config(cfg)
    resumed.load_state_dict(loss.state_dict())
    assert resumed.weights == loss.weights
    # during the delay the boundary term is skipped: no map is computed, none is reported
    fresh = loss_from_config(cfg)
    t = torch.zeros(1, 1, 8, 8, dtype=torch.long)
    t[..., 2:6, 2:6] = 1
    fresh(torch.randn(1, 2, 8, 8), t)
    assert list(fresh.last_terms) == ["gdl"]
    for delay, msg in ((-2, "non-negative whole number"), (2.5, "non-negative whole number")):
        with pytest.raises(ValueError, match=msg):
            loss_from_config({**cfg, "schedule": {**cfg["schedule"], "delay": delay}})
    with pytest.raises(ValueError, match="'delay'"):
        loss_from_config({**cfg, "schedule": {"name": "gradual", "delai": 2}})


def test_a_gated_schedule_starts_the_other_terms_once_every_class_is_found():
    from edgewise.losses import Gated

    g = Gated(Rebalance(), threshold=0.5)
    assert [g(e) for e in range(4)] == [[1.0, 0.0]] * 4
    g.update(epoch=2, dice=[0.9, 0.49])          # one class not yet found
    g.update(epoch=3, dice=[0.9, float("nan")])  # NaN: not found either
    assert g.start is None
    g.update(epoch=4, dice=[0.9, 0.5])
    assert g.start == 5
    g.update(epoch=6, dice=[0.0, 0.0])           # once started it stays started
    assert g.start == 5 and g(4) == [1.0, 0.0]
    assert g(5) == _approx(Rebalance()(0)) and g(9) == _approx(Rebalance()(4))
    for bad in (0, 1.5, True, "0.5"):
        with pytest.raises(ValueError, match=r"validation Dice threshold in \(0, 1\]"):
            Gated(Rebalance(), bad)
    cfg = {"terms": [{"name": "gdl"}, {"name": "boundary", "weight": 0.01}],
           "schedule": {"name": "rebalance", "step": 0.01, "start_when_found": 0.5}}
    loss = loss_from_config(cfg)
    assert isinstance(loss.schedule, Gated) and loss.weights == [1.0, 0.0]
    loss.schedule.update(epoch=0, dice=[0.6])
    loss.epoch = 2
    assert loss.weights == _approx([0.99, 0.02])
    with pytest.raises(ValueError, match="either delay"):
        loss_from_config({**cfg, "schedule": {**cfg["schedule"], "delay": 2}})
    with pytest.raises(ValueError, match=r"start_when_found as a validation Dice in \(0, 1\], got 2"):
        loss_from_config({**cfg, "schedule": {**cfg["schedule"], "start_when_found": 2}})
