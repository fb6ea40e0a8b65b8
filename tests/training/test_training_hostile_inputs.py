"""Careless or hostile run configs (#25, second round): each is refused with a message
naming the input and what was expected, or read as YAML means it."""

from __future__ import annotations

import time

import pytest

from edgewise.training.config import load_config


def test_yaml_merge_keys_are_read(tmp_path):
    """`<<: *anchor` was "could not determine a constructor for the tag ...merge" since
    duplicate keys are refused; keys written beside it override the merged ones."""
    path = tmp_path / "run.yaml"
    path.write_text("loss:\n  terms:\n    - &term {name: dice, weight: 0.5, args: {include_background: false}}\n"
                    "    - {<<: *term, name: boundary}\n")
    terms = load_config(path)["loss"]["terms"]
    assert [t["name"] for t in terms] == ["dice", "boundary"]
    assert terms[1]["weight"] == 0.5 and terms[1]["args"] == {"include_background": False}


def test_a_key_written_twice_on_one_line_is_refused(tmp_path):
    """`{max_epochs: 1, max_epochs: 7}` trained 7 epochs: only keys on two lines were caught."""
    path = tmp_path / "run.yaml"
    path.write_text("trainer: {max_epochs: 1, max_epochs: 7}\n")
    with pytest.raises(ValueError, match=r"key 'max_epochs' is written twice in one mapping \(both on line 1\)"):
        load_config(path)


def test_an_alias_bomb_is_refused_at_once(tmp_path):
    """Nine nested aliases of ten items (a "billion laughs") in model.args: `config show`
    and `train` spun in the schema's checks for hours."""
    lines = ["    a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"    a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]" for i in range(1, 9)]
    path = tmp_path / "bomb.yaml"
    path.write_text("model:\n  args:\n" + "\n".join(lines) + "\n")
    start = time.perf_counter()
    with pytest.raises(ValueError, match=r"expands to 1,234,567,913 values through its aliases .* more than the 1,000,000"):
        load_config(path)
    assert time.perf_counter() - start < 5


def test_an_empty_config_file_is_refused(tmp_path):
    """An empty (unsaved, truncated) or comment-only file trained the built-in defaults."""
    for text in ("", "# nothing yet\n"):
        path = tmp_path / "run.yaml"
        path.write_text(text)
        with pytest.raises(ValueError, match=r"run.yaml is empty \(no YAML document\): expected a mapping"):
            load_config(path)
    (tmp_path / "braces.yaml").write_text("{}\n")  # an explicit empty mapping: the defaults
    assert load_config(tmp_path / "braces.yaml")["name"] == "run"


def test_a_tab_indent_says_so(tmp_path):
    path = tmp_path / "tabs.yaml"
    path.write_text("data:\n\tname: synthetic\n")
    with pytest.raises(ValueError, match=r"tabs.yaml; indent YAML with spaces, not tabs: "):
        load_config(path)


def test_a_negative_loss_term_weight_is_refused():
    """`loss.terms.0.weight=-1` trained the network to make its term worse, silently."""
    with pytest.raises(ValueError, match=r"config key 'loss.terms.0.weight': expected a finite number >= 0.0, got -1"):
        load_config(overrides=["loss.terms.0.weight=-1"])
    assert load_config(overrides=["loss.terms.0.weight=0"])["loss"]["terms"][0]["weight"] == 0.0


@pytest.mark.parametrize("key", ["trainer.limit_train_batches", "trainer.limit_val_batches"])
def test_a_batch_limit_of_zero_is_refused(key):
    """`trainer.limit_train_batches=0` trained nothing, wrote no checkpoint, and `train`
    printed "run folder: ..." with exit 0 (its eval then found no checkpoint)."""
    for value in ("0", "0.0"):
        with pytest.raises(ValueError, match=rf"config key '{key}': expected null, an integer >= 1 or a finite "
                                             r"number in \(0.0, 1.0\], got 0"):
            load_config(overrides=[f"{key}={value}"])
    assert load_config(overrides=[f"{key}=0.5"])["trainer"][key.split(".")[1]] == 0.5


def test_an_override_value_with_a_key_written_twice_is_refused():
    """`data.options.label_map={0: 0, 0: 1}` kept the last class silently."""
    with pytest.raises(ValueError, match=r"config key 'data.options.label_map': key 0 is written twice in one "
                                         r"mapping \(both on line 1\); keep one, in the value '\{0: 0, 0: 1\}'"):
        load_config(overrides=["data.options.label_map={0: 0, 0: 1}"])
    assert load_config(overrides=["name=[unclosed"])["name"] == "[unclosed"  # not YAML: the text
