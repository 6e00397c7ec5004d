"""Numeric gradient checks of a generated kernel module, in float64.

The loss is ``L = sum(u * y) + sum_s sum(v_s * stateT_s)`` with fixed random u, v; the
module's backward pass (dy = u, dstateT = v) is compared with central differences of L:

* for every parameter, the input and the initial state, entry by entry;
* for the adjoint of every state variable at every step t = 1..T-1: the state handed from
  step t to step t+1 is perturbed, using only the module's public API (forward on x[:t],
  perturb, forward on x[t:]) and compared with the dstate0 of backward on the second part;
  a further row checks that prefix and suffix backward passes, chained through dstateT,
  give the whole sequence's gradients;
* along one random direction of all inputs at once (a dot-product check).

Each row reports the largest error relative to the largest entry of that quantity.

>>> from derive.cells import get_cell
>>> check_numeric(get_cell("rnn")).ok
True
"""
from __future__ import annotations

from dataclasses import dataclass
from types import ModuleType
from typing import Callable, NamedTuple

import numpy as np
import sympy as sp

from derive.derivation import loss_assumptions
from derive.ir import Cell, UnitSum, base_name
from verify.unrolled import VerifyError

__all__ = ["NumericReport", "Row", "check_numeric", "small_sizes"]


class Row(NamedTuple):
    quantity: str
    error: float  #: max |analytic - numeric| / max(|analytic|, |numeric|) over the entries
    ok: bool


@dataclass(frozen=True)
class NumericReport:
    cell: str
    rows: tuple[Row, ...]
    tolerance: float
    setup: str

    @property
    def ok(self) -> bool:
        return all(row.ok for row in self.rows)

    def format(self) -> str:
        """The rows as a Markdown table, with a one-line verdict."""
        width = max(len(row.quantity) for row in self.rows)
        lines = [f"Numeric check of {self.cell}: {self.setup}", "",
                 f"| {'quantity'.ljust(width)} | max rel. error | ok  |",
                 f"| {'-' * width} | -------------- | --- |"]
        lines += [f"| {row.quantity.ljust(width)} | {row.error:14.1e} | "
                  f"{'yes' if row.ok else 'NO ':3} |" for row in self.rows]
        bad = [row.quantity for row in self.rows if not row.ok]
        lines += ["", f"all {len(self.rows)} checks below {self.tolerance:g}" if not bad else
                  f"FAILED (tolerance {self.tolerance:g}): {', '.join(bad)}"]
        return "\n".join(lines)


def relative_error(analytic: np.ndarray, numeric: np.ndarray) -> float:
    """Largest absolute difference relative to the largest entry of either array."""
    analytic, numeric = np.asarray(analytic, float), np.asarray(numeric, float)
    scale = max(np.abs(analytic).max(initial=0.0), np.abs(numeric).max(initial=0.0))
    return 0.0 if scale == 0 else float(np.abs(analytic - numeric).max() / scale)


def central_differences(f: Callable[[], float], a: np.ndarray, eps: float) -> np.ndarray:
    """dL/da by central differences, perturbing the entries of ``a`` in place."""
    grad = np.empty_like(a)
    for i in np.ndindex(a.shape):
        old = a[i]
        a[i] = old + eps
        up = f()
        a[i] = old - eps
        down = f()
        a[i] = old
        grad[i] = (up - down) / (2 * eps)
    return grad


def small_sizes(cell: Cell, inputs: int = 3, hidden: int = 4,
                sizes: dict[str, int] | None = None) -> dict[str, int]:
    """A small size for each of the cell's size names: I = ``inputs``, H = ``hidden``, each
    other name a different one (so that a transposed or mixed-up size fails the check),
    overridden by ``sizes``; VerifyError for a size that is not an integer >= 1 or not the
    cell's."""
    sizes = dict(sizes or {})
    for name in sizes:
        if name not in cell.size_names:
            raise VerifyError(f"sizes: cell {cell.name!r} has no size {name!r} (its sizes: "
                              f"{', '.join(cell.size_names)})")
    out = {"I": inputs, "H": hidden} | sizes
    spare = (n for n in (5, 2, 6, 7, 3, 8, 9, 10, 11, 12) if n not in out.values())
    out = {name: out[name] if name in out else next(spare) for name in cell.size_names}
    for name, n in out.items():
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise VerifyError(f"size {name} must be an integer >= 1, got {n!r}")
    return out


def check_numeric(cell: Cell, module: ModuleType | None = None, steps: int = 4, batch: int = 3,
                  inputs: int = 3, hidden: int = 4, seed: int = 0, eps: float = 1e-6,
                  tolerance: float = 1e-6, sizes: dict[str, int] | None = None
                  ) -> NumericReport:
    """Check a generated module's backward pass against central differences (float64).

    ``module``: an imported generated module; None generates one for ``cell`` and imports
    it. Sizes: see :func:`small_sizes`. Needs ``steps >= 2`` for the per-step adjoint rows.
    A cell with a loss is checked on L = its summed loss (+ the final state term); targets
    of a cross-entropy are drawn from the simplex, as the derivation assumes.
    """
    if steps < 2:
        raise ValueError(f"check_numeric: steps must be at least 2, got {steps}")
    if isinstance(batch, bool) or not isinstance(batch, int) or batch < 1:
        raise VerifyError(f"batch must be an integer >= 1, got {batch!r}")
    sizes = small_sizes(cell, inputs, hidden, sizes)
    if module is None:
        from derive.codegen import load_module
        module = load_module(cell)
    rng = np.random.default_rng(seed)
    params = module.init_params(sizes, seed=seed, dtype=np.float64)
    simplex = {base_name(a.args[0]) for a in loss_assumptions(cell)
               if isinstance(a, UnitSum) and isinstance(a.args[0], sp.Indexed)}

    def draw(name: str, shape: tuple[int, ...]) -> np.ndarray:
        if name in simplex:   # a distribution over the units
            return rng.dirichlet(np.ones(shape[-1]), shape[:-1])
        return rng.standard_normal(shape)

    def size(name: str) -> int:
        return sizes[module.SIZE_OF[name]]
    xs = [draw(x, (steps, batch, size(x))) for x in module.INPUTS]
    free = [k for k, x in enumerate(module.INPUTS) if x not in module.TARGETS]
    state0 = {s: rng.standard_normal((batch, size(s))) for s in module.STATE}
    u = rng.standard_normal((steps, batch, size(module.OUTPUT)))
    v = {s: rng.standard_normal((batch, size(s))) for s in module.STATE}

    def loss(xs_: list = xs, s0: dict = state0, first: int = 0, p: dict = params) -> float:
        """L restricted to steps first+1..T (u of those steps), from state s0 at step first."""
        out, stateT, _ = module.forward(p, *xs_, s0)
        head = np.sum(out) if module.LOSS else np.sum(u[first:first + len(xs_[0])] * out)
        return float(head + sum(np.sum(v[s] * stateT[s]) for s in v))

    def backward(cache: dict, first: int, last: int, dstateT: dict) -> tuple:
        dy = () if module.LOSS else (u[first:last],)
        dparams, dx, dstate0 = module.backward(params, cache, *dy, dstateT)
        return dparams, (dx if isinstance(dx, tuple) else (dx,)), dstate0

    _, _, cache = module.forward(params, *xs, state0)
    dparams, dxs, dstate0 = backward(cache, 0, steps, v)
    errors: list[tuple[str, float]] = []
    for name, p in params.items():
        errors.append((name, relative_error(dparams[name], central_differences(loss, p, eps))))
    for k, dx in zip(free, dxs):
        errors.append((module.INPUTS[k], relative_error(dx, central_differences(loss, xs[k], eps))))
    for s in module.STATE:
        errors.append((f"{s}[0]", relative_error(
            dstate0[s], central_differences(loss, state0[s], eps))))

    # the adjoint of each state at t = 1..T-1: perturb what step t hands to step t+1
    split: dict[str, float] = {s: 0.0 for s in module.STATE}
    chained = 0.0
    for k in range(1, steps):
        _, handed, head = module.forward(params, *(x[:k] for x in xs), state0)
        handed = {s: a.copy() for s, a in handed.items()}
        tail_xs = [x[k:] for x in xs]
        _, _, tail = module.forward(params, *tail_xs, handed)
        d_tail, dx_tail, d_handed = backward(tail, k, steps, v)
        for s in module.STATE:
            numeric = central_differences(lambda: loss(tail_xs, handed, k), handed[s], eps)
            split[s] = max(split[s], relative_error(d_handed[s], numeric))
        d_head, dx_head, d0 = backward(head, 0, k, d_handed)
        chained = max([chained,
                       *(relative_error(np.concatenate([a, b]), dx)
                         for a, b, dx in zip(dx_head, dx_tail, dxs)),
                       *(relative_error(d_head[n] + d_tail[n], dparams[n]) for n in params),
                       *(relative_error(d0[s], dstate0[s]) for s in module.STATE)])
    span = f"t=1..{steps - 1}" if steps > 2 else "t=1"
    errors += [(f"{s}[t] handed to t+1, {span}", e) for s, e in split.items()]
    errors.append((f"backward split at {span}, chained", chained))

    # one random direction through every input at once
    direction = {n: rng.standard_normal(p.shape) for n, p in params.items()}
    dir_x = {k: rng.standard_normal(xs[k].shape) for k in free}
    dir_s = {s: rng.standard_normal(a.shape) for s, a in state0.items()}

    def moved(h: float) -> float:
        return loss([x + h * dir_x[k] if k in dir_x else x for k, x in enumerate(xs)],
                    {s: a + h * dir_s[s] for s, a in state0.items()},
                    p={n: p + h * direction[n] for n, p in params.items()})
    numeric = (moved(eps) - moved(-eps)) / (2 * eps)
    analytic = (sum(np.sum(dparams[n] * direction[n]) for n in params)
                + sum(np.sum(dx * dir_x[k]) for k, dx in zip(free, dxs))
                + sum(np.sum(dstate0[s] * dir_s[s]) for s in state0))
    errors.append(("random direction", relative_error(analytic, numeric)))

    rows = tuple(Row(q, e, bool(e < tolerance)) for q, e in errors)
    setup = (f"central differences in float64, eps {eps:g}; T={steps}, batch {batch}, "
             f"{', '.join(f'{n}={k}' for n, k in sizes.items())}, seed {seed}")
    return NumericReport(cell.name, rows, tolerance, setup)
