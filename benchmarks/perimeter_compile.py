"""Does ``torch.compile`` make the perimeter loss's soft contour cheaper on CPU?

Not a test. Times forward + backward of the per-channel soft perimeter (El Jurdi's
``relu(maxpool(e) - e)`` with ``e = -maxpool(-p)``) three ways on the same softmax batch, one
torch thread: edgewise's ``soft_perimeter`` (separable 1D pools), the eager ``max_pool3d``
expression, and that expression through ``torch.compile`` (inductor; needs a C++ compiler).
Prints the compilation time, the largest value and gradient differences, and the best of
``--repeats`` calls per method, twice, interleaved:

    python benchmarks/perimeter_compile.py
    python benchmarks/perimeter_compile.py --size 64 --repeats 5
"""

from __future__ import annotations

import argparse
import time

import torch
import torch.nn.functional as F

from edgewise.losses.perimeter import soft_perimeter


def eager(p: torch.Tensor) -> torch.Tensor:
    e = -F.max_pool3d(-p, 3, 1, 1)
    return F.relu(F.max_pool3d(e, 3, 1, 1) - e).sum((2, 3, 4))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size", type=int, default=96, help="side of the 2x3xS^3 batch (default 96)")
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    torch.set_num_threads(1)
    g = torch.Generator().manual_seed(0)
    x = torch.randn(2, 3, args.size, args.size, args.size, generator=g).softmax(1)
    weights = torch.arange(1.0, 7.0).view(2, 3)

    def run(fn):
        p = x.clone().requires_grad_(True)
        s = fn(p)
        (s * weights).sum().backward()
        return s.detach(), p.grad

    compiled = torch.compile(eager, dynamic=False)
    t0 = time.perf_counter()
    a = run(compiled)
    print(f"compilation + first call: {time.perf_counter() - t0:.1f} s")
    b = run(soft_perimeter)
    print(f"compiled vs edgewise: values max |diff| {(a[0] - b[0]).abs().max().item():.3g} "
          f"(sums of {x[0, 0].numel()} terms), gradients {(a[1] - b[1]).abs().max().item():.3g}")
    for name, fn in [("edgewise soft_perimeter", soft_perimeter), ("torch.compile", compiled),
                     ("eager max_pool3d", eager)] * 2:
        times = []
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            run(fn)
            times.append(time.perf_counter() - t0)
        print(f"{name}: {min(times) * 1000:.0f} ms")


if __name__ == "__main__":
    main()
