"""MetaTensor spacing (``edgewise.integrations.metatensor``): affines, collated batches, rotated
and 2D affines, errors, precedence, and the module never importing MONAI."""

from __future__ import annotations

import math
import subprocess
import sys

import numpy as np
import pytest
import torch

monai = pytest.importorskip("monai")

from monai.data import MetaTensor, list_data_collate  # noqa: E402

from edgewise.integrations.metatensor import (  # noqa: E402
    item_spacing_from_meta,
    spacing_from_meta,
    spacing_or_meta,
)

from ._helpers import _affine  # noqa: E402


def test_spacing_from_meta_anisotropic_affine_broadcasts_over_batch():
    x = MetaTensor(torch.zeros(3, 1, 4, 5, 6), affine=_affine(0.8, 0.8, 2.5))
    s = spacing_from_meta(x)
    assert s.dtype == torch.float64 and s.shape == (3, 3)
    torch.testing.assert_close(s, torch.tensor([[0.8, 0.8, 2.5]] * 3, dtype=torch.float64))


def test_spacing_from_meta_per_sample_after_collate():
    a = MetaTensor(torch.zeros(1, 4, 5), affine=_affine(0.5, 2.0, 1.0))
    b = MetaTensor(torch.zeros(1, 4, 5), affine=_affine(0.7, 3.0, 1.0))
    batch = list_data_collate([{"x": a}, {"x": b}])["x"]
    torch.testing.assert_close(
        spacing_from_meta(batch), torch.tensor([[0.5, 2.0], [0.7, 3.0]], dtype=torch.float64)
    )
    # Metadata survives arithmetic (network outputs, one-hot conversions).
    torch.testing.assert_close(spacing_from_meta(batch * 2), spacing_from_meta(batch))


def test_spacing_from_meta_rotated_affine_uses_column_norms():
    # Rotation by 30 degrees in the (0, 1) plane, then scaling columns by (0.6, 1.5, 3.0):
    # the spacing along array axis j is the norm of column j.
    c, s = math.cos(math.pi / 6), math.sin(math.pi / 6)
    rot = torch.tensor([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]], dtype=torch.float64)
    aff = torch.eye(4, dtype=torch.float64)
    aff[:3, :3] = rot @ torch.diag(torch.tensor([0.6, 1.5, 3.0], dtype=torch.float64))
    aff[:3, 3] = torch.tensor([10.0, -4.0, 7.0])
    x = MetaTensor(torch.zeros(1, 1, 3, 3, 3), affine=aff)
    torch.testing.assert_close(
        spacing_from_meta(x), torch.tensor([[0.6, 1.5, 3.0]], dtype=torch.float64)
    )


def test_spacing_from_meta_2d_image_with_4x4_affine():
    x = MetaTensor(torch.zeros(2, 1, 6, 7), affine=_affine(0.25, 0.5, 5.0))
    torch.testing.assert_close(
        spacing_from_meta(x), torch.tensor([[0.25, 0.5]] * 2, dtype=torch.float64)
    )
    item = MetaTensor(torch.zeros(1, 6, 7), affine=_affine(0.25, 0.5, 5.0))
    torch.testing.assert_close(
        item_spacing_from_meta(item), torch.tensor([0.25, 0.5], dtype=torch.float64)
    )


def test_spacing_from_meta_plain_tensor_and_array_give_none():
    assert spacing_from_meta(torch.zeros(2, 1, 4, 4)) is None
    assert spacing_from_meta(np.zeros((2, 1, 4, 4))) is None
    assert item_spacing_from_meta(torch.zeros(1, 4, 4)) is None


def test_spacing_from_meta_errors():
    a = MetaTensor(torch.zeros(1, 4, 5), affine=_affine(0.5, 2.0, 1.0))
    batch = list_data_collate([{"x": a}, {"x": a.clone()}])["x"]
    with pytest.raises(ValueError, match="affines but the batch has 3"):
        spacing_from_meta(MetaTensor(torch.zeros(3, 1, 4, 5), affine=batch.affine))
    small = MetaTensor(torch.zeros(1, 1, 4, 5, 6), affine=torch.eye(3, dtype=torch.float64))
    with pytest.raises(ValueError, match="square affine of size at least 4"):
        spacing_from_meta(small)
    with pytest.raises(ValueError, match=r"batched \(B, C, \*spatial\)"):
        spacing_from_meta(MetaTensor(torch.zeros(4, 4)), spatial_dims=3)


def test_spacing_or_meta_precedence():
    meta = MetaTensor(torch.zeros(2, 1, 4, 5), affine=_affine(0.5, 2.0, 1.0))
    plain = torch.zeros(2, 3, 4, 5)
    assert spacing_or_meta((1.0, 3.0), meta, plain) == (1.0, 3.0)
    torch.testing.assert_close(
        spacing_or_meta(None, plain, meta), torch.tensor([[0.5, 2.0]] * 2, dtype=torch.float64)
    )
    assert spacing_or_meta(None, plain, torch.zeros(2, 1, 4, 5)) is None
    # A (B, *spatial) index map needs spatial_dims to tell the batch axis from a channel.
    index = MetaTensor(torch.zeros(2, 4, 5), affine=_affine(0.25, 4.0, 1.0))
    torch.testing.assert_close(
        spacing_or_meta(None, index, plain, spatial_dims=2),
        torch.tensor([[0.25, 4.0]] * 2, dtype=torch.float64),
    )


def test_metatensor_module_does_not_import_monai():
    code = (
        "import sys, edgewise.integrations, edgewise.integrations.metatensor as m;"
        "import torch; assert m.spacing_from_meta(torch.zeros(1,1,2,2)) is None;"
        "assert 'monai' not in sys.modules, 'monai imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
