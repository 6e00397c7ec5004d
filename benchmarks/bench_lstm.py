"""Generated NumPy lstm kernel vs torch.nn.LSTM: forward + backward on the CPU.

    python3 benchmarks/bench_lstm.py [--repeats N]

For each size and dtype the generated kernel, the same lstm written by hand with every trick
of issue 12's recipe (``lstm_by_hand.py``: a ceiling for what the generator could reach) and
torch run in alternating rounds; the table reports the median of the per-round time ratios
(generated / torch, by hand / torch), the median times, and the GEMM-bound time: the
time the forward + backward matrix products alone take at the rate NumPy reaches on
matrices of the same shapes on this machine (each product timed here, best of 9, before
and after the pairs, the smaller sum), with the share of it each implementation reaches
(GEMM-bound time / its time; 100% is the bound). torch gets as many threads as NumPy's
BLAS. Prints Markdown.

Every timed run starts after a pause (``--settle``, 0.3 s): OpenBLAS and OpenMP worker
threads keep spinning for a while after a call, and on a machine with few cores the other
library's spinning threads would otherwise slow the run that follows (measured: torch's
small float32 case takes twice as long right after a NumPy call).
"""
from __future__ import annotations

import argparse
import ctypes
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from derive.cells import get_cell  # noqa: E402
from derive.codegen import load_module  # noqa: E402

import lstm_by_hand  # noqa: E402  (beside this file)

SIZES = [(50, 32, 128, 256), (100, 64, 256, 512)]   # (T, B, I, H)
DTYPES = [np.float32, np.float64]


def blas_info() -> tuple[int, str]:
    """NumPy's OpenBLAS thread count and configuration, read from the loaded library."""
    with open("/proc/self/maps") as maps:
        paths = sorted({line.split()[-1] for line in maps if "openblas" in line.lower()})
    for path in paths:
        lib = ctypes.CDLL(path)
        for prefix, suffix in (("scipy_openblas", "64_"), ("openblas", "64_"), ("openblas", "")):
            threads = getattr(lib, f"{prefix}_get_num_threads{suffix}", None)
            config = getattr(lib, f"{prefix}_get_config{suffix}", None)
            if threads and config:
                config.restype = ctypes.c_char_p
                return threads(), config().decode()
    return os.cpu_count() or 1, "unknown BLAS"


def timed(fn, settle: float) -> float:
    """Seconds of one call of fn, after letting other threads settle."""
    time.sleep(settle)
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def best(fn, repeats: int) -> float:
    """The shortest time of fn over repeats calls (after one warm-up call)."""
    fn()
    return min(timed(fn, 0.0) for _ in range(repeats))


def gemm_bound(T: int, B: int, I: int, H: int, dtype, repeats: int = 9) -> tuple[float, float]:
    """(seconds, flops) of the matrix products of one LSTM forward + backward, each timed with
    NumPy on operands of its shape and layout."""
    rng = np.random.default_rng(0)

    def rand(*shape):
        return rng.standard_normal(shape).astype(dtype)
    x, h, g = rand(T * B, I), rand(T * B, H), rand(T * B, 4 * H)
    w_ih, w_hh = rand(4 * H, I), rand(4 * H, H)
    step_h, step_g = rand(B, H), rand(B, 4 * H)
    out_g, out_h = np.empty((B, 4 * H), dtype), np.empty((B, H), dtype)
    w_hh_t = np.ascontiguousarray(w_hh.T)
    products = [   # (flops, call)
        (2 * T * B * I * 4 * H, lambda: x @ w_ih.T),                        # input products
        (2 * T * B * H * 4 * H, lambda: [np.matmul(step_h, w_hh_t, out=out_g)
                                         for _ in range(T)]),              # recurrent, forward
        (2 * T * B * 4 * H * H, lambda: [np.matmul(step_g, w_hh, out=out_h)
                                         for _ in range(T)]),              # recurrent, backward
        (2 * T * B * 4 * H * I, lambda: g @ w_ih),                          # dx
        (2 * T * B * 4 * H * I, lambda: g.T @ x),                           # dW_ih
        (2 * T * B * 4 * H * H, lambda: g.T @ h),                           # dW_hh
    ]
    return (sum(best(call, repeats) for _, call in products),
            float(sum(flops for flops, _ in products)))


def compare(kernel, T: int, B: int, I: int, H: int, dtype, repeats: int, settle: float) -> dict:
    tdtype = torch.float32 if dtype == np.float32 else torch.float64
    lstm = torch.nn.LSTM(I, H).to(tdtype)
    params = {k.removesuffix("_l0"): v.detach().numpy().copy()
              for k, v in lstm.named_parameters()}
    rng = np.random.default_rng(1)
    x = rng.standard_normal((T, B, I)).astype(dtype)
    dy = rng.standard_normal((T, B, H)).astype(dtype)
    tx = torch.from_numpy(x).requires_grad_()
    tdy = torch.from_numpy(dy)

    def generated():
        y, _, cache = kernel.forward(params, x)
        kernel.backward(params, cache, dy)

    def by_hand():
        y, _, cache = lstm_by_hand.forward(params, x)
        lstm_by_hand.backward(params, cache, dy)

    def reference():
        lstm.zero_grad(set_to_none=True)
        tx.grad = None
        y, _ = lstm(tx)
        y.backward(tdy)

    for _ in range(2):
        generated()
        by_hand()
        reference()
    before = gemm_bound(T, B, I, H, dtype)
    ours, hand, theirs = [], [], []
    for _ in range(repeats):    # rounds of three: a burst of load hits all of them
        ours.append(timed(generated, settle))
        hand.append(timed(by_hand, settle))
        theirs.append(timed(reference, settle))
    after = gemm_bound(T, B, I, H, dtype)   # before and after the pairs: a burst rarely hits both
    bound, flops = min(before[0], after[0]), before[1]
    return {"ratio": statistics.median(a / b for a, b in zip(ours, theirs)),
            "hand_ratio": statistics.median(a / b for a, b in zip(hand, theirs)),
            "ours": statistics.median(ours), "hand": statistics.median(hand),
            "theirs": statistics.median(theirs), "bound": bound, "flops": flops}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=9, help="timed pairs per row")
    parser.add_argument("--settle", type=float, default=0.3,
                        help="seconds of pause before each timed run")
    args = parser.parse_args()
    threads, config = blas_info()
    torch.set_num_threads(threads)
    kernel = load_module(get_cell("lstm"))
    env = ", ".join(f"{k}={os.environ.get(k, 'unset')}"
                    for k in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE", "OPENBLAS_NUM_THREADS",
                              "OMP_NUM_THREADS"))
    print("# lstm forward + backward: generated NumPy kernel vs torch.nn.LSTM\n")
    print(f"- CPU: {platform.processor() or platform.machine()}, {os.cpu_count()} logical cores")
    print(f"- NumPy {np.__version__}, {config}; BLAS threads {threads}")
    print(f"- torch {torch.__version__}, threads {torch.get_num_threads()}, "
          f"oneDNN {'on' if torch.backends.mkldnn.is_available() else 'off'}")
    print(f"- environment: {env}")
    print(f"- median of {args.repeats} alternating pairs after 2 warm-up pairs, "
          f"{args.settle:g} s pause before each timed run\n")
    print("| T | B | I | H | dtype | generated ms | by hand ms | torch ms | generated / torch "
          "(median) | by hand / torch | GEMM-bound ms | GEMM GFLOP/s | share, generated "
          "| share, torch |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for dtype in DTYPES:
        for T, B, I, H in SIZES:
            r = compare(kernel, T, B, I, H, dtype, args.repeats, args.settle)
            print(f"| {T} | {B} | {I} | {H} | {np.dtype(dtype).name} | {r['ours'] * 1e3:.1f} "
                  f"| {r['hand'] * 1e3:.1f} | {r['theirs'] * 1e3:.1f} | {r['ratio']:.2f} "
                  f"| {r['hand_ratio']:.2f} | {r['bound'] * 1e3:.1f} "
                  f"| {r['flops'] / r['bound'] / 1e9:.0f} | {r['bound'] / r['ours']:.0%} "
                  f"| {r['bound'] / r['theirs']:.0%} |", flush=True)


if __name__ == "__main__":
    main()
