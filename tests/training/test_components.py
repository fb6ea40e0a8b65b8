"""edgewise.training.components: where a run writes, reading its checkpoints, Lightning's
chatter kept to its block (building the model, loss and data is tested through whole runs in
test_trainer.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from edgewise.training.components import load_checkpoint, run_dir_of


def test_run_dir_is_output_dir_or_output_root_and_name(tmp_path):
    config = {"output_root": str(tmp_path / "runs"), "name": "tiny"}
    assert run_dir_of(config, None) == tmp_path / "runs" / "tiny"
    assert run_dir_of(config, tmp_path / "elsewhere") == tmp_path / "elsewhere"
    assert isinstance(run_dir_of(config, str(tmp_path)), Path)


def test_load_checkpoint_reads_a_state_dict_and_names_a_bad_file(tmp_path):
    good = tmp_path / "good.ckpt"
    torch.save({"state_dict": {"w": torch.tensor([1.0, 2.0])}, "epoch": 3}, good)
    ckpt = load_checkpoint(good)
    assert ckpt["epoch"] == 3 and torch.equal(ckpt["state_dict"]["w"], torch.tensor([1.0, 2.0]))
    cut = tmp_path / "cut.ckpt"
    cut.write_bytes(good.read_bytes()[:40])
    with pytest.raises(ValueError, match="cannot read checkpoint .*cut.ckpt"):
        load_checkpoint(cut)
    plain = tmp_path / "plain.ckpt"
    torch.save([1, 2], plain)
    with pytest.raises(ValueError, match="expected a Lightning checkpoint with a state_dict"):
        load_checkpoint(plain)
    with pytest.raises(FileNotFoundError):
        load_checkpoint(tmp_path / "missing.ckpt")


def test_lightning_chatter_is_scoped():
    import logging
    import warnings

    from edgewise.training.components import lightning_output

    class Collect(logging.Handler):
        def __init__(self):
            super().__init__(logging.DEBUG)
            self.messages = []

        def emit(self, record):
            self.messages.append(record.getMessage())

    log = logging.getLogger("lightning.pytorch.utilities.rank_zero")
    seen = Collect()
    log.addHandler(seen)
    old_level = log.level
    log.setLevel(logging.INFO)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")  # set before lightning_output's filter
            with lightning_output(info=False):
                log.info("Tip: try installing [litlogger](https://pypi.org/project/litlogger/)")
                log.info("GPU available: False, used: False")
                log.warning("a real warning")
                warnings.warn("`isinstance(treespec, LeafSpec)` is deprecated", FutureWarning, stacklevel=1)
                warnings.warn("another deprecation", FutureWarning, stacklevel=1)
        assert seen.messages == ["a real warning"]
        assert [str(w.message) for w in caught] == ["another deprecation"]
        seen.messages.clear()
        with lightning_output(info=True):
            log.info("Tip: litlogger")
            log.info("GPU available: False, used: False")
        log.info("Tip: litlogger")  # outside the block: untouched
        assert seen.messages == ["GPU available: False, used: False", "Tip: litlogger"]
    finally:
        log.removeHandler(seen)
        log.setLevel(old_level)
