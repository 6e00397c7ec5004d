"""The generated lstm kernels of every target against what a user would otherwise run:
forward + backward of L = sum(y * dy) over a sequence, on the CPU.

    python3 benchmarks/bench_targets.py [--repeats N] [--size T B I H] [--dtype float32]

Rows: the generated NumPy module; the generated torch module (BPTT.apply, then backward);
torch.nn.LSTM (oneDNN's fused kernel); a user's autograd loop over torch.nn.LSTMCell, eager
and under torch.compile; the generated jax module under jax.jit(jax.grad); a user's
jax.lax.scan loop under jax.jit(jax.grad). Each row: median of ``--repeats`` timed runs after
two warm-up runs (compilation excluded), each after a short pause (``--settle``) so that the
other libraries' spinning threads settle; ``--clock cpu`` times the CPU time of all threads
instead of the wall time (the work done; steadier on a busy machine). A row whose library is missing or fails says why.
Prints Markdown; the figures move by 10 to 20% between runs on a shared machine.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from derive.cells import get_cell  # noqa: E402
from derive.codegen import load_module  # noqa: E402
from bench_cells import CLOCKS, numpy_rows  # noqa: E402  (this script's folder is on the path)


clock = CLOCKS["wall"]


def timed(fn, repeats: int, settle: float) -> float:
    fn()
    fn()
    times = []
    for _ in range(repeats):
        time.sleep(settle)
        start = clock()
        fn()
        times.append(clock() - start)
    return statistics.median(times)


def numpy_generated(T, B, I, H, dtype):
    _, run = next(numpy_rows(get_cell("lstm"), T, B, I, H, dtype))   # bench_cells's row
    return run


def torch_rows(T, B, I, H, dtype):
    import torch
    dt = getattr(torch, np.dtype(dtype).name)
    torch.manual_seed(0)
    x = torch.randn(T, B, I, dtype=dt)
    dy = torch.randn(T, B, H, dtype=dt)
    k = load_module(get_cell("lstm"), "torch")
    generated = k.LSTM(I, H, dtype=dt)
    fused = torch.nn.LSTM(I, H).to(dt)
    cell = torch.nn.LSTMCell(I, H).to(dt)

    def loop(x):
        h = c = x.new_zeros(B, H)
        ys = []
        for t in range(T):
            h, c = cell(x[t], (h, c))
            ys.append(h)
        return torch.stack(ys)

    def rows():
        yield "torch, generated (BPTT.apply)", lambda: (generated(x)[0] * dy).sum().backward()
        yield "torch.nn.LSTM (fused)", lambda: (fused(x)[0] * dy).sum().backward()
        yield "torch, autograd of an LSTMCell loop", lambda: (loop(x) * dy).sum().backward()
        compiled = torch.compile(loop)
        yield "torch.compile of the LSTMCell loop", lambda: (compiled(x) * dy).sum().backward()
    return rows()


def jax_rows(T, B, I, H, dtype):
    import jax
    import jax.numpy as jnp
    if dtype == np.float64:
        jax.config.update("jax_enable_x64", True)
    k = load_module(get_cell("lstm"), "jax")
    params = k.init_params(I, H, dtype=dtype)
    x = jax.random.normal(jax.random.PRNGKey(0), (T, B, I), dtype)
    dy = jax.random.normal(jax.random.PRNGKey(1), (T, B, H), dtype)

    def generated(params):
        return jnp.sum(k.forward(params, x)[0] * dy)

    def user(params):
        def step(state, x_t):
            h, c = state
            gates = (x_t @ params["weight_ih"].T + params["bias_ih"]
                     + h @ params["weight_hh"].T + params["bias_hh"])
            i, f, g, o = jnp.split(gates, 4, axis=-1)
            c = jax.nn.sigmoid(f) * c + jax.nn.sigmoid(i) * jnp.tanh(g)
            h = jax.nn.sigmoid(o) * jnp.tanh(c)
            return (h, c), h
        zero = jnp.zeros((B, H), dtype)
        return jnp.sum(jax.lax.scan(step, (zero, zero), x)[1] * dy)

    def rows():
        for name, f in (("jax, generated (custom_vjp), jit", generated),
                        ("jax, autodiff of a lax.scan loop, jit", user)):
            g = jax.jit(jax.grad(f))
            yield name, lambda g=g: jax.block_until_ready(g(params))
    return rows()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", type=int, nargs=4, default=(50, 32, 128, 256),
                        metavar=("T", "B", "I", "H"))
    parser.add_argument("--dtype", choices=("float32", "float64"), default="float32")
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--settle", type=float, default=0.2)
    parser.add_argument("--clock", choices=tuple(CLOCKS), default="wall",
                        help="wall time, or the CPU time of all threads (on a busy machine)")
    args = parser.parse_args()
    global clock
    clock = CLOCKS[args.clock]
    T, B, I, H = args.size
    dtype = np.dtype(args.dtype).type
    print(f"lstm forward + backward, T={T} B={B} I={I} H={H} {args.dtype}, median of "
          f"{args.repeats}, {args.clock} time\n")
    print("| implementation | ms |\n|---|---|")
    print(f"| NumPy, generated | {1e3 * timed(numpy_generated(T, B, I, H, dtype), args.repeats, args.settle):.1f} |")
    for rows in (torch_rows, jax_rows):
        try:
            for name, fn in rows(T, B, I, H, dtype):
                try:
                    print(f"| {name} | {1e3 * timed(fn, args.repeats, args.settle):.1f} |")
                except Exception as e:  # a backend that cannot run here (no compiler, ...)
                    print(f"| {name} | failed: {type(e).__name__}: {str(e).splitlines()[0][:80]} |")
        except ImportError as e:
            print(f"| {rows.__name__} | not installed: {e} |")


if __name__ == "__main__":
    main()
