"""RRW and penalty maps (``edgewise.maps.penalty``): against their definitions and brute force,
hand values and edge cases."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from scipy import ndimage

from edgewise.maps import penalty_map, rrw_map

from ._helpers import CPU_BACKENDS, brute_distance, scipy_edt

SETTINGS = settings(max_examples=25, deadline=None)

label_maps = st.tuples(st.integers(1, 2), st.integers(2, 10), st.integers(2, 10)).flatmap(
    lambda s: arrays(np.int64, s, elements=st.integers(0, 2))
)


def ref_rrw(mask: np.ndarray) -> np.ndarray:
    """Valverde & Tohka's RRW map of one class, from the paper's definition."""
    if not mask.any():
        return np.ones(mask.shape)
    r = scipy_edt(mask)
    return np.where(mask, -r / r.max(), 1.0)


def ref_penalty(lab: np.ndarray, num_classes: int, spacing) -> np.ndarray:
    out = np.zeros(lab.shape)
    for k in range(num_classes):
        m = lab == k
        if not m.any():
            continue
        border = 0 if m.all() else 1
        bset = m & ~ndimage.binary_erosion(m, border_value=border)
        d = brute_distance(bset, spacing)
        top = d[m].max()
        out[m] = 1.0 - d[m] / top if top > 0 else 1.0
    return out


@pytest.mark.parametrize("be", CPU_BACKENDS)
@SETTINGS
@given(lab=label_maps)
def test_rrw_matches_definition(be, lab):
    got = rrw_map(torch.from_numpy(lab)[:, None], num_classes=3, backend=be).numpy()
    for b in range(lab.shape[0]):
        for k in range(3):
            np.testing.assert_allclose(got[b, k], ref_rrw(lab[b] == k), rtol=1e-5, atol=1e-6)
        # stability: the true class has the strictly lowest value everywhere
        true_val = np.take_along_axis(got[b], lab[b][None], 0)[0]
        assert (got[b] >= true_val[None]).all()
        assert ((got[b] > true_val[None]).sum(0) == 2).all()


@pytest.mark.parametrize("be", CPU_BACKENDS)
@SETTINGS
@given(lab=label_maps, spacing=st.tuples(st.floats(0.5, 2.0), st.floats(0.5, 2.0)))
def test_penalty_matches_brute_force(be, lab, spacing):
    got = penalty_map(torch.from_numpy(lab)[:, None], spacing, num_classes=3, backend=be)
    assert got.shape == (lab.shape[0], 1, *lab.shape[1:])
    for b in range(lab.shape[0]):
        ref = ref_penalty(lab[b], 3, spacing)
        np.testing.assert_allclose(got[b, 0].numpy(), ref, rtol=1e-4, atol=1e-5)


def test_rrw_and_penalty_hand_values_and_edge_cases():
    t = torch.zeros(2, 1, 7, 7, dtype=torch.long)
    t[0, 0, 1:6, 1:6] = 1
    r = rrw_map(t, num_classes=3)
    assert torch.isfinite(r).all()
    assert (r[:, 2] == 1).all()  # absent class: +1 everywhere
    assert r[0, 1, 3, 3].item() == -1.0  # centre of the 5x5 square, r = 3
    assert r[0, 1, 1, 1].item() == pytest.approx(-1 / 3)
    # class 0 fills sample 1: r is the distance to just beyond the border, max 4 at the centre
    assert r[1, 0, 3, 3].item() == -1.0
    assert r[1, 0, 0, 3].item() == pytest.approx(-0.25)
    p = penalty_map(t, num_classes=3)
    assert p.shape == (2, 1, 7, 7)
    assert p[0, 0, 1, 1].item() == 1.0  # square boundary
    assert p[0, 0, 3, 3].item() == 0.0  # square centre, 2 from its boundary
    assert p[0, 0, 2, 3].item() == 0.5
    assert p[0, 0, 0, 3].item() == 1.0  # background touching the square
    assert p[0, 0, 0, 0].item() == 0.0  # background corner: its deepest element (1 away)
    assert p[1, 0, 0, 0].item() == 1.0  # full class: border ring is its boundary
    assert p[1, 0, 3, 3].item() == 0.0
    assert p[1, 0, 2, 3].item() == pytest.approx(1 / 3)  # 2 from the ring, centre 3
    with pytest.raises(ValueError, match="exactly one class"):
        penalty_map(torch.zeros(1, 2, 4, 4))


@pytest.mark.parametrize("shape", [(3, 9, 11), (2, 5, 6, 7), (2, 1, 8), (1, 1, 1), (2, 4, 1, 3)])
@pytest.mark.parametrize("c", [1, 2, 3])
def test_penalty_boundary_from_labels_equals_boundary_set(shape, c):
    """The penalty's boundary of a partition, from labels, is the union of the classes'
    boundary sets (including a full class's border ring)."""
    from edgewise.maps import boundary_set
    from edgewise.maps._input import onehot_from_labels
    from edgewise.maps.penalty import _own_boundary

    lab = torch.randint(0, c, shape, generator=torch.Generator().manual_seed(c))
    lab[0] = 0  # a sample holding one label: a full class
    assert torch.equal(_own_boundary(lab), boundary_set(onehot_from_labels(lab, 3)).any(1))


@pytest.mark.parametrize("c", [1, 3, 300])
def test_disjoint_labels_running_sum_equals_weighted_sum(c):
    """The multi-label input of the inside maps: label i + 1 of the mask holding an element,
    None when masks overlap; the input masks are left unchanged."""
    from edgewise.maps.distance import _disjoint_labels

    g = torch.Generator().manual_seed(c)
    lab = torch.randint(0, c + 1, (2, 6, 7), generator=g)  # c + 1: in no mask
    sel = lab.unsqueeze(1) == torch.arange(c).view(1, c, 1, 1)
    before = sel.clone()
    expected = torch.where(lab < c, lab + 1, 0)
    assert torch.equal(_disjoint_labels(sel).long(), expected)
    assert torch.equal(sel, before)
    if c > 1:
        sel[0, 1, 0, 0] = sel[0, 0, 0, 0] = True
        assert _disjoint_labels(sel) is None
