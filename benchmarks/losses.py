"""Forward+backward time of edgewise's distance-based losses vs MONAI, and vs a UNet step.

Not a test. Prints a Markdown table with medians (ms) and ratios measured in the same run:

    python benchmarks/losses.py            # 3 repeats
    python benchmarks/losses.py --quick    # 1 repeat, 2D only
    python benchmarks/losses.py --only skeleton cldice   # rows whose name contains a word

Maps are computed on the fly from the target at every call (no cache), for edgewise and MONAI.
The "skeleton tube only" row times the CPU skeletonisation Skeleton Recall does per step
(:func:`edgewise.maps.skeleton_tube` of the batch's labels, foreground classes), and
"skeleton_recall (cached tube)" the loss once the tube comes from the dataset's map cache.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import torch

import edgewise.losses as L
from edgewise.maps import skeleton_tube


def _timed(fn: Callable[[], None], repeats: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1e3


def _batch(b: int, c: int, shape: tuple[int, ...], seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(b, c, *shape, generator=g)
    grids = torch.meshgrid(*(torch.linspace(-1, 1, n) for n in shape), indexing="ij")
    t = torch.zeros(b, 1, *shape, dtype=torch.long)
    for i in range(b):
        for k in range(1, c):
            centre = (torch.rand(len(shape), generator=g) - 0.5).tolist()
            r2 = sum((gr - ce) ** 2 for gr, ce in zip(grids, centre))
            t[i, 0][r2 < (0.12 + 0.05 * k) ** 2] = k
    return x, t


def _fwd_bwd(loss: Callable[[torch.Tensor, torch.Tensor], torch.Tensor], x: torch.Tensor, t: torch.Tensor):
    def run() -> None:
        xr = x.detach().requires_grad_(True)
        loss(xr, t).backward()
    return run


def _unet_step(x: torch.Tensor, t: torch.Tensor, channels: tuple[int, ...]) -> Callable[[], None]:
    from monai.networks.nets import UNet

    nd = x.dim() - 2
    net = UNet(spatial_dims=nd, in_channels=1, out_channels=x.shape[1], channels=channels,
               strides=(2,) * (len(channels) - 1), num_res_units=1).to(x.device)
    opt = torch.optim.SGD(net.parameters(), lr=1e-3)
    image = x[:, :1].detach()
    ce = L.CrossEntropyLoss()

    def run() -> None:
        opt.zero_grad()
        ce(net(image), t).backward()
        opt.step()
    return run


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--quick", action="store_true", help="1 repeat, 2D only")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--only", nargs="+", default=None, metavar="WORD",
                    help="only the loss rows whose name contains one of these words")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    repeats = 1 if args.quick else 3
    import monai

    configs = [("2D 8x4x256^2", 8, 4, (256, 256), (16, 32, 64, 128)),
               ("2D 8x2x128^2 (DRIVE patches)", 8, 2, (128, 128), (16, 32, 64, 128, 256))]
    if not args.quick:
        configs.append(("3D 2x3x96^3", 2, 3, (96, 96, 96), (8, 16, 32, 64)))
    ours = {
        "boundary": L.BoundaryLoss(),
        "region_wise (RRW)": L.RegionWiseLoss(check=False),
        "penalized_ce": L.DistancePenalizedCELoss(),
        "hausdorff_dt (boundary)": L.HausdorffDTLoss(),
        "hausdorff_dt (inside)": L.HausdorffDTLoss(distance="inside"),
        "hausdorff_er": L.HausdorffERLoss(),
        "perimeter": L.PerimeterLoss(),
        "sdf": L.SignedDistanceLoss(),
        "active_contour": L.ActiveContourLoss(),
        "cldice (iter_ 3)": L.ClDiceLoss(),
        "cldice (iter_ 10)": L.ClDiceLoss(iter_=10),
        "skeleton_recall (on the fly)": L.SkeletonRecallLoss(include_background=False),
        "skeleton_recall (cached tube)": "cached",
        "skeleton tube only": "tube",
    }
    theirs = {
        "cldice (iter_ 3)": monai.losses.SoftclDiceLoss(softmax=True, to_onehot_y=True),
        "cldice (iter_ 10)": monai.losses.SoftclDiceLoss(iter_=10, softmax=True, to_onehot_y=True),
        "boundary": monai.losses.BoundaryLoss(softmax=True, to_onehot_y=True),
        "hausdorff_dt (boundary)": monai.losses.HausdorffDTLoss(softmax=True, to_onehot_y=True,
                                                                include_background=True),
    }
    print(f"torch {torch.__version__}, monai {monai.__version__}, threads {args.threads}, repeats {repeats}")
    for label, b, c, shape, channels in configs:
        x, t = _batch(b, c, shape)
        step = _timed(_unet_step(x, t, channels), repeats)
        print(f"\n### {label}: UNet{channels} CE training step {step:.0f} ms\n")
        print("| loss | edgewise ms | % of UNet step | MONAI ms | MONAI / edgewise |")
        print("|---|---|---|---|---|")
        for name, loss in ours.items():
            if args.only and not any(w in name for w in args.only):
                continue
            if loss == "tube":
                ms = _timed(lambda: skeleton_tube(t, num_classes=c, classes=range(1, c)), repeats)
            elif loss == "cached":
                tube = skeleton_tube(t, num_classes=c, classes=range(1, c))
                cached = L.SkeletonRecallLoss(include_background=False)
                ms = _timed(_fwd_bwd(lambda xr, tt: cached(xr, tt, dist_map=tube), x, t), repeats)
            else:
                ms = _timed(_fwd_bwd(loss, x, t), repeats)
            ref = ""
            ratio = ""
            if name in theirs:
                mono = _timed(_fwd_bwd(theirs[name], x, t), repeats)
                ref, ratio = f"{mono:.0f}", f"{mono / ms:.1f}x"
            print(f"| {name} | {ms:.0f} | {100 * ms / step:.1f}% | {ref} | {ratio} |", flush=True)


if __name__ == "__main__":
    main()
