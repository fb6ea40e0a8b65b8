"""Distance-map losses read the voxel spacing of MONAI MetaTensors when given no ``spacing``."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch

from edgewise.losses import (
    BoundaryLoss,
    boundary_loss,
    hausdorff_dt_loss,
    penalized_ce_loss,
    signed_distance_loss,
)

monai_data = pytest.importorskip("monai.data")

LOSSES = {
    "boundary": boundary_loss,
    "hausdorff_dt": hausdorff_dt_loss,
    "sdf": signed_distance_loss,
    "penalized_ce": penalized_ce_loss,
}


def _case(b: int = 2):
    g = torch.Generator().manual_seed(0)
    x = torch.randn(b, 2, 10, 12, generator=g, dtype=torch.float64)
    t = torch.zeros(b, 1, 10, 12, dtype=torch.long)
    t[0, :, 2:7, 3:9] = 1
    t[-1, :, 4:9, 1:6] = 1
    return x, t


def _affine(*spacing: float) -> torch.Tensor:
    return torch.diag(torch.tensor([*spacing, 1.0, 1.0], dtype=torch.float64))


@pytest.mark.parametrize("name", sorted(LOSSES))
def test_anisotropic_affine_equals_explicit_spacing(name):
    fn = LOSSES[name]
    x, t = _case()
    mt = monai_data.MetaTensor(t, affine=_affine(0.5, 2.0))
    explicit = fn(x, t, spacing=(0.5, 2.0))
    unit = fn(x, t)
    assert abs(explicit.item() - unit.item()) > 1e-3  # the spacing matters for this case
    from_target = fn(x, mt)
    assert type(from_target) is torch.Tensor
    torch.testing.assert_close(from_target, explicit)
    # from the input when the target is plain; explicit spacing wins over the metadata
    torch.testing.assert_close(fn(monai_data.MetaTensor(x, affine=_affine(0.5, 2.0)), t), explicit)
    torch.testing.assert_close(fn(x, mt, spacing=1.0), unit)


def test_collated_batch_gives_per_sample_spacing():
    x, t = _case()
    items = [monai_data.MetaTensor(t[0], affine=_affine(0.5, 2.0)),
             monai_data.MetaTensor(t[1], affine=_affine(1.5, 0.25))]
    mt = monai_data.list_data_collate(items)
    assert tuple(mt.affine.shape) == (2, 4, 4)
    per_sample = torch.tensor([[0.5, 2.0], [1.5, 0.25]])
    expected = boundary_loss(x, t, spacing=per_sample, reduction="none")
    torch.testing.assert_close(boundary_loss(x, mt, reduction="none"), expected)
    torch.testing.assert_close(BoundaryLoss(reduction="none")(x, mt), expected)
    torch.testing.assert_close(expected[1], boundary_loss(x[1:], t[1:], spacing=(1.5, 0.25), reduction="none")[0])


def test_gradient_flows_through_a_metatensor_input():
    x, t = _case()
    xm = monai_data.MetaTensor(x.clone(), affine=_affine(0.5, 2.0)).requires_grad_(True)
    boundary_loss(xm, t).backward()
    ref = x.clone().requires_grad_(True)
    boundary_loss(ref, t, spacing=(0.5, 2.0)).backward()
    torch.testing.assert_close(torch.as_tensor(xm.grad), ref.grad)


def test_losses_never_import_monai():
    code = (
        "import sys, torch\n"
        "from edgewise.losses import boundary_loss\n"
        "t = torch.zeros(1, 1, 6, 6, dtype=torch.long); t[..., 2:4, 2:4] = 1\n"
        "boundary_loss(torch.randn(1, 2, 6, 6), t)\n"
        "assert 'monai' not in sys.modules, 'monai was imported'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)
