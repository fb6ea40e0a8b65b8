"""Speed of signed distance maps of a one-hot batch: edgewise vs scipy, MONAI and ``edt``.

Prints median wall time (ms) and the speed-up over scipy measured in the same run, as a
markdown table for docs/performance.md.  Not a test: timings on a shared machine are noisy,
compare the ratios.  Every method runs at the same thread count (``--threads``, default 1):
torch's threads (edgewise's ``edt`` calls take ``parallel`` from them), ``parallel`` of the
``edt`` rows, and a thread pool of that size over the (sample, class) loops of scipy and
MONAI (scipy releases the GIL).  The methods are timed interleaved, one call of each per
round, so that load changes on a shared machine hit all of them alike.

    python benchmarks/distance_maps.py --threads 1          # 2D 8x4x256^2, 3D 2x3x128^3, 3D 1x2x256^3
    python benchmarks/distance_maps.py --threads 2 --no-large
    python benchmarks/distance_maps.py --quick              # smaller cases, a few seconds
    python benchmarks/distance_maps.py --no-large --breakdown   # + time in the `edt` calls
    python benchmarks/distance_maps.py --no-large --previous    # + edgewise's path before #27
    python benchmarks/distance_maps.py --no-3d --clock cpu      # rounds timed by process CPU time

Reference methods compute the common signed map ``EDT(~M) - EDT(M)`` per (sample, class)
(two transforms each); edgewise computes its default boundary-convention map (zero on the
boundary set, exact under spacing).  The "bare `edt` transforms" row times only the ``edt``
calls edgewise makes (one per present (sample, class), on the same boundary complements,
prepared beforehand): the ceiling of any code around them.  Every method is exact;
edgewise's backends are checked against each other in the run.
"""

from __future__ import annotations

import argparse
import datetime
import os
from importlib import metadata
import platform
import statistics
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

import numpy as np
import torch
from scipy import ndimage

from edgewise.maps import signed_distance


def blob_labels(shape: tuple[int, ...], num_classes: int, seed: int = 0) -> np.ndarray:
    """Random smooth blobs: Gaussian-filtered noise cut at quantiles into classes."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(shape[0]):
        noise = ndimage.gaussian_filter(rng.standard_normal(shape[1:]).astype(np.float32), 6)
        cuts = np.quantile(noise, np.linspace(0.6, 0.9, num_classes - 1))
        out.append(np.digitize(noise, cuts))
    return np.stack(out)


def _pairs(onehot: np.ndarray) -> list[tuple[int, int]]:
    return [(b, c) for b in range(onehot.shape[0]) for c in range(onehot.shape[1])]


def _each(task: Callable[[int], None], n: int, threads: int) -> None:
    """``task(i)`` for i < n, in a pool of ``threads`` (in sequence for one thread)."""
    if threads > 1:
        with ThreadPoolExecutor(threads) as pool:
            list(pool.map(task, range(n)))
    else:
        for i in range(n):
            task(i)


def per_channel(transform: Callable[[np.ndarray], np.ndarray], threads: int = 1):
    def run(onehot: np.ndarray) -> np.ndarray:
        out = np.empty(onehot.shape, dtype=np.float32)
        pairs = _pairs(onehot)

        def task(i: int) -> None:
            m = onehot[pairs[i]]
            out[pairs[i]] = transform(~m) - transform(m)

        _each(task, len(pairs), threads)
        return out

    return run


def monai_maps(spacing, threads: int = 1):
    from monai.transforms.utils import distance_transform_edt

    def run(onehot: np.ndarray) -> np.ndarray:
        out = np.empty(onehot.shape, dtype=np.float32)

        def task(b: int) -> None:
            m = onehot[b]
            out[b] = distance_transform_edt(~m, sampling=spacing) - distance_transform_edt(
                m, sampling=spacing
            )

        _each(task, onehot.shape[0], threads)
        return out

    return run


def edt_multilabel(spacing, labels: np.ndarray, threads: int = 1):
    import edt

    def run(onehot: np.ndarray) -> np.ndarray:
        out = np.empty(onehot.shape, dtype=np.float32)
        for b in range(onehot.shape[0]):
            inside = edt.edt((labels[b] + 1).astype(np.uint8), anisotropy=spacing, parallel=threads)
            for c in range(onehot.shape[1]):
                m = onehot[b, c]
                out[b, c] = edt.edt(~m, anisotropy=spacing, parallel=threads) - np.where(m, inside, 0)
        return out

    return run


def bare_edt(target: torch.Tensor, num_classes: int, spacing, threads: int) -> Callable[[], None]:
    """The ``edt`` calls of edgewise's signed maps alone: its boundary complements (made
    here, before timing) handed to ``edt`` as edgewise does (bool in 2D, uint8 in 3D)."""
    import edt

    from edgewise.maps._edt import edt_input
    from edgewise.maps._input import prepare
    from edgewise.maps.distance import _Complements

    p = prepare(target, spacing, num_classes, None, None, "edt")
    cx = _Complements(p)
    images = [m for m in (cx.complement(b, c) for b in range(target.shape[0])
                          for c in range(num_classes)) if m is not None]

    def run() -> None:
        for m in images:
            edt.edt(edt_input(m), anisotropy=spacing, black_border=False, parallel=threads)

    return run


def _masked_negation(out: np.ndarray, dist: np.ndarray, inside: np.ndarray) -> None:
    """The sign as written before #27: a copy, then ``0 - d`` where masked (the class mask
    then; its elements off the boundary here, the same bits: ``0 - 0`` is +0.0)."""
    out[...] = dist
    np.subtract(0.0, out, out=out, where=inside)


@contextmanager
def previous_path() -> Iterator[None]:
    """edgewise's CPU path before #27: 2D masks to ``edt`` as a uint8 view, boundary
    complements from per-class masks, the inside negated by a masked subtraction, 2D
    transforms stacked with two or more threads."""
    from edgewise.maps import _edt, distance

    saved = (_edt.BOOL_2D, _edt.STACK_2D, distance._label_map_np, distance._negated_inside)
    _edt.BOOL_2D, _edt.STACK_2D = False, True
    distance._label_map_np = lambda p: None
    distance._negated_inside = _masked_negation
    try:
        yield
    finally:
        _edt.BOOL_2D, _edt.STACK_2D, distance._label_map_np, distance._negated_inside = saved


def copy_bandwidth(mib: int = 256) -> float:
    """Bytes per second of a large one-thread-per-core tensor copy (read + write counted)."""
    src = torch.empty(mib << 18, dtype=torch.float32).fill_(1.0)
    dst = torch.empty_like(src)
    dst.copy_(src)
    best = min(_once(lambda: dst.copy_(src)) for _ in range(5))
    return 2 * src.numel() * 4 / best


def _once(fn: Callable[[], object]) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def signed_floor_bytes(batch: int, classes: int, spatial: tuple[int, ...]) -> int:
    """Memory traffic of the passes a separable signed map needs, per (sample, class): read the
    class mask and write its boundary complement (1 + 1 byte), one float32 read + write per
    axis (8 bytes each), write the float32 output (4 bytes); the label map is read once."""
    n = int(np.prod(spatial))
    return batch * n * (1 + classes * (2 + 8 * len(spatial) + 4))


#: the clock of the interleaved rounds and of ``--breakdown`` (``--clock``): wall time, or the
#: process's CPU time (all its threads: ``edt`` runs its transforms on a worker thread, and
#: the reference pools are threads), which time spent waiting for a core held by another job
#: does not count
CLOCK: Callable[[], float] = time.perf_counter


def interleaved(methods: dict[str, Callable[[], object]], repeats: int) -> dict[str, list[float]]:
    """ms of each method in each of ``repeats`` rounds of one call each, the order reversed
    every other round (after one warm-up call of each)."""
    for fn in methods.values():
        fn()
    names = list(methods)
    times: dict[str, list[float]] = {n: [] for n in names}
    for r in range(repeats):
        for n in names if r % 2 == 0 else names[::-1]:
            t0 = CLOCK()
            methods[n]()
            times[n].append(1000 * (CLOCK() - t0))
    return times


def speedup(ref: list[float], times: list[float]) -> float:
    """Median over rounds of ``ref / times``: each round's methods ran minutes apart at most,
    so a load change between rounds cancels."""
    return statistics.median(r / t for r, t in zip(ref, times))


def edt_share(fn: Callable[[], object], repeats: int) -> tuple[float, float]:
    """Median ms of ``fn`` and of the ``edt`` transforms it runs (``edgewise.maps._edt.edt_one``
    and, for 2D batches, the stacked ``edt_stack_2d``, timed in place), from the same calls."""
    from edgewise.maps import distance

    inner: list[float] = []
    originals = {name: getattr(distance, name) for name in ("edt_one", "edt_stack_2d")}

    def timed(original: Callable[..., object]) -> Callable[..., object]:
        def run(*a, **k):
            t0 = CLOCK()
            try:
                return original(*a, **k)
            finally:
                inner[-1] += CLOCK() - t0
        return run

    for name, original in originals.items():
        setattr(distance, name, timed(original))
    try:
        whole = []
        for _ in range(repeats):
            inner.append(0.0)
            t0 = CLOCK()
            fn()
            whole.append(CLOCK() - t0)
    finally:
        for name, original in originals.items():
            setattr(distance, name, original)
    return 1000 * statistics.median(whole), 1000 * statistics.median(inner)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small cases only")
    parser.add_argument("--repeats", type=int, default=5, help="interleaved rounds (median)")
    parser.add_argument("--threads", type=int, default=1,
                        help="threads of every method: torch's, edt's parallel, the reference loops' pool")
    parser.add_argument("--torch", action="store_true", help="also time the pure-torch backend")
    parser.add_argument("--no-large", action="store_true", help="leave out 3D 1x2x256^3")
    parser.add_argument("--no-3d", action="store_true", help="2D only")
    parser.add_argument("--previous", action="store_true",
                        help="also time edgewise's path before #27 (uint8 2D masks, per-class complements)")
    parser.add_argument("--clock", choices=["wall", "cpu"], default="wall",
                        help="time the rounds by wall time (default) or by the process's CPU time "
                             "(time.process_time: a core taken by another job does not count)")
    parser.add_argument("--breakdown", action="store_true",
                        help="also print edgewise's time inside the `edt` transforms vs the whole call")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    threads = args.threads
    global CLOCK
    CLOCK = time.process_time if args.clock == "cpu" else time.perf_counter

    import edt

    if args.quick:
        cases = [
            ("2D 4x4x128^2", (4, 128, 128), 4, (1.0, 1.0), args.repeats),
            ("3D 1x3x64^3", (1, 64, 64, 64), 3, (2.5, 0.8, 0.8), args.repeats),
        ]
    else:
        cases = [
            ("2D 8x4x256^2", (8, 256, 256), 4, (1.0, 1.0), args.repeats),
            ("3D 2x3x128^3", (2, 128, 128, 128), 3, (2.5, 0.8, 0.8), args.repeats),
            ("3D 1x2x256^3", (1, 256, 256, 256), 2, (1.0, 1.0, 1.0), 1),
        ]
        if args.no_large:
            cases.pop()
    if args.no_3d:
        cases = cases[:1]
    bandwidth = copy_bandwidth()
    print(
        f"# {datetime.date.today()}, {platform.processor() or platform.machine()}, {threads} thread(s) "
        f"for every method, torch {torch.__version__}, numpy {np.__version__}, edt "
        f"{metadata.version('edt')}, copy bandwidth {bandwidth / 1e9:.1f} GB/s, "
        f"{args.repeats} interleaved rounds, clock {args.clock}, load average "
        f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}"
    )
    rows: dict[str, dict[str, str]] = {}
    scipy_row = f"scipy per channel ({threads} thread{'s' if threads > 1 else ''})"
    ours = "edgewise backend=edt (auto)"
    bare = "bare `edt` transforms of edgewise's inputs"
    previous_row = "edgewise before #27 (uint8 masks, per-class complements)"
    for name, shape, num_classes, spacing, repeats in cases:
        labels = blob_labels(shape, num_classes)
        target = torch.from_numpy(labels)[:, None]
        onehot = (labels[:, None] == np.arange(num_classes).reshape(1, -1, *[1] * (len(shape) - 1)))

        def edgewise(backend: str) -> Callable[[], object]:
            return lambda: signed_distance(target, spacing, num_classes=num_classes, backend=backend)

        def previous() -> None:
            with previous_path():
                signed_distance(target, spacing, num_classes=num_classes, backend="edt")

        methods: dict[str, Callable[[], object]] = {
            scipy_row: lambda: per_channel(
                lambda m: ndimage.distance_transform_edt(m, sampling=spacing), threads
            )(onehot),
            "MONAI distance_transform_edt": lambda: monai_maps(spacing, threads)(onehot),
            "`edt` per channel": lambda: per_channel(
                lambda m: edt.edt(m, anisotropy=spacing, parallel=threads)
            )(onehot),
            "`edt` multilabel trick": lambda: edt_multilabel(spacing, labels, threads)(onehot),
            bare: bare_edt(target, num_classes, spacing, threads),
            ours: edgewise("edt"),
            "edgewise backend=scipy": edgewise("scipy"),
        }
        if args.previous:
            methods[previous_row] = previous
        if args.torch:
            methods["edgewise backend=torch (CPU)"] = edgewise("torch")
        ref = signed_distance(target, spacing, num_classes=num_classes, backend="edt")
        check = signed_distance(target, spacing, num_classes=num_classes, backend="scipy")
        err = float((ref - check).abs().max())
        if args.previous:
            with previous_path():
                same = torch.equal(ref, signed_distance(target, spacing, num_classes=num_classes, backend="edt"))
            print(f"{name}: edgewise before #27 bit-identical: {same}")
        floor = 1000 * signed_floor_bytes(shape[0], num_classes, shape[1:]) / bandwidth
        rows.setdefault("memory floor (passes' traffic at copy bandwidth)", {})[name] = f"{floor:.0f}"
        print(f"{name}: max |edt - scipy backend| = {err:.2e}, memory floor {floor:.1f} ms")
        if args.breakdown:
            whole, inner = edt_share(methods[ours], repeats)
            print(f"  edgewise backend=edt: {whole:.1f} ms, of which {inner:.1f} ms ({100 * inner / whole:.0f}%) "
                  f"in the `edt` transforms; without the rest at most {whole / inner:.2f}x faster")
        runs = interleaved(methods, repeats)
        base = runs[scipy_row]
        for label, times in runs.items():
            t, up = statistics.median(times), speedup(base, times)
            rows.setdefault(label, {})[name] = f"{t:.0f} ({up:.1f}x)"
            print(f"  {label:58s} {t:9.1f} ms (min {min(times):7.1f})  {up:6.2f}x vs scipy  "
                  f"{t / floor:6.1f}x floor", flush=True)
        print(f"  edgewise's speed-up / the bare transforms' speed-up: {speedup(runs[bare], runs[ours]):.2f} "
              f"(median over rounds; best of rounds: {min(runs[bare]) / min(runs[ours]):.2f})")
        if args.previous:
            before = runs[previous_row]
            print(f"  edgewise vs its path before #27: {speedup(before, runs[ours]):.2f}x faster (median over "
                  f"rounds; best of rounds: {min(before) / min(runs[ours]):.2f}x)")

    names = [c[0] for c in cases]
    print()
    print("median ms over the rounds (median over rounds of scipy's time / the method's)")
    print(f"| method ({threads} thread{'s' if threads > 1 else ''}) | " + " | ".join(names) + " |")
    print("|---|" + "---|" * len(names))
    for label, cells in rows.items():
        print(f"| {label} | " + " | ".join(cells.get(n, "-") for n in names) + " |")
    print(f"\nload average at the end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
