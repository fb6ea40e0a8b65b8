"""MONAI transforms (``edgewise.integrations.monai``): agreement with direct edgewise.maps calls.
MetaTensor spacing: test_metatensor.py."""

from __future__ import annotations


import numpy as np
import pytest
import torch

monai = pytest.importorskip("monai")

from monai.data import DataLoader, Dataset, MetaTensor  # noqa: E402
from monai.transforms import Compose, EnsureChannelFirstd, RandSpatialCropd  # noqa: E402

from edgewise import maps  # noqa: E402
from edgewise.integrations.metatensor import (  # noqa: E402
    spacing_from_meta,
)
from edgewise.integrations.monai import (  # noqa: E402
    PenaltyMap,
    PenaltyMapd,
    RRWMap,
    RRWMapd,
    SignedDistance,
    SignedDistanced,
    SignedDistanceD,
    UnsignedDistance,
    UnsignedDistanced,
)

from ._helpers import _affine  # noqa: E402


def _label2d() -> torch.Tensor:
    lab = torch.zeros(1, 12, 10, dtype=torch.long)
    lab[0, 2:7, 3:8] = 1
    lab[0, 8:11, 1:4] = 2
    return lab


def _label3d() -> torch.Tensor:
    lab = torch.zeros(1, 7, 9, 8, dtype=torch.long)
    lab[0, 2:5, 3:7, 2:6] = 1
    return lab


# ---------------------------------------------------------------- array transforms


@pytest.mark.parametrize("convention", ["boundary", "livia"])
def test_signed_distance_index_map_matches_maps(convention):
    lab = _label2d()
    spacing = (0.5, 1.5)
    got = SignedDistance(num_classes=3, spacing=spacing, convention=convention)(lab)
    ref = maps.signed_distance(lab[None], spacing, num_classes=3, convention=convention)[0]
    assert isinstance(got, torch.Tensor) and got.dtype == torch.float32
    torch.testing.assert_close(got, ref)


def test_signed_distance_hand_computed_anisotropic_from_metatensor():
    # Class 1 fills rows 0..3 of a (1, 8, 3) strip: along axis 0 (spacing 2.0) the inner
    # boundary is row 3 (value 0), rows 4.. are 1, 2, ... steps outside, rows 2, 1, 0 are
    # 1, 2, 3 steps inside; the spacing along axis 1 (0.1) must not matter here.
    lab = torch.zeros(1, 8, 3, dtype=torch.long)
    lab[0, :4] = 1
    item = MetaTensor(lab, affine=_affine(2.0, 0.1, 1.0))
    out = SignedDistance(num_classes=2, classes=[1])(item)
    assert isinstance(out, MetaTensor)
    torch.testing.assert_close(out.affine, item.affine)
    expected = torch.tensor([-6.0, -4.0, -2.0, 0.0, 2.0, 4.0, 6.0, 8.0])
    torch.testing.assert_close(out.as_tensor()[0, :, 1], expected)


def test_signed_distance_one_hot_3d_metatensor_matches_maps():
    lab = _label3d()
    onehot = torch.cat([lab == 0, lab == 1]).float()
    item = MetaTensor(onehot, affine=_affine(2.0, 0.7, 0.7))
    got = SignedDistance()(item)
    ref = maps.signed_distance(onehot[None], (2.0, 0.7, 0.7))[0]
    torch.testing.assert_close(got.as_tensor(), ref)
    # Unit spacing would give a different map: the metadata is really used.
    assert not torch.allclose(got.as_tensor(), maps.signed_distance(onehot[None])[0])


def test_unsigned_distance_numpy_in_numpy_out():
    lab = _label2d().numpy()
    got = UnsignedDistance(num_classes=3, classes=[1, 2], spacing=(1.0, 2.0))(lab)
    assert isinstance(got, np.ndarray) and got.dtype == np.float32 and got.shape == (2, 12, 10)
    ref = maps.unsigned_distance(torch.from_numpy(lab)[None], (1.0, 2.0), num_classes=3, classes=[1, 2])
    np.testing.assert_allclose(got, ref[0].numpy())


def test_spacing_precedence_call_over_constructor_over_metadata():
    lab = MetaTensor(_label2d(), affine=_affine(3.0, 3.0, 1.0))
    ref = lambda s: maps.signed_distance(_label2d()[None], s, num_classes=3)[0]  # noqa: E731
    torch.testing.assert_close(SignedDistance(num_classes=3)(lab).as_tensor(), ref((3.0, 3.0)))
    tr = SignedDistance(num_classes=3, spacing=(1.0, 2.0))
    torch.testing.assert_close(tr(lab).as_tensor(), ref((1.0, 2.0)))
    torch.testing.assert_close(tr(lab, spacing=(0.5, 0.5)).as_tensor(), ref((0.5, 0.5)))


@pytest.mark.parametrize(
    "map_cls, name", [(RRWMap, "rrw_map"), (PenaltyMap, "penalty_map")]
)
def test_other_maps_match_maps_functions(map_cls, name):
    if not hasattr(maps, name):
        pytest.skip(f"edgewise.maps.{name} not available yet")
    lab = _label2d()
    got = map_cls(num_classes=3)(lab)
    fn = getattr(maps, name)
    ref = fn(lab[None], num_classes=3)[0]
    torch.testing.assert_close(got, ref.float())
    # Metadata spacing reaches the map function too.
    item = MetaTensor(lab, affine=_affine(0.5, 2.0, 1.0))
    ref = fn(lab[None], (0.5, 2.0), num_classes=3)[0]
    torch.testing.assert_close(map_cls(num_classes=3)(item).as_tensor(), ref.float())


def test_penalty_map_has_no_classes_option():
    # One map for all classes: selecting classes is refused, not silently ignored.
    with pytest.raises(TypeError, match="has no classes option"):
        PenaltyMap(num_classes=3, classes=[1])


def test_array_transform_errors():
    with pytest.raises(ValueError, match=r"index map of shape \(1, \*spatial\)"):
        SignedDistance(num_classes=2)(torch.zeros(2, 5, 5))
    with pytest.raises(ValueError, match=r"channel-first item \(C, H, W\)"):
        SignedDistance(num_classes=2)(torch.zeros(5, 5, dtype=torch.long))
    with pytest.raises(TypeError, match="got list"):
        SignedDistance(num_classes=2)([[0, 1]])


# ---------------------------------------------------------------- dictionary transforms


def test_dict_transform_default_key_and_alias():
    assert SignedDistanceD is SignedDistanced
    d = {"image": torch.rand(1, 12, 10), "label": _label2d()}
    out = SignedDistanced("label", num_classes=3, spacing=(0.5, 1.5))(d)
    assert set(out) == {"image", "label", "label_sdm"}
    assert out["label"] is d["label"] and "label_sdm" not in d
    torch.testing.assert_close(
        out["label_sdm"], maps.signed_distance(_label2d()[None], (0.5, 1.5), num_classes=3)[0]
    )


def test_dict_transform_postfix_output_keys_and_several_keys():
    d = {"a": _label2d(), "b": _label2d().flip(-1)}
    out = UnsignedDistanced(["a", "b"], num_classes=3, postfix="dist")(d)
    assert {"a_dist", "b_dist"} <= set(out)
    out = UnsignedDistanced(["a", "b"], num_classes=3, output_keys=["da", "db"])(d)
    torch.testing.assert_close(out["db"], out["da"].flip(-1))
    # Writing over the label itself is allowed when asked for explicitly.
    out = SignedDistanced("a", num_classes=3, output_keys="a")(dict(d))
    assert out["a"].dtype == torch.float32 and out["a"].shape == (3, 12, 10)


def test_dict_transform_missing_keys():
    tr = SignedDistanced(["label", "label2"], num_classes=3)
    with pytest.raises(KeyError, match="label2"):
        tr({"label": _label2d()})
    out = SignedDistanced(["label", "label2"], num_classes=3, allow_missing_keys=True)(
        {"label": _label2d()}
    )
    assert set(out) == {"label", "label_sdm"}


def test_dict_transform_spacing_key():
    d = {"label": _label2d(), "spacing": np.array([2.0, 0.5])}
    out = SignedDistanced("label", num_classes=3, spacing_key="spacing")(d)
    torch.testing.assert_close(
        out["label_sdm"], maps.signed_distance(_label2d()[None], (2.0, 0.5), num_classes=3)[0]
    )
    with pytest.raises(KeyError, match="spacing_key 'pixdim'"):
        SignedDistanced("label", num_classes=3, spacing_key="pixdim")(d)


def test_dict_transform_argument_errors():
    with pytest.raises(ValueError, match="one output key per key"):
        SignedDistanced(["a", "b"], output_keys=["x"])
    with pytest.raises(ValueError, match="either output_keys or postfix"):
        SignedDistanced("a", output_keys="x", postfix="y")
    with pytest.raises(ValueError, match="non-empty string"):
        SignedDistanced("a", postfix="")


def test_dict_transform_in_monai_pipeline_and_collate():
    # Crop first, then compute the map: the map belongs to the cropped label.
    rng = np.random.default_rng(0)
    items = []
    for i in range(4):
        lab = np.zeros((16, 16), dtype=np.int64)
        r, c = rng.integers(3, 9, size=2)
        lab[r : r + 5, c : c + 4] = 1
        items.append(
            {
                "image": MetaTensor(torch.from_numpy(lab).float(), affine=_affine(0.5, 1.0 + i, 1.0)),
                "label": MetaTensor(torch.from_numpy(lab), affine=_affine(0.5, 1.0 + i, 1.0)),
            }
        )
    pipeline = Compose(
        [
            EnsureChannelFirstd(["image", "label"], channel_dim="no_channel"),
            RandSpatialCropd(["image", "label"], roi_size=(12, 12), random_size=False),
            SignedDistanced("label", num_classes=2),
        ]
    )
    pipeline.set_random_state(seed=0)
    batch = next(iter(DataLoader(Dataset(items, pipeline), batch_size=4)))
    assert batch["label_sdm"].shape == (4, 2, 12, 12)
    spacing = spacing_from_meta(batch["label"])
    torch.testing.assert_close(
        spacing, torch.tensor([[0.5, 1.0 + i] for i in range(4)], dtype=torch.float64)
    )
    ref = maps.signed_distance(batch["label"].as_tensor(), spacing, num_classes=2)
    torch.testing.assert_close(batch["label_sdm"].as_tensor(), ref)


@pytest.mark.parametrize(
    "cls, name, post", [(RRWMapd, "rrw_map", "rrw"), (PenaltyMapd, "penalty_map", "penalty")]
)
def test_rrw_and_penalty_dict_default_keys_and_option_check(cls, name, post):
    if not hasattr(maps, name):
        pytest.skip(f"edgewise.maps.{name} not available yet")
    out = cls("label", num_classes=3)({"label": _label2d()})
    assert out[f"label_{post}"].shape == ((3 if post == "rrw" else 1), 12, 10)
    torch.testing.assert_close(out[f"label_{post}"], getattr(maps, name)(_label2d()[None], num_classes=3)[0].float())
    with pytest.raises(TypeError, match="unexpected option"):
        cls("label", num_classes=3, bogus=1)
