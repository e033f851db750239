"""CPU benchmark: naive ``selective_scan_ref`` vs fast ``selective_scan_fn``, side by side.

Shape: batch 8, dim 64, dstate 16, L 2048 (float32, with D, z, delta_bias, softplus).
Run: ``python benchmarks/bench_selective_scan.py [--repeats N] [--threads T]``.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import torch

from spectramind.model.ops.selective_scan import selective_scan_fn, selective_scan_ref

BATCH, DIM, DSTATE, LENGTH = 8, 64, 16, 2048


def make_inputs(requires_grad: bool) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    tensors = {
        "u": torch.randn(BATCH, DIM, LENGTH, generator=g),
        "delta": 0.5 * torch.randn(BATCH, DIM, LENGTH, generator=g),
        "A": -torch.rand(DIM, DSTATE, generator=g) - 0.1,
        "B": torch.randn(BATCH, DSTATE, LENGTH, generator=g),
        "C": torch.randn(BATCH, DSTATE, LENGTH, generator=g),
        "D": torch.randn(DIM, generator=g),
        "z": torch.randn(BATCH, DIM, LENGTH, generator=g),
        "delta_bias": 0.1 * torch.randn(DIM, generator=g),
    }
    return {k: v.requires_grad_(requires_grad) for k, v in tensors.items()}


def time_it(fn: Callable[[], object], repeats: int) -> list[float]:
    fn()  # warm-up (allocator, thread pool)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    print(
        f"selective scan, CPU, float32: batch={BATCH} dim={DIM} dstate={DSTATE} L={LENGTH}, "
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, "
        f"best of {args.repeats} (median in brackets; best is robust to a busy machine)"
    )
    fns = {"ref": selective_scan_ref, "fast": selective_scan_fn}

    with torch.no_grad():
        x = make_inputs(False)
        y_ref = selective_scan_ref(**x, delta_softplus=True)
        y_fast = selective_scan_fn(**x, delta_softplus=True)
        rel = ((y_fast - y_ref).abs().max() / y_ref.abs().max()).item()
    print(f"max |fast - ref| / max |ref| = {rel:.2e}")

    for mode in ("forward (no grad)", "forward + backward"):
        grad = mode != "forward (no grad)"
        results = {}
        for name, fn in fns.items():
            x = make_inputs(grad)

            def run(fn=fn, x=x, grad=grad) -> None:
                with torch.set_grad_enabled(grad):
                    y = fn(**x, delta_softplus=True)
                    if grad:
                        torch.autograd.grad(y.sum(), list(x.values()))

            results[name] = time_it(run, args.repeats)
        best = {k: min(v) for k, v in results.items()}
        line = "  ".join(
            f"{k:>4s} {best[k] * 1e3:8.1f} ms [{statistics.median(v) * 1e3:7.1f}]"
            for k, v in results.items()
        )
        print(f"{mode:20s} {line}  speed-up x{best['ref'] / best['fast']:.1f}")


if __name__ == "__main__":
    main()
