"""Speed of signed distance maps of a one-hot batch: edgewise vs scipy, MONAI and ``edt``.

Prints median wall time (ms) and the speed-up over scipy measured in the same run, as a
markdown table for docs/performance.md.  Not a test: timings on a shared machine are noisy,
compare the ratios.

    python benchmarks/distance_maps.py            # 2D 8x4x256^2, 3D 2x3x128^3, 3D 1x2x256^3
    python benchmarks/distance_maps.py --quick    # smaller cases, a few seconds

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


def timed(fn: Callable[[], object], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return 1000 * statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small cases only")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--torch", action="store_true", help="also time the pure-torch backend")
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
    threads = torch.get_num_threads()
    print(
        f"# {platform.processor() or platform.machine()}, {threads} torch threads, "
        f"torch {torch.__version__}, numpy {np.__version__}"
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
        print(f"{name}: max |edt - scipy backend| = {err:.2e}")
        base = None
        for label, fn in methods.items():
            ms = timed(fn, repeats)
            base = base or ms
            rows.setdefault(label, {})[name] = f"{ms:.0f} ({base / ms:.1f}x)"
            print(f"  {label:32s} {ms:9.1f} ms  {base / ms:6.2f}x vs scipy", flush=True)

    names = [c[0] for c in cases]
    print()
    print("| method | " + " | ".join(names) + " |")
    print("|---|" + "---|" * len(names))
    for label, cells in rows.items():
        print(f"| {label} | " + " | ".join(cells.get(n, "-") for n in names) + " |")


if __name__ == "__main__":
    main()
