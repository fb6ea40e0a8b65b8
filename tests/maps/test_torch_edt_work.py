"""The pure-torch EDT (the CUDA fallback, run here on CPU tensors) does linear work per axis.

Work is counted at the ATen dispatch level: every non-view op adds the number of elements it
reads or writes (gathers count their output, scatters their source), so a brute-force or
banded search over offsets shows up as work growing with the square of an axis' length.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten

from edgewise.maps import edt
from edgewise.maps._edt import _torch_edt

from ._helpers import scipy_edt

_READS = {"index", "gather", "index_select"}
_WRITES = {"index_put", "index_put_", "_index_put_impl_", "scatter", "scatter_", "scatter_add_"}


class _WorkCounter(TorchDispatchMode):
    def __init__(self) -> None:
        super().__init__()
        self.work = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        if func.is_view:
            return out
        name = func.overloadpacket.__name__
        ins = [a for a in tree_flatten((args, kwargs))[0] if isinstance(a, torch.Tensor)]
        outs = [a.numel() for a in tree_flatten(out)[0] if isinstance(a, torch.Tensor)]
        if name in _READS:
            self.work += sum(outs)
        elif name in _WRITES:
            self.work += sum(a.numel() for a in ins[1:])
        else:
            self.work += max([a.numel() for a in ins] + outs + [1])
        return out


def _single_site(shape: tuple[int, ...]) -> torch.Tensor:
    """One False element in a corner: the distances span the whole image, the worst case
    for any search over offsets."""
    m = torch.ones(1, *shape, dtype=torch.bool)
    m.view(-1)[0] = False
    return m


def _work(mask: torch.Tensor) -> int:
    spacing = torch.ones(mask.shape[0], mask.ndim - 1, dtype=torch.float32)
    with _WorkCounter() as counter:
        _torch_edt(mask, spacing)
    return counter.work


@pytest.mark.parametrize(
    ("small", "axis"),
    [((32, 32), 0), ((32, 32), 1), ((12, 12, 12), 0), ((12, 12, 12), 1), ((12, 12, 12), 2)],
)
def test_torch_edt_work_doubles_with_each_axis(small, axis):
    big = list(small)
    big[axis] *= 2
    w_small, w_big = _work(_single_site(small)), _work(_single_site(tuple(big)))
    # linear: 2x the elements, 2x the work (a banded or brute-force search would give ~4x)
    assert 1.8 < w_big / w_small < 2.2
    # and a bounded number of element operations per element and axis
    assert w_big < 60 * len(small) * int(np.prod(big))


def test_torch_edt_work_is_linear_on_random_masks():
    rng = np.random.default_rng(0)
    m1 = torch.from_numpy(rng.random((2, 48, 40)) > 0.02)
    m2 = torch.cat([m1, torch.from_numpy(rng.random((2, 48, 40)) > 0.02)], dim=1)
    ratio = _work(m2) / _work(m1)
    assert 1.8 < ratio < 2.3


def test_torch_edt_worst_case_values():
    m = _single_site((37, 23))
    got = edt(m, (1.5, 0.5), backend="torch")[0].numpy()
    np.testing.assert_allclose(got, scipy_edt(m[0].numpy(), (1.5, 0.5)), rtol=1e-6, atol=1e-6)
