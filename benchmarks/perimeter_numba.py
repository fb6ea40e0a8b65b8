"""Would a compiled kernel of the same passes make the perimeter loss cheaper on CPU?

Not a test. The soft perimeter's forward and backward (erosion and dilation as one
window-3 pass per axis with an int8 offset per element, the contour sum, the routed gradient)
written as plain loops compiled by numba, against edgewise's vectorised torch passes
(:func:`edgewise.losses.perimeter.soft_perimeter`), one thread, on the benchmark's 3D and 2D
softmax batches. Prints whether values and gradients agree (gradients bit for bit) and the
best of three calls per method, in two interleaved rounds. Needs numba, which edgewise does
not depend on (``pip install numba`` in a scratch environment):

    python benchmarks/perimeter_numba.py
"""

from __future__ import annotations

import time

import numpy as np
import torch

try:
    import numba
    from numba import njit
except ImportError:  # pragma: no cover - a benchmark's optional tool
    raise SystemExit("this benchmark needs numba: pip install numba") from None

from edgewise.losses.perimeter import soft_perimeter


@njit(cache=True)
def pass3(x, out, off, outer, n, inner, is_max):  # type: ignore[no-untyped-def]
    """Window-3 maximum (or minimum) along the middle axis of ``x`` seen as (outer, n, inner),
    with max_pool's tie rule (the lowest index wins) and the winner's offset in ``off``."""
    for o in range(outer):
        base = o * n * inner
        for i in range(n):
            for k in range(inner):
                idx = base + i * inner + k
                best = x[idx]
                won = 0
                if i + 1 < n:
                    right = x[idx + inner]
                    if (right > best) if is_max else (right < best):
                        best = right
                        won = 1
                if i > 0:
                    left = x[idx - inner]
                    if (left >= best) if is_max else (left <= best):
                        best = left
                        won = -1
                out[idx] = best
                off[idx] = won


@njit(cache=True)
def route3(g, off, gin, outer, n, inner):  # type: ignore[no-untyped-def]
    """Adjoint of :func:`pass3`, summing in edgewise's order (centre, left, right)."""
    for o in range(outer):
        base = o * n * inner
        for i in range(n):
            for k in range(inner):
                idx = base + i * inner + k
                acc = g[idx] if off[idx] == 0 else np.float32(0.0)
                if i > 0 and off[idx - inner] == 1:
                    acc += g[idx - inner]
                if i + 1 < n and off[idx + inner] == -1:
                    acc += g[idx + inner]
                gin[idx] = acc


@njit(cache=True)
def contour_sum(d, e, nvol, vol, sums, mask):  # type: ignore[no-untyped-def]
    """Per volume ``sum(relu(d - e))`` and where it is positive (the relu's gradient)."""
    for v in range(nvol):
        total = 0.0
        for j in range(v * vol, (v + 1) * vol):
            t = d[j] - e[j]
            positive = t > 0
            mask[j] = positive
            if positive:
                total += t
        sums[v] = total


@njit(cache=True)
def seed_grad(mask, w, nvol, vol, gd, ge):  # type: ignore[no-untyped-def]
    """The gradient of ``sum_v w_v * sum(relu(d - e))`` with respect to ``d`` and ``e``."""
    for v in range(nvol):
        for j in range(v * vol, (v + 1) * vol):
            m = w[v] if mask[j] else np.float32(0.0)
            gd[j] = m
            ge[j] = -m


@njit(cache=True)
def add_into(a, b):  # type: ignore[no-untyped-def]
    for j in range(a.size):
        a[j] += b[j]


def geometry(shape: tuple[int, ...]) -> tuple[int, int, list[tuple[int, int, int]]]:
    """Volumes, voxels per volume and (outer, n, inner) per axis pass, last axis first (as
    edgewise's passes run)."""
    nvol, spatial = shape[0] * shape[1], shape[2:]
    passes = []
    for ax in range(len(spatial) - 1, -1, -1):
        passes.append((nvol * int(np.prod(spatial[:ax])), spatial[ax], int(np.prod(spatial[ax + 1:]))))
    return nvol, int(np.prod(spatial)), passes


def numba_perimeter(p: torch.Tensor, w: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Soft perimeter per (sample, channel) of ``p`` and the gradient of ``sum(w * perimeter)``."""
    x = p.contiguous().view(-1).numpy()
    nvol, vol, passes = geometry(tuple(p.shape))
    offsets = []
    cur = x
    for is_max in (False, True):  # erosion, then dilation of the erosion
        for outer, n, inner in passes:
            out, off = np.empty_like(cur), np.empty(cur.size, np.int8)
            pass3(cur, out, off, outer, n, inner, is_max)
            offsets.append(off)
            cur = out
        if not is_max:
            eroded = cur
    sums, mask = np.empty(nvol), np.empty(x.size, np.bool_)
    contour_sum(cur, eroded, nvol, vol, sums, mask)
    gd, ge = np.empty_like(x), np.empty_like(x)
    seed_grad(mask, w.reshape(-1).numpy().astype(np.float32), nvol, vol, gd, ge)
    k = len(passes)
    g = gd
    for (outer, n, inner), off in zip(reversed(passes), reversed(offsets[k:])):
        gin = np.empty_like(g)
        route3(g, off, gin, outer, n, inner)
        g = gin
    add_into(ge, g)
    g = ge
    for (outer, n, inner), off in zip(reversed(passes), reversed(offsets[:k])):
        gin = np.empty_like(g)
        route3(g, off, gin, outer, n, inner)
        g = gin
    return torch.from_numpy(sums).view(p.shape[:2]), torch.from_numpy(g).view(p.shape)


def edgewise_perimeter(p: torch.Tensor, w: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    q = p.clone().requires_grad_(True)
    s = soft_perimeter(q)
    (s * w).sum().backward()
    return s.detach(), q.grad


def main() -> None:
    torch.set_num_threads(1)
    numba.set_num_threads(1)
    for shape in [(2, 3, 96, 96, 96), (8, 4, 256, 256)]:
        g = torch.Generator().manual_seed(0)
        x = torch.randn(*shape, generator=g).softmax(1)
        w = torch.arange(1.0, 1.0 + shape[0] * shape[1]).view(shape[:2])
        a, b = edgewise_perimeter(x, w), numba_perimeter(x, w)
        rel = float(((a[0].double() - b[0]).abs() / a[0].double().abs()).max())
        print(f"{shape}: values max relative difference {rel:.2g}, gradients equal: {torch.equal(a[1], b[1])}")
        for rnd in range(2):
            for name, fn in (("edgewise", edgewise_perimeter), ("numba loops", numba_perimeter)):
                times = []
                for _ in range(3):
                    t0 = time.perf_counter()
                    fn(x, w)
                    times.append(time.perf_counter() - t0)
                print(f"  round {rnd} {name}: {min(times) * 1000:.0f} ms")


if __name__ == "__main__":
    main()
