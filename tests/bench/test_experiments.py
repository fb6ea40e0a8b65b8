"""The shipped experiments: every variant expands into valid run configurations."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from edgewise.bench.grid import expand_grid, load_experiment

EXPERIMENTS = Path(__file__).resolve().parents[2] / "configs" / "experiments"
NAMES = ["acdc", "acdc_conventions", "acdc_grid", "acdc_terms", "caliva", "drive", "drive_terms", "eljurdi", "hippocampus", "hippocampus_terms", "karimi", "kervadec", "valverde"]


def test_every_paper_has_an_experiment():
    assert sorted(p.stem for p in EXPERIMENTS.glob("*.yaml")) == NAMES


@pytest.mark.parametrize("name", NAMES)
def test_variants_expand_to_valid_configs(name):
    from edgewise.training import validate_config
    from edgewise.training.components import loss_and_cached_terms

    variants = yaml.safe_load((EXPERIMENTS / f"{name}.yaml").read_text())["variants"]
    assert {"quick", "full"} <= set(variants)
    for variant in variants:
        exp = load_experiment(EXPERIMENTS / f"{name}.yaml", variant)
        cells = expand_grid(exp)
        assert len({c.name for c in cells}) == len(cells)
        for cell in cells:
            cfg = validate_config(cell.config)
            loss_and_cached_terms(cfg["loss"])
        if variant == "quick":
            # CPU smoke tests: synthetic data only, one seed, a handful of epochs
            assert {c.config["data"]["name"] for c in cells} == {"synthetic"}
            assert exp["seeds"] == [0] and exp["base"]["trainer"]["max_epochs"] <= 5
        elif (exp["base"].get("evaluation") or {}).get("bench_split") == "val":
            # a selection stage (weights chosen on validation, one seed): never scores test
            assert all(c.config["evaluation"]["bench_split"] == "val" for c in cells)
        else:
            assert len(exp["seeds"]) >= 3


@pytest.mark.parametrize("name", NAMES)
def test_quick_datasets_build(name):
    from edgewise.data import build_dataset

    exp = load_experiment(EXPERIMENTS / f"{name}.yaml", "quick")
    cell = expand_grid(exp)[0]
    data = cell.config["data"]
    ds = build_dataset(data["name"], "val", **{**data.get("options", {}), "n_val": 1})
    item = ds[0]
    # (C, *spatial) image and (1, *spatial) label, 2D or 3D
    assert item["image"].ndim in (3, 4) and item["label"].shape == (1, *item["image"].shape[1:])


def test_kervadec_compares_2d_and_3d_maps():
    cells = {c.loss: c.config for c in expand_grid(load_experiment(EXPERIMENTS / "kervadec.yaml", "quick"))}
    assert sorted(cells) == ["gdl", "gdl_bl", "gdl_bl3d"]
    assert cells["gdl_bl3d"]["loss"]["terms"][1]["maps"] == "cached"
    assert cells["gdl_bl3d"]["data"]["options"]["map_kind"] == "signed"
    assert "maps" not in cells["gdl_bl"]["loss"]["terms"][1]
    assert "map_cache" not in cells["gdl_bl"]["data"]["options"]
    # same loss otherwise: only where the maps come from differs
    strip = [{k: v for k, v in t.items() if k != "maps"} for t in cells["gdl_bl3d"]["loss"]["terms"]]
    assert strip == cells["gdl_bl"]["loss"]["terms"]


def test_caliva_sweeps_tolerances_1_to_4():
    for variant in ("quick", "full"):
        for cell in expand_grid(load_experiment(EXPERIMENTS / "caliva.yaml", variant)):
            assert cell.config["evaluation"]["tolerances"] == [1, 2, 3, 4]


def test_acdc_conventions_arms_differ_only_in_the_conventions():
    cells = {c.loss: c.config for c in expand_grid(load_experiment(EXPERIMENTS / "acdc_conventions.yaml", "full"))
             if c.seed == 0}
    assert sorted(cells) == ["bl_diag", "bl_mm", "bl_old", "bl_ref"]
    expected = {"bl_ref": ("zero", "voxel"), "bl_old": ("diagonal", "physical"),
                "bl_diag": ("diagonal", "voxel"), "bl_mm": ("zero", "physical")}
    for arm, (empty, units) in expected.items():
        loss = cells[arm]["loss"]
        assert loss["terms"][1]["args"].get("empty", "zero") == empty and loss["map_units"] == units
    strip = {arm: ({**cfg, "loss": None, "name": None}, [{**t, "args": {k: v for k, v in t.get("args", {}).items() if k != "empty"}}
                                          for t in cfg["loss"]["terms"]], cfg["loss"]["schedule"])
             for arm, cfg in cells.items()}
    assert all(v == strip["bl_ref"] for v in strip.values())
    # the same arm as the selection grid's bl_1e-2, so both grids measure one thing
    terms = {c.loss: c.config for c in expand_grid(load_experiment(EXPERIMENTS / "acdc_terms.yaml", "full"))}
    assert terms["bl_1e-2"]["loss"]["terms"] == cells["bl_ref"]["loss"]["terms"]
    assert terms["bl_1e-2"]["data"] == cells["bl_ref"]["data"] and terms["bl_1e-2"]["model"] == cells["bl_ref"]["model"]
