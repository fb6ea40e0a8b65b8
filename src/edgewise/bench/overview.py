"""One table across several bench reports: each dataset x loss, against its grid's baseline.

:func:`overview_table` reads the ``summary.csv`` that ``edgewise report`` writes for each grid
(DRIVE, hippocampus, ACDC, ...) and lays the class-mean rows side by side, so the question
"which loss helps which kind of structure" reads off one table. Nothing is recomputed: every
number, including the difference's interval over subjects and seeds and its Holm-adjusted p
(:mod:`edgewise.bench.stats`, adjusted over the comparisons of each report), is the report's
own, and the ▲/▼ marks follow the same rule (:func:`edgewise.bench.stats.significance_mark`).
Reports whose runs did not all run one committed version of edgewise (the ``code`` column)
are refused unless ``allow_mixed_code``.

Example:
    >>> import tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> commit = "0123456789abcdef0123456789abcdef01234567"
    >>> _ = (d / "summary.csv").write_text(
    ...     "dataset,loss,class,metric,mean,std,n_seeds,n_cases,baseline,mean_diff,p_wilcoxon,"
    ...     "p_ttest,n_pairs,n_inf,ci_low,ci_high,p_boot,p_holm,code\\n"
    ...     f"toy,ce,mean,dice,0.80,0.01,3,20,ce,,,,,0,,,,,{commit}\\n"
    ...     f"toy,ce_bl,mean,dice,0.78,0.02,3,20,ce,-0.02,0.0004,0.002,20,0,-0.03,-0.01,0.0002,0.0004,{commit}\\n")
    >>> print(overview_table([d], metrics=["dice"]))  # doctest: +NORMALIZE_WHITESPACE
    | dataset | loss | seeds | Dice ↑ | Δ Dice (p) |
    |---|---|---|---|---|
    | toy | ce | 3 | 0.800 ± 0.010 | baseline |
    | toy | ce_bl | 3 | 0.780 ± 0.020 | −0.020 [−0.030, −0.010] (p < 0.001) ▼ |
"""

from __future__ import annotations

import csv
import math
from collections.abc import Sequence
from pathlib import Path

from .results import (
    MEAN,
    METRICS,
    MISSING_CODE,
    SWEEP_METRICS,
    MixedCodeError,
    check_code,
    column_spec,
    describe_code,
    metric_info,
    short_code,
)
from .stats import significance_mark

_COLUMNS = ("dataset", "loss", "class", "metric", "mean", "std", "n_seeds", "baseline",
            "mean_diff", "p_wilcoxon")


def summary_path(folder: str | Path) -> Path:
    """``summary.csv`` of a report folder, or of a bench folder's default report."""
    folder = Path(folder)
    for candidate in (folder / "summary.csv", folder / "report" / "summary.csv"):
        if candidate.is_file():
            return candidate
    raise FileNotFoundError(
        f"expected a report folder with summary.csv (from `edgewise report`) or a bench folder "
        f"with report/summary.csv, got {str(folder)!r} holding neither"
    )


def read_summary(path: str | Path) -> list[dict[str, str]]:
    """Rows of a report's ``summary.csv``, checked for the columns the overview needs."""
    try:
        with open(path, newline="", encoding="utf-8") as f:
            reader = csv.DictReader(f)
            missing = [c for c in _COLUMNS if c not in (reader.fieldnames or [])]
            if missing:
                raise ValueError(f"{path}: expected the columns of `edgewise report`'s summary.csv, "
                                 f"missing {missing}")
            return list(reader)
    except UnicodeDecodeError as exc:
        raise ValueError(f"{path}: expected the CSV text of `edgewise report`'s summary.csv, but byte "
                         f"0x{exc.object[exc.start]:02x} at offset {exc.start} is not UTF-8 text") from None


def _float(text: str | None) -> float:
    try:
        return float(text) if text not in (None, "") else math.nan
    except ValueError:
        return math.nan


def _p_text(p: float) -> str:
    if math.isnan(p):
        return "p n/a"
    return "p < 0.001" if p < 0.001 else f"p = {p:.3f}"


def _signed(value: float, digits: int) -> str:
    return f"{'+' if value >= 0 else '−'}{abs(value):.{digits}f}"


def _delta_cell(row: dict[str, str], higher: bool, digits: int, alpha: float,
                base: dict[str, str] | None = None) -> str:
    if row["loss"] == row["baseline"]:
        return "baseline"
    diff = _float(row["mean_diff"])
    if math.isnan(diff):
        return "n/a"
    if "p_holm" not in row:
        # a report written before the subject-level bootstrap: its p is uncorrected, no verdict
        return f"{_signed(diff, digits)} ({_p_text(_float(row['p_wilcoxon'])).replace('p', 'p_W', 1)}, uncorrected)"
    p, low, high = _float(row["p_holm"]), _float(row.get("ci_low")), _float(row.get("ci_high"))
    text = _signed(diff, digits)
    if not (math.isnan(low) or math.isnan(high)):
        text += f" [{_signed(low, digits)}, {_signed(high, digits)}]"
    text += f" ({_p_text(p)})"
    # more infinite values left out than the baseline (an empty prediction: HD95 of a lost
    # class) means the two means cover different classes or cases: a lower distance there is
    # not a better one, so no verdict
    if base is not None and _float(row.get("n_inf")) > _float(base.get("n_inf")):
        return text + " (more inf than baseline: not comparable)"
    mark = significance_mark(diff, p, higher, alpha)
    return text + (f" {mark}" if mark else "")


def code_groups(folders: Sequence[str | Path]) -> dict[str, list[str]]:
    """Code label -> the ``report: dataset/loss`` rows whose runs ran it (a report's
    ``code`` column; a report written before it is :data:`~edgewise.bench.results.MISSING_CODE`)."""
    groups: dict[str, list[str]] = {}
    for folder in folders:
        path = summary_path(folder)
        seen: set[tuple[str, str]] = set()
        for r in read_summary(path):
            key = (r["dataset"], r["loss"])
            if key in seen or r.get("reference") == "1" or r["n_seeds"] in ("", "0"):
                continue
            seen.add(key)
            labels = (r.get("code") or "").split() if "code" in r else [MISSING_CODE]
            for label in labels or [MISSING_CODE]:
                groups.setdefault(label, []).append(f"{path.parent}: {key[0]}/{key[1]}")
    return dict(sorted(groups.items()))


def overview_table(
    folders: Sequence[str | Path],
    metrics: Sequence[str] = ("dice", "hd95"),
    alpha: float = 0.05,
    *,
    allow_mixed_code: bool = False,
) -> str:
    """A Markdown table of every dataset x loss of several reports, class means only.

    Each metric gets two columns: mean ± std over seeds, and the difference from the grid's
    baseline with the report's 95% interval (over subjects and seeds) and its Holm-adjusted
    p; ▲ marks a difference whose adjusted p is below ``alpha`` and that is better, ▼ one
    that is worse; no mark: no difference detected. A row with more infinite values left out
    than its baseline (a class never predicted has an infinite HD95) gets no mark but "not
    comparable": its mean covers other classes or cases. A report written before the
    adjusted p shows its uncorrected Wilcoxon p and no mark.

    Args:
        folders: report folders (``edgewise report --output``) or bench folders (their
            ``report/``), in the order the datasets should appear.
        metrics: metric names of ``summary.csv`` (``dice``, ``hd95``, ``assd``, ``nsd``, ...).
        alpha: significance level of the ▲/▼ marks, on the adjusted p.
        allow_mixed_code: show reports whose runs ran different commits, uncommitted changes
            or unrecorded code (:func:`overview` then says so above the table).

    Returns:
        The table, one line per row.

    Raises:
        MixedCodeError: (a ValueError) the runs behind the reports did not all run one clean
            commit, and ``allow_mixed_code`` is False.
    """
    if not folders:
        raise ValueError("expected at least one report or bench folder, got none")
    if not 0 < alpha < 1:
        raise ValueError(f"expected alpha in (0, 1), got {alpha}")
    if isinstance(metrics, str) or not metrics:
        raise ValueError(f"expected a non-empty list of metric names, got {metrics!r}")
    problem = check_code(code_groups(folders), what="the runs behind these reports", unit="loss row(s)")
    if problem and not allow_mixed_code:
        raise MixedCodeError(problem)
    head = ["dataset", "loss", "seeds"]
    for m in metrics:
        try:
            label = metric_info(m)[0]
        except (KeyError, ValueError):
            examples = ", ".join([*METRICS, f"{SWEEP_METRICS[0]}@2", "..."])
            raise ValueError(f"expected metric names of a report's summary.csv ({examples}), "
                             f"got {m!r}") from None
        head += [f"{label} {column_spec(m).arrow}", f"Δ {label} (p)"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for folder in folders:
        path = summary_path(folder)
        rows = [r for r in read_summary(path) if r["class"] == MEAN]
        known = {r["metric"] for r in rows}
        absent = [m for m in metrics if m not in known]
        if absent:
            raise ValueError(f"{path}: no class-mean rows for metric(s) {absent} "
                             f"(it has {sorted(known)})")
        index = {(r["dataset"], r["loss"], r["metric"]): r for r in rows}
        order = list(dict.fromkeys((r["dataset"], r["loss"]) for r in rows))
        for dataset, loss in order:
            first = index.get((dataset, loss, metrics[0]))
            seeds = first["n_seeds"] if first else ""
            reference = first is not None and first.get("reference") == "1"  # a scored row, e.g. a second observer
            if seeds in ("", "0"):  # an arm of the grid with no finished run yet
                lines.append("| " + " | ".join([dataset, loss, "0"] + ["not run", ""] * len(metrics)) + " |")
                continue
            cells = [dataset, f"*{loss}* (reference)", "–"] if reference else [dataset, loss, seeds]
            for m in metrics:
                r = index.get((dataset, loss, m))
                if r is None:
                    cells += ["", ""]
                    continue
                higher, digits = column_spec(m).higher_is_better, column_spec(m).digits
                mean, std = _float(r["mean"]), _float(r["std"])
                value = f"{mean:.{digits}f}" + ("" if math.isnan(std) else f" ± {std:.{digits}f}")
                n_inf = _float(r.get("n_inf"))  # reports before the column existed lack it
                if n_inf > 0:
                    value += f" ({int(n_inf)} inf)"
                base = index.get((dataset, r["baseline"], m))
                cells += [value, _delta_cell(r, higher, digits, alpha, base)]
            lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def overview(
    folders: Sequence[str | Path],
    metrics: Sequence[str] = ("dice", "hd95"),
    alpha: float = 0.05,
    *,
    allow_mixed_code: bool = False,
) -> str:
    """What ``edgewise overview`` prints: :func:`overview_table`, a line on what the Δ
    columns hold, and the code the runs ran; a warning above the table when the reports'
    runs ran mixed code (only with ``allow_mixed_code``)."""
    table = overview_table(folders, metrics, alpha, allow_mixed_code=allow_mixed_code)
    groups = code_groups(folders)
    lines = []
    if check_code(groups):
        lines += ["> **Mixed code: the runs behind these reports did not all run one committed version of "
                  "edgewise** (shown because of `--allow-mixed-code`):", ">"]
        lines += [f"> - {line}" for line in describe_code(groups, unit="loss row(s)")]
        lines.append("")
    lines += [table, "",
              f"Δ: difference from the grid's baseline [95% interval over subjects and seeds] (p Holm-adjusted "
              f"over each report's comparisons); ▲ / ▼: p < {alpha:g}, better / worse; no mark: no difference "
              f"detected.",
              "Code: " + ", ".join(f"`{short_code(label)}`" for label in groups) + "."]
    return "\n".join(lines)
