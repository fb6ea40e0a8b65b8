"""The typed config schema: shipped files load, errors name key/type/value, JSON Schema, docs, CLI."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
import yaml

from edgewise.bench.grid import expand_grid, load_experiment
from edgewise.cli import main
from edgewise.training.config import DEFAULT_CONFIG, load_config, validate_config
from edgewise.training.schema import (
    experiment_json_schema,
    run_json_schema,
    update_reference,
    validate_experiment,
)

REPO = Path(__file__).resolve().parents[2]
RUN_CONFIGS = sorted((REPO / "configs").glob("*.yaml"))
EXPERIMENTS = sorted((REPO / "configs" / "experiments").glob("*.yaml"))


def test_shipped_files_are_found():
    assert {p.stem for p in RUN_CONFIGS} >= {"demo", "drive", "acdc", "acdc_cpu", "decathlon", "hippocampus"}
    assert {p.stem for p in EXPERIMENTS} >= {"acdc", "acdc_grid", "drive", "hippocampus", "kervadec"}


@pytest.mark.parametrize("path", RUN_CONFIGS, ids=lambda p: p.stem)
def test_every_shipped_run_config_loads_and_matches_the_json_schema(path):
    cfg = load_config(path)
    assert set(cfg) == set(DEFAULT_CONFIG) and cfg["loss"]["terms"]
    raw = yaml.safe_load(path.read_text())
    jsonschema.Draft202012Validator(run_json_schema()).validate(raw)


@pytest.mark.parametrize("path", EXPERIMENTS, ids=lambda p: p.stem)
def test_every_shipped_experiment_and_variant_loads(path):
    raw = yaml.safe_load(path.read_text())
    jsonschema.Draft202012Validator(experiment_json_schema()).validate(raw)
    for variant in [None, *(raw.get("variants") or {})]:
        cells = expand_grid(load_experiment(path, variant))
        assert cells
        for cell in cells:
            assert validate_config(cell.config)["seed"] == cell.seed


@pytest.mark.parametrize(
    "override, message",
    [
        ("trainer.max_epochs=0", "config key 'trainer.max_epochs': expected an integer >= 1, got 0"),
        ("data.batch_size=2.5", "config key 'data.batch_size': expected an integer >= 1, got 2.5"),
        ("seed=true", "config key 'seed': expected an integer >= 0, got True"),
        ("optimizer.lr=x", "config key 'optimizer.lr': expected a finite number >= 0.0, got 'x'"),
        ("optimizer.lr=nan", "config key 'optimizer.lr': expected a finite number >= 0.0, got nan"),
        ("optimizer.betas=[0.9, 1.0]",
         "config key 'optimizer.betas.1': expected a finite number in [0.0, 1.0), got 1.0"),
        ("optimizer.name=rmsprop",
         "config key 'optimizer.name': expected one of ['adam', 'adamw', 'sgd'], got 'rmsprop'"),
        ("trainer.deterministic=maybe",
         "config key 'trainer.deterministic': expected true, false or 'warn', got 'maybe'"),
        ("trainer.num_threads=0",
         "config key 'trainer.num_threads': expected null, an integer >= 1 or 'auto', got 0"),
        ("trainer.devices=0", "config key 'trainer.devices': expected -1, an integer >= 1, a non-empty "
                              "string or a non-empty list of integers >= 0, got 0"),
        ("evaluation.tolerances=[1, 1]",
         "config key 'evaluation.tolerances': expected distinct values, got [1.0, 1.0]"),
        ("trainer.max_epoch=3", "unknown config key 'trainer.max_epoch' (did you mean 'max_epochs'?)"),
        ("data.split_options.tst={n: 2}",
         "unknown config key 'data.split_options.tst' (did you mean 'test'?)"),
        ("loss={schedule: {name: rebalance}}",
         "missing config key 'loss.terms' (expected a non-empty list of mappings)"),
    ],
)
def test_errors_name_key_expected_type_and_value(override, message):
    with pytest.raises(ValueError) as info:
        load_config(overrides=[override])
    assert str(info.value) == message


def test_every_problem_is_reported_once():
    with pytest.raises(ValueError) as info:
        validate_config({"trainer": {"max_epochs": 0, "precision": 0}, "data": {"batch_size": 0}})
    assert str(info.value).splitlines() == [
        "config key 'data.batch_size': expected an integer >= 1, got 0",
        "config key 'trainer.max_epochs': expected an integer >= 1, got 0",
        "config key 'trainer.precision': expected a non-empty string or an integer >= 1, got 0",
    ]


@pytest.mark.parametrize("value, expected", [("1", 1), ("4", 4), ("null", None), ("auto", "auto")])
def test_num_threads_takes_a_count_null_or_auto(value, expected):
    assert load_config(overrides=[f"trainer.num_threads={value}"])["trainer"]["num_threads"] == expected


@pytest.mark.parametrize("value", ["0", "two", "true", "1.5"])
def test_num_threads_rejects_other_values(value):
    with pytest.raises(ValueError, match="'trainer.num_threads': expected null, an integer >= 1 or 'auto'"):
        load_config(overrides=[f"trainer.num_threads={value}"])


def test_resolved_config_keeps_loss_terms_as_written_and_fills_the_rest():
    cfg = validate_config({"loss": {"terms": [{"name": "dice"}, {"name": "boundary", "weight": "1e-2"}]},
                           "optimizer": {"lr": 0.1}, "scheduler": {"name": "step"}, "trainer": None})
    assert cfg["loss"] == {"terms": [{"name": "dice"}, {"name": "boundary", "weight": 0.01}],
                           "schedule": None, "map_units": "voxel"}
    assert cfg["optimizer"]["name"] == "adam" and cfg["optimizer"]["betas"] == [0.9, 0.999]
    assert list(cfg["scheduler"]) == ["name", "warmup_epochs", "step_size", "gamma"]
    assert cfg["trainer"] == DEFAULT_CONFIG["trainer"]


def test_json_schema_accepts_and_rejects_as_the_validator_does():
    validator = jsonschema.Draft202012Validator(run_json_schema())
    good = {"optimizer": {"lr": 0.1}, "trainer": {"num_threads": "auto", "devices": [0, 1]},
            "loss": {"terms": [{"name": "ce", "maps": "cached"}], "schedule": {"name": "rebalance", "step": 0.01}}}
    validator.validate(good)
    validate_config(good)
    for bad in ({"trainer": {"max_epochs": 0}}, {"trainer": {"max_epoch": 3}},
                {"optimizer": {"name": "sgd", "betas": [0.9, 0.99]}}, {"loss": {"terms": []}},
                {"trainer": {"num_threads": 0}}, {"evaluation": {"checkpoint": "worst"}}):
        assert not validator.is_valid(bad), bad
        with pytest.raises(ValueError):
            validate_config(bad)


def test_experiment_errors_name_the_key():
    exp = {"datasets": {"syn": {"name": "synthetic"}}, "losses": {"ce": {"terms": [{"name": "ce"}]}}}
    validate_experiment(exp)
    with pytest.raises(ValueError) as info:
        validate_experiment({**exp, "base": {"trainer": {"max_epochs": 0}}})
    assert str(info.value) == "expected base.trainer.max_epochs to be an integer >= 1, got 0"
    with pytest.raises(ValueError) as info:
        validate_experiment({**exp, "losses": {"ce": {"terms": [{"name": "ce"}], "overide": {}}}})
    assert str(info.value) == "unknown config key 'losses.ce.overide' (did you mean 'overrides'?)"


def test_docs_reference_is_generated_from_the_schema():
    text = (REPO / "docs" / "training.md").read_text()
    assert update_reference(text) == text, (
        "docs/training.md is stale: python -m edgewise.training.schema --update-docs docs/training.md"
    )
    assert "| `trainer.num_threads` | null, an integer >= 1 or 'auto' |" in text


def test_cli_config_show_prints_the_resolved_config(capsys, tmp_path):
    over = ["loss.terms.1.weight=0.02", f"data.root={tmp_path}"]
    assert main(["config", "show", str(REPO / "configs" / "acdc.yaml"), *over]) == 0
    shown = yaml.safe_load(capsys.readouterr().out)
    assert shown == load_config(REPO / "configs" / "acdc.yaml", over)
    assert shown["loss"]["terms"][1]["weight"] == 0.02 and shown["trainer"]["num_nodes"] == 1
    assert main(["config", "show", "-", "trainer.max_epochs=0"]) == 2
    assert "'trainer.max_epochs': expected an integer >= 1, got 0" in capsys.readouterr().err


def test_cli_config_schema_writes_json_schema(tmp_path, capsys):
    out = tmp_path / "schema.json"
    assert main(["config", "schema", "--output", str(out)]) == 0
    assert json.loads(out.read_text()) == run_json_schema()
    assert capsys.readouterr().out == f"wrote {out}\n"
    assert main(["config", "schema", "--experiment"]) == 0
    assert json.loads(capsys.readouterr().out) == experiment_json_schema()


def test_validation_on_the_test_split_is_refused_unless_asked_for():
    with pytest.raises(ValueError) as info:
        load_config(overrides=["data.val_split=test"])
    message = str(info.value)
    assert "data.val_split and data.test_split are both 'test'" in message
    assert "val_fraction" in message and "data.val_is_test: true" in message
    # asked for explicitly, validation may only be a learning curve: nothing chosen on it
    with pytest.raises(ValueError, match="expected evaluation.checkpoint: last, got 'best'"):
        load_config(overrides=["data.val_split=test", "data.val_is_test=true"])
    cfg = load_config(overrides=["data.val_split=test", "data.val_is_test=true",
                                 "evaluation.checkpoint=last"])
    assert cfg["data"]["val_split"] == cfg["data"]["test_split"] == "test"
    # other splits, or no validation at all, are fine
    assert load_config(overrides=["data.val_split=null"])["data"]["val_split"] is None
    assert load_config(overrides=["data.test_split=holdout"])["data"]["val_split"] == "val"


def test_no_shipped_config_validates_on_its_test_split():
    for path in sorted(Path("configs").glob("*.yaml")):
        cfg = yaml.safe_load(path.read_text())
        data = cfg.get("data") or {}
        assert data.get("val_split", "val") != data.get("test_split", "test"), path


def test_loss_map_units_defaults_to_voxel_and_names_the_allowed_values():
    assert load_config()["loss"]["map_units"] == "voxel"
    assert load_config(overrides=["loss.map_units=physical"])["loss"]["map_units"] == "physical"
    with pytest.raises(ValueError, match=r"config key 'loss.map_units': expected one of "
                                         r"\['voxel', 'physical'\], got 'mm'"):
        load_config(overrides=["loss.map_units=mm"])


@pytest.mark.parametrize("config", [{"optimizer": {"name": "adam", "lr": -1.0}},
                                    {"optimizer": {"name": "adamw", "weight_decay": -0.1}},
                                    {"evaluation": {"tolerance": -1.0}},
                                    {"optimizer": {"name": "adam", "betas": [0.9, 1.0]}}])
def test_the_json_schema_refuses_what_train_refuses(config):
    # decimal limits were written as "ge": 0.0, which JSON Schema ignores (19 places)
    from edgewise.training.schema import experiment_json_schema, run_json_schema

    schema = run_json_schema()
    text = json.dumps(schema) + json.dumps(experiment_json_schema())
    assert not any(f'"{k}": ' in text for k in ("ge", "le", "gt", "lt"))
    assert not jsonschema.Draft202012Validator(schema).is_valid(config)
    with pytest.raises(ValueError):
        validate_config(config)


def test_cli_config_show_checks_the_data_folder_as_train_does(capsys, tmp_path):
    # it printed the config and exited 0 on a config that train refuses
    assert main(["config", "show", str(REPO / "configs" / "acdc.yaml")]) == 2
    assert "data.root: dataset 'acdc' needs the folder of its files" in capsys.readouterr().err
    assert main(["config", "show", str(REPO / "configs" / "acdc.yaml"), f"data.root={tmp_path / 'no'}"]) == 2
    captured = capsys.readouterr()
    assert "does not exist" in captured.err and captured.out == ""
