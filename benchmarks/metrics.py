"""Speed of edgewise's distance metrics against MONAI's, measured in the same run.

HD95 + ASSD + NSD for a 3D batch (2 x 3 x 128^3) and a 2D batch (16 x 4 x 256^2), anisotropic
spacing, two shape families (compact "organs" and "scattered" blobs, see ``make_batch``), on
CPU (and CUDA when present):

* "voxel" rows: edgewise in MONAI's matching mode (``surface="voxel"``,
  ``percentile_method="linear_directed"``, pooled ASSD, voxel NSD), one pass for all three
  metrics, against MONAI's ``compute_hausdorff_distance(percentile=95)``,
  ``compute_average_surface_distance(symmetric=True)`` and ``compute_surface_dice``; the max
  absolute difference of the values is printed.
* "corner" rows: edgewise's default (deepmind) surfaces, one pass, against MONAI computing the
  same NSD with ``use_subvoxels=True`` plus its voxel HD95 and ASSD (MONAI has no corner-model
  HD95/ASSD); only NSD values are comparable.

With the project's shared data next to the repository (``../shared/data/samples``, or
``--samples DIR``), two rows on real masks are added: the spleen CT crop (26 x 166 x 164,
spacing 5 x 0.8 x 0.8 mm) and the spinal-cord MRI (16 x 141 x 131 at 1 mm), each the manual
mask against four perturbed predictions (shifted, eroded, dilated, a far false positive).

Usage: ``python benchmarks/metrics.py [--quick] [--repeats N] [--threads T] [--samples DIR]``
"""

from __future__ import annotations

import argparse
import time
import warnings
from functools import partial
from pathlib import Path

import numpy as np
import torch
from scipy import ndimage

from edgewise.metrics import surface_distances


def make_batch(
    batch: int, classes: int, shape: tuple[int, ...], seed: int, kind: str = "scattered"
) -> tuple[torch.Tensor, torch.Tensor]:
    """Target and a prediction whose boundaries are close to it but not equal.

    ``"scattered"``: thresholded smooth noise, several blobs per class spread over the whole
    image (5-25 % of it): large surfaces, crops as large as the image. ``"organs"``: one
    compact, smoothly deformed ellipsoid per class (radii 8-25 % of the image), the usual
    organ-at-risk case; the prediction deforms its boundary by a few voxels.
    """
    rng = np.random.default_rng(seed)
    sigma = shape[0] / 16
    p = np.zeros((batch, classes, *shape), bool)
    t = np.zeros_like(p)
    grids = np.meshgrid(*[np.linspace(-1, 1, n, dtype=np.float32) for n in shape], indexing="ij")
    for b in range(batch):
        for c in range(classes):
            if kind == "scattered":
                field = ndimage.gaussian_filter(
                    rng.standard_normal(shape).astype(np.float32), sigma
                )
                noise = ndimage.gaussian_filter(
                    rng.standard_normal(shape).astype(np.float32), sigma / 2
                )
                level = np.quantile(field, 1 - (0.05 + 0.2 * c / max(classes - 1, 1)))
                t[b, c] = field > level
                p[b, c] = field + 0.3 * noise * field.std() / noise.std() > level
                continue
            centre = rng.uniform(-0.5, 0.5, len(shape))
            radii = rng.uniform(0.16, 0.5, len(shape))
            ellipsoid = sum(((g - x0) / r) ** 2 for g, x0, r in zip(grids, centre, radii))
            bumps = [
                ndimage.gaussian_filter(rng.standard_normal(shape).astype(np.float32), sigma)
                for _ in range(2)
            ]
            bumps = [0.3 * x / x.std() for x in bumps]
            t[b, c] = ellipsoid + bumps[0] < 1
            p[b, c] = ellipsoid + bumps[0] + 0.5 * bumps[1] < 1
    return torch.from_numpy(p), torch.from_numpy(t)


REAL_MASKS = {
    "spleen CT": "sub-spleen2_ct_seg-manual.nii.gz",
    "cord MRI": "sub-unf01_T2w_seg-manual.nii.gz",
}


def real_batches(folder: Path) -> list[tuple[str, torch.Tensor, torch.Tensor, list[float]]]:
    """Each real mask against four perturbed predictions: shifted, eroded, dilated, and with a
    false positive in the image corner."""
    from edgewise.data import read_nifti

    batches = []
    for name, file in REAL_MASKS.items():
        if not (folder / file).is_file():
            continue
        mask, spacing = read_nifti(folder / file)
        t = np.asarray(mask) > 0
        outlier = t.copy()
        outlier[tuple(slice(0, 3) if n > 12 else slice(0, 1) for n in t.shape)] = True
        preds = [
            np.roll(t, (1, 2, -1), axis=(0, 1, 2)),
            ndimage.binary_erosion(t),
            ndimage.binary_dilation(t, ndimage.generate_binary_structure(3, 1), 2),
            outlier,
        ]
        p = torch.from_numpy(np.stack(preds)[:, None])
        label = f"{name} 4x1x{'x'.join(map(str, t.shape))}"
        batches.append((label, p, torch.from_numpy(np.stack([t] * 4)[:, None]), list(map(float, spacing))))
    return batches


def timed(fn, repeats: int):
    """Best wall-clock and process CPU seconds over ``repeats`` runs, and the last result. On a
    shared machine the CPU time (all threads of this process) is the steadier of the two."""
    best, best_cpu, out = float("inf"), float("inf"), None
    for _ in range(repeats):
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        start, start_cpu = time.perf_counter(), time.process_time()
        out = fn()
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        best = min(best, time.perf_counter() - start)
        best_cpu = min(best_cpu, time.process_time() - start_cpu)
    return best, best_cpu, out


def ours(p, t, spacing, surface):
    kw = {"percentile_method": "linear_directed"} if surface == "voxel" else {}
    sd = surface_distances(p, t, spacing=spacing, surface=surface)
    return (sd.hausdorff(95, **kw), sd.average(), sd.surface_dice(1.0))


def monai(p, t, spacing, subvoxels):
    from monai.metrics import (
        compute_average_surface_distance,
        compute_hausdorff_distance,
        compute_surface_dice,
    )

    kw = {"include_background": True, "spacing": spacing}
    c = p.shape[1]
    return (
        compute_hausdorff_distance(p, t, percentile=95, **kw),
        compute_average_surface_distance(p, t, symmetric=True, **kw),
        compute_surface_dice(p, t, [1.0] * c, use_subvoxels=subvoxels, **kw),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, one repeat")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument(
        "--threads",
        type=int,
        default=0,
        help="torch threads for both tools (0: torch's default); on a shared, "
        "oversubscribed machine 1 avoids thread-synchronisation stalls",
    )
    parser.add_argument(
        "--samples",
        type=Path,
        default=Path(__file__).resolve().parents[1].parent / "shared" / "data" / "samples",
        help="folder with the shared real masks (rows skipped when absent)",
    )
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    repeats = 1 if args.quick else args.repeats
    cases = [("3D", 2, 3, (128, 128, 128), [1.5, 0.8, 0.8]), ("2D", 16, 4, (256, 256), [0.7, 0.7])]
    if args.quick:
        cases = [("3D", 1, 2, (48, 48, 48), [1.5, 0.8, 0.8]), ("2D", 4, 2, (96, 96), [0.7, 0.7])]
    warnings.filterwarnings("ignore")
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}, repeats {repeats}")
    header = (
        f"{'case':<27} {'mode':<6} {'dev':<4} {'edgewise s':>10} {'MONAI s':>8} {'speed-up':>8} "
        f"{'CPU s ours':>10} {'CPU MONAI':>9} {'CPU ratio':>9}  max |diff| (HD95, ASSD, NSD)"
    )
    print(header)
    rows = []
    for (name, b, c, shape, spacing), kind in [
        (case, k) for k in ("organs", "scattered") for case in cases
    ]:
        p_cpu, t_cpu = make_batch(b, c, shape, seed=0, kind=kind)
        rows.append((f"{kind} {name} {b}x{c}x{shape[0]}^{len(shape)}", p_cpu, t_cpu, spacing))
    if not args.quick:
        rows += real_batches(args.samples)
    for label, p_cpu, t_cpu, spacing in rows:
        # warm-up outside the timings: lookup tables, imports, allocator
        small_p, small_t = make_batch(1, 1, (12,) * (p_cpu.dim() - 2), seed=1)
        for mode in ("voxel", "corner"):
            ours(small_p, small_t, spacing, mode)
            monai(small_p, small_t, spacing, mode == "corner")
        for device in devices:
            p, t = p_cpu.to(device), t_cpu.to(device)
            for mode in ("voxel", "corner"):
                t_ours, c_ours, v_ours = timed(partial(ours, p, t, spacing, mode), repeats)
                t_ref, c_ref, v_ref = timed(
                    partial(monai, p, t, spacing, mode == "corner"), repeats
                )
                diffs = []
                for k, (a, r) in enumerate(zip(v_ours, v_ref)):
                    if mode == "corner" and k < 2:
                        diffs.append("  n/a")
                        continue
                    diffs.append(f"{(a.double().cpu() - r.double().cpu()).abs().max().item():.1e}")
                print(
                    f"{label:<27} {mode:<6} {device:<4} {t_ours:>10.3f} {t_ref:>8.3f} "
                    f"{t_ref / t_ours:>7.1f}x {c_ours:>10.3f} {c_ref:>9.3f} "
                    f"{c_ref / c_ours:>8.1f}x  "
                    f"{', '.join(diffs)}",
                    flush=True,
                )


if __name__ == "__main__":
    main()
