"""Interleaved before/after timing of the loss rows of ``benchmarks/losses.py``.

Not a test. On a loaded machine single benchmark runs of the same code move by up to 2x, so
this alternates two versions of edgewise (each in its own process, ``--threads`` torch
threads, default one) row set by row set, for several rounds, and prints medians over
rounds as a Markdown table:

    python benchmarks/losses_ab.py --before <old checkout>/src --rounds 3           # 3D rows
    python benchmarks/losses_ab.py --before <old checkout>/src --rounds 3 --2d      # 2D rows
    python benchmarks/losses_ab.py --before <old checkout>/src --only sdf            # some rows
    python benchmarks/losses_ab.py --before <old checkout>/src --classes 2           # binary batch

"after" is the edgewise this script imports (the working tree). Each process times every row
(median of ``--repeats`` calls after a warm-up, as ``losses.py``) and the UNet step.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROWS = ["boundary", "region_wise (RRW)", "penalized_ce", "hausdorff_dt (boundary)", "hausdorff_dt (inside)",
        "hausdorff_er", "perimeter", "sdf", "active_contour", "compound: dice + penalized_ce",
        "compound: boundary + penalized_ce + RRW"]


def _rows(only: list[str] | None) -> list[str]:
    return [r for r in ROWS if only is None or any(w in r for w in only)]


def _child(two_d: bool, repeats: int, only: list[str] | None, classes: int | None, threads: int) -> None:
    import torch

    sys.path.insert(0, str(HERE))
    import losses as B

    import edgewise.losses as L

    torch.set_num_threads(threads)
    x, t = B._batch(8, classes or 4, (256, 256)) if two_d else B._batch(2, classes or 3, (96, 96, 96))
    rows = {**B.map_losses(), ROWS[-1]: L.CompoundLoss(
        {"boundary": L.BoundaryLoss(), "penalized_ce": L.DistancePenalizedCELoss(),
         "rrw": L.RegionWiseLoss(check=False)}),
        ROWS[-2]: L.CompoundLoss({"dice": L.DiceLoss(), "penalized_ce": L.DistancePenalizedCELoss()})}
    out = {"unet": B._timed(B._unet_step(x, t, (16, 32, 64, 128) if two_d else (8, 16, 32, 64)), repeats)}
    for name in _rows(only):
        out[name] = B._timed(B._fwd_bwd(rows[name], x, t), repeats)
    print(json.dumps(out))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--before", help="src folder of the 'before' edgewise (put first on PYTHONPATH)")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--2d", dest="two_d", action="store_true", help="the 2D 8x4x256^2 batch instead of 3D 2x3x96^3")
    ap.add_argument("--only", nargs="+", default=None, metavar="WORD", help="rows whose name contains a word")
    ap.add_argument("--classes", type=int, default=None,
                    help="classes of the batch, background included (default 4 in 2D, 3 in 3D)")
    ap.add_argument("--threads", type=int, default=1, help="torch threads of both versions (default 1)")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        _child(args.two_d, args.repeats, args.only, args.classes, args.threads)
        return
    if not args.before:
        ap.error("--before is required")
    runs: dict[str, list[dict[str, float]]] = {"before": [], "after": []}
    cmd = [sys.executable, __file__, "--child", "--repeats", str(args.repeats), "--threads", str(args.threads)] + (["--2d"] if args.two_d else []) + (
        ["--only", *args.only] if args.only else []) + (["--classes", str(args.classes)] if args.classes else [])
    for r in range(args.rounds):
        # before first in even rounds, after first in odd ones: neither always runs second
        for version in ("before", "after") if r % 2 == 0 else ("after", "before"):
            env = dict(os.environ)
            if version == "before":
                env["PYTHONPATH"] = os.pathsep.join(filter(None, [args.before, env.get("PYTHONPATH")]))
            res = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True)
            runs[version].append(json.loads(res.stdout.strip().splitlines()[-1]))
            print(f"round {r + 1} {version}: UNet step {runs[version][-1]['unet']:.0f} ms", file=sys.stderr)
    med = {v: {k: statistics.median(run[k] for run in runs[v]) for k in runs[v][0]} for v in runs}
    ub, ua = med["before"]["unet"], med["after"]["unet"]
    print(f"\n{args.threads} torch thread(s). UNet step: before {ub:.0f} ms, after {ua:.0f} ms "
          f"(medians of {args.rounds} rounds)\n")
    print("| loss | before ms | before: % of step | after ms | after: % of step | speed-up |")
    print("|---|---|---|---|---|---|")
    for name in _rows(args.only):
        b, a = med["before"][name], med["after"][name]
        print(f"| {name} | {b:.0f} | {100 * b / ub:.1f}% | {a:.0f} | {100 * a / ua:.1f}% | {b / a:.2f}x |")


if __name__ == "__main__":
    main()
