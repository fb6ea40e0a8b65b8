import pytest
import yaml

from edgewise.training.config import (
    DEFAULT_CONFIG,
    apply_overrides,
    dump_config,
    load_config,
    parse_value,
    validate_config,
)

from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_defaults_are_complete_and_valid():
    cfg = load_config()
    assert cfg["optimizer"] == {"name": "adam", "lr": 1e-3, "weight_decay": 0.0,
                                "betas": [0.9, 0.999], "eps": 1e-8, "amsgrad": False}
    assert cfg["loss"] == {"terms": [{"name": "ce", "weight": 1.0}], "schedule": None, "map_units": "voxel"}
    assert set(cfg) == set(DEFAULT_CONFIG)


@pytest.mark.parametrize(
    "text, value",
    [("1e-3", 0.001), ("5", 5), ("2.5", 2.5), ("true", True), ("null", None),
     ("[0.9, 0.99]", [0.9, 0.99]), ("{a: 1}", {"a": 1}), ("cpu", "cpu"), ("1.0e-4", 1e-4)],
)
def test_parse_value(text, value):
    assert parse_value(text) == value


def test_overrides_types_and_nesting(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("name: x\noptimizer: {name: adam, lr: 1e-3}\n"
                    "loss: {terms: [{name: ce}, {name: boundary, weight: 0.01}]}\n")
    cfg = load_config(path, ["optimizer.lr=5e-3", "optimizer.betas=[0.9, 0.99]",
                             "loss.terms.1.weight=0.02", "trainer.devices=2",
                             "data.options.size=[256, 256]", "data.val_split=null"])
    # "1e-3" in a YAML file is a string for PyYAML; float keys coerce it.
    assert cfg["optimizer"]["lr"] == 0.005 and isinstance(cfg["optimizer"]["lr"], float)
    assert cfg["optimizer"]["betas"] == [0.9, 0.99]
    assert cfg["loss"]["terms"][1] == {"name": "boundary", "weight": 0.02}
    assert cfg["trainer"]["devices"] == 2
    assert cfg["data"]["options"] == {"size": [256, 256]}
    assert cfg["data"]["val_split"] is None
    assert cfg["name"] == "x"


def test_override_of_default_list_entry():
    cfg = load_config(overrides=["loss.terms.0.weight=2"])
    assert cfg["loss"]["terms"] == [{"name": "ce", "weight": 2.0}]


def test_switching_optimizer_fills_its_own_defaults():
    cfg = load_config(overrides=["optimizer.name=sgd", "optimizer.momentum=0.5"])
    assert cfg["optimizer"] == {"name": "sgd", "lr": 1e-3, "weight_decay": 0.0,
                                "momentum": 0.5, "nesterov": False}


@pytest.mark.parametrize(
    "override, key",
    [
        ("optimizer.lrr=1", "optimizer.lrr"),
        ("trainer.max_epoch=3", "trainer.max_epoch"),
        ("trainer.max_epochs=0", "trainer.max_epochs"),
        ("data.batch_size=abc", "data.batch_size"),
        ("data.batch_size=2.5", "data.batch_size"),
        ("optimizer.lr=-1", "optimizer.lr"),
        ("optimizer.name=rmsprop", "optimizer.name"),
        ("scheduler.name=cosine", None),
        ("optimizer.betas=[0.9]", "optimizer.betas"),
        ("foo=1", "foo"),
        ("loss.terms.3.weight=1", "loss.terms.3"),
        ("loss.terms.0.wieght=1", "loss.terms.0.wieght"),
        ("loss.shedule=1", "loss.shedule"),
        ("data.split_options.tst={n: 2}", "data.split_options.tst"),
        ("evaluation.checkpoint=worst", "evaluation.checkpoint"),
        ("trainer.deterministic=maybe", "trainer.deterministic"),
        ("evaluation.tolerances=[1, -2]", "evaluation.tolerances.1"),
        ("evaluation.tolerances=[1, 1]", "evaluation.tolerances"),
        ("evaluation.tolerances=2", "evaluation.tolerances"),
        ("loss.terms.0.maps=3d", "loss.terms.0.maps"),
    ],
)
def test_bad_values_name_the_key(override, key):
    if key is None:  # a valid override, for contrast
        assert load_config(overrides=[override])["scheduler"]["min_lr"] == 0.0
        return
    with pytest.raises(ValueError, match=f"'{key}'"):
        load_config(overrides=[override])


def test_scheduler_key_of_other_scheduler_rejected():
    with pytest.raises(ValueError, match="'scheduler.power'"):
        load_config(overrides=["scheduler.name=cosine", "scheduler.power=2"])


def test_malformed_overrides_and_files(tmp_path):
    with pytest.raises(ValueError, match="key=value"):
        apply_overrides({}, ["optimizer.lr"])
    with pytest.raises(ValueError, match="dotted key"):
        apply_overrides({}, ["a..b=1"])
    with pytest.raises(FileNotFoundError):
        load_config(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("- a list\n- not a mapping\n")
    with pytest.raises(ValueError, match="mapping"):
        load_config(bad)
    with pytest.raises(ValueError, match="'loss.terms'"):
        validate_config({"loss": {"terms": []}})


def test_dump_roundtrip():
    cfg = load_config(overrides=["optimizer.betas=[0.9, 0.99]", "name=abc"])
    assert validate_config(yaml.safe_load(dump_config(cfg))) == cfg


@pytest.mark.parametrize("name", ["demo", "drive", "acdc", "decathlon"])
def test_shipped_configs_are_valid(name):
    cfg = load_config(REPO / "configs" / f"{name}.yaml")
    assert cfg["loss"]["terms"]


def test_shipped_protocols():
    drive = load_config(REPO / "configs" / "drive.yaml")
    assert drive["data"]["options"]["size"] == [256, 256]
    assert drive["data"]["batch_size"] == 8 and drive["optimizer"]["lr"] == 1e-3
    assert drive["model"]["name"] == "unet" and drive["loss"]["terms"] == [{"name": "ce", "weight": 1.0}]
    acdc = load_config(REPO / "configs" / "acdc.yaml")
    assert acdc["model"]["name"] == "enet" and acdc["optimizer"]["lr"] == 5e-3
    assert acdc["optimizer"]["betas"] == [0.9, 0.99] and acdc["data"]["batch_size"] == 8


def test_demo_yaml_matches_builtin_demo():
    from edgewise.training.demo import DEMO_CONFIG, demo_configs

    assert load_config(REPO / "configs" / "demo.yaml") == validate_config(DEMO_CONFIG)
    assert demo_configs()["ce"]["loss"] == validate_config(DEMO_CONFIG)["loss"]


def test_tolerance_sweep_and_map_source_keys():
    cfg = load_config(overrides=["evaluation.tolerances=[1, 2.5]", "loss.terms.0.maps=cached"])
    assert cfg["evaluation"]["tolerances"] == [1.0, 2.5]
    assert cfg["loss"]["terms"][0]["maps"] == "cached"
    assert load_config()["evaluation"]["tolerances"] is None


@pytest.mark.parametrize(
    "text, key, lines",
    [
        ("trainer:\n  max_epochs: 1\n  max_epochs: 7\n", "max_epochs", (2, 3)),
        ("trainer: {max_epochs: 1, num_threads: 1}\ndata: {batch_size: 2}\ntrainer:\n  max_epochs: 50\n",
         "trainer", (1, 3)),
    ],
)
def test_a_key_written_twice_is_an_error_naming_it_and_both_lines(tmp_path, text, key, lines):
    # YAML loaders keep the last value: these trained 7 (or 50) epochs and lost num_threads
    path = tmp_path / "run.yaml"
    path.write_text(text)
    with pytest.raises(ValueError) as info:
        load_config(path)
    assert f"key {key!r} is written twice in one mapping (lines {lines[0]} and {lines[1]})" in str(info.value)
    assert str(path) in str(info.value)


def test_an_experiment_key_written_twice_is_an_error(tmp_path):
    from edgewise.bench.grid import load_experiment

    path = tmp_path / "exp.yaml"
    path.write_text("datasets: {syn: {name: synthetic}}\nlosses:\n  ce: {terms: [{name: ce}]}\n"
                    "  ce: {terms: [{name: dice}]}\n")
    with pytest.raises(ValueError, match=r"key 'ce' is written twice in one mapping \(lines 3 and 4\)"):
        load_experiment(path)


def test_a_label_map_keeps_integer_keys_in_the_saved_config(tmp_path):
    # config show and config.yaml wrote {'0': 0, '255': 1}
    from edgewise.training.config import dump_config

    cfg = load_config(overrides=["data.options={label_map: {0: 0, 255: 1}}"])
    text = dump_config(cfg)
    assert "label_map: {0: 0, 255: 1}" in text
    assert yaml.safe_load(text)["data"]["options"]["label_map"] == {0: 0, 255: 1}
