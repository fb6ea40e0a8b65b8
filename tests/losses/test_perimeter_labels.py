"""#27: the perimeter loss takes the target's contour from its label map once per sample;
values and gradients equal the per-channel contour's, bit for bit."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

import edgewise.losses as L
import edgewise.losses.perimeter as P


def _batch(shape: tuple[int, ...], c: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(shape[0], c, *shape[1:], generator=g, dtype=torch.float64)
    pool = F.avg_pool2d if len(shape) == 3 else F.avg_pool3d
    noise = pool(torch.rand(shape[0], 1, *shape[1:], generator=g), 3, 1, 1)[:, 0]
    cuts = torch.quantile(noise.flatten(), torch.linspace(0.3, 0.85, max(c, 2) - 1))
    t = torch.bucketize(noise, cuts)
    t[0][t[0] == 1] = 0  # a class absent from a sample
    return x, t[:, None]


def _both(fn, monkeypatch):
    """``fn()``'s value and input gradient with the label route and with the per-channel one."""
    out = []
    for route in ("labels", "per channel"):
        with monkeypatch.context() as m:
            if route == "per channel":
                m.setattr(P, "_target_labels", lambda *a: None)
            value, grad = fn()
        out.append((value, grad))
    return out


def _run(loss, x, t):
    def fn():
        xr = x.clone().requires_grad_(True)
        v = loss(xr, t)
        v.sum().backward()
        return v.detach(), xr.grad
    return fn


@pytest.mark.parametrize("shape", [(3, 30, 41), (2, 12, 14, 13)])
@pytest.mark.parametrize("options", [{}, {"include_background": False}, {"classes": [2, 0]},
                                     {"reduction": "none"}])
def test_label_route_equals_per_channel(shape, options, monkeypatch):
    x, t = _batch(shape, 4, seed=len(shape))
    onehot = F.one_hot(t[:, 0], 4).movedim(-1, 1).double()
    seen = []
    real = P._target_labels
    monkeypatch.setattr(P, "_target_labels", lambda *a: seen.append(r := real(*a)) or r)
    for target in (t, t[:, 0], onehot, t.double()):
        loss = L.PerimeterLoss(**options)
        (v1, g1), (v2, g2) = _both(_run(loss, x, target), monkeypatch)
        assert seen and seen[-1] is not None
        assert torch.equal(v1, v2) and torch.equal(g1, g2)


def test_binary_and_soft_targets(monkeypatch):
    x, t = _batch((2, 25, 27), 1, seed=3)
    mask = (t > 0).double()
    real = P._target_labels
    for kw, target in (({"sigmoid": True}, mask), ({"sigmoid": True, "to_onehot_y": True}, (t > 0).long())):
        assert real(x, target, L._utils.prepare(x, target, softmax=None, sigmoid=True,
                                                to_onehot_y=kw.get("to_onehot_y"))) is not None
        (v1, g1), (v2, g2) = _both(_run(L.PerimeterLoss(**kw), x, target), monkeypatch)
        assert torch.equal(v1, v2) and torch.equal(g1, g2)
    # soft labels: no label map, the per-channel contour
    soft = mask * 0.8 + 0.1
    prep = L._utils.prepare(x, soft, softmax=None, sigmoid=True, to_onehot_y=None)
    assert real(x, soft, prep) is None


def test_in_compound(monkeypatch):
    x, t = _batch((2, 20, 22), 3, seed=5)
    loss = L.CompoundLoss({"dice": L.DiceLoss(), "perimeter": L.PerimeterLoss()})
    (v1, g1), (v2, g2) = _both(_run(loss, x, t), monkeypatch)
    assert torch.equal(v1, v2) and torch.equal(g1, g2)
