"""Every shipped config on real data trains a step, validates and evaluates on a few cases
of ../shared/data (skipped when that folder is absent)."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]

# config name (or the prefix before "_": acdc_cpu -> acdc) -> its data under ../shared/data;
# None: the config's data are not in the shared folder.
SHARED_FOLDER: dict[str, str | None] = {
    "hippocampus": "hippocampus",
    # the shared copy has training/ only: pointing at it pools the patients, so the
    # config's fractions carve validation and test splits out of the 80
    "acdc": "acdc/training",
    "drive": "drive",
    "decathlon": None,  # MSD Task09 spleen: only a crop of one case is shared
}

# One optimizer step, a few validation batches, two cases per split, on the CPU.
SMOKE = [
    "trainer.max_epochs=1",
    "trainer.limit_train_batches=1",
    "trainer.limit_val_batches=2",
    "trainer.check_val_every_n_epoch=1",
    "trainer.accelerator=cpu",
    "trainer.devices=1",
    "trainer.num_threads=1",
    "trainer.enable_progress_bar=false",
    "trainer.log_every_n_steps=1",
    "data.options.max_cases=2",
    "data.num_workers=0",
    "evaluation.overlays=0",
]


def _real_data_configs() -> list[Path]:
    configs = []
    for path in sorted((REPO / "configs").glob("*.yaml")):
        data = (yaml.safe_load(path.read_text()) or {}).get("data") or {}
        if data.get("name", "synthetic") != "synthetic":
            configs.append(path)
    return configs


def _shared_folder(config: Path) -> str | None:
    name = config.stem
    keys = [k for k in SHARED_FOLDER if name == k or name.startswith(k + "_")]
    if not keys:
        pytest.fail(f"configs/{config.name} reads real data: add it to SHARED_FOLDER in "
                    f"{Path(__file__).name} (its folder under ../shared/data, or None)")
    return SHARED_FOLDER[max(keys, key=len)]


def test_the_shipped_real_data_configs_are_found():
    names = {p.stem for p in _real_data_configs()}
    assert {"hippocampus", "acdc", "drive"} <= names
    assert "demo" not in names  # synthetic


@pytest.mark.data
@pytest.mark.parametrize("config", _real_data_configs(), ids=lambda p: p.stem)
def test_shipped_config_runs_a_step_on_shared_data(config, shared, tmp_path):
    from edgewise.training import evaluate, train
    from edgewise.training.config import load_config

    folder = _shared_folder(config)
    if folder is None or not (shared / folder).is_dir():
        pytest.skip(f"the data of configs/{config.name} are not in {shared}")
    cfg = load_config(config, [*SMOKE, f"data.root={shared / folder}"])
    options = cfg["data"]["options"]
    if options.get("map_cache") is not None:
        options["map_cache"] = str(tmp_path / "maps")  # never beside the repository
    run_dir = train(cfg, output_dir=tmp_path / "run", verbose=False)

    for name in ("config.yaml", "checkpoints/best.ckpt", "checkpoints/last.ckpt",
                 "learning_curves.png"):
        assert (run_dir / name).is_file(), name
    with open(run_dir / "metrics.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert math.isfinite(float(next(r["train/loss_step"] for r in rows if r.get("train/loss_step"))))
    if cfg["data"]["val_split"] is not None:
        (val,) = [r for r in rows if r.get("val/dice")]
        assert 0.0 <= float(val["val/dice"]) <= 1.0

    split = cfg["data"]["val_split"] or cfg["data"]["test_split"]
    summary = evaluate(run_dir, split=split, output_dir=tmp_path / "eval")
    assert summary["num_cases"] == 2  # max_cases counts cases (ACDC: one per frame)
    dice = summary["metrics"]["dice"]
    assert all(0.0 <= dice[c]["mean"] <= 1.0 for c in summary["classes"])
