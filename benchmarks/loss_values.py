"""Values and gradients of every distance/contour loss on fixed batches, to compare two versions.

Not a test: a before/after check for rewrites that must keep the numbers (``docs/performance.md``).

    PYTHONPATH=<old checkout>/src python benchmarks/loss_values.py dump before.pt
    python benchmarks/loss_values.py dump after.pt
    python benchmarks/loss_values.py compare before.pt after.pt

Batches: 2D multi-class, anisotropic 3D, binary (sigmoid), 4 classes in 3D, a class absent from
a sample and from its thresholded prediction, a one-hot target; float32 and float64. The
comparison prints the largest relative difference of each value and of each gradient (relative
to the largest gradient element) above 1e-5, and the worst overall.
"""

from __future__ import annotations

import argparse
import sys

import torch

import edgewise.losses as L


def _batch(b: int, c: int, shape: tuple[int, ...], seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(b, c, *shape, generator=g, dtype=torch.float64) * 2
    t = torch.zeros(b, 1, *shape, dtype=torch.long)
    grids = torch.meshgrid(*(torch.linspace(-1, 1, n) for n in shape), indexing="ij")
    for i in range(b):
        for k in range(1, max(c, 2)):
            centre = (torch.rand(len(shape), generator=g) - 0.5).tolist()
            r2 = sum((gr - ce) ** 2 for gr, ce in zip(grids, centre))
            t[i, 0][r2 < (0.2 + 0.08 * k) ** 2] = k
    # logits near the target, so that thresholded predictions have structure
    if c > 1:
        oh = torch.nn.functional.one_hot(t[:, 0], c).movedim(-1, 1).double()
    else:
        oh = (t == 1).double()
    return x * 0.5 + 4 * oh, t


def cases() -> dict[str, tuple[tuple[torch.Tensor, torch.Tensor], tuple[float, ...] | None]]:
    out = {
        "2d": (_batch(2, 3, (40, 44), 0), None),
        "3d_aniso": (_batch(2, 3, (12, 30, 28), 1), (2.5, 0.8, 0.8)),
        "binary_2d": (_batch(2, 1, (36, 36), 2), None),
        "multi4_3d": (_batch(1, 4, (20, 22, 24), 3), None),
    }
    x, t = _batch(2, 3, (14, 16, 18), 4)
    t[1][t[1] == 2] = 0  # class 2 absent from sample 1
    x[1, 2] = -5.0  # and from its thresholded prediction
    out["absent_3d"] = ((x, t), (1.5, 1.0, 0.7))
    x, t = _batch(2, 3, (30, 32), 5)
    out["onehot_target_2d"] = ((x, torch.nn.functional.one_hot(t[:, 0], 3).movedim(-1, 1).float()), None)
    return out


def losses(spacing: tuple[float, ...] | None, binary: bool) -> dict[str, torch.nn.Module]:
    kw = {"sigmoid": True} if binary else {}
    return {
        "boundary": L.BoundaryLoss(spacing=spacing, **kw),
        "rrw": L.RegionWiseLoss(check=False, spacing=spacing, **kw),
        "penalized_ce": L.DistancePenalizedCELoss(spacing=spacing, **kw),
        "hd_dt_boundary": L.HausdorffDTLoss(spacing=spacing, **kw),
        "hd_dt_inside": L.HausdorffDTLoss(distance="inside", spacing=spacing, **kw),
        "hd_er": L.HausdorffERLoss(**kw),
        "perimeter": L.PerimeterLoss(**kw),
        "sdf": L.SignedDistanceLoss(spacing=spacing),
        "active_contour": L.ActiveContourLoss(**kw),
        "compound": L.CompoundLoss({"boundary": L.BoundaryLoss(spacing=spacing, **kw),
                                    "penalized_ce": L.DistancePenalizedCELoss(spacing=spacing, **kw),
                                    "rrw": L.RegionWiseLoss(check=False, spacing=spacing, **kw)}),
        "boundary_no_background": L.BoundaryLoss(spacing=spacing, include_background=False, **kw),
        "perimeter_none": L.PerimeterLoss(reduction="none", **kw),
    }


def dump(path: str) -> None:
    torch.set_num_threads(1)
    out = {}
    for cname, ((x, t), spacing) in cases().items():
        for dtype in (torch.float32, torch.float64):
            for lname, loss in losses(spacing, x.shape[1] == 1).items():
                xr = x.to(dtype).requires_grad_(True)
                v = loss(torch.tanh(xr) if lname == "sdf" else xr, t)
                v.sum().backward()
                out[f"{cname} {dtype} {lname}"] = (v.detach().clone(), xr.grad.clone())
    torch.save(out, path)
    print(f"{len(out)} cases from {L.__file__} -> {path}")


def compare(path_a: str, path_b: str) -> float:
    a, b = torch.load(path_a), torch.load(path_b)
    if a.keys() != b.keys():
        sys.exit(f"the two files hold different cases: {sorted(a.keys() ^ b.keys())}")
    worst = 0.0
    for key, (va, ga) in a.items():
        vb, gb = b[key]
        dv = float(((va - vb).abs() / va.abs().clamp_min(1e-30)).max())
        dg = float((ga - gb).abs().max() / ga.abs().max().clamp_min(1e-30))
        if dv > 1e-5 or dg > 1e-5:
            print(f"{key}: value rel {dv:.2e}, gradient rel {dg:.2e}")
        worst = max(worst, dv, dg)
    print(f"{len(a)} cases, worst relative difference {worst:.2e}")
    return worst


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    sub.add_parser("dump").add_argument("file")
    cmp_ = sub.add_parser("compare")
    cmp_.add_argument("before")
    cmp_.add_argument("after")
    args = ap.parse_args()
    if args.cmd == "dump":
        dump(args.file)
    else:
        sys.exit(1 if compare(args.before, args.after) > 1e-5 else 0)


if __name__ == "__main__":
    main()
