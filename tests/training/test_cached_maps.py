"""Cached whole-volume distance maps reach the loss terms that ask for them (``maps: cached``)."""

from __future__ import annotations

import lightning.pytorch as pl
import numpy as np
import pytest
import torch

from edgewise.losses import BoundaryLoss, GeneralizedDiceLoss
from edgewise.training import train
from edgewise.training.components import build_components, loss_and_cached_terms

# 3D synthetic shells sliced to 2D, with whole-volume signed maps cached on disk.
SLICES = "data.options={n: 2, n_val: 1, shape: [8, 16, 16], kind: rings, mode: slices, seed: 0}"
LOSS = ("loss={terms: [{name: gdl}, {name: boundary, weight: 0.5, maps: cached, "
        "args: {include_background: false}}]}")


def _with_cache(tmp_path):
    return [SLICES, f"data.options.map_cache={tmp_path / 'maps'}", "data.options.map_kind=signed", LOSS]


def test_loss_and_cached_terms_strips_the_maps_option():
    loss, cached = loss_and_cached_terms({"terms": [{"name": "gdl"}, {"name": "boundary", "maps": "cached"},
                                         {"name": "boundary", "maps": "on_the_fly"}]})
    assert loss.names == ["gdl", "boundary", "boundary_2"]
    assert [(name, i) for name, i, _ in cached] == [("boundary", 1)]


def test_the_batch_carries_sliced_3d_maps_and_the_loss_uses_them(tmp_path, tiny_config):
    from edgewise.maps import signed_distance

    cfg = tiny_config(*_with_cache(tmp_path))
    parts = build_components(cfg)
    module, dm = parts["module"], parts["datamodule"]
    assert module.cached_maps == ["boundary"]
    batch = next(iter(dm.train_dataloader()))
    ds = dm.dataset("train")
    dist_map = batch["dist_map"]
    assert dist_map.shape == (2, 2, 16, 16) and dist_map.dtype == torch.float32
    # the map is the 3D signed distance of the whole volume, sliced (float16 on disk)
    ci = ds.case_ids.index(batch["case"][0])
    volume = torch.as_tensor(np.asarray(ds.volume(ci).label))[None, None]
    full = signed_distance(volume, ds.volume(ci).spacing, num_classes=2)[0]
    expected = full[:, int(batch["slice"][0])]
    torch.testing.assert_close(dist_map[0], expected, rtol=2e-3, atol=2e-3)

    torch.manual_seed(0)
    logits = torch.randn(2, 2, 16, 16)
    label, spacing = batch["label"], batch["spacing"]
    got = module.compute_loss(logits, label, spacing, dist_map)
    want = (GeneralizedDiceLoss()(logits, label)
            + 0.5 * BoundaryLoss(include_background=False)(logits, label, dist_map=dist_map))
    torch.testing.assert_close(got, want)
    # not what per-slice (2D) maps give: the cached map really replaces them
    on_the_fly = (GeneralizedDiceLoss()(logits, label)
                  + 0.5 * BoundaryLoss(include_background=False)(logits, label, spacing=spacing))
    assert not torch.allclose(got, on_the_fly)
    with pytest.raises(ValueError, match="no 'dist_map'"):
        module.compute_loss(logits, label, spacing, None)


class _CheckLoss(pl.Callback):
    """Recomputes the first training step's loss by hand, before the optimiser step."""

    def __init__(self) -> None:
        self.expected: torch.Tensor | None = None
        self.got: torch.Tensor | None = None

    def on_train_batch_start(self, trainer, module, batch, batch_idx):
        if batch_idx == 0 and trainer.current_epoch == 0:
            assert "dist_map" in batch
            with torch.no_grad():
                logits = module(batch["image"])
                self.expected = (
                    GeneralizedDiceLoss()(logits, batch["label"])
                    + 0.5 * BoundaryLoss(include_background=False)(logits, batch["label"],
                                                                   dist_map=batch["dist_map"]))

    def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx):
        if batch_idx == 0 and trainer.current_epoch == 0:
            self.got = outputs["loss"].detach()


def test_training_passes_cached_maps_to_the_boundary_term(tmp_path, tiny_config):
    cfg = tiny_config(*_with_cache(tmp_path), "evaluation.overlays=0")
    check = _CheckLoss()
    run_dir = train(cfg, output_dir=tmp_path / "run", callbacks=[check])
    assert check.got is not None and check.expected is not None
    torch.testing.assert_close(check.got, check.expected, rtol=1e-5, atol=1e-6)
    assert list((tmp_path / "maps").glob("*.npy"))  # maps were cached on disk
    from edgewise.training import evaluate

    assert evaluate(run_dir)["num_cases"] == 1  # evaluation needs no maps


def test_cached_maps_must_match_the_term(tmp_path, tiny_config):
    with pytest.raises(ValueError, match="loss.terms.1.maps.*map_cache"):
        build_components(tiny_config(SLICES, LOSS))
    with pytest.raises(ValueError, match="kind 'signed'.*'unsigned'"):
        build_components(tiny_config(*_with_cache(tmp_path), "data.options.map_kind=unsigned"))
    with pytest.raises(ValueError, match="convention='livia'"):
        build_components(tiny_config(*_with_cache(tmp_path), "loss.terms.1.args.convention=livia"))
    with pytest.raises(ValueError, match=r"classes \[1\].*classes \[0\]"):
        build_components(tiny_config(*_with_cache(tmp_path), "data.options.map_options={classes: [0]}"))
    with pytest.raises(ValueError, match="supported for boundary"):
        build_components(tiny_config(*_with_cache(tmp_path), "loss.terms.1.name=dice"))
    with pytest.raises(ValueError, match="loss.terms.1.maps"):
        build_components(tiny_config(SLICES, "loss={terms: [{name: gdl}, {name: boundary, maps: 3d}]}"))
    # caching exactly the term's classes is fine
    parts = build_components(tiny_config(*_with_cache(tmp_path), "data.options.map_options={classes: [1]}"))
    assert parts["module"].cached_maps == ["boundary"]


def test_cached_maps_follow_loss_map_units(tmp_path, tiny_config):
    """The cache computes its maps in the loss's units (default voxel, #28) unless
    data.options.map_options.units says otherwise; a disagreement is refused."""
    parts = build_components(tiny_config(*_with_cache(tmp_path)))
    assert parts["loss"].map_units == "voxel"
    assert parts["datamodule"].dataset("train").map_options["units"] == "voxel"
    parts = build_components(tiny_config(*_with_cache(tmp_path), "loss.map_units=physical"))
    assert parts["loss"].map_units == "physical"
    assert parts["datamodule"].dataset("train").map_options["units"] == "physical"
    with pytest.raises(ValueError, match="loss.map_units is 'physical', the cached maps of the train "
                                         r"split are 'voxel' .*\['physical', 'voxel'\]"):
        build_components(tiny_config(*_with_cache(tmp_path), "loss.map_units=physical",
                                     "data.options.map_options={units: voxel}"))
    # a term's absent-class fill must be the cached maps' too
    with pytest.raises(ValueError, match=r"empty='diagonal', the cached maps empty='zero'"):
        build_components(tiny_config(*_with_cache(tmp_path), "loss.terms.1.args.empty=diagonal"))
    parts = build_components(tiny_config(*_with_cache(tmp_path), "loss.terms.1.args.empty=diagonal",
                                         "data.options.map_options={empty: diagonal}"))
    assert parts["loss"].terms["boundary"].empty == "diagonal"
