"""edgewise.training.prediction: the cases predict_cases gives, and the mean softmax of an
ensemble of runs (scored by `evaluate([run, ...])`, `edgewise eval RUN RUN -o OUT`)."""

import csv
import json

import pytest
import torch

from edgewise.cli import main
from edgewise.metrics import dice
from edgewise.training import evaluate, predict_cases, train
from edgewise.training.prediction import _predict_ensemble, _predict_run


def test_predict_cases_of_the_first_n_cases_are_the_head_of_the_full_list(tolerance_sweep_run):
    run_dir = tolerance_sweep_run
    cases = predict_cases(run_dir)
    assert [c["case"] for c in cases] == ["synthetic_test_0000", "synthetic_test_0001"]
    assert cases[0]["pred"].shape == cases[0]["label"].shape == (1, 16, 16)
    assert cases[0]["pred"].dtype == torch.int64 and int(cases[0]["pred"].max()) <= 2  # 3 classes
    # predict_cases(n=1) is the first case of the full list
    (first,) = predict_cases(run_dir, n=1)
    assert first["case"] == cases[0]["case"] and torch.equal(first["pred"], cases[0]["pred"])
    assert predict_cases(run_dir, n=0) == []
    assert [c["case"] for c in predict_cases(run_dir, n=5)] == [c["case"] for c in cases]
    with pytest.raises(ValueError, match="non-negative integer"):
        predict_cases(run_dir, n=-1)
    with pytest.raises(ValueError, match="expected checkpoint 'best' or 'last', got 'final'"):
        predict_cases(run_dir, checkpoint="final")


@pytest.fixture
def two_runs(tmp_path, tiny_config):
    """Two tiny runs that differ only by their seed (so their predictions differ)."""
    return [train(tiny_config(f"seed={s}"), output_dir=tmp_path / f"seed{s}") for s in (0, 1)]


def _per_case(folder):
    with open(folder / "per_case.csv", newline="") as f:
        return list(csv.DictReader(f))


def test_ensemble_is_the_argmax_of_the_mean_softmax(two_runs, tmp_path, capsys):
    singles = [_predict_run(r, "test", None, "best", "cpu", keep_probs=True)[0] for r in two_runs]
    assert not torch.equal(singles[0][0]["probs"], singles[1][0]["probs"])
    cases, dataset, members, split = _predict_ensemble(two_runs, "test", "best", "cpu", keep_probs=True)
    assert [c["case"] for c in cases] == [c["case"] for c in singles[0]]
    assert [m["epoch"] for m in members] == [0, 0] and split == "test"
    for case, a, b in zip(cases, *singles):
        mean = (a["probs"] + b["probs"]) / 2
        torch.testing.assert_close(case["probs"], mean)
        assert torch.equal(case["pred"], mean.argmax(0, keepdim=True))
        assert torch.equal(case["label"], a["label"])

    summary = evaluate(two_runs, overlays=0, output_dir=tmp_path / "ens")
    assert [m["run"].rsplit("/", 1)[-1] for m in summary["ensemble"]] == ["seed0", "seed1"]
    assert summary["run"] == summary["ensemble"][0]["run"] and summary["num_cases"] == len(cases)
    # the per-case Dice is the ensemble label's, computed here by the metric itself
    rows = _per_case(tmp_path / "ens")
    for row, case in zip(rows, cases):
        onehot = lambda x: torch.nn.functional.one_hot(x[0], 2).movedim(-1, 0)[None]  # noqa: E731
        expected = float(dice(onehot(case["pred"]), onehot(case["label"]), include_background=False)[0, 0])
        got = float(next(v for k, v in row.items() if k.startswith("dice")))
        assert got == pytest.approx(expected, abs=1e-6)

    out = tmp_path / "cli"
    assert main(["eval", *map(str, two_runs), "--overlays", "0", "-o", str(out)]) == 0
    assert "ensemble of 2 runs (checkpoints after epochs 1, 1)" in capsys.readouterr().out
    assert json.loads((out / "summary.json").read_text())["metrics"] == summary["metrics"]


def test_ensemble_of_slice_trained_runs_scores_restacked_volumes(tmp_path, tiny_config):
    opts = "data.options={n: 2, n_val: 2, shape: [8, 16, 16], mode: slices, seed: 0}"
    runs = [train(tiny_config(opts, f"seed={s}"), output_dir=tmp_path / f"s{s}") for s in (0, 1)]
    singles = [_predict_run(r, "test", None, "best", "cpu", keep_probs=True)[0] for r in runs]
    cases, *_ = _predict_ensemble(runs, "test", "best", "cpu")
    assert len(cases) == 2 and "probs" not in cases[0]
    for case, a, b in zip(cases, *singles):
        assert case["pred"].shape == case["label"].shape == (1, 8, 16, 16)
        # the argmax of the mean of the re-stacked (linearly resampled) probabilities
        assert torch.equal(case["pred"], ((a["probs"] + b["probs"]) / 2).argmax(0, keepdim=True))
    summary = evaluate(runs, overlays=0, output_dir=tmp_path / "ens")
    assert summary["num_cases"] == 2 and len(summary["ensemble"]) == 2
