"""The one reading of ``spacing`` (``edgewise._core.spacing``) and the one MetaTensor test.

Tables are written out by hand: a parser checked only against itself would pass with any
reading.
"""

from __future__ import annotations

import math
import subprocess
import sys

import numpy as np
import pytest
import torch

from edgewise._core.spacing import is_metatensor, spacing_from_meta, spacing_ndim, spacing_table

EXPECTED_2D = (
    "expected spacing as None, a number, a sequence of 2 numbers (one per spatial axis, "
    "array axis order) or a (3, 2) table"
)


def _table(rows: list[list[float]]) -> torch.Tensor:
    return torch.tensor(rows, dtype=torch.float64)


# -- what a spacing may be ---------------------------------------------------------------


def test_none_is_one_along_every_axis_of_every_sample():
    assert torch.equal(spacing_table(None, 3, 2), _table([[1, 1], [1, 1], [1, 1]]))
    assert torch.equal(spacing_table(None, None, 3), _table([[1, 1, 1]]))


@pytest.mark.parametrize("value", [2.5, np.float32(2.5), np.array(2.5), torch.tensor(2.5)])
def test_one_number_is_every_axis_of_every_sample(value):
    assert torch.equal(spacing_table(value, 2, 3), _table([[2.5, 2.5, 2.5], [2.5, 2.5, 2.5]]))


def test_an_int_and_a_bool_are_numbers():
    assert torch.equal(spacing_table(2, 1, 2), _table([[2.0, 2.0]]))
    assert torch.equal(spacing_table(True, 1, 2), _table([[1.0, 1.0]]))


@pytest.mark.parametrize(
    "value",
    [(0.5, 2.0), [0.5, 2.0], np.array([0.5, 2.0], np.float32), torch.tensor([0.5, 2.0])],
    ids=["tuple", "list", "ndarray", "tensor"],
)
def test_one_value_per_axis_is_repeated_over_the_batch(value):
    assert torch.equal(spacing_table(value, 3, 2), _table([[0.5, 2.0], [0.5, 2.0], [0.5, 2.0]]))


@pytest.mark.parametrize(
    "value",
    [
        [[0.5, 2.0], [1.5, 0.25]],
        np.array([[0.5, 2.0], [1.5, 0.25]]),
        torch.tensor([[0.5, 2.0], [1.5, 0.25]], requires_grad=True),
    ],
    ids=["nested list", "ndarray", "tensor with grad"],
)
def test_a_per_sample_table_is_one_row_per_sample(value):
    out = spacing_table(value, 2, 2)
    assert torch.equal(out, _table([[0.5, 2.0], [1.5, 0.25]]))
    assert out.dtype == torch.float64 and out.device.type == "cpu" and not out.requires_grad


def test_the_table_is_float64_of_the_given_values_and_a_copy():
    given = torch.tensor([0.1, 0.2], dtype=torch.float32)
    out = spacing_table(given, 2, 2)
    # float32 0.1 read exactly, not rounded to the float64 0.1
    assert out[0, 0].item() == float(np.float32(0.1)) != 0.1
    out[0, 0] = 7.0
    assert given[0].item() == pytest.approx(0.1) and out[1, 0].item() == float(np.float32(0.1))


def test_an_empty_batch_gives_an_empty_table():
    assert spacing_table((1.0, 2.0), 0, 2).shape == (0, 2)
    assert spacing_table(torch.ones(0, 3), 0, 3).shape == (0, 3)


def test_spacing_ndim_is_the_number_of_axes_named():
    assert spacing_ndim(None) is None
    assert spacing_ndim(1.5) is None
    assert spacing_ndim(torch.tensor(1.5)) is None
    assert spacing_ndim((1.0, 2.0, 3.0)) == 3
    assert spacing_ndim(np.ones((4, 2))) == 2


# -- what it may not be, and what the message says ---------------------------------------


@pytest.mark.parametrize(
    ("value", "shown"),
    [((1.0, 0.0), "[1.0, 0.0]"), ((1.0, -2.0), "[1.0, -2.0]"), (-1.0, "-1.0"),
     ((1.0, math.nan), "[1.0, nan]"), ((math.inf, 1.0), "[inf, 1.0]"),
     ([[1.0, 1.0], [1.0, 1.0], [1.0, 0.0]], "[[1.0, 1.0], [1.0, 1.0], [1.0, 0.0]]")],
)
def test_a_value_that_is_not_positive_and_finite_is_a_value_error_showing_it(value, shown):
    with pytest.raises(ValueError) as info:
        spacing_table(value, 3, 2)
    assert str(info.value) == f"expected positive finite spacing, got {shown}"


@pytest.mark.parametrize("value", ["1,1", "1.5", b"1", [1.0, "a"], [[1.0, 2.0], [1.0]], {"x": 1}, object()])
def test_a_spacing_that_is_not_numbers_is_a_type_error_naming_it(value):
    # numpy alone would read "1.5" and b"1" as numbers
    with pytest.raises(TypeError) as info:
        spacing_table(value, 3, 2)
    assert str(info.value) == f"{EXPECTED_2D}, got {value!r}"


@pytest.mark.parametrize(("value", "shape"), [((1.0, 2.0, 3.0), "(3,)"), (np.ones((1, 3, 2)), "(1, 3, 2)")])
def test_a_shape_that_fits_no_form_is_a_value_error(value, shape):
    with pytest.raises(ValueError) as info:
        spacing_table(value, 3, 2)
    assert str(info.value) == f"{EXPECTED_2D}, got shape {shape}"


@pytest.mark.parametrize("rows", [(2, 2), (4, 2), (3, 3), (1, 2)])
def test_a_per_sample_table_of_another_shape_names_the_batch(rows):
    with pytest.raises(ValueError) as info:
        spacing_table(np.ones(rows), 3, 2)
    assert str(info.value) == (
        f"expected per-sample spacing of shape (batch, ndim) = (3, 2), got {rows}"
    )


def test_a_per_sample_table_for_an_image_with_no_batch_axis_is_refused():
    with pytest.raises(ValueError, match=r"^expected spacing of 2 values for an image with no "
                                         r"batch axis, got a per-sample table of shape \(1, 2\)$"):
        spacing_table(torch.ones(1, 2), None, 2)


def test_without_a_batch_size_the_message_says_B_and_ndim():
    with pytest.raises(TypeError, match=r"^expected spacing .* or a \(B, ndim\) table, got 'x'$"):
        spacing_ndim("x")


# -- the MetaTensor test -----------------------------------------------------------------


class MetaTensor(torch.Tensor):
    """Not MONAI's: a class of the same name is no MetaTensor."""


@pytest.mark.parametrize("x", [torch.zeros(2, 1, 4, 4), np.zeros((2, 1, 4, 4)), None, "MetaTensor",
                               torch.zeros(2).as_subclass(MetaTensor)])
def test_nothing_but_a_monai_metatensor_is_one(x):
    assert is_metatensor(x) is False
    assert spacing_from_meta(x) is None


def test_a_monai_metatensor_is_one_and_its_affine_gives_its_spacing():
    monai_data = pytest.importorskip("monai.data")
    # a rotation by 30 degrees in the plane of the two array axes, spacing (3, 4): the
    # column norms are the spacing whatever the rotation
    c, s = math.cos(math.pi / 6), math.sin(math.pi / 6)
    affine = torch.tensor([[3 * c, -4 * s, 0, 10], [3 * s, 4 * c, 0, 20], [0, 0, 1, 0], [0, 0, 0, 1]],
                          dtype=torch.float64)
    x = monai_data.MetaTensor(torch.zeros(2, 1, 5, 6), affine=affine)
    assert is_metatensor(x)
    torch.testing.assert_close(spacing_from_meta(x), _table([[3.0, 4.0], [3.0, 4.0]]))
    # one affine per sample of a collated batch: one row each
    items = [monai_data.MetaTensor(torch.zeros(1, 5, 6), affine=torch.diag(torch.tensor(d)))
             for d in ([0.5, 2.0, 1.0, 1.0], [1.5, 0.25, 1.0, 1.0])]
    batch = monai_data.list_data_collate(items)
    assert is_metatensor(batch)
    torch.testing.assert_close(spacing_from_meta(batch), _table([[0.5, 2.0], [1.5, 0.25]]))
    # and the parser takes that table as a per-sample spacing
    torch.testing.assert_close(spacing_table(spacing_from_meta(batch), 2, 2),
                               _table([[0.5, 2.0], [1.5, 0.25]]))


def test_the_metatensor_test_never_imports_monai():
    # with MONAI unimportable and with MONAI merely installed: plain tensors are no
    # MetaTensor, and nothing loads MONAI
    for hide in ("import sys; sys.modules['monai'] = None\n", ""):
        code = (
            hide
            + "import sys, torch\n"
            "from edgewise._core.spacing import is_metatensor, spacing_from_meta, spacing_table\n"
            "import edgewise.maps, edgewise.losses, edgewise.metrics\n"
            "x = torch.zeros(2, 1, 4, 4)\n"
            "assert is_metatensor(x) is False and spacing_from_meta(x) is None\n"
            "assert spacing_table(None, 2, 2).tolist() == [[1.0, 1.0], [1.0, 1.0]]\n"
            "assert sys.modules.get('monai') is None, 'monai imported'\n"
        )
        subprocess.run([sys.executable, "-c", code], check=True)
