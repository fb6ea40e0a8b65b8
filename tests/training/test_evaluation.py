"""edgewise.training.evaluation (`edgewise eval`): per-case metrics inside the mask and by
tolerance, the results folder, volumes of sliced data, results kept on failure,
infinite-distance counts, threads, external test sets, ensembles of runs."""

import csv
import json
import math
import shutil

import numpy as np
import pytest
import torch
from PIL import Image

import edgewise.training.evaluation as run_mod
from edgewise.cli import main
from edgewise.data.synthetic import make_synthetic
from edgewise.training import evaluate, predict_cases, train
from edgewise.training.commands.evaluate import format_summary
from edgewise.training.evaluation import _case_metrics


def _rows(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_evaluate_writes_per_case_rows_and_a_summary(three_class_run):
    run_dir = three_class_run
    summary = evaluate(run_dir, split="test")
    assert summary["num_cases"] == 2 and summary["classes"] == ["class1", "class2"]
    results = run_dir / "eval_test"
    rows = _rows(results / "per_case.csv")
    assert len(rows) == 2 * 2  # one row per case and foreground class
    assert {r["case"] for r in rows} == {"synthetic_test_0000", "synthetic_test_0001"}
    for r in rows:
        assert 0.0 <= float(r["dice"]) <= 1.0
        assert 0.0 <= float(r["nsd"]) <= 1.0 and 0.0 <= float(r["boundary_f1"]) <= 1.0
        assert float(r["hd95"]) >= 0 and float(r["assd"]) >= 0  # inf allowed (empty masks)
    on_disk = json.loads((results / "summary.json").read_text())
    assert on_disk["metrics"]["dice"]["class1"]["n"] == 2
    dice1 = [float(r["dice"]) for r in rows if r["class"] == "class1"]
    assert on_disk["metrics"]["dice"]["class1"]["mean"] == pytest.approx(sum(dice1) / 2, abs=1e-5)
    assert len(list((results / "overlays").glob("*.png"))) == 1
    # paths in the summary are relative to its folder: right wherever the folder is
    assert on_disk["run"] == ".." and on_disk["checkpoint"] == "../checkpoints/best.ckpt"
    assert [(results / p).is_file() for p in on_disk["overlays"]] == [True]


def test_case_metrics_inside_the_mask():
    label = torch.zeros(1, 12, 12, dtype=torch.long)
    label[0, 3:7, 3:7] = 1
    pred = label.clone()
    pred[0, 10:12, 10:12] = 1  # false positives outside the evaluation mask
    mask = torch.zeros(1, 12, 12, dtype=torch.bool)
    mask[0, :9, :9] = True
    case = {"pred": pred, "label": label, "mask": mask, "spacing": torch.tensor([1.0, 1.0])}
    inside = _case_metrics(case, 2, tolerance=1.0)
    assert inside["dice"][0] == pytest.approx(1.0) and inside["hd95"][0] == pytest.approx(0.0)
    assert inside["nsd"][0] == pytest.approx(1.0)
    case.pop("mask")
    everywhere = _case_metrics(case, 2, tolerance=1.0)
    assert everywhere["dice"][0] == pytest.approx(2 * 16 / (16 + 20))


def test_case_metrics_tolerance_sweep_hand_case():
    from edgewise.metrics import boundary_f1, surface_dice

    label = torch.zeros(1, 20, 20, dtype=torch.long)
    label[0, 5:12, 5:12] = 1
    pred = torch.roll(label, 2, dims=1)  # every boundary point 2 px off along one axis
    case = {"pred": pred, "label": label, "spacing": torch.tensor([1.0, 1.0])}
    values = _case_metrics(case, 2, tolerance=1.0, tolerances=[1, 2, 3.5])
    p = torch.nn.functional.one_hot(pred, 2).movedim(-1, 1)
    t = torch.nn.functional.one_hot(label, 2).movedim(-1, 1)
    for tol, key in ((1.0, "1"), (2.0, "2"), (3.5, "3.5")):
        assert values[f"nsd@{key}"][0] == pytest.approx(surface_dice(p, t, tol)[0, 1].item())
        assert values[f"boundary_f1@{key}"][0] == pytest.approx(boundary_f1(p, t, tol)[0, 1].item())
    assert values["nsd@1"][0] < 1.0 and values["nsd@2"][0] == pytest.approx(1.0)
    assert values["nsd"][0] == values["nsd@1"][0]  # the single tolerance is 1 here
    assert values["boundary_f1@3.5"][0] == pytest.approx(1.0)


def test_evaluate_tolerance_sweep(tolerance_sweep_run, tmp_path):
    from edgewise.metrics import boundary_f1, surface_dice
    from edgewise.training.module import masked_onehot

    run_dir = tolerance_sweep_run
    summary = evaluate(run_dir)
    assert summary["tolerances_mm"] == [1.0, 2.0, 3.0, 4.0]
    rows = _rows(run_dir / "eval_test" / "per_case.csv")
    assert list(rows[0])[2:] == ["dice", "hd95", "assd", "nsd", "boundary_f1",
                                 "nsd@1", "nsd@2", "nsd@3", "nsd@4",
                                 "boundary_f1@1", "boundary_f1@2", "boundary_f1@3", "boundary_f1@4"]
    cases = predict_cases(run_dir)
    assert [c["case"] for c in cases] == ["synthetic_test_0000", "synthetic_test_0001"]
    for case in cases:
        p = masked_onehot(case["pred"][None], 3)
        t = masked_onehot(case["label"][None], 3)
        for ci, cname in enumerate(["class1", "class2"]):
            (row,) = [r for r in rows if r["case"] == case["case"] and r["class"] == cname]
            for tol in (1, 2, 3, 4):
                nsd = surface_dice(p, t, float(tol), spacing=case["spacing"][None])[0, ci + 1].item()
                bf1 = boundary_f1(p, t, float(tol), spacing=case["spacing"][None])[0, ci + 1].item()
                assert float(row[f"nsd@{tol}"]) == pytest.approx(nsd, abs=1e-5)
                assert float(row[f"boundary_f1@{tol}"]) == pytest.approx(bf1, abs=1e-5)
            assert row["nsd"] == row["nsd@1"] and row["boundary_f1"] == row["boundary_f1@1"]
    bf3 = [float(r["boundary_f1@3"]) for r in rows if r["class"] == "class1"]
    assert summary["metrics"]["boundary_f1@3"]["class1"]["mean"] == pytest.approx(sum(bf3) / 2, abs=1e-5)
    # the argument overrides the config
    other = evaluate(run_dir, tolerances=[0.5], output_dir=tmp_path / "other")
    assert set(other["metrics"]) == {"dice", "hd95", "assd", "nsd", "boundary_f1", "nsd@0.5", "boundary_f1@0.5"}


def test_sliced_3d_data_are_scored_as_volumes(tmp_path, tiny_config):
    cfg = tiny_config("data.options={n: 2, n_val: 2, shape: [8, 16, 16], mode: slices, seed: 0}")
    run_dir = train(cfg, output_dir=tmp_path / "run")
    summary = evaluate(run_dir, overlays=1)
    rows = _rows(run_dir / "eval_test" / "per_case.csv")
    assert len(rows) == 2 and summary["num_cases"] == 2  # 2 volumes, not 16 slices
    assert {r["case"] for r in rows} == {"synthetic_test_0000", "synthetic_test_0001"}
    (case,) = predict_cases(run_dir, n=1)  # only the first volume's slices, re-stacked
    assert case["case"] == "synthetic_test_0000" and case["pred"].shape == (1, 8, 16, 16)


def test_failed_evaluation_keeps_previous_results(tmp_path, tiny_config, monkeypatch):
    run_dir = train(tiny_config(), output_dir=tmp_path / "run")
    evaluate(run_dir, overlays=0)
    results = run_dir / "eval_test"
    before = (results / "summary.json").read_text(), (results / "per_case.csv").read_text()

    import edgewise.training.evaluation as run_mod

    def broken(*args, **kwargs):
        raise RuntimeError("metric failure")

    monkeypatch.setattr(run_mod, "_case_metrics", broken)
    with pytest.raises(RuntimeError):
        evaluate(run_dir, overlays=0)
    after = (results / "summary.json").read_text(), (results / "per_case.csv").read_text()
    assert before == after
    assert math.isfinite(json.loads(before[0])["mean"]["dice"])


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


def test_ensemble_of_a_run_with_its_copy_scores_as_the_run(tmp_path, tiny_config):
    run = train(tiny_config(), output_dir=tmp_path / "run")
    copy = tmp_path / "copy"
    shutil.copytree(run, copy)
    single = evaluate(run, overlays=0, output_dir=tmp_path / "single")
    pair = evaluate([run, copy], overlays=0, output_dir=tmp_path / "pair")
    for metric, by_class in single["metrics"].items():
        for cname, stats in by_class.items():
            assert pair["metrics"][metric][cname]["mean"] == pytest.approx(stats["mean"], abs=1e-6), metric
    assert len(pair["ensemble"]) == 2 and "ensemble" not in single


def test_ensemble_errors(tmp_path, tiny_config, capsys):
    run = train(tiny_config(), output_dir=tmp_path / "run")
    two_runs = [run, tmp_path / "copy"]
    shutil.copytree(run, two_runs[1])
    with pytest.raises(ValueError, match="needs an output folder"):
        evaluate(two_runs, overlays=0)
    assert sorted(p.name for p in run.iterdir()) == sorted(p.name for p in two_runs[1].iterdir())
    with pytest.raises(ValueError, match="distinct run folders"):
        evaluate([two_runs[0], two_runs[0]], output_dir=tmp_path / "dup")
    with pytest.raises(FileNotFoundError, match="not a run folder"):
        evaluate([two_runs[0], tmp_path / "nowhere"], output_dir=tmp_path / "missing")
    with pytest.raises(TypeError, match="non-empty list of run folders"):
        evaluate([], output_dir=tmp_path / "empty")
    # a run on other data: other cases
    other = train(tiny_config("data.options={n: 4, n_val: 3, shape: [16, 16], seed: 0}"),
                  output_dir=tmp_path / "other")
    with pytest.raises(ValueError, match="score the same cases"):
        evaluate([two_runs[0], other], overlays=0, output_dir=tmp_path / "mixed")
    assert not (tmp_path / "mixed").exists()
    assert main(["eval", str(two_runs[0]), str(two_runs[1])]) == 2
    assert "needs an output folder" in capsys.readouterr().err
