"""Speed of signed distance maps of a one-hot batch: edgewise vs scipy, MONAI and ``edt``.

Prints median wall time (ms) and the speed-up over scipy measured in the same run, as a
markdown table for docs/performance.md.  Not a test: timings on a shared machine are noisy,
compare the ratios.

    python benchmarks/distance_maps.py            # 2D 8x4x256^2, 3D 2x3x128^3, 3D 1x2x256^3
    python benchmarks/distance_maps.py --quick    # smaller cases, a few seconds
    python benchmarks/distance_maps.py --no-large --breakdown   # + time in the `edt` calls

Reference methods compute the common signed map ``EDT(~M) - EDT(M)`` per (sample, class)
(two transforms each); edgewise computes its default boundary-convention map (zero on the
boundary set, exact under spacing).  Every method is exact; edgewise's backends are checked
against each other in the run.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time
from collections.abc import Callable

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


def per_channel(transform: Callable[[np.ndarray], np.ndarray]):
    def run(onehot: np.ndarray) -> np.ndarray:
        out = np.empty(onehot.shape, dtype=np.float32)
        for b in range(onehot.shape[0]):
            for c in range(onehot.shape[1]):
                m = onehot[b, c]
                out[b, c] = transform(~m) - transform(m)
        return out

    return run


def monai_maps(spacing):
    from monai.transforms.utils import distance_transform_edt

    def run(onehot: np.ndarray) -> np.ndarray:
        out = np.empty(onehot.shape, dtype=np.float32)
        for b in range(onehot.shape[0]):
            m = onehot[b]
            out[b] = distance_transform_edt(~m, sampling=spacing) - distance_transform_edt(
                m, sampling=spacing
            )
        return out

    return run


def edt_multilabel(spacing, labels: np.ndarray):
    import edt

    def run(onehot: np.ndarray) -> np.ndarray:
        out = np.empty(onehot.shape, dtype=np.float32)
        for b in range(onehot.shape[0]):
            inside = edt.edt((labels[b] + 1).astype(np.uint8), anisotropy=spacing)
            for c in range(onehot.shape[1]):
                m = onehot[b, c]
                out[b, c] = edt.edt(~m, anisotropy=spacing) - np.where(m, inside, 0)
        return out

    return run


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


def timed(fn: Callable[[], object], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return 1000 * statistics.median(times)


def edt_share(fn: Callable[[], object], repeats: int) -> tuple[float, float]:
    """Median ms of ``fn`` and of the ``edt`` transforms it runs (``edgewise.maps._edt.edt_one``
    and, for 2D batches, the stacked ``edt_stack_2d``, timed in place), from the same calls."""
    from edgewise.maps import distance

    inner: list[float] = []
    originals = {name: getattr(distance, name) for name in ("edt_one", "edt_stack_2d")}

    def timed(original: Callable[..., object]) -> Callable[..., object]:
        def run(*a, **k):
            t0 = time.perf_counter()
            try:
                return original(*a, **k)
            finally:
                inner[-1] += time.perf_counter() - t0
        return run

    for name, original in originals.items():
        setattr(distance, name, timed(original))
    try:
        whole = []
        for _ in range(repeats):
            inner.append(0.0)
            t0 = time.perf_counter()
            fn()
            whole.append(time.perf_counter() - t0)
    finally:
        for name, original in originals.items():
            setattr(distance, name, original)
    return 1000 * statistics.median(whole), 1000 * statistics.median(inner)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small cases only")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--torch", action="store_true", help="also time the pure-torch backend")
    parser.add_argument("--no-large", action="store_true", help="leave out 3D 1x2x256^3")
    parser.add_argument("--breakdown", action="store_true",
                        help="also print edgewise's time inside the `edt` transforms vs the whole call")
    args = parser.parse_args()

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
    threads = torch.get_num_threads()
    bandwidth = copy_bandwidth()
    print(
        f"# {platform.processor() or platform.machine()}, {threads} torch threads, "
        f"torch {torch.__version__}, numpy {np.__version__}, copy bandwidth "
        f"{bandwidth / 1e9:.1f} GB/s"
    )
    rows: dict[str, dict[str, str]] = {}
    for name, shape, num_classes, spacing, repeats in cases:
        labels = blob_labels(shape, num_classes)
        target = torch.from_numpy(labels)[:, None]
        onehot = (labels[:, None] == np.arange(num_classes).reshape(1, -1, *[1] * (len(shape) - 1)))

        methods: dict[str, Callable[[], object]] = {
            "scipy per channel (1 thread)": lambda: per_channel(
                lambda m: ndimage.distance_transform_edt(m, sampling=spacing)
            )(onehot),
            "MONAI distance_transform_edt": lambda: monai_maps(spacing)(onehot),
            "`edt` per channel": lambda: per_channel(
                lambda m: edt.edt(m, anisotropy=spacing)
            )(onehot),
            "`edt` multilabel trick": lambda: edt_multilabel(spacing, labels)(onehot),
            "edgewise backend=edt (auto)": lambda: signed_distance(
                target, spacing, num_classes=num_classes, backend="edt"
            ),
            "edgewise backend=scipy": lambda: signed_distance(
                target, spacing, num_classes=num_classes, backend="scipy"
            ),
        }
        if args.torch:
            methods["edgewise backend=torch (CPU)"] = lambda: signed_distance(
                target, spacing, num_classes=num_classes, backend="torch"
            )
        ref = signed_distance(target, spacing, num_classes=num_classes, backend="edt")
        check = signed_distance(target, spacing, num_classes=num_classes, backend="scipy")
        err = float((ref - check).abs().max())
        floor = 1000 * signed_floor_bytes(shape[0], num_classes, shape[1:]) / bandwidth
        rows.setdefault("memory floor (passes' traffic at copy bandwidth)", {})[name] = f"{floor:.0f}"
        print(f"{name}: max |edt - scipy backend| = {err:.2e}, memory floor {floor:.1f} ms")
        if args.breakdown:
            whole, inner = edt_share(methods["edgewise backend=edt (auto)"], repeats)
            print(f"  edgewise backend=edt: {whole:.1f} ms, of which {inner:.1f} ms ({100 * inner / whole:.0f}%) "
                  f"in the `edt` transforms; without the rest at most {whole / inner:.2f}x faster")
        base = None
        for label, fn in methods.items():
            ms = timed(fn, repeats)
            base = base or ms
            rows.setdefault(label, {})[name] = f"{ms:.0f} ({base / ms:.1f}x)"
            print(f"  {label:32s} {ms:9.1f} ms  {base / ms:6.2f}x vs scipy  {ms / floor:6.1f}x floor",
                  flush=True)

    names = [c[0] for c in cases]
    print()
    print("| method | " + " | ".join(names) + " |")
    print("|---|" + "---|" * len(names))
    for label, cells in rows.items():
        print(f"| {label} | " + " | ".join(cells.get(n, "-") for n in names) + " |")


if __name__ == "__main__":
    main()
