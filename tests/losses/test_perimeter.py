"""The perimeter loss (``edgewise.losses.perimeter``): the soft perimeter of squares, discs,
cubes and balls, the loss by hand; and (#27) the target's contour taken from its label map once
per sample, values and gradients equal to the per-channel contour's, bit for bit."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

import edgewise.losses as L
import edgewise.losses.perimeter as P
from edgewise.losses import perimeter_loss, soft_perimeter

from ._helpers import _disc


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


def test_perimeter_of_square_disc_cube_ball():
    sq = torch.zeros(1, 1, 32, 32)
    sq[..., 5:15, 8:18] = 1
    assert soft_perimeter(sq).item() == 4 * 10 - 4
    # The reference operator measures a city-block length: the analytic value for a disc of
    # radius R is 8R (mean of |cos|+|sin| is 4/pi), the pixel count 8R - 4 like the square's
    # 4L - 4 (the Euclidean 2*pi*R is 21% lower); tolerance 2% around 8R - 4.
    for r in (10, 20):
        d = _disc(64, 64, 31.5, 31.5, r).float()[None, None]
        assert soft_perimeter(d).item() == pytest.approx(8 * r - 4, rel=0.02)
    cube = torch.zeros(1, 1, 16, 16, 16)
    cube[..., 3:11, 4:12, 2:10] = 1
    assert soft_perimeter(cube).item() == 6 * 64 - 12 * 8 + 8
    zz, yy, xx = torch.meshgrid(*(torch.arange(48),) * 3, indexing="ij")
    ball = (((zz - 23.5) ** 2 + (yy - 23.5) ** 2 + (xx - 23.5) ** 2) <= 400).float()[None, None]
    # city-block area of a sphere: mean(|n_x|+|n_y|+|n_z|) = 3/2 times 4*pi*R^2; tolerance 10%
    assert soft_perimeter(ball).item() == pytest.approx(6 * math.pi * 400, rel=0.10)


def test_perimeter_loss_hand_value():
    t = torch.zeros(1, 1, 8, 8, dtype=torch.long)
    t[..., 2:6, 2:6] = 1  # perimeter 12
    probs = torch.zeros(1, 2, 8, 8)
    probs[:, 1, 2:7, 2:7] = 1  # perimeter 16
    probs[:, 0] = 1 - probs[:, 1]
    v = perimeter_loss(probs, t, softmax=False, include_background=False)
    assert v.item() == pytest.approx((16 - 12) ** 2 / 64)
    t3 = torch.zeros(1, 1, 8, 8, 8, dtype=torch.long)
    t3[..., 2:6, 2:6, 2:6] = 1
    assert perimeter_loss(torch.randn(1, 2, 8, 8, 8), t3).dim() == 0
