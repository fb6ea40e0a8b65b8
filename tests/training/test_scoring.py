"""``edgewise score``: a folder of predicted masks scored as ``edgewise eval`` scores a model."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from edgewise.cli import main
from edgewise.training.evaluation import metric_names
from edgewise.training.scoring import match_predictions, score

H, W = 6, 8


def _png(path: Path, arr: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(arr.astype(np.uint8)).save(path)


def _masks() -> dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """case -> (label, prediction, field of view), 0/1 arrays of (H, W)."""
    fov = np.ones((H, W), np.uint8)
    fov[:, 7] = 0  # the last column is outside the field of view
    lab_a = np.zeros((H, W), np.uint8)
    lab_a[1:3, 1:3] = 1  # 4 vessel pixels
    pred_a = np.zeros((H, W), np.uint8)
    pred_a[1, 1:3] = 1  # 2 of them found
    pred_a[4, 5] = 1  # a false positive inside the field of view
    pred_a[0, 7] = 1  # and one outside it, which must not count
    lab_b = np.zeros((H, W), np.uint8)
    lab_b[2:5, 3:6] = 1
    return {"a": (lab_a, pred_a, fov), "b": (lab_b, lab_b.copy(), fov)}


@pytest.fixture
def folder_data(tmp_path: Path) -> tuple[Path, Path, list[str]]:
    """A folder dataset (images/, labels/ 0/255, fov/) and a folder of 0/1 predictions."""
    root, preds = tmp_path / "data", tmp_path / "preds"
    rng = np.random.default_rng(0)
    for case, (lab, pred, fov) in _masks().items():
        _png(root / "images" / f"{case}.png", rng.integers(0, 256, (H, W)))
        _png(root / "labels" / f"{case}_label.png", lab * 255)
        _png(root / "fov" / f"{case}_mask.png", fov * 255)
        _png(preds / f"{case}_pred.png", pred)
    options = ["images='images/*.png'", "labels='labels/*.png'", "masks='fov/*.png'",
               "label_map={0: 0, 255: 1}"]
    return root, preds, options


def _options(pairs: list[str]) -> dict:
    import yaml

    return {k: yaml.safe_load(v) for k, v in (p.split("=", 1) for p in pairs)}


def test_score_hand_dice_inside_the_field_of_view(folder_data, tmp_path):
    root, preds, opts = folder_data
    out = tmp_path / "scored"
    summary = score(preds, out, data="folder", data_root=root, split="all", options=_options(opts),
                    metrics=["sensitivity", "specificity", "f1"])
    # case a inside the FOV: TP 2, FP 1 (the one outside is ignored), FN 2 -> 2*2/(3+4)
    dice_a, dice_b = 4 / 7, 1.0
    stats = summary["metrics"]["dice"]["class1"]
    assert stats["n"] == 2 and stats["mean"] == pytest.approx((dice_a + dice_b) / 2)
    assert stats["min"] == pytest.approx(dice_a) and stats["max"] == 1.0
    assert summary["mean"]["dice"] == pytest.approx((dice_a + dice_b) / 2)
    assert summary["metrics"]["hd95"]["class1"]["min"] == 0.0  # case b is exact
    # 42 FOV pixels, 38 negative, 1 false positive; 2 of 4 vessel pixels found
    assert summary["metrics"]["sensitivity"]["class1"]["min"] == pytest.approx(0.5)
    assert summary["metrics"]["specificity"]["class1"]["min"] == pytest.approx(37 / 38)
    assert summary["files"] == {"a": "a_pred.png", "b": "b_pred.png"}
    assert summary["num_cases"] == 2 and summary["n_inf"]["hd95"] == 0
    # eval's per_case.csv format: same columns, one row per case and foreground class
    with (out / "per_case.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == ["case", "class", *metric_names([], ["sensitivity", "specificity", "f1"])]
    assert [(r["case"], r["class"]) for r in rows] == [("a", "class1"), ("b", "class1")]
    assert float(rows[0]["dice"]) == pytest.approx(dice_a, abs=1e-6)
    assert float(rows[0]["f1"]) == pytest.approx(dice_a, abs=1e-6)
    assert json.loads((out / "summary.json").read_text())["mean"]["dice"] == summary["mean"]["dice"]
    assert (out / ".edgewise").read_text().splitlines()[0] == "score"


def test_score_cli_and_rerun_into_its_own_folder(folder_data, tmp_path, capsys):
    root, preds, opts = folder_data
    out = tmp_path / "scored"
    argv = ["score", str(preds), "--data", "folder", "--data-root", str(root), "--split", "all",
            *[a for o in opts for a in ("--data-option", o)], "--pattern", "*_pred.png",
            "--tolerances", "1", "2", "-o", str(out)]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "all: 2 cases" in printed and f"{(4 / 7 + 1) / 2:.4f}" in printed
    first = (out / "per_case.csv").read_text()
    assert "nsd@2" in first.splitlines()[0]
    assert main(argv) == 0  # an edgewise score folder is replaced whole
    assert (out / "per_case.csv").read_text() == first


def test_score_refuses_a_folder_it_did_not_make(folder_data, tmp_path):
    root, preds, opts = folder_data
    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("keep me")
    with pytest.raises(FileExistsError, match="not made by edgewise"):
        score(preds, out, data="folder", data_root=root, split="all", options=_options(opts))
    assert (out / "notes.txt").read_text() == "keep me" and len(list(out.iterdir())) == 1


def test_score_errors_name_the_case_and_file(folder_data, tmp_path, capsys):
    root, preds, opts = folder_data
    options = _options(opts)

    def run(folder: Path, **kw):
        return score(folder, tmp_path / "out", data="folder", data_root=root, split="all",
                     options=kw.pop("options", options), **kw)

    (preds / "b_pred.png").unlink()
    with pytest.raises(FileNotFoundError, match=r"no prediction for case 'b' \(1 of 2 cases"):
        run(preds)
    _png(preds / "b_pred.png", np.zeros((H, W + 1)))
    with pytest.raises(ValueError, match=r"b_pred.png has shape \(6, 9\).*case 'b' has \(6, 8\)"):
        run(preds)
    _png(preds / "b_pred.png", np.full((H, W), 2))
    with pytest.raises(ValueError, match=r"unexpected label values \[2\].*\[0, 2\)"):
        run(preds)
    _png(preds / "b_pred.png", _masks()["b"][1] * 255)
    with pytest.raises(ValueError, match=r"unexpected label values \[255\]"):
        run(preds)
    with pytest.raises(ValueError, match=r"unexpected label values \[1\] in .*a_pred.png"):
        run(preds, label_map={0: 0, 255: 1})  # case a is 0/1: a map must list every value
    with pytest.raises(ValueError, match="expected no size option .* stored grid"):
        run(preds, options={**options, "size": [3, 4]})
    with pytest.raises(ValueError, match="auc"):
        run(preds, metrics=["auc"])
    with pytest.raises(ValueError, match="evaluation.metrics"):
        run(preds, metrics=["hd42"])
    assert not (tmp_path / "out").exists()
    # the command line says what went wrong, without a traceback
    assert main(["score", str(preds), "--data", "folder", "--data-root", str(root), "--split",
                 "all", *[a for o in opts for a in ("--data-option", o)], "-o",
                 str(tmp_path / "out")]) == 2
    assert "edgewise score: error: unexpected label values [255]" in capsys.readouterr().err


def test_score_label_map_reads_0_255_masks(folder_data, tmp_path):
    root, preds, opts = folder_data
    for case, (_, pred, _) in _masks().items():
        _png(preds / f"{case}_pred.png", pred * 255)
    summary = score(preds, tmp_path / "out", data="folder", data_root=root, split="all",
                    options=_options(opts), label_map={0: 0, 255: 1})
    assert summary["mean"]["dice"] == pytest.approx((4 / 7 + 1) / 2)
    assert summary["label_map"] == {"0": 0, "255": 1}


def test_match_predictions_drive_names_and_ambiguity(tmp_path):
    for name in ("01_manual2.png", "02_manual2.png", "test_03.png", "x.nii.gz", "readme.txt"):
        (tmp_path / name).write_bytes(b"")
    found, unused = match_predictions(tmp_path, ["test_01", "test_03"])
    assert {c: p.name for c, p in found.items()} == {"test_01": "01_manual2.png",
                                                     "test_03": "test_03.png"}
    assert sorted(p.name for p in unused) == ["02_manual2.png", "x.nii.gz"]
    with pytest.raises(ValueError, match="fits cases 'test_01' and 'training_01'"):
        match_predictions(tmp_path, ["test_01", "training_01"])
    (tmp_path / "01.png").write_bytes(b"")
    with pytest.raises(ValueError, match="two prediction files give case id '01'"):
        match_predictions(tmp_path, ["test_01"])
    with pytest.raises(FileNotFoundError, match="no prediction files"):
        match_predictions(tmp_path, ["test_01"], "*.gif")


def test_palette_label_png_reads_its_indices(tmp_path):
    from edgewise.data.image_files import read_image_2d, read_label_2d

    # as DRIVE's 2nd_manual PNGs: indices 0/1 drawn in near-black and near-white
    im = Image.fromarray(np.array([[0, 1], [1, 0]], np.uint8), mode="P")
    im.putpalette([4, 2, 4, 252, 254, 252])
    im.save(tmp_path / "m.png")
    assert read_label_2d(tmp_path / "m.png").tolist() == [[0, 1], [1, 0]]
    assert read_image_2d(tmp_path / "m.png").shape == (2, 2, 3)  # images still read as colours
    grey = Image.fromarray(np.array([[0, 255]], np.uint8), mode="L").convert("P")
    grey.save(tmp_path / "g.gif")
    assert read_label_2d(tmp_path / "g.gif").tolist() == [[0, 255]]


@pytest.mark.data
def test_drive_second_observer(shared, tmp_path):
    """The human reference on DRIVE's test set: Dice 0.788 in the field of view."""
    root = shared / "drive"
    if not (root / "test" / "2nd_manual").is_dir():
        pytest.skip("no DRIVE second observer in the shared data")
    summary = score(root / "test" / "2nd_manual", tmp_path / "second_observer", data="drive",
                    data_root=root, split="test", pattern="*_manual2.png",
                    metrics=["sensitivity", "specificity", "accuracy"], threads=1)
    assert summary["num_cases"] == 20 and summary["files"]["test_01"] == "01_manual2.png"
    assert summary["mean"]["dice"] == pytest.approx(0.788, abs=0.001)
    # the second observer's pixel scores as published (Staal et al. 2004 and after)
    assert summary["mean"]["sensitivity"] == pytest.approx(0.776, abs=0.001)
    assert summary["mean"]["specificity"] == pytest.approx(0.9725, abs=0.001)
    assert summary["mean"]["accuracy"] == pytest.approx(0.947, abs=0.001)
