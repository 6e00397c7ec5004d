"""Every target's generated kernel against what a user would write, for several cells:
forward + backward of L = sum(y * dy) over a sequence, on the CPU.

    python3 benchmarks/bench_cells.py [--cells lstm gru graves-lstm mgu janet]
        [--sizes small large] [--dtypes float32 float64] [--repeats N] [--clock wall|cpu]
        [--compile step loop] [--rows generated fused ...] [--quick]

Rows per cell, size and dtype: the generated NumPy, torch and jax modules; the user's loop,
i.e. the cell's own step function run per step on torch tensors with autograd (eager, and
under ``torch.compile`` with ``--compile``: ``step`` compiles the step function and keeps the
Python loop, ``loop`` compiles the whole loop, which unrolls the T steps and compiles for
minutes; compile times reported apart) and on jax arrays in a
``lax.scan`` under ``jax.jit(jax.grad)``; for lstm and gru also ``torch.nn.LSTM`` /
``torch.nn.GRU`` (oneDNN's fused kernels). The user's loop is built from the step function
that defines the cell (the same source ``@cell`` reads, its ``return`` made to return the
state), with the per-gate parameters, in column layout (units x batch), so it is written once
for every cell. "GEMM share": the time the cell's matrix products alone take with NumPy
(shapes from the kernel's plan, each timed on operands of its shape, best of 5, same clock) divided by
the row's time.

Methodology as bench_lstm.py: the rows of one case run in alternation (round robin), each
run after a pause (``--settle``) so that other libraries' spinning threads settle; median of
``--repeats`` rounds after two warm-up runs (compilation excluded). ``--clock cpu`` times the
CPU time of all the process's threads instead of the wall time. ``--quick``: a smoke run
(lstm, tiny sizes, one round, no pause). Prints Markdown.
"""
from __future__ import annotations

import argparse
import ast
import inspect
import statistics
import sys
import textwrap
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from derive.cells import get_cell  # noqa: E402
from derive.codegen import load_module  # noqa: E402
from derive.codegen.plan import plan  # noqa: E402

SIZES = {"small": (50, 32, 128, 256), "large": (100, 64, 256, 512),   # (T, B, I, H)
         "tiny": (3, 2, 4, 5)}                                         # --quick
FUSED = {"lstm": "LSTM", "gru": "GRU"}
CLOCKS = {"wall": time.perf_counter, "cpu": time.process_time}
clock = CLOCKS["wall"]
COMPILE: tuple[str, ...] = ()   # --compile: "step" and/or "loop" (unrolls T steps: minutes)
ROWS: tuple[str, ...] = ()      # --rows: only the rows whose name contains one of these


def user_step(cell, lib: dict):
    """The cell's step function, returning its state, with the library's functions."""
    fn = cell.function
    tree = ast.parse(textwrap.dedent(inspect.getsource(fn)))
    fdef = tree.body[0]
    fdef.decorator_list = []
    for node in ast.walk(fdef):
        if isinstance(node, ast.Return):
            node.value = ast.Tuple([ast.Name(s, ast.Load()) for s in cell.state], ast.Load())
    ast.fix_missing_locations(tree)
    namespace = dict(lib)
    exec(compile(tree, f"<step {cell.name}>", "exec"), namespace)
    return namespace[fdef.name]


def gemm_bound(cell, T, B, sizes: dict, dtype) -> float:
    """Seconds the matrix products of one forward + backward take with NumPy."""
    p = plan(cell)
    rng = np.random.default_rng(0)

    def rand(*shape):
        return rng.standard_normal(shape).astype(dtype)

    def best(call, repeats=5):
        call()
        times = []
        for _ in range(repeats):
            start = clock()
            call()
            times.append(clock() - start)
        return min(times)
    total = 0.0
    for g in p.groups:
        n = sum(sizes[p.size(q.equation)] for q in g.products)
        k = sizes[cell.size(g.source)]
        a, d, w = rand(T * B, k), rand(T * B, n), rand(n, k)
        if p.hoisted(g):
            total += best(lambda: a @ w.T) + best(lambda: d @ w)     # products, dx
        else:
            sa, sd, wt = rand(B, k), rand(B, n), np.ascontiguousarray(w.T)
            oa, od = np.empty((B, k), dtype), np.empty((B, n), dtype)
            total += best(lambda: [np.matmul(sa, wt, out=od) for _ in range(T)])
            total += best(lambda: [np.matmul(sd, w, out=oa) for _ in range(T)])
        total += best(lambda: d.T @ a)                                 # dW
    return total


def numpy_rows(cell, T, B, I, H, dtype):
    k = load_module(cell)
    rng = np.random.default_rng(0)
    params = k.init_params(I, H, dtype=dtype)
    x = rng.standard_normal((T, B, I)).astype(dtype)
    dy = rng.standard_normal((T, B, H)).astype(dtype)

    def run():
        _, _, cache = k.forward(params, x)
        k.backward(params, cache, dy)
    yield "NumPy, generated", run


def torch_rows(cell, T, B, I, H, dtype, compile_times: dict):
    import torch
    dt = getattr(torch, np.dtype(dtype).name)
    torch.manual_seed(0)
    x = torch.randn(T, B, I, dtype=dt)
    dy = torch.randn(T, B, H, dtype=dt)
    k = load_module(cell, "torch")
    module = next(v for v in vars(k).values()
                  if isinstance(v, type) and issubclass(v, torch.nn.Module))
    generated = module(I, H, dtype=dt)
    yield "torch, generated", lambda: (generated(x)[0] * dy).sum().backward()
    if cell.name in FUSED:
        fused = getattr(torch.nn, FUSED[cell.name])(I, H).to(dt)
        yield f"torch.nn.{FUSED[cell.name]} (fused)", lambda: (fused(x)[0] * dy).sum().backward()
    nk = load_module(cell)
    packed = nk.init_params(I, H, dtype=dtype)
    params = {n: torch.tensor(np.array(v).reshape(-1, 1) if v.ndim == 1 else np.array(v),
                              requires_grad=True) for n, v in nk.unpack(packed).items()}
    step = user_step(cell, {"sigmoid": torch.sigmoid, "tanh": torch.tanh,
                            "relu": torch.relu})
    xs, dys = x.transpose(1, 2).contiguous(), dy.transpose(1, 2).contiguous()
    sizes = dict(zip(nk.SIZES, (I, H)))
    out = cell.state.index(cell.output)

    def loop(step, xs, dys, /, **params):
        state = tuple(xs.new_zeros(sizes[nk.SIZE_OF[s]], B) for s in cell.state)
        loss = 0
        for t in range(T):
            state = step(xs[t], *state, **params)
            loss = loss + (state[out] * dys[t]).sum()
        return loss
    yield "torch, user's autograd loop", lambda: loop(step, xs, dys, **params).backward()
    for what in COMPILE:
        name = f"torch.compile of the user's {what}"
        if what == "step":    # the step compiled, the loop in Python
            run, fn = loop, torch.compile(step)
        else:                 # the whole loop compiled (dynamo unrolls its T steps)
            run, fn = torch.compile(loop), step
        try:
            start = time.perf_counter()
            run(fn, xs, dys, **params).backward()
            compile_times[name] = time.perf_counter() - start
        except Exception as e:      # no C++ compiler, an unsupported construct: say why
            yield name, f"failed: {type(e).__name__}: {str(e).splitlines()[0][:60]}"
            continue
        yield name, lambda run=run, fn=fn: run(fn, xs, dys, **params).backward()


def jax_rows(cell, T, B, I, H, dtype, compile_times: dict):
    import jax
    import jax.numpy as jnp
    jax.config.update("jax_enable_x64", dtype == np.float64)
    k = load_module(cell, "jax")
    params = k.init_params(I, H, dtype=dtype)
    x = jax.random.normal(jax.random.PRNGKey(0), (T, B, I), dtype)
    dy = jax.random.normal(jax.random.PRNGKey(1), (T, B, H), dtype)
    nk = load_module(cell)
    unpacked = {n: jnp.asarray(np.array(v).reshape(-1, 1) if v.ndim == 1 else np.array(v))
                for n, v in nk.unpack(nk.init_params(I, H, dtype=dtype)).items()}
    step = user_step(cell, {"sigmoid": jax.nn.sigmoid, "tanh": jnp.tanh,
                            "relu": jax.nn.relu})
    xs, dys = jnp.swapaxes(x, 1, 2), jnp.swapaxes(dy, 1, 2)
    sizes = dict(zip(nk.SIZES, (I, H)))
    out = cell.state.index(cell.output)

    def generated(params):
        return jnp.sum(k.forward(params, x)[0] * dy)

    def user(params):
        def body(state, inputs):
            x_t, dy_t = inputs
            state = step(x_t, *state, **params)
            return state, jnp.sum(state[out] * dy_t)
        state0 = tuple(jnp.zeros((sizes[nk.SIZE_OF[s]], B), dtype) for s in cell.state)
        return jnp.sum(jax.lax.scan(body, state0, (xs, dys))[1])

    for name, f, args in (("jax, generated", generated, params),
                          ("jax, user's lax.scan, jit(grad)", user, unpacked)):
        g = jax.jit(jax.grad(f))
        start = time.perf_counter()
        jax.block_until_ready(g(args))
        compile_times[name] = time.perf_counter() - start
        yield name, lambda g=g, args=args: jax.block_until_ready(g(args))


def case(cell, T, B, I, H, dtype, repeats, settle):
    compile_times: dict = {}
    rows = []
    for make in (numpy_rows, torch_rows, jax_rows):
        try:
            gen = make(cell, T, B, I, H, dtype) if make is numpy_rows else \
                make(cell, T, B, I, H, dtype, compile_times)
            for name, fn in gen:
                if ROWS and not any(r in name for r in ROWS):
                    continue
                if isinstance(fn, str):     # the row could not be built: the reason
                    rows.append((name, None, fn))
                    continue
                try:
                    fn()
                    fn()
                    rows.append((name, fn, []))
                except Exception as e:   # a backend that cannot run here
                    rows.append((name, None, f"failed: {type(e).__name__}"))
        except ImportError as e:
            rows.append((make.__name__, None, f"not installed: {e.name}"))
        except Exception as e:
            rows.append((make.__name__, None, f"failed: {type(e).__name__}: "
                         f"{str(e).splitlines()[0][:60]}"))
    for _ in range(repeats):            # round robin: a burst of load hits every row
        for name, fn, times in rows:
            if fn is None:
                continue
            time.sleep(settle)
            start = clock()
            fn()
            times.append(clock() - start)
    return {name: (statistics.median(times) if fn else times) for name, fn, times in rows}, \
        compile_times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cells", nargs="+", default=["lstm", "gru", "graves-lstm", "mgu",
                                                        "janet"])
    parser.add_argument("--sizes", nargs="+", choices=tuple(SIZES), default=["small"])
    parser.add_argument("--dtypes", nargs="+", choices=("float32", "float64"),
                        default=["float32"])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--settle", type=float, default=0.2)
    parser.add_argument("--clock", choices=tuple(CLOCKS), default="wall")
    parser.add_argument("--compile", nargs="+", choices=("step", "loop"), default=(),
                        help="add torch.compile of the user's step function, or of the whole "
                             "loop (unrolled: compiles for minutes)")
    parser.add_argument("--quick", action="store_true",
                        help="smoke run: lstm, tiny sizes, one round, no pause")
    parser.add_argument("--rows", nargs="+", default=(),
                        help="only the rows whose name contains one of these, e.g. generated")
    args = parser.parse_args()
    if args.quick:
        args.cells, args.sizes, args.dtypes = ["lstm"], ["tiny"], ["float32"]
        args.repeats, args.settle = 1, 0.0
    global clock, COMPILE, ROWS
    COMPILE, ROWS = tuple(args.compile), tuple(args.rows)
    clock = CLOCKS[args.clock]
    print(f"forward + backward, median of {args.repeats} rounds, {args.clock} time\n")
    print("| cell | T, B, I, H | dtype | implementation | ms | GEMM share |")
    print("|---|---|---|---|---|---|")
    for name in args.cells:
        cell = get_cell(name)
        for size in args.sizes:
            T, B, I, H = SIZES[size]
            for dt in args.dtypes:
                dtype = np.dtype(dt).type
                bound = gemm_bound(cell, T, B, {"I": I, "H": H}, dtype)
                times, compiled = case(cell, T, B, I, H, dtype, args.repeats, args.settle)
                for row, ms in times.items():
                    cells = (f"{1e3 * ms:.1f} | {bound / ms:.0%}" if isinstance(ms, float)
                             else f"{ms} | ")
                    print(f"| {name} | {T}, {B}, {I}, {H} | {dt} | {row} | {cells} |",
                          flush=True)
                print(f"| {name} | {T}, {B}, {I}, {H} | {dt} | GEMM only (NumPy) "
                      f"| {1e3 * bound:.1f} | 100% |")
                compiled = {k: v for k, v in compiled.items()
                            if not ROWS or any(r in k for r in ROWS)}
                if compiled:
                    print(f"| {name} | {T}, {B}, {I}, {H} | {dt} | compile time, s: "
                          + ", ".join(f"{k} {v:.1f}" for k, v in compiled.items()) + " | | |",
                          flush=True)


if __name__ == "__main__":
    main()
