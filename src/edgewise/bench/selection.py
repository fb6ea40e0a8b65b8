"""Choose each term's weight on validation, and write the grid that then scores test once.

The practical question a user brings is "which term, added to my recipe, helps?". Each
term has a weight, and the weight must be chosen without the test set: a *selection* grid
(``evaluation.bench_split: val``) trains every candidate weight of every term once and
scores it on the validation split only; :func:`select_weights` picks, per term, the weight
with the best mean validation score; :func:`final_experiment` turns the selection grid's
file into the final grid (the recipe and each chosen arm, several seeds, scored on test).

Arms are grouped into terms by their label: ``<term>_<weight>`` (the text after the last
``_`` names the weight, e.g. ``bl_1e-2`` and ``bl_1e-1`` are two weights of ``bl``); the
experiment's baseline is the recipe itself and is always kept.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgewise.bench.results import MEAN, finite_mean, load_results, metric_info

__all__ = ["Selection", "final_experiment", "select_weights", "term_of"]


def term_of(label: str) -> str:
    """The term an arm label belongs to: the label without its last ``_<weight>`` part.

    Example:
        >>> term_of("bl_1e-2"), term_of("bldelay_1e-1"), term_of("recipe")
        ('bl', 'bldelay', 'recipe')
    """
    head, sep, _ = label.rpartition("_")
    return head if sep and head else label


@dataclass
class Selection:
    """What :func:`select_weights` chose: per term, every candidate's validation score."""

    metric: str
    baseline: str
    #: term -> {arm label: mean validation score over seeds}
    scores: dict[str, dict[str, float]] = field(default_factory=dict)
    #: term -> the chosen arm label
    chosen: dict[str, str] = field(default_factory=dict)

    def table(self) -> str:
        """A Markdown table: term, candidates with their validation score, the choice."""
        higher = metric_info(self.metric)[1]
        lines = [f"| term | candidates (validation {self.metric}, mean over seeds) | chosen |",
                 "|---|---|---|"]
        for term, cands in self.scores.items():
            shown = ", ".join(f"`{label}` {value:.4f}" for label, value in cands.items())
            lines.append(f"| {term} | {shown} | `{self.chosen[term]}` |")
        order = "highest" if higher else "lowest"
        lines.append("")
        lines.append(f"Chosen: the {order} mean validation {self.metric} of each term "
                     f"(ties: the first candidate); baseline `{self.baseline}` kept.")
        return "\n".join(lines)


def _check_validation_grid(experiment: Mapping[str, Any], bench_dir: Path) -> None:
    split = ((experiment.get("base") or {}).get("evaluation") or {}).get("bench_split", "test")
    if split != "val":
        raise ValueError(
            f"{bench_dir} scored its cells on {split!r}: weights may only be chosen on a grid scored "
            "on validation (evaluation.bench_split: val in its experiment's base)"
        )


def _some(names: list[str], shown: int = 5) -> str:
    """Up to ``shown`` names, and how many more there are."""
    more = f" and {len(names) - shown} more" if len(names) > shown else ""
    return f"{names[:shown]}{more}"


def select_weights(bench_dir: str | Path, metric: str = "dice") -> Selection:
    """Per term, the arm of a finished selection grid with the best mean validation ``metric``.

    The score of an arm is the mean over its seeds of the mean over validation cases of
    the foreground-class mean (``metric``'s ``mean`` column of ``per_case.csv``).

    Raises:
        ValueError: the grid was not scored on validation, has unfinished or failed cells, or
            an arm has no finite score.
        FileNotFoundError: ``bench_dir`` is not a bench folder.
    """
    bench_dir = Path(bench_dir)
    results = load_results(bench_dir)
    experiment = results.experiment
    _check_validation_grid(experiment, bench_dir)
    if results.missing or results.failed:
        raise ValueError(
            f"{bench_dir} is not finished: {len(results.missing)} cell(s) not done "
            f"{_some(results.missing)}, {len(results.failed)} failed {_some(results.failed)}; "
            "choose weights once every candidate has run (edgewise bench resumes the grid)"
        )
    labels = list(dict.fromkeys(c["loss"] for c in results.cells))
    baseline = experiment.get("baseline") or labels[0]
    higher = metric_info(metric)[1]
    selection = Selection(metric=metric, baseline=baseline)
    for label in labels:
        runs = [r for r in results.runs if r.loss == label]
        if metric not in runs[0].values:
            raise ValueError(f"expected metric {metric!r} in the results of {label}, got {sorted(runs[0].values)}")
        value = finite_mean(finite_mean(r.values[metric][MEAN].values()) for r in runs)
        if not math.isfinite(value):
            raise ValueError(f"arm {label!r} has no finite validation {metric}")
        term = label if label == baseline else term_of(label)
        selection.scores.setdefault(term, {})[label] = value
    for term, cands in selection.scores.items():
        pick = max if higher else min
        selection.chosen[term] = pick(cands, key=lambda label: cands[label])
    return selection


def final_experiment(stage1: Mapping[str, Any], selection: Selection,
                     seeds: Sequence[int] = (0, 1, 2)) -> dict[str, Any]:
    """The final grid: ``stage1``'s experiment with the baseline and each chosen arm, over
    ``seeds``, scored on test (``bench_split`` removed), its description saying how the
    weights were chosen.

    Example:
        >>> s = Selection("dice", "recipe", {"recipe": {"recipe": 0.8}, "bl": {"bl_1e-2": 0.81,
        ...               "bl_1e-1": 0.79}}, {"recipe": "recipe", "bl": "bl_1e-2"})
        >>> exp = {"name": "t", "baseline": "recipe", "base": {"evaluation": {"bench_split": "val"}},
        ...        "losses": {"recipe": {"terms": [{"name": "ce"}]}, "bl_1e-2": {"terms": []},
        ...                   "bl_1e-1": {"terms": []}}, "seeds": [0]}
        >>> out = final_experiment(exp, s)
        >>> sorted(out["losses"]), out["seeds"], out["base"]["evaluation"]
        (['bl_1e-2', 'recipe'], [0, 1, 2], {})
    """
    out = copy.deepcopy(dict(stage1))
    losses = out["losses"]
    keep = set(selection.chosen.values())
    out["losses"] = {label: cfg for label, cfg in losses.items() if label in keep}
    missing = sorted(keep - set(out["losses"]))
    if missing:
        raise ValueError(f"the selection chose arms the experiment does not have: {missing}")
    evaluation = (out.get("base") or {}).get("evaluation")
    if isinstance(evaluation, dict):
        evaluation.pop("bench_split", None)
    out["seeds"] = [int(s) for s in seeds]
    out["baseline"] = selection.baseline
    name = out.get("name") or "experiment"
    out["name"] = f"{name}_final"
    chosen = ", ".join(f"{t}: {a}" for t, a in selection.chosen.items() if t != selection.baseline)
    out["description"] = (
        f"{(out.get('description') or '').strip()} Final grid: each term at the weight chosen on "
        f"validation ({selection.metric}) by `edgewise select` ({chosen}), {len(out['seeds'])} "
        "seeds, scored on test once."
    ).strip()
    out.pop("views", None)
    out.pop("variant", None)  # bench.yaml records which variant ran; the new file is that variant
    return out
