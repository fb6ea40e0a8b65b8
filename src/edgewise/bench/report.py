"""Report of a bench folder: Markdown tables, a CSV summary and figures.

For every dataset and loss of the grid the report gives, per metric, the mean ± standard
deviation over seeds of each seed's mean over test cases (foreground classes averaged per
case, and per class), and compares each loss with the baseline with the subject as the unit
(ACDC: a patient's ED and ES frames averaged first) and the seeds replicated: the difference
of the means, its 95% interval from a hierarchical bootstrap over subjects and seeds, and the
bootstrap p-value Holm-adjusted over every comparison of the report (see
:mod:`edgewise.bench.stats`); ▲/▼ mark adjusted p < 0.05. Cells that ran different, or
uncommitted, code are not pooled unless asked to (``allow_mixed_code``), and the report
says so at its top; its header lists the commit. Figures: learning curves (validation Dice,
training and validation loss against epoch, mean over seeds), box plots of the per-case
values and the differences with their intervals (grids of panels, one per metric), and a
grid of prediction overlays on the same test cases for every loss.
"""

from __future__ import annotations

import csv
import math
import os
import warnings
from collections.abc import Callable, Collection, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from edgewise._io import atomic_write_text, staged_dir
from edgewise.bench.results import (
    MEAN,
    BenchResults,
    MixedCodeError,
    RunData,
    case_means,
    check_code,
    code_groups,
    code_labels,
    column_spec,
    describe_code,
    load_results,
    metric_info,
    read_curves,
    read_per_case,
    seed_means,
    short_code,
)
from edgewise.bench.stats import (
    N_BOOT,
    hierarchical_bootstrap,
    holm,
    mean_std,
    n_boot_for,
    paired_test,
    significance_mark,
    subject_table,
)

# BenchResults, load_results, read_curves and read_per_case live in edgewise.bench.results
# (shared with the figures) and stay importable from here.
__all__ = ["BenchResults", "load_results", "read_curves", "read_per_case", "write_report"]

def _n_inf(runs: Sequence[RunData], metric: str, classes: Sequence[str]) -> int:
    """Infinite values (distances to an empty prediction or reference) over the runs'
    cases and ``classes``: what the means leave out."""
    return sum(math.isinf(v) for r in runs for c in classes
               for v in r.values.get(metric, {}).get(c, {}).values())


ALPHA = 0.05


def baseline_levels(results: BenchResults, baseline: str | None) -> dict[str, tuple[bool | None, str]]:
    """Per dataset with a ``baseline_level`` in the experiment: ``(reached, line)``.

    ``reached`` is True or False when the level applies (the report's baseline is the
    experiment's, and its cells were scored on the split the level was measured on), None
    when it does not (then ``line`` says why). A baseline that misses its recipe's documented
    level did not train well: comparing terms with it would measure the training, not them.

    Example:
        >>> from types import SimpleNamespace
        >>> res = SimpleNamespace(experiment={"baseline": "ce", "baseline_level": {
        ...     "d": {"metric": "dice", "at_least": 0.9, "source": "recipe.yaml"}}},
        ...     datasets=["d"], runs_of=lambda ds, loss: [])
        >>> baseline_levels(res, "ce")["d"]
        (False, 'the baseline **ce** has no finite mean dice: its recipe documents at least 0.9 (recipe.yaml)')
    """
    exp = results.experiment
    levels = exp.get("baseline_level") or {}
    scored = (((exp.get("base") or {}).get("evaluation") or {}).get("bench_split")) or "test"
    out: dict[str, tuple[bool | None, str]] = {}
    for ds in results.datasets:
        level = levels.get(ds)
        if not level:
            continue
        metric = level.get("metric", "dice")
        bound, op = (level["at_least"], "at least") if level.get("at_least") is not None else (level["at_most"], "at most")
        documented = f"its recipe documents {op} {bound} ({level['source']})"
        split = level.get("split", "test")
        if baseline is None or baseline != exp.get("baseline"):
            out[ds] = (None, f"the level of {exp.get('baseline')} is not checked: this report's baseline is {baseline}")
            continue
        if split != scored:
            out[ds] = (None, f"not checked against the level: {documented} on {split}, these cells were scored on {scored}")
            continue
        mean, std, n = mean_std(seed_means(results.runs_of(ds, baseline), metric, MEAN))
        if not math.isfinite(mean):
            out[ds] = (False, f"the baseline **{baseline}** has no finite mean {metric}: {documented}")
            continue
        reached = mean >= bound if op == "at least" else mean <= bound
        verdict = "reaches" if reached else "**misses**"
        out[ds] = (reached, f"the baseline **{baseline}** {verdict} its level: mean {metric} "
                            f"{mean:.{_digits(metric)}f} over {n} seeds; {documented}")
    return out


def summary_rows(results: BenchResults, baseline: str | None,
                 references: Sequence[RunData] = (), *, n_boot: int | None = None,
                 withhold: Collection[str] = ()) -> list[dict[str, Any]]:
    """Rows of ``summary.csv``: one per dataset, loss, class (and ``mean``), metric.

    ``n_inf`` counts the infinite values the mean leaves out, over seeds and cases (and
    classes, for ``mean``). ``references`` (see :func:`read_reference`) follow each
    dataset's losses with ``reference = 1`` and one "seed"; they are tested against the
    baseline like the losses.

    A loss other than the baseline is compared with it over subjects (cases of one subject
    averaged first, per seed): ``mean_diff`` (loss - baseline), its 95% percentile interval
    ``ci_low``-``ci_high`` and two-sided ``p_boot`` from
    :func:`edgewise.bench.stats.hierarchical_bootstrap`, ``p_holm`` that p Holm-adjusted over
    the ``n_tests`` comparisons of the family (every loss x class x metric of the report; the
    reference rows are a family of their own), ``n_subjects`` = ``n_pairs`` subjects.
    ``p_wilcoxon`` and ``p_ttest`` are the classical paired tests over the same subjects,
    each averaged over seeds: uncorrected, blind to the seed spread, kept for comparison.
    ``code`` lists the code labels of the loss's runs (commit, ``+dirty``, ``unknown``,
    ``missing``). Datasets in ``withhold`` (a baseline that missed its level:
    :func:`baseline_levels`) get no comparison: their values only.
    """
    arms_per_ds = []
    for ds in results.datasets:
        arms = [(loss, results.runs_of(ds, loss), 0) for loss in results.losses(ds)]
        arms += [(ref.loss, [ref], 1) for ref in references if ref.dataset == ds]
        arms_per_ds.append((ds, arms))
    metrics = results.metrics()
    if n_boot is None:
        # enough replicates that the smallest bootstrap p can pass Holm's first threshold
        n_tests = sum((1 + len(results.classes(ds))) * len(metrics)
                      for ds, arms in arms_per_ds for loss, runs, ref in arms
                      if runs and loss != baseline and not ref and ds not in withhold)
        n_boot = n_boot_for(n_tests, ALPHA, N_BOOT)
    rows = []
    for ds, arms in arms_per_ds:
        base_runs = results.runs_of(ds, baseline) if baseline else []
        classes = results.classes(ds)
        subject_of = results.subject_of(ds)
        for loss, runs, reference in arms:
            code = " ".join(sorted({label for r in runs for label in code_labels(r)})) if not reference else ""
            for cls in [MEAN, *classes]:
                for metric in metrics:
                    mean, std, n = mean_std(seed_means(runs, metric, cls))
                    row: dict[str, Any] = {
                        "dataset": ds, "loss": loss, "class": cls, "metric": metric,
                        "mean": mean, "std": std, "n_seeds": n,
                        "n_cases": len(case_means(runs, metric, cls)) if runs else 0,
                        "n_inf": _n_inf(runs, metric, classes if cls == MEAN else [cls]),
                        "baseline": baseline or "", "mean_diff": math.nan,
                        "p_wilcoxon": math.nan, "p_ttest": math.nan, "n_pairs": 0,
                        "reference": reference,
                        "n_subjects": 0, "ci_low": math.nan, "ci_high": math.nan,
                        "p_boot": math.nan, "p_holm": math.nan, "n_tests": 0, "n_boot": 0, "code": code,
                    }
                    if base_runs and runs and loss != baseline and ds not in withhold:
                        row.update(_compare(runs, base_runs, metric, cls, subject_of, n_boot), n_boot=n_boot)
                    rows.append(row)
    for reference in (0, 1):
        family = [r for r in rows if r["reference"] == reference and math.isfinite(r["p_boot"])]
        for r, p in zip(family, holm([r["p_boot"] for r in family])):
            r["p_holm"], r["n_tests"] = float(p), len(family)
    return rows


def _compare(runs: Sequence[RunData], base_runs: Sequence[RunData], metric: str, cls: str,
             subject_of: Callable[[str], str], n_boot: int) -> dict[str, Any]:
    """The comparison columns of a row: the bootstrap over subjects and seeds, and the
    classical paired tests over subjects (each averaged over seeds)."""
    def per_seed(rs: Sequence[RunData]) -> dict[int, dict[str, float]]:
        return {r.seed: r.values.get(metric, {}).get(cls, {}) for r in rs}

    a, b = per_seed(runs), per_seed(base_runs)
    subjects = sorted({subject_of(c) for per in (*a.values(), *b.values()) for c in per})
    _, seeds_a, table_a = subject_table(a, subject_of, subjects)
    _, seeds_b, table_b = subject_table(b, subject_of, subjects)
    boot = hierarchical_bootstrap(table_a, table_b, paired_seeds=seeds_a == seeds_b, n_boot=n_boot)
    with np.errstate(invalid="ignore"), warnings.catch_warnings():
        # a subject with no finite value (nanmean), equal differences everywhere (ttest_rel)
        warnings.simplefilter("ignore", RuntimeWarning)
        x = np.nanmean(table_a, axis=1)
        y = np.nanmean(table_b, axis=1)
        w = paired_test(x, y, "wilcoxon")
        t = paired_test(x, y, "ttest")
    return {"mean_diff": boot.mean_diff, "p_wilcoxon": w.pvalue, "p_ttest": t.pvalue, "n_pairs": boot.n_subjects,
            "n_subjects": boot.n_subjects, "ci_low": boot.ci_low, "ci_high": boot.ci_high, "p_boot": boot.pvalue}


def read_reference(results: BenchResults, key: str, folder: str | Path) -> RunData:
    """A scored folder (``per_case.csv`` of ``edgewise score`` or ``edgewise eval``, e.g. a
    second human observer) as a reference row of ``results``' dataset.

    ``key`` is ``LABEL``, or ``DATASET:LABEL`` when the grid has several datasets.
    """
    dataset, sep, label = key.rpartition(":")
    if not sep:
        if len(results.datasets) != 1:
            raise ValueError(f"expected the reference as DATASET:LABEL=DIR for a grid of several datasets "
                             f"{results.datasets}, got {key!r}")
        dataset = results.datasets[0]
    if dataset not in results.datasets:
        raise ValueError(f"expected a reference for a dataset of the grid {results.datasets}, got {dataset!r}")
    if not label.strip():
        raise ValueError(f"expected a label for the reference {str(folder)!r}, got {key!r}")
    if label in results.losses(dataset):
        raise ValueError(f"expected a reference label other than the grid's losses, got {label!r}")
    per_case = Path(folder) / "per_case.csv"
    if not per_case.is_file():
        raise ValueError(f"expected a folder with per_case.csv (from `edgewise score` or `edgewise eval`) "
                         f"for the reference {label!r}, got {str(folder)!r}")
    ref = RunData(dataset=dataset, loss=label, seed=0, path=Path(folder), values=read_per_case(per_case))
    cases = {c for per_class in ref.values.values() for v in per_class.values() for c in v}
    scored = {c for r in results.runs if r.dataset == dataset
              for per_class in r.values.values() for v in per_class.values() for c in v}
    if not cases & scored:
        raise ValueError(f"the reference {label!r} ({per_case}) shares no test case with the runs of "
                         f"{dataset!r} (e.g. {sorted(cases)[:3]} vs {sorted(scored)[:3]})")
    return ref


def write_report(
    bench_dir: str | Path,
    baseline: str | None = None,
    output: str | Path | None = None,
    overlays: int = 3,
    *,
    losses: Sequence[str] | None = None,
    view: str | None = None,
    references: Mapping[str, str | Path] | None = None,
    allow_mixed_code: bool = False,
) -> Path:
    """Write ``report.md``, ``summary.csv`` and ``figures/*.png`` for a bench folder.

    The three appear together: they are written into a temporary sibling of the report
    folder, which then replaces it as a whole (an earlier report stays whole until then).

    Args:
        bench_dir: a folder written by ``edgewise bench``.
        baseline: loss label to test the others against; default the experiment's
            ``baseline``, else the first loss.
        output: the report folder (default ``<bench_dir>/report``); a non-empty folder
            edgewise did not make is refused.
        overlays: number of test cases in the overlay grid (0 for none).
        losses: report only these losses of the grid (default all).
        view: a view of the experiment (its ``views``: one paper's losses and baseline);
            the report goes to ``<bench_dir>/report-<view>`` unless ``output`` is given.
        references: rows that were scored, not trained, ``{LABEL or DATASET:LABEL: folder}``
            with each folder's ``per_case.csv`` (``edgewise score`` of a second observer's
            masks): shown after the losses, tested against the baseline, kept out of the
            figures.
        allow_mixed_code: pool runs that ran different commits, uncommitted changes, or
            code that was not recorded (each cell's ``provenance.json``); the report then
            says so at its top. Without it such runs are refused.

    Returns:
        The path of ``report.md``.

    Raises:
        FileNotFoundError: ``bench_dir`` has no ``bench.yaml``.
        FileExistsError: ``output`` is a folder edgewise may not replace.
        MixedCodeError: (a ValueError) the runs did not all run one clean commit, and
            ``allow_mixed_code`` is False; the message lists which runs ran which code.
        ValueError: ``baseline`` is not a loss of the grid, or no run has finished.
    """
    results = load_results(bench_dir)
    default_dir = "report"
    if view is not None:
        views = results.experiment.get("views") or {}
        if view not in views:
            raise ValueError(f"expected a view of the experiment among {sorted(views)}, got {view!r}")
        if losses is not None:
            raise ValueError("give either a view or a list of losses, not both")
        losses = views[view]["losses"]
        baseline = baseline or views[view].get("baseline") or losses[0]
        default_dir = f"report-{view}"
    if losses is not None:
        results = results.subset(losses)
    present = list(dict.fromkeys(c["loss"] for c in results.cells))
    baseline = baseline or results.experiment.get("baseline") or present[0]
    if baseline not in present:
        raise ValueError(f"expected a baseline among the losses {present}, got {baseline!r}")
    if not results.runs:
        raise ValueError(f"expected at least one finished run in {results.bench_dir}, found none")
    problem = check_code(code_groups(results.runs))
    if problem and not allow_mixed_code:
        raise MixedCodeError(problem)
    refs = [read_reference(results, key, folder) for key, folder in (references or {}).items()]
    final = Path(output) if output is not None else results.bench_dir / default_dir
    with staged_dir(final, "report", what="report folder") as out:
        _write_report(results, baseline, out, overlays, refs)
    return final / "report.md"


def _write_report(results: BenchResults, baseline: str, out: Path, overlays: int,
                  refs: Sequence[RunData] = ()) -> None:
    fig_dir = out / "figures"
    fig_dir.mkdir(parents=True, exist_ok=True)
    levels = baseline_levels(results, baseline)
    rows = summary_rows(results, baseline, refs, withhold=[ds for ds, (ok, _) in levels.items() if ok is False])
    _write_csv(out / "summary.csv", rows)

    from edgewise.bench import figures

    lines = _header(results, baseline, refs, rows)
    for ds, (ok, text) in levels.items():
        if ok is False:
            lines += [f"> **{ds}: no comparison.** {text[0].upper()}{text[1:]}. A baseline that did not "
                      "reach its recipe's level is not a baseline: the values below are shown, the "
                      "differences are not tested.", ""]
        else:
            lines += [f"- {ds}: {text}.", ""]
    for ds in results.datasets:
        lines += [f"## {ds}", ""]
        lines += _tables(results, rows, ds, baseline, [r.loss for r in refs if r.dataset == ds])
        curves = figures.learning_curves(results, ds, fig_dir / f"{ds}_curves.png")
        boxes = figures.box_plots(results, ds, fig_dir / f"{ds}_boxplots.png")
        diffs = figures.differences(results, rows, ds, fig_dir / f"{ds}_differences.png")
        grid = figures.overlay_grid(results, ds, fig_dir / f"{ds}_overlays.png", overlays) if overlays else None
        for title, path in (("Learning curves", curves), ("Per-case values", boxes),
                            (f"Differences from {baseline}", diffs), ("Predictions", grid)):
            if path is not None:
                lines += [f"### {title}", "", f"![{title} on {ds}]({_rel(path, out)})", ""]
        if grid is not None:
            lines += [
                "Columns: image, ground truth, then each loss's prediction (seed "
                f"{figures.overlay_seed(results, ds)}, best checkpoint); under each prediction "
                "its error map (green: correct foreground, red: false positive or wrong class, "
                "blue: false negative, grey: outside the evaluation mask).",
                "",
            ]
    atomic_write_text(out / "report.md", "\n".join(lines).rstrip() + "\n")


def _rel(path: Path, start: Path) -> str:
    return Path(os.path.relpath(path, start)).as_posix()


def _header(results: BenchResults, baseline: str, refs: Sequence[RunData] = (),
            rows: Sequence[Mapping[str, Any]] = ()) -> list[str]:
    exp = results.experiment
    title = exp.get("name", results.bench_dir.name) + (f" ({exp['variant']})" if exp.get("variant") else "")
    seeds = sorted({c["seed"] for c in results.cells})
    lines = [f"# Benchmark report: {title}", ""]
    groups = code_groups(results.runs)
    if check_code(groups):
        lines += ["> **Mixed code: these runs did not all run one committed version of edgewise.** "
                  "They are pooled because the report was asked to (`--allow-mixed-code`); "
                  "differences between losses may come from the code, not the losses:", ">"]
        lines += [f"> - {line}" for line in describe_code(groups)]
        lines.append("")
    if exp.get("description"):
        lines += [str(exp["description"]).strip(), ""]
    versions = sorted({str(e.get("version")) for r in results.runs for e in (r.code or []) if e.get("version")})
    commits = ", ".join(f"`{short_code(label)}`" for label in groups)
    tested = [r for r in rows if not r["reference"] and math.isfinite(r["p_boot"])]
    n_tests = len(tested)
    n_boot = max((int(r["n_boot"]) for r in tested), default=N_BOOT)
    lines += [
        f"- Runs finished: {len(results.runs)} of {len(results.cells)} "
        f"(seeds {', '.join(map(str, seeds))}); failed: {len(results.failed)}; not run: {len(results.missing)}.",
        f"- Code: edgewise {', '.join(versions) or 'version not recorded'}, commit {commits}"
        + (" for every run." if len(groups) == 1 else " (mixed: see above)."),
        "- Values: mean ± sample standard deviation over seeds of each seed's mean over test cases; "
        "`mean` averages the foreground classes of each case. HD95 and ASSD are in the data's "
        "spacing units; infinite values (empty prediction or reference) are left out, and "
        "their count over seeds and cases (and classes, for `mean`) follows the value: `(11 inf)`.",
        f"- Paired tests against **{baseline}**, with the subject as the unit "
        f"({_subjects_text(results, rows)}): each loss's difference from {baseline} (of the means "
        "over subjects and seeds), its 95% interval from a hierarchical bootstrap "
        f"({n_boot} replicates, each resampling the subjects and then the seeds), and the "
        f"two-sided bootstrap p Holm-adjusted over the report's {n_tests} comparisons "
        "(every loss x class x metric). ▲ / ▼: adjusted p < 0.05 and better / worse; no mark: "
        "no difference detected, the interval shows the differences the data cannot rule out. "
        "`summary.csv` also has the unadjusted p (`p_boot`) and the classical Wilcoxon and "
        "t-test p over subjects (`p_wilcoxon`, `p_ttest`; uncorrected, seeds averaged).",
    ]
    for ref in refs:
        lines.append(f"- Reference row *{ref.loss}* ({ref.dataset}): scored, not trained, from "
                     f"`{ref.path}` (its per_case.csv); no seeds, not in the figures; its tests are "
                     "Holm-adjusted in a family of their own.")
    lines.append("")
    for name in results.failed:
        lines.append(f"- failed: `{name}` (see `{name}/error.txt`)")
    if results.failed:
        lines.append("")
    return lines


def _subjects_text(results: BenchResults, rows: Sequence[Mapping[str, Any]]) -> str:
    parts = []
    for ds in results.datasets:
        subs = [int(r["n_subjects"]) for r in rows if r["dataset"] == ds and r["n_subjects"]]
        cases = [int(r["n_cases"]) for r in rows if r["dataset"] == ds and r["n_cases"]]
        if subs and cases:
            n_s, n_c = max(subs), max(cases)
            parts.append(f"{ds}: {n_s} subjects" + (f" for {n_c} cases, a subject's cases averaged first"
                                                   if n_c != n_s else ", one case each"))
    return "; ".join(parts) or "no comparison"


def _fmt(mean: float, std: float, digits: int) -> str:
    if not math.isfinite(mean):
        return "–"
    return f"{mean:.{digits}f}" + (f" ± {std:.{digits}f}" if math.isfinite(std) else "")


def _p(p: float) -> str:
    if not math.isfinite(p):
        return "–"
    return "<0.001" if p < 1e-3 else f"{p:.3f}"


def _digits(metric: str) -> int:
    return column_spec(metric).digits


def _tables(results: BenchResults, rows: Sequence[Mapping[str, Any]], ds: str, baseline: str,
            refs: Sequence[str] = ()) -> list[str]:
    metrics = results.metrics(sweep=False)
    sweep = results.sweep_metrics()
    extra = results.extra_metrics()
    classes = results.classes(ds)
    lines = []
    groups = [(MEAN, "Foreground mean")] + ([(c, f"Class {c}") for c in classes] if len(classes) > 1 else [])
    for cls, title in groups:
        lines += [f"### {title}", ""]
        lines += _metric_tables(results, rows, ds, baseline, cls, metrics, refs)
        if sweep:
            tols = list(dict.fromkeys(m.partition("@")[2] for m in sweep))
            lines += [f"#### {title}: boundary scores by tolerance ({', '.join(tols)} mm)", ""]
            lines += _metric_tables(results, rows, ds, baseline, cls, sweep, refs)
        if extra:
            lines += [f"#### {title}: topology and pixel metrics", ""]
            lines += _metric_tables(results, rows, ds, baseline, cls, extra, refs)
    return lines


def _metric_tables(results: BenchResults, rows: Sequence[Mapping[str, Any]], ds: str, baseline: str,
                   cls: str, metrics: Sequence[str], refs: Sequence[str] = ()) -> list[str]:
    """The values table of one class and its paired-test table against the baseline."""
    index = {(r["loss"], r["class"], r["metric"]): r for r in rows if r["dataset"] == ds}
    losses = results.losses(ds) + list(refs)

    def name(loss: str) -> str:
        return f"*{loss}* (reference)" if loss in refs else loss

    lines: list[str] = []
    head = ["loss", "seeds"] + [f"{metric_info(m)[0]} {column_spec(m).arrow}" for m in metrics]
    lines += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for loss in losses:
        cells = [f"**{loss}**" if loss == baseline else name(loss)]
        first = index.get((loss, cls, metrics[0])) if metrics else None
        cells.append("–" if loss in refs else str(first["n_seeds"]) if first else "0")
        for m in metrics:
            r = index.get((loss, cls, m))
            cell = _fmt(r["mean"], r["std"], _digits(m)) if r else "–"
            if r and r["n_inf"]:
                cell += f" ({r['n_inf']} inf)"
            cells.append(cell)
        lines.append("| " + " | ".join(cells) + " |")
    lines.append("")
    if len(losses) > 1:
        lines += [f"Against {baseline}: difference [95% CI], Holm-adjusted p:", ""]
        head = ["loss"] + [metric_info(m)[0] for m in metrics]
        lines += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        for loss in losses:
            if loss == baseline:
                continue
            cells = [name(loss)]
            for m in metrics:
                r = index.get((loss, cls, m))
                cells.append(_diff_cell(r, index.get((baseline, cls, m)), m) if r is not None and r["n_pairs"]
                             else "–")
            lines.append("| " + " | ".join(cells) + " |")
        lines.append("")
    return lines


def _signed(value: float, digits: int) -> str:
    return "–" if not math.isfinite(value) else f"{value:+.{digits}f}".replace("-", "−")


def _diff_cell(row: Mapping[str, Any], base: Mapping[str, Any] | None, metric: str) -> str:
    """``+0.030 [+0.012, +0.047] p=0.004 ▲``: the difference, its interval, the adjusted p and
    the mark; a distance whose mean leaves out more infinite values than the baseline's gets
    no mark (its mean covers fewer classes or cases)."""
    digits = _digits(metric)
    text = (f"{_signed(row['mean_diff'], digits)} [{_signed(row['ci_low'], digits)}, "
            f"{_signed(row['ci_high'], digits)}] p={_p(row['p_holm'])}")
    if base is not None and row["n_inf"] > base["n_inf"]:
        return text + " (more inf: not comparable)"
    mark = significance_mark(row["mean_diff"], row["p_holm"], metric_info(metric)[1], ALPHA)
    return text + (f" {mark}" if mark else "")


def _write_csv(path: Path, rows: Sequence[Mapping[str, Any]]) -> None:
    fields = list(rows[0]) if rows else ["dataset", "loss", "class", "metric", "mean", "std"]
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=fields)
        writer.writeheader()
        for row in rows:
            writer.writerow({k: ("" if isinstance(v, float) and math.isnan(v) else v) for k, v in row.items()})
