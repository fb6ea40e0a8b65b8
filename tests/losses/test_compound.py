"""CompoundLoss (``edgewise.losses.compound``): the weighted total and its terms, zero weights
skipped, terms that keep their graph, resuming from a saved state. Shared inputs and maps:
test_compound_shared_inputs.py, test_compound_shared_maps.py."""

from __future__ import annotations

import pytest
import torch

from edgewise.losses import (
    CompoundLoss,
    CrossEntropyLoss,
    DiceLoss,
    Gradual,
    Rebalance,
    RebalanceConvex,
    cross_entropy_loss,
    dice_loss,
)

from ._helpers import _approx


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


def test_compound_return_terms_keep_their_graph():
    g = torch.Generator().manual_seed(1)
    x = torch.randn(2, 3, 6, 6, generator=g, requires_grad=True)
    t = torch.randint(0, 3, (2, 1, 6, 6), generator=g)
    loss = CompoundLoss([("ce", CrossEntropyLoss()), ("dice", DiceLoss())], weights=[0.3, 1.7])
    total, terms = loss(x, t, return_terms=True)
    assert list(terms) == ["ce", "dice"]
    assert all(v.requires_grad for v in terms.values())
    torch.testing.assert_close(total, 0.3 * terms["ce"] + 1.7 * terms["dice"])
    torch.testing.assert_close(terms["ce"], cross_entropy_loss(x, t))
    # the dice term alone back-propagates: its graph is intact
    (gx,) = torch.autograd.grad(terms["dice"], x)
    (ref,) = torch.autograd.grad(dice_loss(x, t), x)
    torch.testing.assert_close(gx, ref)


def test_compound_resume_from_a_saved_state_dict():
    import io

    def make():
        return CompoundLoss({"ce": CrossEntropyLoss(), "dice": DiceLoss()},
                            schedule=RebalanceConvex(step=0.1, floor=0.05))

    g = torch.Generator().manual_seed(2)
    x = torch.randn(1, 3, 5, 5, generator=g)
    t = torch.randint(0, 3, (1, 1, 5, 5), generator=g)
    run = make()
    for _ in range(4):
        run.step()
    buf = io.BytesIO()
    torch.save(run.state_dict(), buf)
    buf.seek(0)
    resumed = make()
    assert resumed.epoch == 0
    resumed.load_state_dict(torch.load(buf))
    assert resumed.epoch == 4 and resumed.weights == _approx([0.6, 0.4])
    torch.testing.assert_close(resumed(x, t), 0.6 * cross_entropy_loss(x, t) + 0.4 * dice_loss(x, t))
    for _ in range(6):
        run.step()
        resumed.step()
    assert resumed.weights == run.weights == _approx([0.05, 0.95])
