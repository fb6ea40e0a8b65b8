"""Metrics read the voxel spacing of MONAI MetaTensors when given no ``spacing``."""

from __future__ import annotations

import pytest
import torch

from edgewise.metrics import hausdorff_distance, perimeter_error

monai_data = pytest.importorskip("monai.data")


def test_metatensor_spacing_equals_explicit_spacing():
    t = torch.zeros(2, 1, 16, 16, dtype=torch.bool)
    t[..., 4:10, 4:10] = True
    p = torch.roll(t, 2, dims=2)
    p[1] = torch.roll(t[1], 3, dims=1)
    aff = torch.diag(torch.tensor([0.5, 2.0, 1.0, 1.0], dtype=torch.float64))
    # rows are 0.5 mm apart: a 2-row (3-row) shift is 1 mm (1.5 mm), not 2 (3)
    expected = torch.tensor([[1.0], [1.5]])
    mp, mt = monai_data.MetaTensor(p, affine=aff), monai_data.MetaTensor(t, affine=aff)
    torch.testing.assert_close(hausdorff_distance(p, t, spacing=(0.5, 2.0)), expected)
    torch.testing.assert_close(hausdorff_distance(p, mt), expected)
    torch.testing.assert_close(hausdorff_distance(mp, t), expected)
    torch.testing.assert_close(hausdorff_distance(mp, mt, spacing=1.0), torch.tensor([[2.0], [3.0]]))
    # a collated batch carries one affine per sample
    items = [monai_data.MetaTensor(t[0], affine=aff),
             monai_data.MetaTensor(t[1], affine=torch.diag(torch.tensor([2.0, 1.0, 1.0, 1.0])))]
    batch = monai_data.list_data_collate(items)
    torch.testing.assert_close(hausdorff_distance(p, batch), torch.tensor([[1.0], [6.0]]))
    per_sample = torch.tensor([[0.5, 2.0], [2.0, 1.0]])
    p[1, :, 4:12, 5:8] = True  # perimeters now differ, and with them the spacing's effect
    expected_perimeter = perimeter_error(p, t, spacing=per_sample)
    assert not torch.allclose(expected_perimeter, perimeter_error(p, t))
    torch.testing.assert_close(perimeter_error(p, batch), expected_perimeter)


def test_collection_reads_metatensor_spacing_of_label_maps():
    from edgewise.metrics import SegmentationMetrics

    t = torch.zeros(1, 1, 16, 16, dtype=torch.long)
    t[..., 4:10, 4:10] = 1
    p = torch.roll(t, 2, dims=2)
    aff = torch.diag(torch.tensor([0.5, 2.0, 1.0, 1.0], dtype=torch.float64))
    metrics = SegmentationMetrics(num_classes=2, metrics=("hd",), include_background=False)
    values = metrics.update(p, monai_data.MetaTensor(t, affine=aff))
    # a 2-row shift at 0.5 mm per row is 1 mm; ignoring the affine would give 2
    torch.testing.assert_close(values["hd"], torch.tensor([[1.0]]))
