"""Map functions refuse what they cannot compute: integer output dtypes, zero-size spatial axes,
an index map without ``num_classes``; each with a message that says what to do.

Parametrised over ``edgewise.maps.__all__`` by signature, so a new map function is covered.
"""

from __future__ import annotations

import inspect

import numpy as np
import pytest
import torch

import edgewise.maps as maps

from ._helpers import CPU_BACKENDS


def _functions(param: str) -> list[str]:
    return sorted(
        name for name in maps.__all__
        if inspect.isfunction(getattr(maps, name))
        and param in inspect.signature(getattr(maps, name)).parameters
    )


# maps whose values are 0/1 (skeletons, tubes): an integer or bool dtype is exact there
BINARY_MAPS = {"skeleton", "skeleton_tube"}
WITH_DTYPE = sorted(set(_functions("dtype")) - BINARY_MAPS)
WITH_NUM_CLASSES = sorted(set(_functions("num_classes")) - {"as_one_hot"})


def _labels(*spatial: int) -> torch.Tensor:
    t = torch.zeros(2, 1, *spatial, dtype=torch.long)
    t[..., 1:4, 1:4] = 1
    t[..., 2:3, 4:6] = 2
    return t


def test_registry_found_the_map_functions():
    assert {"signed_distance", "unsigned_distance", "inside_distance"} <= set(WITH_DTYPE)
    assert {"rrw_map", "penalty_map"} <= set(WITH_NUM_CLASSES)


@pytest.mark.parametrize("name", WITH_DTYPE)
@pytest.mark.parametrize("dtype", [torch.int64, torch.int32, torch.uint8, torch.bool])
def test_integer_dtype_refused(name, dtype):
    # the distances 1.414... would silently become 1
    with pytest.raises(TypeError, match=rf"floating-point dtype .*got {dtype}"):
        getattr(maps, name)(_labels(6, 7), num_classes=3, dtype=dtype)


@pytest.mark.parametrize("name", sorted(BINARY_MAPS))
@pytest.mark.parametrize("dtype", [torch.uint8, torch.bool])
def test_binary_maps_keep_integer_dtypes_exact(name, dtype):
    assert BINARY_MAPS <= set(_functions("dtype"))
    ref = getattr(maps, name)(_labels(6, 7), num_classes=3)
    assert set(ref.unique().tolist()) == {0.0, 1.0}
    out = getattr(maps, name)(_labels(6, 7), num_classes=3, dtype=dtype)
    assert out.dtype == dtype and torch.equal(out.float(), ref)


@pytest.mark.parametrize("name", WITH_DTYPE)
def test_dtype_not_a_dtype_refused(name):
    with pytest.raises(TypeError, match="expected dtype as a torch.dtype"):
        getattr(maps, name)(_labels(6, 7), num_classes=3, dtype="float32")


@pytest.mark.parametrize("name", WITH_DTYPE)
@pytest.mark.parametrize("dtype", [torch.float16, torch.float64])
def test_floating_dtypes_kept(name, dtype):
    out = getattr(maps, name)(_labels(6, 7), num_classes=3, dtype=dtype)
    ref = getattr(maps, name)(_labels(6, 7), num_classes=3)
    assert out.dtype == dtype
    torch.testing.assert_close(out.float(), ref, rtol=1e-3, atol=1e-2)


@pytest.mark.parametrize("backend", CPU_BACKENDS + ["torch"])
@pytest.mark.parametrize(("shape", "axis"), [((2, 0, 5), 0), ((2, 5, 0), 1), ((0, 5), 0),
                                             ((3, 4, 0, 5), 1)])
def test_edt_zero_size_spatial_axis(shape, axis, backend):
    nd = 3 if len(shape) == 4 else 2
    with pytest.raises(ValueError, match=rf"every spatial axis, got shape {shape!r}".replace("(", r"\(")
                       .replace(")", r"\)") + rf" \(size 0 along: spatial axis {axis}\)"):
        maps.edt(torch.zeros(shape, dtype=torch.bool), spatial_dims=nd, backend=backend)


def test_edt_empty_batch_is_an_empty_result():
    # no samples is not bad input for a transform: nothing in, nothing out
    assert maps.edt(torch.zeros(0, 4, 5, dtype=torch.bool), spatial_dims=2).shape == (0, 4, 5)


@pytest.mark.parametrize("name", WITH_NUM_CLASSES)
@pytest.mark.parametrize(("shape", "axis"), [((2, 1, 0, 5), 0), ((2, 1, 5, 0), 1),
                                             ((1, 1, 4, 0, 5), 1)])
def test_zero_size_spatial_axis(name, shape, axis):
    with pytest.raises(ValueError, match=rf"size 0 along: spatial axis {axis}"):
        getattr(maps, name)(torch.zeros(shape, dtype=torch.long), num_classes=2)


@pytest.mark.parametrize("name", WITH_NUM_CLASSES)
@pytest.mark.parametrize("as_numpy", [False, True])
def test_index_map_without_num_classes_says_so(name, as_numpy):
    t = _labels(6, 7)
    target = t.numpy() if as_numpy else t
    with pytest.raises(ValueError, match=r"integer labels in \[0, 2\]\): pass num_classes, e.g. num_classes=3"):
        getattr(maps, name)(target)


@pytest.mark.parametrize("values", [np.array([0.0, 0.5]), np.array([-1, 1])])
def test_no_num_classes_hint_for_other_values(values):
    # probabilities or negative values are not an index map: no misleading hint
    t = torch.zeros(1, 2, 4, 4, dtype=torch.from_numpy(values).dtype)
    t[0, 0, 0, :2] = torch.from_numpy(values)
    with pytest.raises(ValueError, match=r"got other values$"):
        maps.signed_distance(t)
