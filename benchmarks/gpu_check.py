"""Every CUDA test and the GPU rows of the three benchmarks, in one command, one table.

    python benchmarks/gpu_check.py             # about 3-6 minutes on one GPU
    python benchmarks/gpu_check.py --quick     # smaller cases, under a minute
    python benchmarks/gpu_check.py --skip-tests --only maps

Steps, each measured in the same run on the same CUDA tensors (median of ``--repeats``
after a warm-up, with ``torch.cuda.synchronize`` around every call):

1. ``pytest -m cuda`` (every test marked ``cuda``), with a timeout.
2. maps: signed maps of a one-hot batch with edgewise's ``cupy`` and ``torch`` backends
   against CuPy's ``cupyx.scipy.ndimage.distance_transform_edt``, cuCIM's
   ``distance_transform_edt`` and MONAI's ``distance_transform_edt``, each computing
   ``EDT(~M) - EDT(M)`` per (sample, class); the edgewise maps are checked against each
   other and against the CuPy reference's outside distances.
3. losses: forward + backward of every distance-map loss (maps on the fly) against MONAI's
   ``BoundaryLoss`` and ``HausdorffDTLoss``, and a MONAI UNet training step per case for
   scale (a 3D one included).
4. metrics: HD95 + ASSD + NSD with edgewise against MONAI's functions on CUDA tensors.

The run stops starting new steps when ``--budget`` seconds have passed (default 450, under
the 8 minutes one GPU is lent for), and prints one Markdown table with the device name.
Without CUDA it prints why and exits with status 0.
"""

from __future__ import annotations

import argparse
import datetime
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
STEPS = ("tests", "maps", "losses", "metrics")
NO_CUDA = "gpu_check: no CUDA device (torch.cuda.is_available() is False): nothing to check."


@dataclass
class Row:
    """One line of the result table; times in ms, ``ratio`` = reference / edgewise."""

    step: str
    case: str
    method: str
    ms: float | None = None
    ref: str = ""
    ref_ms: float | None = None
    note: str = ""

    @property
    def ratio(self) -> float | None:
        if self.ms is None or self.ref_ms is None or self.ms <= 0:
            return None
        return self.ref_ms / self.ms


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="small cases, one repeat")
    ap.add_argument("--repeats", type=int, default=5, help="timed repeats per method")
    ap.add_argument("--budget", type=float, default=450.0,
                    help="seconds after which no new step starts")
    ap.add_argument("--test-timeout", type=float, default=240.0,
                    help="seconds for the pytest step")
    ap.add_argument("--skip-tests", action="store_true", help="leave out the pytest step")
    ap.add_argument("--only", nargs="+", choices=STEPS, default=None, help="steps to run")
    ap.add_argument("--device", default="cuda", help="CUDA device, e.g. cuda:1")
    args = ap.parse_args(argv)
    if args.repeats < 1:
        ap.error("--repeats must be at least 1")
    if args.budget <= 0:
        ap.error("--budget must be positive")
    args.steps = [s for s in (args.only or STEPS) if not (s == "tests" and args.skip_tests)]
    if args.quick:
        args.repeats = 1
    return args


def _fmt_ms(ms: float | None) -> str:
    if ms is None:
        return ""
    return f"{ms:.2f}" if ms < 10 else f"{ms:.1f}" if ms < 100 else f"{ms:.0f}"


def format_table(rows: Sequence[Row], header: str) -> str:
    """One Markdown table: the device line, then a row per measurement."""
    lines = [
        f"#### {header}",
        "",
        "| step | case | edgewise | ms | reference | ref ms | ref / edgewise | note |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        ratio = f"{r.ratio:.1f}x" if r.ratio is not None else ""
        lines.append(
            f"| {r.step} | {r.case} | {r.method} | {_fmt_ms(r.ms)} | {r.ref} | "
            f"{_fmt_ms(r.ref_ms)} | {ratio} | {r.note} |"
        )
    return "\n".join(lines)


def device_header(device: torch.device) -> str:
    props = torch.cuda.get_device_properties(device)
    mem = props.total_memory / 2**30
    parts = [
        f"{props.name} ({mem:.0f} GiB)",
        f"torch {torch.__version__}, CUDA {torch.version.cuda}",
    ]
    for mod in ("cupy", "cucim", "monai"):
        try:
            parts.append(f"{mod} {__import__(mod).__version__}")
        except ImportError:
            parts.append(f"no {mod}")
    parts.append(datetime.date.today().isoformat())
    return ", ".join(parts)


def timed_cuda(fn: Callable[[], object], repeats: int) -> tuple[float, object]:
    """Median ms of ``fn`` after one warm-up (kernel compilation), and its last result.

    Methods that take over a second (CPU fallbacks of the references) get fewer repeats, so
    that the whole check stays within its budget.
    """
    torch.cuda.synchronize()
    t0 = time.perf_counter()
    out = fn()
    torch.cuda.synchronize()
    warm = time.perf_counter() - t0
    n = repeats if warm < 1.0 else min(repeats, 2) if warm < 5.0 else 1
    times = []
    for _ in range(n):
        torch.cuda.synchronize()
        t0 = time.perf_counter()
        out = fn()
        torch.cuda.synchronize()
        times.append(1e3 * (time.perf_counter() - t0))
    return statistics.median(times), out


def run_tests(timeout: float) -> list[Row]:
    cmd = [sys.executable, "-m", "pytest", "tests", "-m", "cuda", "-q", "-p", "no:cacheprovider"]
    t0 = time.perf_counter()
    try:
        done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=timeout)
        tail = [ln for ln in done.stdout.strip().splitlines() if ln.strip()]
        summary = tail[-1].strip("= ") if tail else "no output"
        if done.returncode not in (0, 5):
            print(done.stdout[-6000:], done.stderr[-2000:], sep="\n")
    except subprocess.TimeoutExpired:
        summary = f"timed out after {timeout:.0f} s"
    ms = 1e3 * (time.perf_counter() - t0)
    return [Row("tests", "pytest -m cuda", "all CUDA tests", ms, note=summary)]


def _onehot(labels: torch.Tensor, num_classes: int) -> torch.Tensor:
    ar = torch.arange(num_classes, device=labels.device)
    return labels.unsqueeze(1) == ar.view(1, -1, *[1] * (labels.dim() - 1))


def _per_channel_signed(edt: Callable[..., object]) -> Callable[[torch.Tensor, tuple[float, ...]], torch.Tensor]:
    """The usual ``EDT(~M) - EDT(M)`` per (sample, class) with a CuPy-array ``edt`` (CuPy, cuCIM)."""

    def ref(oh: torch.Tensor, sp: tuple[float, ...]) -> torch.Tensor:
        import cupy

        out = torch.empty(oh.shape, dtype=torch.float32, device=oh.device)
        src = cupy.from_dlpack(oh.to(torch.uint8))
        for b in range(oh.shape[0]):
            for c in range(oh.shape[1]):
                m = src[b, c]
                d = (edt(m == 0, sampling=sp, float64_distances=False)
                     - edt(m, sampling=sp, float64_distances=False))
                out[b, c] = torch.from_dlpack(d)
        return out

    return ref


def run_maps(device: torch.device, quick: bool, repeats: int) -> list[Row]:
    import numpy as np
    from distance_maps import blob_labels

    from edgewise.maps import signed_distance

    cases = [("2D 8x4x256^2", (8, 256, 256), 4, (1.0, 1.0)),
             ("3D 2x3x128^3", (2, 128, 128, 128), 3, (2.5, 0.8, 0.8)),
             ("3D 1x2x256^3", (1, 256, 256, 256), 2, (1.0, 1.0, 1.0))]
    if quick:
        cases = [("2D 4x4x128^2", (4, 128, 128), 4, (1.0, 1.0)),
                 ("3D 1x3x64^3", (1, 64, 64, 64), 3, (2.5, 0.8, 0.8))]
    refs: dict[str, Callable[[torch.Tensor, tuple[float, ...]], torch.Tensor]] = {}
    try:
        from cupyx.scipy import ndimage as cndi

        refs["CuPy distance_transform_edt"] = _per_channel_signed(cndi.distance_transform_edt)
    except ImportError:
        pass
    try:
        from cucim.core.operations.morphology import distance_transform_edt as cucim_edt

        refs["cuCIM distance_transform_edt"] = _per_channel_signed(cucim_edt)
    except ImportError:
        pass
    try:
        from monai.transforms.utils import distance_transform_edt as monai_edt

        def monai_ref(oh: torch.Tensor, sp: tuple[float, ...]) -> torch.Tensor:
            out = torch.empty(oh.shape, dtype=torch.float32, device=oh.device)
            for b in range(oh.shape[0]):
                m = oh[b]
                out[b] = monai_edt(~m, sampling=sp) - monai_edt(m, sampling=sp)
            return out

        refs["MONAI distance_transform_edt"] = monai_ref
    except ImportError:
        pass

    rows: list[Row] = []
    for name, shape, ncls, sp in cases:
        labels = torch.from_numpy(blob_labels(shape, ncls).astype(np.int64)).to(device)
        target, oh = labels[:, None], _onehot(labels, ncls)
        base_name, base_ms = "", None
        results: dict[str, torch.Tensor] = {}
        for ref_name, fn in refs.items():
            try:
                ms, results[ref_name] = timed_cuda(lambda: fn(oh, sp), repeats)
            except Exception as err:  # a reference that fails must not hide the others
                rows.append(Row("maps", name, "-", ref=ref_name, note=f"failed: {err!r}"[:120]))
                continue
            if base_ms is None:
                base_name, base_ms = ref_name, ms
            else:
                rows.append(Row("maps", name, "(reference)", ms=ms, ref=f"{ref_name} vs {base_name}",
                                ref_ms=base_ms))
        for be in ("cupy", "torch"):
            if be == "cupy" and "CuPy distance_transform_edt" not in refs:
                rows.append(Row("maps", name, "backend=cupy", note="CuPy not installed"))
                continue
            try:
                ms, phi = timed_cuda(
                    lambda: signed_distance(target, sp, num_classes=ncls, backend=be), repeats)
            except Exception as err:
                rows.append(Row("maps", name, f"backend={be}", note=f"failed: {err!r}"[:120]))
                continue
            note = ""
            ref_out = next(iter(results.values()), None)
            if ref_out is not None:
                # outside the class both are EDT(~M) (edgewise measures from the boundary set,
                # which is the class's nearest part)
                outside = ~oh
                err = (phi[outside] - ref_out[outside]).abs().max().item() if outside.any() else 0.0
                note = f"max outside diff vs {base_name.split()[0]} {err:.1e}"
            results[f"edgewise {be}"] = phi
            rows.append(Row("maps", name, f"signed_distance backend={be}", ms, base_name, base_ms,
                            note))
        if "edgewise cupy" in results and "edgewise torch" in results:
            d = (results["edgewise cupy"] - results["edgewise torch"]).abs().max().item()
            rows[-1].note += f"; cupy vs torch {d:.1e}"
        torch.cuda.empty_cache()
    return rows


def run_losses(device: torch.device, quick: bool, repeats: int) -> list[Row]:
    from losses import _batch, _fwd_bwd, _unet_step, map_losses

    configs = [("2D 8x4x256^2", 8, 4, (256, 256), (16, 32, 64, 128)),
               ("3D 2x3x96^3", 2, 3, (96, 96, 96), (8, 16, 32, 64)),
               ("3D 2x3x128^3", 2, 3, (128, 128, 128), (32, 64, 128, 256))]
    if quick:
        configs = [("2D 4x4x128^2", 4, 4, (128, 128), (16, 32, 64, 128)),
                   ("3D 1x3x64^3", 1, 3, (64, 64, 64), (8, 16, 32, 64))]
    ours = map_losses()
    theirs: dict[str, Callable[..., torch.Tensor]] = {}
    try:
        import monai

        theirs = {
            "boundary": monai.losses.BoundaryLoss(softmax=True, to_onehot_y=True),
            "hausdorff_dt (boundary)": monai.losses.HausdorffDTLoss(
                softmax=True, to_onehot_y=True, include_background=True),
        }
    except ImportError:
        pass
    rows: list[Row] = []
    for label, b, c, shape, channels in configs:
        x, t = _batch(b, c, shape)
        x, t = x.to(device), t.to(device)
        try:
            step_ms, _ = timed_cuda(_unet_step(x, t, channels), repeats)
            rows.append(Row("losses", label, f"MONAI UNet{channels} CE step", step_ms))
        except Exception as err:
            step_ms = None
            rows.append(Row("losses", label, "UNet step", note=f"failed: {err!r}"[:120]))
        for name, loss in ours.items():
            try:
                ms, _ = timed_cuda(_fwd_bwd(loss, x, t), repeats)
            except Exception as err:
                rows.append(Row("losses", label, name, note=f"failed: {err!r}"[:120]))
                continue
            share = f"{100 * ms / step_ms:.0f}% of UNet step" if step_ms else ""
            if name in theirs:
                try:
                    ref_ms, _ = timed_cuda(_fwd_bwd(theirs[name], x, t), repeats)
                    rows.append(Row("losses", label, name, ms, f"MONAI {name.split()[0]}", ref_ms,
                                    share))
                    continue
                except Exception as err:
                    share += f"; MONAI failed: {err!r}"[:80]
            rows.append(Row("losses", label, name, ms, note=share))
        torch.cuda.empty_cache()
    return rows


def run_metrics(device: torch.device, quick: bool, repeats: int) -> list[Row]:
    import warnings
    from functools import partial

    from metrics import make_batch, monai, ours

    warnings.filterwarnings("ignore")
    cases = [("3D", 2, 3, (128, 128, 128), [1.5, 0.8, 0.8]), ("2D", 16, 4, (256, 256), [0.7, 0.7])]
    if quick:
        cases = [("3D", 1, 2, (48, 48, 48), [1.5, 0.8, 0.8]), ("2D", 4, 2, (96, 96), [0.7, 0.7])]
    rows: list[Row] = []
    for kind in ("organs", "scattered"):
        for name, b, c, shape, spacing in cases:
            p, t = make_batch(b, c, shape, seed=0, kind=kind)
            p, t = p.to(device), t.to(device)
            label = f"{kind} {name} {b}x{c}x{shape[0]}^{len(shape)} voxel"
            try:
                ms, a = timed_cuda(partial(ours, p, t, spacing, "voxel"), repeats)
            except Exception as err:
                rows.append(Row("metrics", label, "HD95+ASSD+NSD", note=f"failed: {err!r}"[:120]))
                continue
            try:
                ref_ms, r = timed_cuda(partial(monai, p, t, spacing, False), repeats)
                diff = max((x.double().cpu() - y.double().cpu()).abs().max().item()
                           for x, y in zip(a, r))
                rows.append(Row("metrics", label, "HD95+ASSD+NSD", ms, "MONAI (3 functions)",
                                ref_ms, f"max diff {diff:.1e}"))
            except Exception as err:
                rows.append(Row("metrics", label, "HD95+ASSD+NSD", ms,
                                note=f"MONAI failed: {err!r}"[:120]))
    return rows


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if not torch.cuda.is_available():
        print(NO_CUDA)
        return 0
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    device = torch.device(args.device)
    torch.cuda.set_device(device)
    header = device_header(device)
    print(header, flush=True)
    start = time.perf_counter()
    rows: list[Row] = []
    steps: dict[str, Callable[[], list[Row]]] = {
        "tests": lambda: run_tests(args.test_timeout),
        "maps": lambda: run_maps(device, args.quick, args.repeats),
        "losses": lambda: run_losses(device, args.quick, args.repeats),
        "metrics": lambda: run_metrics(device, args.quick, args.repeats),
    }
    for name in args.steps:
        spent = time.perf_counter() - start
        if spent > args.budget:
            rows.append(Row(name, "-", "-", note=f"skipped: {spent:.0f} s budget spent"))
            continue
        t0 = time.perf_counter()
        try:
            new = steps[name]()
        except Exception as err:
            new = [Row(name, "-", "-", note=f"failed: {err!r}"[:160])]
        rows += new
        for r in new:
            print(format_table([r], name).splitlines()[-1], flush=True)
        print(f"# {name}: {time.perf_counter() - t0:.0f} s", flush=True)
    total = time.perf_counter() - start
    print()
    print(format_table(rows, f"{header}; {total:.0f} s in all"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
