"""Exact Euclidean distance transform backends.

Every backend computes, for a stack of independent samples ``mask`` of shape ``(N, *spatial)``,
the exact Euclidean distance (in physical units, per-sample spacing) from every True element
to the nearest False element of the same sample.  A sample with no False element at all is
defined as if the image were surrounded by False: its values are the distance to the nearest
point just outside the image, ``min_axis min(i + 1, n - i) * spacing``.

Backends:

- ``"edt"``: the ``edt`` package (seung-lab), float32, multi-threaded through its ``parallel``
  argument. CPU only: data moves to numpy and back.
- ``"scipy"``: ``scipy.ndimage.distance_transform_edt`` in a thread pool over samples (scipy
  releases the GIL). CPU only: data moves to numpy and back.
- ``"cupy"``: ``cupyx.scipy.ndimage.distance_transform_edt`` through DLPack, CUDA only
  (2D images with an axis longer than 1024 go to ``"torch"``: cuCIM issue #392).
- ``"torch"``: exact separable transform in pure torch on any device, linear work per axis
  (see :func:`_torch_edt_chunk`).
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Literal

import numpy as np
import torch
from torch import Tensor

from .context import note_transforms

Backend = Literal["auto", "torch", "scipy", "edt", "cupy"]
BACKENDS: tuple[str, ...] = ("auto", "torch", "scipy", "edt", "cupy")

# Elements per chunk of the pure-torch transform: its envelope pass keeps about 60 bytes per
# element (float64 and int64 buffers), so a chunk needs about 0.5 GiB.
_TORCH_CHUNK_ELEMENTS = 1 << 23


def _has_module(name: str) -> bool:
    return importlib.util.find_spec(name) is not None


def available_backends(device: torch.device | str = "cpu") -> list[str]:
    """Names of the concrete backends usable for tensors on ``device``."""
    device = torch.device(device)
    names = ["torch"]
    if device.type == "cuda":
        if _has_module("cupy"):
            names.append("cupy")
    names += [n for n in ("scipy", "edt") if _has_module(n)]
    return names


def resolve_backend(backend: str, device: torch.device) -> str:
    """Turn ``"auto"`` into a concrete backend for ``device`` and check availability."""
    if backend not in BACKENDS:
        raise ValueError(f"expected backend in {BACKENDS}, got {backend!r}")
    if backend == "auto":
        if device.type == "cuda":
            return "cupy" if _has_module("cupy") else "torch"
        if device.type == "cpu":
            return "edt" if _has_module("edt") else "scipy"
        return "torch"
    if backend == "cupy" and device.type != "cuda":
        raise ValueError(f"backend='cupy' needs CUDA tensors, got a tensor on {device}")
    if backend != "torch" and not _has_module(backend):
        raise ImportError(
            f"backend={backend!r} needs the {backend!r} package, which is not installed"
        )
    return backend


def num_threads() -> int:
    """Threads for the CPU backends: torch's setting (1 inside DataLoader workers)."""
    return max(1, torch.get_num_threads())


def border_distance(
    shape: Sequence[int], spacing: Tensor, device: torch.device
) -> Tensor:
    """Distance to the nearest point just outside the image, ``(N, *shape)`` float32.

    ``spacing`` is ``(N, ndim)``; this is the EDT of an all-True sample whose outside is False.
    """
    n = spacing.shape[0]
    sp = spacing.to(device=device, dtype=torch.float32)
    out = torch.full((n, *shape), float("inf"), dtype=torch.float32, device=device)
    for ax, size in enumerate(shape):
        i = torch.arange(size, device=device, dtype=torch.float32)
        steps = torch.minimum(i + 1, size - i)
        d = steps.view([1] * (ax + 1) + [size] + [1] * (len(shape) - ax - 1)) * sp[:, ax].view(
            [n] + [1] * len(shape)
        )
        out = torch.minimum(out, d)
    return out


def _scan_last_axis(mask: Tensor, spacing: Tensor) -> Tensor:
    """Squared distance along the last axis to the nearest False of the same line (inf if
    none): two cumulative max scans, one pass each way."""
    nd = mask.ndim - 1
    n = mask.shape[-1]
    idx = torch.arange(n, device=mask.device, dtype=torch.float32)
    neg_inf = torch.tensor(float("-inf"), device=mask.device)
    left = torch.cummax(torch.where(mask, neg_inf, idx), dim=-1).values
    right = -torch.cummax(torch.where(mask, neg_inf, -idx).flip(-1), dim=-1).values.flip(-1)
    d = torch.minimum(idx - left, right - idx)
    del left, right
    s_last = spacing[:, nd - 1].view([mask.shape[0]] + [1] * nd)
    return (d * s_last).square_()


def _envelope_pass(f: Tensor, s2: Tensor) -> Tensor:
    """Exact ``g(i) = min_j f(j) + s2 (i - j)^2`` along dim 0 of ``f`` ``(n, L)``, per line.

    Felzenszwalb & Huttenlocher's lower envelope of parabolas, run for all L lines at once:
    one step per position q pushes parabola q after popping the envelope sites it hides.
    The first pop test covers every line; further pops run on the popping lines only (at
    most n per line in total), so the work is linear in ``n * L``.  The envelope is read
    back in one go: each segment's first position is marked and a cumulative sum over
    positions gives every position its segment.  ``s2`` ``(L,)`` is each line's squared
    spacing; infinite ``f`` are not sites.
    """
    n, lines = f.shape
    device = f.device
    f64 = f.to(torch.float64)
    s2 = s2.to(device=device, dtype=torch.float64)
    # row n of v and rows n, n + 1 of z take the writes of lines without a site at q
    v = torch.zeros(n + 1, lines, dtype=torch.long, device=device)
    z = torch.full((n + 2, lines), float("inf"), dtype=torch.float64, device=device)
    k = torch.full((1, lines), -1, dtype=torch.long, device=device)
    seen = torch.zeros(lines, dtype=torch.bool, device=device)
    q_val = torch.arange(n, device=device).unsqueeze(1).expand(n, lines)
    for q in range(n):
        fq = f64[q]
        site = torch.isfinite(fq)
        kt = k.clamp(min=0)
        vt = v.gather(0, kt)[0]
        # where parabola q starts to lie below the top site's (the guard avoids 0/0 at q = 0)
        cut = ((fq - f64.gather(0, vt.unsqueeze(0))[0]) / s2 + (q * q - vt * vt)) / (
            2 * (q - vt).clamp(min=1)
        )
        hidden = site & (k[0] >= 0) & (cut <= z.gather(0, kt)[0])
        if bool(hidden.any()):
            live = hidden.nonzero().squeeze(1)
            k[0, live] -= 1
            live = live[k[0, live] >= 0]
            while live.numel():
                top = k[0, live]
                vt_l = v[top, live]
                c = ((fq[live] - f64[vt_l, live]) / s2[live] + (q * q - vt_l * vt_l)) / (
                    2 * (q - vt_l)
                )
                hid = c <= z[top, live]
                cut[live] = c
                k[0, live] = top - hid.long()
                live = live[hid & (top > 0)]
        start = torch.where(k[0] >= 0, cut, float("-inf"))
        k_new = torch.where(site, k[0] + 1, n).unsqueeze(0)
        v.scatter_(0, k_new, q_val[q : q + 1])
        z.scatter_(0, k_new, start.unsqueeze(0))
        z.scatter_(0, k_new + 1, torch.full_like(start, float("inf")).unsqueeze(0))
        k = torch.where(site, k_new, k)
        seen |= site
    # segment j (j >= 1) covers positions floor(z[j]) + 1 .. floor(z[j + 1])
    j = torch.arange(n + 1, device=device).unsqueeze(1)
    live_seg = (j >= 1) & (j <= k)
    first = torch.where(live_seg, z[: n + 1].floor().clamp(-1, n - 1) + 1, float(n)).long()
    marks = torch.zeros(n + 1, lines, dtype=torch.int32, device=device)
    marks.scatter_add_(0, first, live_seg.to(torch.int32))
    seg = marks[:n].cumsum(0).long()
    site_of = v[:n].gather(0, seg)
    pos = torch.arange(n, device=device, dtype=torch.float64).unsqueeze(1)
    g = (pos - site_of).square_().mul_(s2).add_(f64.gather(0, site_of))
    return torch.where(seen, g, float("inf")).to(f.dtype)


def _torch_edt_chunk(mask: Tensor, spacing: Tensor) -> Tensor:
    """Exact EDT of ``mask`` ``(N, *spatial)`` (every sample has a False) in pure torch.

    Separable: squared distances along the last axis by two scans, then one exact
    lower-envelope pass per other axis (:func:`_envelope_pass`), each linear in the number
    of elements.
    """
    n_s = mask.shape[0]
    f = _scan_last_axis(mask, spacing)
    for ax in range(mask.ndim - 2):
        dim = ax + 1
        moved = f.movedim(dim, 0)
        shape = moved.shape
        lines = moved.reshape(shape[0], -1)
        s2 = spacing[:, ax].square().repeat_interleave(lines.shape[1] // n_s)
        f = _envelope_pass(lines, s2).reshape(shape).movedim(0, dim)
    return f.sqrt().contiguous()


def _torch_edt(mask: Tensor, spacing: Tensor) -> Tensor:
    per = max(1, int(np.prod(mask.shape[1:])))
    chunk = max(1, _TORCH_CHUNK_ELEMENTS // per)
    sp = spacing.to(device=mask.device, dtype=torch.float32)
    outs = [
        _torch_edt_chunk(mask[i : i + chunk], sp[i : i + chunk])
        for i in range(0, mask.shape[0], chunk)
    ]
    return outs[0] if len(outs) == 1 else torch.cat(outs)


def edt_one(mask: np.ndarray, spacing: Sequence[float], backend: str) -> np.ndarray:
    """float32 EDT of one numpy sample (which must hold a False) with a CPU backend."""
    sp = tuple(float(s) for s in spacing)
    if backend == "edt":
        import edt as edt_pkg

        return edt_pkg.edt(edt_input(mask), anisotropy=sp, black_border=False, parallel=num_threads())
    from scipy import ndimage

    return ndimage.distance_transform_edt(mask, sampling=sp).astype(np.float32, copy=False)


#: hand 2D bool masks to ``edt`` as bool (False: as a uint8 view, the path before #27; the
#: tests compare both)
BOOL_2D = True


def edt_input(mask: np.ndarray) -> np.ndarray:
    """``mask`` as handed to ``edt``: C-contiguous; a bool mask stays bool in 2D and is
    viewed as uint8 in 3D.

    Why (edt 3.1.2, one thread, scratch timings of #27): given a uint8 2D image ``edt``
    takes its multi-label path and copies the input; given bool it runs its binary path,
    1.33x faster per 256^2 boundary complement, the same values bit for bit. In 3D (and
    for the stacked 2D images, a 3D call) bool is not faster: the uint8 view is kept.
    """
    arr = np.ascontiguousarray(mask)
    if arr.dtype == np.bool_ and not (BOOL_2D and arr.ndim == 2):
        arr = arr.view(np.uint8)
    return arr


#: stack a batch's 2D transforms into one ``edt`` call (:func:`edt_stack_2d`) with two or
#: more threads. Off since #27: on the shared 2-core machine beside the training grid the
#: stack was 1.4-2.6x slower than one call per image at one and at two threads alike
#: (interleaved timings of 2026-12-07; probably its pass along the stack, over a buffer
#: larger than the cache), where a quiet run (grid paused) of 2026-12-02 had it 1.5x faster
#: at two threads.
STACK_2D = False


def stack_2d(backend: str, ndim: int, n: int) -> bool:
    """Whether ``n`` 2D transforms take one :func:`edt_stack_2d` call: with ``edt``, more
    than one thread to split it, and :data:`STACK_2D` set."""
    return STACK_2D and backend == "edt" and ndim == 2 and n > 1 and num_threads() > 1


def edt_stack_2d(images: Sequence[np.ndarray], spacing: np.ndarray) -> np.ndarray:
    """float32 ``edt`` transforms of 2D images ``(H, W)`` (bool or uint8 masks, or labels for
    the multi-label transform), ``spacing`` ``(N, 2)``, in one call per distinct spacing.

    The images are stacked into a volume whose first axis has a spacing larger than any
    distance within an image, so every voxel's nearest seed is in its own slice and the
    result is each image's own transform, exactly (the same values as one call per image).
    Each image must hold a seed (a zero; for labels, a zero or two labels), which the callers
    guarantee. Why: ``edt`` holds the GIL and threads within one call, and a 256^2 image was
    too small for its threads on the quiet machine of 2026-12-02 (a loop of calls with
    ``parallel=2`` was no faster than with 1); over a stack they split the work (1.5x on 32
    images of 256^2, two threads, then). With one thread, and with two beside the training
    grid (2026-12-07: a loop with ``parallel=2`` 1.3x faster than with 1), the stack is
    slower than the loop: :func:`stack_2d` decides, off by default.
    """
    import edt as edt_pkg

    n = len(images)
    shape = images[0].shape
    # stacks of at most ~16M elements: the stack and its result are temporaries beside the
    # caller's output, so a large batch does not double its memory
    per_call = max(1, _STACK_ELEMENTS // (shape[0] * shape[1]))
    groups: dict[tuple[float, float], list[int]] = {}
    for i in range(n):
        groups.setdefault((float(spacing[i][0]), float(spacing[i][1])), []).append(i)
    out = None if len(groups) == 1 and n <= per_call else np.empty((n, *shape), dtype=np.float32)
    for (sy, sx), members in groups.items():
        # farther than the in-slice diagonal: the squared gap exceeds every in-slice distance
        gap = 4.0 * float(np.hypot(shape[0] * sy, shape[1] * sx)) + 1.0
        for start in range(0, len(members), per_call):
            idx = members[start:start + per_call]
            stack = edt_input(np.stack([images[i] for i in idx]))
            res = edt_pkg.edt(stack, anisotropy=(gap, sy, sx), black_border=False, parallel=num_threads())
            if out is None:
                return res.astype(np.float32, copy=False)
            out[idx] = res
    assert out is not None  # None: one group of one call, returned above
    return out


_STACK_ELEMENTS = 1 << 24


def run_tasks(task: Callable[[int], None], n: int, backend: str) -> None:
    """Run ``task(i)`` for i < n: in a thread pool for scipy (it releases the GIL); in
    sequence for ``edt``, which holds the GIL but threads each transform itself."""
    threads = min(num_threads(), n) if backend == "scipy" else 1
    if threads > 1:
        with ThreadPoolExecutor(threads) as pool:
            list(pool.map(task, range(n)))
    else:
        for i in range(n):
            task(i)


def transform_all(n: int, image: Callable[[int], np.ndarray], spacing: np.ndarray, backend: str,
                  store: Callable[[int, np.ndarray], None]) -> None:
    """``store(i, EDT of image(i))`` for ``i < n`` with a CPU backend, ``spacing`` ``(n, ndim)``:
    2D images in one stacked ``edt`` call where :func:`stack_2d` says so, otherwise one
    transform per image (:func:`run_tasks`), each image made only when its turn comes."""
    if stack_2d(backend, spacing.shape[1], n):
        for i, res in enumerate(edt_stack_2d([image(i) for i in range(n)], spacing)):
            store(i, res)
    else:
        run_tasks(lambda i: store(i, edt_one(image(i), spacing[i], backend)), n, backend)


def _cpu_edt(mask: np.ndarray, spacing: np.ndarray, backend: str) -> np.ndarray:
    out = np.empty(mask.shape, dtype=np.float32)
    transform_all(mask.shape[0], mask.__getitem__, spacing, backend, out.__setitem__)
    return out


def _cupy(mask: Tensor, spacing: np.ndarray) -> Tensor:
    import cupy
    from cupyx.scipy import ndimage as cndi

    out = torch.empty(mask.shape, dtype=torch.float32, device=mask.device)
    src = cupy.from_dlpack(mask.to(torch.uint8).contiguous())
    dst = cupy.from_dlpack(out)
    with cupy.cuda.ExternalStream(torch.cuda.current_stream(mask.device).cuda_stream):
        for i in range(mask.shape[0]):
            cndi.distance_transform_edt(
                src[i],
                sampling=tuple(float(s) for s in spacing[i]),
                distances=dst[i],
                float64_distances=False,
            )
    return out


def edt_samples(mask: Tensor, spacing: Tensor, backend: str) -> Tensor:
    """EDT of each sample of ``mask`` ``(N, *spatial)`` bool with spacing ``(N, ndim)``.

    ``backend`` must be concrete (see :func:`resolve_backend`).  Returns float32 on
    ``mask.device``.  All-True samples get :func:`border_distance`.
    """
    device = mask.device
    spatial = tuple(mask.shape[1:])
    out = torch.empty(mask.shape, dtype=torch.float32, device=device)
    if mask.shape[0] == 0:
        return out
    full = mask.flatten(1).all(1)
    todo = (~full).nonzero().flatten()
    if bool(full.any()):
        fidx = full.nonzero().flatten()
        out[fidx] = border_distance(spatial, spacing[fidx.cpu()], device)
    if todo.numel() == 0:
        return out
    sub = mask[todo]
    sp = spacing[todo.cpu()]
    note_transforms(sub.shape[0])
    if backend == "cupy" and sub.ndim == 3 and max(spatial) > 1024:
        # cuCIM issue #392 (PBA+ code shared with CuPy): wrong 2D output for axes > 1024
        backend = "torch"
    if backend == "torch":
        res = _torch_edt(sub, sp)
    elif backend == "cupy":
        res = _cupy(sub, sp.double().cpu().numpy())
    else:
        arr = sub.cpu().numpy()
        res = torch.from_numpy(_cpu_edt(arr, sp.double().cpu().numpy(), backend)).to(device)
    if todo.numel() == mask.shape[0]:
        return res
    out[todo] = res
    return out


def edt_multilabel(labels: Tensor, spacing: Tensor) -> Tensor:
    """Per sample, distance from every element to the nearest element of another label.

    ``labels`` ``(N, *spatial)`` non-negative integers; uses the ``edt`` package's multi-label
    transform (label 0 counts as background, so callers pass ``label + 1`` where every label
    is a region).  One transform gives, inside every region, the EDT of that region's mask.
    A sample holding a single nonzero label everywhere gets :func:`border_distance`.
    CPU only (numpy round trip).
    """
    device = labels.device
    top = int(labels.max()) if labels.numel() else 0
    dtype = np.uint8 if top < 256 else (np.uint16 if top < 65536 else np.uint32)
    arr = labels.cpu().numpy().astype(dtype, copy=False)
    sp = spacing.double().cpu().numpy()
    out = np.empty(arr.shape, dtype=np.float32)
    single = []
    for i in range(arr.shape[0]):
        first = arr[i].flat[0]
        if first != 0 and not (arr[i] != first).any():
            single.append(i)
    rest = [i for i in range(arr.shape[0]) if i not in single]

    def store(j: int, res: np.ndarray) -> None:
        out[rest[j]] = res

    transform_all(len(rest), lambda j: arr[rest[j]], sp[rest], "edt", store)
    note_transforms(arr.shape[0] - len(single))
    res = torch.from_numpy(out).to(device)
    if single:
        idx = torch.tensor(single)
        res[idx.to(device)] = border_distance(arr.shape[1:], spacing[idx], device)
    return res
