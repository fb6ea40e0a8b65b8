"""Experiment files: variants, assignments, validation, grid expansion and run names."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from edgewise.bench.grid import (
    apply_variant,
    deep_merge,
    expand_grid,
    load_experiment,
    run_name,
    set_values,
)

EXPERIMENTS = Path(__file__).resolve().parents[2] / "configs" / "experiments"

EXP = {
    "name": "toy",
    "baseline": "ce",
    "base": {"trainer": {"max_epochs": 10}, "data": {"batch_size": 4, "options": {"n": 8}}},
    "datasets": {"syn": {"name": "synthetic", "options": {"kind": "vessels"}}, "rings": {"name": "synthetic"}},
    "losses": {
        "ce": {"terms": [{"name": "ce"}]},
        "ce_bl": {
            "terms": [{"name": "ce"}, {"name": "boundary", "weight": 0.01}],
            "schedule": {"name": "rebalance", "step": 0.01},
            "overrides": {"optimizer": {"lr": 5e-4}},
        },
    },
    "seeds": [3, 1],
    "variants": {"quick": {"base": {"trainer": {"max_epochs": 1}}, "seeds": [0], "losses": {"ce_bl": None}}},
}


def _write(tmp_path: Path, exp: dict) -> Path:
    path = tmp_path / "exp.yaml"
    path.write_text(yaml.safe_dump(exp, sort_keys=False))
    return path


def test_expand_grid_order_names_and_configs(tmp_path):
    exp = load_experiment(_write(tmp_path, EXP))
    cells = expand_grid(exp)
    assert [c.name for c in cells] == [
        "syn/ce/seed3", "syn/ce/seed1", "syn/ce_bl/seed3", "syn/ce_bl/seed1",
        "rings/ce/seed3", "rings/ce/seed1", "rings/ce_bl/seed3", "rings/ce_bl/seed1",
    ]
    c = cells[2]
    assert (c.dataset, c.loss, c.seed) == ("syn", "ce_bl", 3)
    assert c.config == {
        "trainer": {"max_epochs": 10},
        # base.data merged with the dataset's own config
        "data": {"batch_size": 4, "options": {"n": 8, "kind": "vessels"}, "name": "synthetic"},
        "loss": {"terms": [{"name": "ce"}, {"name": "boundary", "weight": 0.01}],
                 "schedule": {"name": "rebalance", "step": 0.01}},
        "name": "toy-syn-ce_bl-seed3",
        "seed": 3,
        "optimizer": {"lr": 5e-4},
    }
    # overrides are per loss: the CE cells keep the base optimiser
    assert "optimizer" not in cells[0].config
    assert cells[4].config["data"] == {"batch_size": 4, "options": {"n": 8}, "name": "synthetic"}


def test_variant_overrides_and_deletes(tmp_path):
    exp = load_experiment(_write(tmp_path, EXP), variant="quick")
    assert exp["variant"] == "quick" and "variants" not in exp
    cells = expand_grid(exp)
    assert [c.name for c in cells] == ["syn/ce/seed0", "rings/ce/seed0"]
    assert cells[0].config["trainer"] == {"max_epochs": 1}
    with pytest.raises(ValueError, match="expected a variant among \\['quick'\\], got 'full'"):
        load_experiment(_write(tmp_path, EXP), variant="full")


def test_assignments_apply_after_variant(tmp_path):
    exp = load_experiment(_write(tmp_path, EXP), "quick", ["base.trainer.max_epochs=3", "seeds=[0, 2]"])
    cells = expand_grid(exp)
    assert [c.seed for c in cells] == [0, 2, 0, 2]
    assert cells[0].config["trainer"]["max_epochs"] == 3
    with pytest.raises(ValueError, match="expected an assignment"):
        set_values(EXP, ["seeds"])
    with pytest.raises(ValueError, match="not a mapping"):
        set_values(EXP, ["seeds.x=1"])


def test_null_assignment_removes_a_key(tmp_path):
    """``--set losses.ce_bl=null`` leaves an arm out, as ``null`` in a variant does."""
    exp = load_experiment(_write(tmp_path, EXP), None, ["losses.ce_bl=null"])
    assert [c.loss for c in expand_grid(exp)] == ["ce"] * 4
    assert "ce_bl" in EXP["losses"]  # the input is not changed
    with pytest.raises(ValueError, match="cannot remove 'losses.nope'"):
        set_values(EXP, ["losses.nope=null"])
    with pytest.raises(ValueError, match="baseline"):
        load_experiment(_write(tmp_path, EXP), None, ["losses.ce=null"])


def test_deep_merge_does_not_mutate():
    base = {"a": {"b": [1, 2]}, "c": 1}
    merged = deep_merge(base, {"a": {"d": 2}, "c": None})
    assert merged == {"a": {"b": [1, 2], "d": 2}}
    merged["a"]["b"].append(3)
    assert base == {"a": {"b": [1, 2]}, "c": 1}
    assert apply_variant({"x": 1, "variants": {"v": {"x": 2}}}, None) == {"x": 1}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"losses": {}}, "'losses' to be a non-empty mapping"),
        ({"datasets": {"bad/name": {"name": "synthetic"}}}, "dataset label"),
        ({"seeds": [0, 0]}, "distinct seeds"),
        ({"seeds": ["a"]}, "'seeds' to be integers"),
        ({"baseline": "dice"}, "'baseline' among the losses"),
        ({"datasets": {"syn": [1]}}, "datasets.syn to be a mapping"),
    ],
)
def test_validation_messages(tmp_path, change, message):
    exp = {k: v for k, v in EXP.items() if k != "variants"}
    exp.update(change)
    with pytest.raises(ValueError, match=message):
        load_experiment(_write(tmp_path, exp))


def test_unknown_top_level_key(tmp_path):
    with pytest.raises(ValueError, match="top-level keys"):
        load_experiment(_write(tmp_path, {**EXP, "loss": {}}))


def test_run_name():
    assert run_name("drive", "gdl+bl", 0) == "drive/gdl+bl/seed0"
    with pytest.raises(ValueError, match="loss label"):
        run_name("drive", "../x", 0)
    with pytest.raises(ValueError, match="dataset label"):
        run_name("", "ce", 0)


def test_resolve_roots_makes_data_paths_absolute(tmp_path):
    from edgewise.bench.grid import resolve_roots

    exp = {
        "base": {"data": {"root": "data/x", "options": {"map_cache": "maps"}}},
        "datasets": {"a": {"name": "synthetic", "root": "/abs/y"}},
        "losses": {"bl": {"terms": [{"name": "ce"}],
                          "overrides": {"data": {"options": {"map_cache": "cache3d"}}}}},
    }
    out = resolve_roots(exp, tmp_path)
    assert out["base"]["data"]["root"] == str((tmp_path / "data/x").resolve())
    assert out["base"]["data"]["options"]["map_cache"] == str((tmp_path / "maps").resolve())
    assert out["datasets"]["a"]["root"] == "/abs/y"
    assert out["losses"]["bl"]["overrides"]["data"]["options"]["map_cache"] == str((tmp_path / "cache3d").resolve())
    assert exp["base"]["data"]["root"] == "data/x"  # the input is not changed
