"""Forward+backward time of edgewise's distance-based losses vs MONAI, and vs a UNet step.

Not a test. Prints a Markdown table with medians (ms) and ratios measured in the same run:

    python benchmarks/losses.py --threads 1    # 3 repeats, one torch thread (the default)
    python benchmarks/losses.py --threads 2    # two: the UNet step, MONAI and edgewise alike
    python benchmarks/losses.py --quick        # 1 repeat, 2D only
    python benchmarks/losses.py --only skeleton cldice   # rows whose name contains a word
    python benchmarks/losses.py --prediction trained     # logits near the target
    python benchmarks/losses.py --prediction partial     # a partly trained network's logits
    python benchmarks/losses.py --transforms   # + time inside the `edt` package per row
    python benchmarks/losses.py --paired       # shares from a UNet step right after each call
    python benchmarks/losses.py --clock cpu    # process CPU time instead of wall time
    python benchmarks/losses.py --no-3d        # the two 2D batches only

Every row runs at the same thread count (``--threads``: torch's, which edgewise's ``edt``
calls take as ``parallel``), and its share of the UNet step is measured in the same run.

The prediction is random logits by default (a network's first steps: HD-DT then transforms
speckle, its most expensive input); ``--prediction partial`` the logits of a partly trained
network (the target's shapes with boundaries a few pixels off, speckle along them, small false
positives: :func:`partly_trained`); ``--prediction trained`` the target's one-hot scaled to
+-3 plus unit noise (argmax equal to the target almost everywhere), as later in training.

On a machine whose cores other jobs hold, wall time counts the time this process waits for a
core; ``--clock cpu`` times every row and the UNet step by the process's CPU time instead
(``time.process_time``, all threads: ``edt`` transforms on a worker thread). The header and
the last line print the load average.

Maps are computed on the fly from the target at every call (no cache), for edgewise and MONAI.
The "skeleton tube only" row times the CPU skeletonisation Skeleton Recall does per step
(:func:`edgewise.maps.skeleton_tube` of the batch's labels, foreground classes), and
"skeleton_recall (cached tube)" the loss once the tube comes from the dataset's map cache.
"hausdorff_dt (boundary, cached target maps)" is HD-DT as a training with ``maps: cached``
runs it: the target's maps come from the dataset's cache and only the prediction's are
transformed per step.
"""

from __future__ import annotations

import argparse
import datetime
import os
import statistics
import time
from collections.abc import Callable

import torch

import edgewise.losses as L
from edgewise.maps import skeleton_tube


def map_losses() -> dict[str, torch.nn.Module]:
    """The losses built on ground-truth maps, by row label (here and in gpu_check.py)."""
    return {
        "boundary": L.BoundaryLoss(),
        "region_wise (RRW)": L.RegionWiseLoss(check=False),
        "penalized_ce": L.DistancePenalizedCELoss(),
        "hausdorff_dt (boundary)": L.HausdorffDTLoss(),
        "hausdorff_dt (inside)": L.HausdorffDTLoss(distance="inside"),
        "hausdorff_er": L.HausdorffERLoss(),
        "perimeter": L.PerimeterLoss(),
        "sdf": L.SignedDistanceLoss(),
        "active_contour": L.ActiveContourLoss(),
    }


#: the clock of every timing (``--clock``): wall time, or the process's CPU time (all its
#: threads: ``edt`` runs its transforms on a worker thread), which time spent waiting for a
#: core held by another job does not count
CLOCK: Callable[[], float] = time.perf_counter


def now() -> float:
    return CLOCK()


class EdtClock:
    """Time and calls inside the ``edt`` package (edgewise's CPU transforms), while active."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self.calls = 0
        self._real: Callable[..., object] | None = None

    def __enter__(self) -> EdtClock:
        import edt

        real = self._real = edt.edt

        def timed(*args: object, **kwargs: object) -> object:
            t0 = now()
            try:
                return real(*args, **kwargs)
            finally:
                self.seconds += now() - t0
                self.calls += 1

        edt.edt = timed
        return self

    def __exit__(self, *exc: object) -> None:
        import edt

        edt.edt = self._real


def _timed_edt(fn: Callable[[], None], repeats: int,
               step: Callable[[], None] | None = None) -> tuple[float, float, int, float | None]:
    """Median ms of ``fn``, median ms inside ``edt`` in the same calls, ``edt`` calls per call,
    and, with ``step``, the median over repeats of ``fn``'s time over a ``step`` call made
    right after it (a share of the UNet step that load changes between rows do not move)."""
    fn()  # warm-up
    whole, inner, shares, calls = [], [], [], 0
    with EdtClock() as clock:
        for _ in range(repeats):
            clock.seconds, clock.calls = 0.0, 0
            t0 = now()
            fn()
            whole.append(now() - t0)
            inner.append(clock.seconds)
            calls = clock.calls
            if step is not None:
                t1 = now()
                step()
                shares.append(whole[-1] / (now() - t1))
    share = statistics.median(shares) if shares else None
    return statistics.median(whole) * 1e3, statistics.median(inner) * 1e3, calls, share


def _timed(fn: Callable[[], None], repeats: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        t0 = now()
        fn()
        times.append(now() - t0)
    return statistics.median(times) * 1e3


# The passes each loss needs at least, for the "floor" column: per-class distance transforms
# (a multi-label transform of one sample counts as one, "per sample"), and full-size float32
# passes over the (B, C, *spatial) batch, forward and backward (softmax 2 + 2, the loss's own
# products and reductions, its backward).  Each transform reads a mask and moves one float32
# buffer in and out per axis, as benchmarks/distance_maps.py counts it.
FLOOR_MODEL: dict[str, tuple[str, int]] = {
    "boundary": ("C", 6),                       # one per class; p * phi, mean, backward
    "region_wise (RRW)": ("1", 6),              # one multi-label transform per sample
    "penalized_ce": ("1", 9),                   # one multi-label transform; CE, weight, backward
    "hausdorff_dt (boundary)": ("2C", 10),      # target and prediction: one two-label map per class
    "hausdorff_dt (boundary, cached target maps)": ("C", 10),  # the prediction's maps only
    "hausdorff_dt (inside)": ("2", 10),         # target and prediction: one multi-label each
    "hausdorff_er": ("0", 0),                   # 10 erosions, see _er_passes
    "perimeter": ("0", 16),                     # 4 pools (min and max, p and t) + backward
    "sdf": ("C", 14),
    "active_contour": ("0", 14),
    "compound: boundary + penalized_ce + RRW": ("C+1", 21),  # transforms shared in one call
}


def _transforms(rule: str, b: int, c: int) -> int:
    per_sample = {"C": c, "1": 1, "2": 2, "2C": 2 * c, "0": 0, "C+1": c + 1}[rule]
    return b * per_sample


def _er_passes(nd: int, k: int = 10) -> int:
    """Per erosion: cross sum (1 + 2 nd read-modify-writes), threshold, min, max, normalise,
    mean (5); backward the same again."""
    return 2 * k * (1 + 2 * nd + 5)


def floor_ms(name: str, b: int, c: int, shape: tuple[int, ...], bandwidth: float) -> float | None:
    """Memory floor of a loss row (None for rows without a model)."""
    if name not in FLOOR_MODEL:
        return None
    n = 1
    for s in shape:
        n *= s
    rule, passes = FLOOR_MODEL[name]
    if name == "hausdorff_er":
        passes = _er_passes(len(shape))
    per_transform = n * (2 + 8 * len(shape) + 4)
    total = _transforms(rule, b, c) * per_transform + passes * 2 * 4 * b * c * n
    return 1000 * total / bandwidth


def copy_bandwidth(mib: int = 256) -> float:
    """Bytes per second of a large tensor copy (read + write counted)."""
    src = torch.ones(mib << 18)
    dst = torch.empty_like(src)
    times = []
    for _ in range(6):
        t0 = time.perf_counter()
        dst.copy_(src)
        times.append(time.perf_counter() - t0)
    return 2 * src.numel() * 4 / min(times[1:])


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


def trained_like(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """Logits of a network that has learned the target: one-hot scaled to +-3, plus ``x``
    (unit noise)."""
    onehot = torch.nn.functional.one_hot(t[:, 0], x.shape[1]).movedim(-1, 1).to(x.dtype)
    return 6.0 * (onehot - 0.5) + x


def _blur(x: torch.Tensor, width: int, passes: int) -> torch.Tensor:
    """``passes`` box filters of ``width`` over the spatial axes (about a Gaussian)."""
    pool = torch.nn.functional.avg_pool2d if x.dim() == 4 else torch.nn.functional.avg_pool3d
    for _ in range(passes):
        x = pool(x, width, stride=1, padding=width // 2, count_include_pad=False)
    return x


def partly_trained(x: torch.Tensor, t: torch.Tensor, seed: int = 1) -> torch.Tensor:
    """Logits of a partly trained network (``--prediction partial``).

    The target's one-hot with soft edges (three 5-pixel box filters, scaled to +-4), each
    class's logit moved by a smooth random field (unit std, three 9-pixel box filters of
    noise, times 2) and 0.5 of ``x`` (pixel noise). Thresholded, its classes are the
    target's shapes with boundaries a few pixels off and wandering, a little speckle along
    them and small scattered false positives: on the 2D 8x4x256^2 batch the argmax agrees
    with the target at 98.4% of the pixels, foreground Dice 0.81 / 0.92 / 0.94, about 1000
    label changes along the rows of an image (random logits: ~44000, ``trained``: ~290).
    Why: HD-DT transforms the thresholded prediction at every call, and ``edt``'s cost grows
    with the number of label runs, so random logits (speckle) are its most expensive input,
    met only in a network's first steps; ``trained`` is the target almost exactly."""
    g = torch.Generator().manual_seed(seed)
    onehot = torch.nn.functional.one_hot(t[:, 0], x.shape[1]).movedim(-1, 1).to(x.dtype)
    field = _blur(torch.randn(x.shape, generator=g, dtype=x.dtype), 9, 3)
    field = field / field.std()
    return 8.0 * (_blur(onehot, 5, 3) - 0.5) + 2.0 * field + 0.5 * x


class WithTargetMaps(torch.nn.Module):
    """``loss`` called with ``dist_map=maps(target)``, the maps made once per batch outside
    the timed call (as a dataset's map cache gives them)."""

    def __init__(self, loss: torch.nn.Module, maps: Callable[[torch.Tensor], torch.Tensor]) -> None:
        super().__init__()
        self.loss, self.maps = loss, maps
        self._key: torch.Tensor | None = None
        self._map: torch.Tensor | None = None

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        if self._key is not t:
            self._key, self._map = t, self.maps(t)
        return self.loss(x, t, dist_map=self._map)


def _hd_target_maps(num_classes: int) -> Callable[[torch.Tensor], torch.Tensor]:
    from edgewise.maps import unsigned_distance

    def maps(t: torch.Tensor) -> torch.Tensor:
        onehot = torch.nn.functional.one_hot(t[:, 0], num_classes).movedim(-1, 1).bool()
        return unsigned_distance(onehot, empty="zero")
    return maps


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
    ap.add_argument("--threads", type=int, default=1, help="torch threads of every row and the UNet step")
    ap.add_argument("--only", nargs="+", default=None, metavar="WORD",
                    help="only the loss rows whose name contains one of these words")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--prediction", choices=["random", "partial", "trained"], default="random",
                    help="the losses' input logits: random (default), partly trained (smooth shapes near the "
                         "target, speckle along its boundaries: partly_trained()) or near the target")
    ap.add_argument("--paired", action="store_true",
                    help="time a UNet step right after each call of a loss row: its share is the median "
                         "of the per-call ratios (the skeleton tube rows keep the step's median)")
    ap.add_argument("--clock", choices=["wall", "cpu"], default="wall",
                    help="time every row and the UNet step by wall time (default) or by the process's CPU "
                         "time (time.process_time: a core taken by another job does not count)")
    ap.add_argument("--no-3d", action="store_true", help="leave out the 3D batch")
    ap.add_argument("--transforms", action="store_true",
                    help="add the time inside the `edt` package (edgewise's transforms) per row")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    global CLOCK
    CLOCK = time.process_time if args.clock == "cpu" else time.perf_counter
    repeats = 1 if args.quick else args.repeats
    import monai

    configs = [("2D 8x4x256^2", 8, 4, (256, 256), (16, 32, 64, 128)),
               ("2D 8x2x128^2 (DRIVE patches)", 8, 2, (128, 128), (16, 32, 64, 128, 256))]
    if not (args.quick or args.no_3d):
        configs.append(("3D 2x3x96^3", 2, 3, (96, 96, 96), (8, 16, 32, 64)))
    ours = {
        **map_losses(),
        "cldice (iter_ 3)": L.ClDiceLoss(),
        "cldice (iter_ 10)": L.ClDiceLoss(iter_=10),
        "skeleton_recall (on the fly)": L.SkeletonRecallLoss(include_background=False),
        "skeleton_recall (cached tube)": "cached",
        "skeleton tube only": "tube",
        "compound: boundary + penalized_ce + RRW": L.CompoundLoss(
            {"boundary": L.BoundaryLoss(), "penalized_ce": L.DistancePenalizedCELoss(),
             "rrw": L.RegionWiseLoss(check=False)}),
    }
    theirs = {
        "cldice (iter_ 3)": monai.losses.SoftclDiceLoss(softmax=True, to_onehot_y=True),
        "cldice (iter_ 10)": monai.losses.SoftclDiceLoss(iter_=10, softmax=True, to_onehot_y=True),
        "boundary": monai.losses.BoundaryLoss(softmax=True, to_onehot_y=True),
        "hausdorff_dt (boundary)": monai.losses.HausdorffDTLoss(softmax=True, to_onehot_y=True,
                                                                include_background=True),
    }
    bandwidth = copy_bandwidth()
    print(f"{datetime.date.today()}, torch {torch.__version__}, monai {monai.__version__}, threads {args.threads} "
          f"(every row and the UNet step), repeats {repeats}, copy bandwidth {bandwidth / 1e9:.1f} GB/s, "
          f"prediction {args.prediction}, clock {args.clock}, load average "
          f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    for label, b, c, shape, channels in configs:
        x, t = _batch(b, c, shape)
        unet = _unet_step(x, t, channels)
        step = _timed(unet, repeats)
        if args.prediction == "trained":
            x = trained_like(x, t)
        elif args.prediction == "partial":
            x = partly_trained(x, t)
        print(f"\n### {label}: UNet{channels} CE training step {step:.0f} ms\n")
        extra = " in `edt` ms (calls) | share in `edt` |" if args.transforms else ""
        print("| loss | edgewise ms | % of UNet step | floor ms | edgewise / floor | MONAI ms | MONAI / edgewise |"
              + extra)
        print("|---|---|---|---|---|---|---|" + ("---|---|" if args.transforms else ""))
        rows: dict[str, object] = {}
        for name, loss in ours.items():
            rows[name] = loss
            if name == "hausdorff_dt (boundary)":
                rows["hausdorff_dt (boundary, cached target maps)"] = WithTargetMaps(L.HausdorffDTLoss(),
                                                                                    _hd_target_maps(c))
        for name, loss in rows.items():
            if args.only and not any(w in name for w in args.only):
                continue
            in_edt, calls, share = 0.0, 0, None
            if loss == "tube":
                ms = _timed(lambda: skeleton_tube(t, num_classes=c, classes=range(1, c)), repeats)
            elif loss == "cached":
                tube = skeleton_tube(t, num_classes=c, classes=range(1, c))
                cached = L.SkeletonRecallLoss(include_background=False)
                ms = _timed(_fwd_bwd(lambda xr, tt: cached(xr, tt, dist_map=tube), x, t), repeats)
            else:
                ms, in_edt, calls, share = _timed_edt(_fwd_bwd(loss, x, t), repeats,
                                                      unet if args.paired else None)
            ref = ""
            ratio = ""
            if name in theirs:
                mono = _timed(_fwd_bwd(theirs[name], x, t), repeats)
                ref, ratio = f"{mono:.0f}", f"{mono / ms:.1f}x"
            fl = floor_ms(name, b, c, shape, bandwidth)
            floor = f"{fl:.1f} | {ms / fl:.0f}x" if fl else " | "
            pct = 100 * (share if share is not None else ms / step)
            cells = f"| {name} | {ms:.0f} | {pct:.1f}% | {floor} | {ref} | {ratio} |"
            if args.transforms:
                cells += (f" {in_edt:.0f} ({calls}) | {100 * in_edt / ms:.0f}% |" if isinstance(loss, torch.nn.Module)
                          else "  |  |")
            print(cells, flush=True)
    print(f"\nload average at the end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
