"""One behaviour for every loss: input errors, reduction shapes, gradcheck, autocast."""

from __future__ import annotations

import pytest
import torch

from edgewise.losses import LOSSES, build_loss, normalized_signed_distance
from edgewise.maps import signed_distance

NAMES = sorted(set(LOSSES) - {"rrw"})
# losses whose "none" is per (B, C'); the pixel-wise ones give a per-pixel map, GDL (B, 1)
PER_CLASS = {"dice", "tversky", "boundary", "region_wise", "perimeter", "hausdorff_dt",
             "hausdorff_er", "sdf", "active_contour", "cldice", "dice_cldice", "skeleton_recall"}


def _data(dtype=torch.float32, shape=(9, 8), b=2, c=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(b, c, *shape, generator=g, dtype=dtype)
    t = torch.zeros(b, 1, *shape, dtype=torch.long)
    t[..., 2:6, 2:5] = 1
    t[..., 5:8, 4:7] = 2
    if b > 1:
        t[1, ..., 0:2, 0:3] = 1
    return x, t


@pytest.mark.parametrize("name", NAMES)
def test_reduction_shapes_and_3d(name):
    x, t = _data()
    assert build_loss(name)(x, t, spacing=(1.0, 0.5)).dim() == 0
    none = build_loss(name, reduction="none")(x, t)
    if name in PER_CLASS:
        assert none.shape == (2, 3)
        assert build_loss(name, reduction="none", include_background=False)(x, t).shape == (2, 2)
    elif name == "gdl":
        assert none.shape == (2, 1)
    else:
        assert none.shape == (2, 9, 8)
    s = build_loss(name, reduction="sum")(x, t)
    torch.testing.assert_close(s, none.sum(), rtol=1e-5, atol=1e-5)
    x3 = torch.randn(1, 2, 6, 7, 8)
    t3 = torch.zeros(1, 1, 6, 7, 8, dtype=torch.long)
    t3[..., 1:5, 2:6, 2:7] = 1
    assert torch.isfinite(build_loss(name)(x3, t3, spacing=(2.0, 1.0, 1.0)))


@pytest.mark.parametrize("name", NAMES)
def test_bad_input_raises_value_error(name):
    loss = build_loss(name)
    x, t = _data()
    with pytest.raises(ValueError, match="target of shape"):
        loss(x, t[..., :-1])
    with pytest.raises(ValueError, match=r"label values in \[0, 3\)"):
        loss(x, t + 1)
    bad = x.clone()
    bad[0, 0, 0, 0] = float("nan")
    with pytest.raises(ValueError, match="finite"):
        loss(bad, t)
    with pytest.raises(ValueError, match="spacing"):
        loss(x, t, spacing=(1.0, 1.0, 1.0))
    with pytest.raises(ValueError, match="reduction"):
        build_loss(name, reduction="avg")
    if name != "sdf":
        with pytest.raises(ValueError, match="mutually exclusive"):
            build_loss(name, softmax=True, sigmoid=True)
        with pytest.raises(ValueError, match="sigmoid=True"):
            loss(x[:, :1], t.clamp_max(1))


@pytest.mark.parametrize("name", NAMES)
def test_binary_sigmoid_head(name):
    """A sigmoid head with logit z is the two-channel softmax head with logits [0, z]:
    softmax([0, z])[1] = sigmoid(z). Per-class losses on the foreground channel and the
    pixel-wise losses (which count each pixel once) must give the same value both ways."""
    x, t = _data(torch.float64, c=1)
    t = (t > 0).long()
    if name == "sdf":
        assert torch.isfinite(build_loss(name)(x, t))
        return
    sig = build_loss(name, sigmoid=True)(x, t)
    two = torch.cat([torch.zeros_like(x), x], 1)
    fg_only = {} if name in ("ce", "focal", "penalized_ce") else {"include_background": False}
    ref = build_loss(name, **fg_only)(two, t)
    torch.testing.assert_close(sig, ref)


@pytest.mark.parametrize("name", NAMES)
def test_autocast_bf16_cpu_is_finite(name):
    x, t = _data()
    loss = build_loss(name)
    xb = x.clone().requires_grad_(True)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        v = loss(xb.to(torch.bfloat16), t)
    assert v.dtype == torch.float32 and torch.isfinite(v)
    # autocast is off inside the loss: the value is the float32 loss of the bf16-rounded input
    torch.testing.assert_close(v, loss(x.to(torch.bfloat16).float(), t))
    v.backward()
    assert torch.isfinite(xb.grad).all()


@pytest.mark.filterwarnings("ignore:region_wise_loss:RuntimeWarning")
@pytest.mark.parametrize("name", NAMES)
def test_gradcheck_float64(name):
    x, t = _data(torch.float64, shape=(6, 5), b=1, seed=3)
    t = torch.zeros(1, 1, 6, 5, dtype=torch.long)
    t[..., 1:4, 1:4] = 1
    t[..., 4:6, 0:3] = 2
    kwargs = {}
    if name in ("boundary", "region_wise", "hausdorff_dt", "sdf", "penalized_ce"):
        # precomputed ground-truth maps: the gradient flows through the prediction only
        kwargs["dist_map"] = (signed_distance(t, num_classes=3).double() if name != "penalized_ce"
                              else torch.rand(1, 1, 6, 5, dtype=torch.float64))
        if name == "hausdorff_dt":
            kwargs["dist_map"] = kwargs["dist_map"].abs()
        if name == "sdf":  # the SDF head regresses the normalised map
            kwargs["dist_map"] = normalized_signed_distance(torch.cat([t == k for k in range(3)], 1)).double()
    loss = build_loss(name)
    xr = x.clone().requires_grad_(True)
    assert torch.autograd.gradcheck(lambda inp: loss(inp, t, **kwargs), (xr,), eps=1e-6, atol=1e-5)


@pytest.mark.parametrize("name", ["boundary", "region_wise", "hausdorff_dt", "sdf", "penalized_ce",
                                  "skeleton_recall"])
def test_gradient_reaches_the_prediction_only(name):
    """A precomputed map or a one-hot target that requires grad must not receive a gradient
    (it did: maps and one-hot targets were used undetached); integer maps are refused."""
    x, t = _data(torch.float64, shape=(6, 5), b=1)
    shape = (1, 1, 6, 5) if name == "penalized_ce" else (1, 3, 6, 5)
    dist_map = torch.rand(*shape, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    dist_map.requires_grad_(True)
    onehot = torch.nn.functional.one_hot(t[:, 0], 3).permute(0, 3, 1, 2).double().requires_grad_(True)
    xr = x.clone().requires_grad_(True)
    loss = build_loss(name, **({"check": False} if name == "region_wise" else {}))
    loss(xr, onehot, dist_map=dist_map).backward()
    assert float(xr.grad.abs().sum()) > 0
    assert dist_map.grad is None and onehot.grad is None
    build_loss("dice")(xr, onehot).backward()
    assert onehot.grad is None
    with pytest.raises(TypeError, match="floating-point dist_map"):
        loss(x, t, dist_map=(dist_map.detach() * 3).long())


@pytest.mark.parametrize("name", ["boundary", "region_wise", "hausdorff_dt", "sdf", "penalized_ce"])
def test_1d_input_needs_a_map(name):
    """edgewise.maps is 2D/3D: a 1D input used to fail inside the maps with a message about
    one-hot shapes; now the loss says what it needs. A given map makes 1D work."""
    x = torch.randn(2, 3, 9)
    t = torch.zeros(2, 1, 9, dtype=torch.long)
    t[..., 2:6] = 1
    with pytest.raises(ValueError, match="2 or 3 spatial axes"):
        build_loss(name)(x, t)
    if name != "hausdorff_dt":
        shape = (2, 1, 9) if name == "penalized_ce" else (2, 3, 9)
        loss = build_loss(name, **({"check": False} if name == "region_wise" else {}))
        assert torch.isfinite(loss(x, t, dist_map=torch.rand(shape)))


@pytest.mark.filterwarnings("ignore:region_wise_loss:RuntimeWarning")
@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("name", NAMES)
def test_cuda_matches_cpu_and_autocast_fp16(name):
    x, t = _data()
    loss = build_loss(name)
    cpu = loss(x, t, spacing=(1.0, 0.5))
    gpu = loss(x.cuda(), t.cuda(), spacing=(1.0, 0.5))
    assert gpu.device.type == "cuda"
    torch.testing.assert_close(gpu.cpu(), cpu, rtol=1e-4, atol=1e-5)
    xh = x.cuda().half().requires_grad_(True)
    with torch.autocast("cuda", dtype=torch.float16):
        v = loss(xh, t.cuda())
    assert v.dtype == torch.float32 and torch.isfinite(v)
    v.backward()
    assert torch.isfinite(xh.grad).all()


@pytest.mark.parametrize("name", NAMES)
def test_options_are_attributes_read_at_call_time(name):
    """Every loss module keeps its options as attributes of the same name, and a changed
    attribute is used by the next call (as with MONAI's modules)."""
    x, t = _data()
    loss = build_loss(name)
    assert loss.reduction == "mean"
    loss.reduction = "none"
    changed = loss(x, t)
    torch.testing.assert_close(changed, build_loss(name, reduction="none")(x, t))
