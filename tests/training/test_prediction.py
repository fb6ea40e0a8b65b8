"""Ensembles of runs: `evaluate([run, ...])`, `edgewise eval RUN RUN -o OUT`."""

import csv
import json

import pytest
import torch

from edgewise.cli import main
from edgewise.metrics import dice
from edgewise.training import evaluate, train
from edgewise.training.prediction import _predict_ensemble, _predict_run


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


def test_ensemble_of_a_run_with_its_copy_scores_as_the_run(tmp_path, tiny_config):
    import shutil

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
    import shutil

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
