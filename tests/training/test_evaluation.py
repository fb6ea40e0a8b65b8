"""`edgewise eval`: infinite-distance counts, threads, external test sets; train's curve figure."""

import json

import numpy as np
import pytest
import torch
from PIL import Image

import edgewise.training.evaluation as run_mod
from edgewise.cli import main
from edgewise.data.synthetic import make_synthetic
from edgewise.training import evaluate, train
from edgewise.training.commands.evaluate import format_summary


def _empty_first_prediction(monkeypatch):
    """Evaluation sees an empty prediction for the first case (infinite HD95 and ASSD) and
    perfect ones for the others (distance 0)."""
    original = run_mod._predict_run

    def predict(*args, **kwargs):
        cases, dataset, meta, split = original(*args, **kwargs)
        for case in cases:
            case["pred"] = case["label"].clone()
        cases[0]["pred"] = torch.zeros_like(cases[0]["pred"])
        return cases, dataset, meta, split

    monkeypatch.setattr(run_mod, "_predict_run", predict)


def test_infinite_distances_are_counted_next_to_the_mean(tmp_path, tiny_config, monkeypatch, capsys):
    run_dir = train(tiny_config("data.options.n_val=3"), output_dir=tmp_path / "run")
    _empty_first_prediction(monkeypatch)
    assert main(["eval", str(run_dir), "--overlays", "0"]) == 0
    summary = json.loads((run_dir / "eval_test" / "summary.json").read_text())
    for metric in ("hd95", "assd"):
        stats = summary["metrics"][metric]["class1"]
        assert stats["n_inf"] == 1 and stats["n_finite"] == 2
        assert summary["n_inf"][metric] == 1
    assert summary["n_inf"]["dice"] == 0 and summary["metrics"]["dice"]["class1"]["n"] == 3
    table = capsys.readouterr().out
    (row,) = [line for line in table.splitlines() if line.startswith("class1")]
    assert summary["metrics"]["hd95"]["class1"]["mean"] == 0.0
    assert "0.0000 (1 inf)" in row
    assert row.count("(1 inf)") == 2  # HD95 and ASSD; Dice, NSD and BF1 are never infinite


def test_format_summary_columns_line_up_with_counts():
    def stats(mean, n_inf=0):
        return {"mean": mean, "n_inf": n_inf}

    summary = {"split": "test", "num_cases": 40, "epoch": 5, "classes": ["rv", "lv"],
               "metrics": {"dice": {"rv": stats(0.09), "lv": stats(0.75)},
                           "hd95": {"rv": stats(4.21, 11), "lv": stats(None, 40)},
                           "assd": {"rv": stats(1.5), "lv": stats(2.0)},
                           "nsd": {"rv": stats(0.5), "lv": stats(0.6)},
                           "boundary_f1": {"rv": stats(0.4), "lv": stats(0.7)}}}
    lines = format_summary(summary).splitlines()
    # summary.json keeps Lightning's 0-based epoch; the line counts from 1, as train prints
    assert lines[0] == "test: 40 cases, checkpoint after epoch 6"
    assert "4.2100 (11 inf)" in lines[2] and "n/a (40 inf)" in lines[3]
    assert len({len(line) for line in lines[1:]}) == 1  # header and rows equally wide


def test_evaluate_uses_the_run_threads_or_the_given_number(tmp_path, tiny_config, monkeypatch):
    run_dir = train(tiny_config("trainer.num_threads=3"), output_dir=tmp_path / "run")
    seen = []
    original = run_mod._case_metrics

    def record(*args, **kwargs):
        seen.append(torch.get_num_threads())
        return original(*args, **kwargs)

    monkeypatch.setattr(run_mod, "_case_metrics", record)
    before = torch.get_num_threads()
    evaluate(run_dir, overlays=0)
    assert set(seen) == {3}
    seen.clear()
    assert main(["eval", str(run_dir), "--overlays", "0", "--threads", "2"]) == 0
    assert set(seen) == {2}
    assert torch.get_num_threads() == before
    with pytest.raises(ValueError, match="positive integer, got 0"):
        evaluate(run_dir, threads=0)
    assert main(["eval", str(run_dir), "--threads", "0"]) == 2


def test_train_draws_learning_curves(tmp_path, tiny_config):
    run_dir = train(tiny_config("trainer.max_epochs=2", "validation.hd95=true"),
                    output_dir=tmp_path / "run")
    png = run_dir / "learning_curves.png"
    assert png.stat().st_size > 5000
    assert Image.open(png).size[0] > 2 * Image.open(png).size[1]  # three panels side by side


def _png_folder(root, seed, n=4):
    rng = np.random.default_rng(seed)
    (root / "images").mkdir(parents=True)
    (root / "labels").mkdir()
    for i in range(n):
        image, label = make_synthetic((16, 16), kind="blobs", rng=rng)
        grey = np.clip(image[0] / max(float(image.max()), 1e-6) * 255, 0, 255).astype(np.uint8)
        Image.fromarray(grey).save(root / "images" / f"case{i}.png")
        Image.fromarray(label.astype(np.uint8)).save(root / "labels" / f"case{i}.png")
    return root


def test_evaluate_on_an_external_folder(tmp_path, tiny_config):
    own = _png_folder(tmp_path / "own", seed=0, n=6)
    external = _png_folder(tmp_path / "site_b", seed=1, n=4)
    cfg = tiny_config("data.name=folder", f"data.root={own}",
                      "data.options={images: 'images/*.png', labels: 'labels/*.png', "
                      "val_fraction: 0.34, test_fraction: 0.34, seed: 0}")
    run_dir = train(cfg, output_dir=tmp_path / "run")
    evaluate(run_dir, overlays=0)
    own_results = (run_dir / "eval_test" / "per_case.csv").read_bytes()

    summary = evaluate(run_dir, overlays=0, data_root=external)
    out = run_dir / "external_site_b_all"
    assert summary["split"] == "all" and summary["num_cases"] == 4
    assert summary["data_root"] == str(external.resolve())
    on_disk = json.loads((out / "summary.json").read_text())
    assert on_disk["data_root"] == str(external.resolve())
    rows = (out / "per_case.csv").read_text().splitlines()
    assert [r.split(",")[0] for r in rows[1:]] == ["case0", "case1", "case2", "case3"]
    assert (run_dir / "eval_test" / "per_case.csv").read_bytes() == own_results  # the run's own results stay

    # the same external folder again: its own results are refreshed in place
    evaluate(run_dir, overlays=0, data_root=external)
    with pytest.raises(ValueError, match="would replace the run's own results"):
        evaluate(run_dir, overlays=0, data_root=external, output_dir=run_dir)
    with pytest.raises(ValueError, match="holds results on"):
        evaluate(run_dir, overlays=0, data_root=own, output_dir=out)
    with pytest.raises(FileNotFoundError, match="expected data_root to be a folder"):
        evaluate(run_dir, data_root=tmp_path / "missing")

    # the CLI: a split of the external folder, into the default folder for that split
    assert main(["eval", str(run_dir), "--data-root", str(external), "--split", "test",
                 "--overlays", "0"]) == 0
    test_summary = json.loads((run_dir / "external_site_b_test" / "summary.json").read_text())
    assert test_summary["num_cases"] == 1 and test_summary["split"] == "test"


def test_ensemble_on_an_external_folder(tmp_path, tiny_config):
    own = _png_folder(tmp_path / "own", seed=0, n=6)
    external = _png_folder(tmp_path / "site_b", seed=1, n=4)
    runs = []
    for s in (0, 1):
        cfg = tiny_config("data.name=folder", f"data.root={own}", f"seed={s}",
                          "data.options={images: 'images/*.png', labels: 'labels/*.png', "
                          "val_fraction: 0.34, test_fraction: 0.34, seed: 0}")
        runs.append(train(cfg, output_dir=tmp_path / f"run{s}"))
    out = tmp_path / "ensemble_b"
    summary = evaluate(runs, overlays=0, data_root=external, output_dir=out)
    assert summary["split"] == "all" and summary["num_cases"] == 4 and len(summary["ensemble"]) == 2
    assert json.loads((out / "summary.json").read_text())["data_root"] == str(external.resolve())
    # results on other data never land in a member's own folder
    with pytest.raises(ValueError, match="would replace the run's own results"):
        evaluate(runs, overlays=0, data_root=external, output_dir=runs[0])
