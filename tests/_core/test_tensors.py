"""Tensor inputs as maps, losses and metrics take them (``edgewise._core.tensors``)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from edgewise._core.tensors import as_mask, as_tensor, check_empty, check_not_empty


def test_as_tensor_shares_a_numpy_array_and_refuses_a_list():
    a = np.arange(6.0).reshape(2, 3)
    t = as_tensor(a, "x")
    a[0, 0] = 9.0
    assert t[0, 0].item() == 9.0  # no copy
    assert as_tensor(a.T, "x").tolist() == [[9.0, 3.0], [1.0, 4.0], [2.0, 5.0]]
    x = torch.zeros(2)
    assert as_tensor(x, "x") is x
    with pytest.raises(TypeError, match=r"^expected target as a torch.Tensor or numpy.ndarray, got list$"):
        as_tensor([0, 1], "target")


@pytest.mark.parametrize("dtype", [torch.uint8, torch.int64, torch.float32, torch.float64])
def test_as_mask_reads_zero_and_one_of_any_real_dtype(dtype):
    out = as_mask(torch.tensor([[0, 1], [1, 0]], dtype=dtype), "mask")
    assert out.dtype == torch.bool and out.tolist() == [[False, True], [True, False]]


def test_as_mask_passes_a_bool_tensor_through_and_reads_numpy():
    m = torch.tensor([True, False])
    assert as_mask(m, "mask") is m
    assert as_mask(np.array([0, 1]), "mask").tolist() == [False, True]


@pytest.mark.parametrize("bad", [0.5, 2.0, -1.0, float("nan")])
def test_as_mask_refuses_other_values_saying_what_it_expected(bad):
    x = torch.tensor([0.0, 1.0, bad])
    with pytest.raises(ValueError) as info:
        as_mask(x, "pred")
    assert str(info.value) == "expected pred with values in {0, 1} (bool or 0/1), got other values"
    with pytest.raises(ValueError) as info:
        as_mask(x, "pred", hint="; convert it first")
    assert str(info.value).endswith("got other values; convert it first")


def test_as_mask_refuses_complex_as_a_type_error():
    with pytest.raises(TypeError, match=r"^expected mask of bool or real dtype with 0/1 values, "
                                        r"got dtype torch.complex64$"):
        as_mask(torch.zeros(2, dtype=torch.complex64), "mask")


def test_check_not_empty_names_the_empty_axes():
    check_not_empty((2, 3, 4, 5), "input", 2)
    with pytest.raises(ValueError) as info:
        check_not_empty((2, 0, 4, 0), "input", 2)
    assert str(info.value) == (
        "expected input with at least one element along every axis, got shape (2, 0, 4, 0) "
        "(size 0 along: channel, spatial axis 1)"
    )
    # leading axes named by position when they are not (batch, channel)
    with pytest.raises(ValueError, match=r"\(size 0 along: batch axis 0\)$"):
        check_not_empty((0, 4, 4), "mask", 2)


def test_check_not_empty_spatial_only_lets_the_batch_be_empty():
    check_not_empty((0, 1, 4, 4), "target", 2, spatial_only=True)
    with pytest.raises(ValueError, match=r"along every spatial axis, .*size 0 along: spatial axis 0"):
        check_not_empty((0, 1, 0, 4), "target", 2, spatial_only=True)


def test_check_empty_takes_the_two_fills():
    check_empty("zero")
    check_empty("diagonal")
    with pytest.raises(ValueError, match=r"^expected empty in \('zero', 'diagonal'\), got 'nan'$"):
        check_empty("nan")
