"""Weights chosen on a validation grid, and the final grid written from the choice."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from edgewise.bench.grid import load_experiment
from edgewise.bench.selection import _some, final_experiment, select_weights, term_of
from edgewise.cli import main

STAGE1 = {
    "name": "tiny_select",
    "baseline": "recipe",
    "base": {
        "data": {"batch_size": 4, "options": {"n": 4, "n_val": 3, "shape": [32, 32]}},
        "model": {"name": "unet", "args": {"base_channels": 4, "depth": 2}},
        "trainer": {"max_epochs": 1, "enable_progress_bar": False},
        "evaluation": {"overlays": 0, "bench_split": "val"},
    },
    "datasets": {"syn": {"name": "synthetic"}},
    "losses": {
        "recipe": {"terms": [{"name": "ce"}]},
        "bl_1e-2": {"terms": [{"name": "ce"}, {"name": "boundary", "weight": 0.01}]},
        "bl_1e0": {"terms": [{"name": "ce"}, {"name": "boundary", "weight": 1.0}]},
        "dice_1e0": {"terms": [{"name": "ce"}, {"name": "dice", "weight": 1.0}]},
    },
    "seeds": [0],
}


def _val_dice(cell: Path) -> float:
    return json.loads((cell / "eval_val" / "summary.json").read_text())["mean"]["dice"]


@pytest.fixture(scope="module")
def grid(tmp_path_factory):
    pytest.importorskip("lightning")
    folder = tmp_path_factory.mktemp("select")
    path = folder / "stage1.yaml"
    path.write_text(yaml.safe_dump(STAGE1))
    bench = folder / "bench"
    assert main(["bench", str(path), "--output", str(bench), "--no-progress"]) == 0
    return path, bench


def test_term_of_groups_the_weights_of_one_term():
    assert [term_of(x) for x in ("bl_1e-2", "bl_1e0", "hder_1e-1", "recipe", "gdl_bl_1e-2")] == \
        ["bl", "bl", "hder", "recipe", "gdl_bl"]


def test_each_term_gets_its_best_validation_weight_and_never_a_test_score(grid):
    _, bench = grid
    sel = select_weights(bench)
    cells = {label: bench / "syn" / label / "seed0" for label in STAGE1["losses"]}
    assert not any((c / "eval_test").exists() for c in cells.values())
    assert sel.scores["bl"] == {k: pytest.approx(_val_dice(cells[k])) for k in ("bl_1e-2", "bl_1e0")}
    best = max(("bl_1e-2", "bl_1e0"), key=lambda k: (_val_dice(cells[k]), k == "bl_1e-2"))
    assert sel.chosen == {"recipe": "recipe", "bl": best, "dice": "dice_1e0"}
    assert f"`{best}`" in sel.table()


def test_the_final_grid_has_the_choice_three_seeds_and_scores_test(grid, tmp_path, capsys):
    path, bench = grid
    out = tmp_path / "final.yaml"
    assert main(["select", str(bench), "-o", str(out)]) == 0
    sel = select_weights(bench)
    final = load_experiment(out)
    assert sorted(final["losses"]) == sorted({"recipe", sel.chosen["bl"], "dice_1e0"})
    assert final["seeds"] == [0, 1, 2] and final["baseline"] == "recipe"
    assert "bench_split" not in final["base"].get("evaluation", {})
    assert "chosen on validation" in final["description"]
    assert "| bl |" in out.read_text()  # the choice is written into the file's header
    # never overwritten
    assert main(["select", str(bench), "-o", str(out)]) == 2
    assert "never overwrites" in capsys.readouterr().err


def test_a_grid_scored_on_test_or_unfinished_is_refused(grid, tmp_path):
    _, bench = grid
    doc = yaml.safe_load((bench / "bench.yaml").read_text())
    test_grid = json.loads(json.dumps(doc))
    test_grid["experiment"]["base"]["evaluation"].pop("bench_split")
    other = tmp_path / "b"
    other.mkdir()
    (other / "bench.yaml").write_text(yaml.safe_dump(test_grid))
    with pytest.raises(ValueError, match="weights may only be chosen on a grid scored on validation"):
        select_weights(other)
    (other / "bench.yaml").write_text(yaml.safe_dump(doc))
    with pytest.raises(ValueError, match="is not finished: 4 cell"):
        select_weights(other)
    # a stage run as a variant: the final file is that variant, loadable as it is
    final = final_experiment({**STAGE1, "variant": "quick"}, select_weights(bench))
    assert "variant" not in final
    with pytest.raises(ValueError, match="chose arms the experiment does not have"):
        sel = select_weights(bench)
        sel.chosen["bl"] = "bl_9"
        final_experiment(STAGE1, sel)


def test_an_unfinished_grid_names_five_cells_and_counts_the_rest():
    cells = [f"hippocampus/arm{i}/seed0" for i in range(7)]
    assert _some(cells) == f"{cells[:5]} and 2 more"
    assert _some(cells[:5]) == f"{cells[:5]}"
    assert _some([]) == "[]"
