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

from derive.ir import Cell

__all__ = ["NumericReport", "Row", "check_numeric"]


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


def check_numeric(cell: Cell, module: ModuleType | None = None, steps: int = 4, batch: int = 3,
                  inputs: int = 3, hidden: int = 4, seed: int = 0, eps: float = 1e-6,
                  tolerance: float = 1e-6) -> NumericReport:
    """Check a generated module's backward pass against central differences (float64).

    ``module``: an imported generated module; None generates one for ``cell`` and imports
    it. Needs ``steps >= 2`` for the per-step adjoint rows.
    """
    if module is None:
        from derive.codegen import load_module
        module = load_module(cell)
    if steps < 2:
        raise ValueError(f"check_numeric: steps must be at least 2, got {steps}")
    rng = np.random.default_rng(seed)
    params = module.init_params(inputs, hidden, seed=seed, dtype=np.float64)
    x = rng.standard_normal((steps, batch, inputs))
    state0 = {s: rng.standard_normal((batch, hidden)) for s in module.STATE}
    u = rng.standard_normal((steps, batch, hidden))
    v = {s: rng.standard_normal((batch, hidden)) for s in module.STATE}

    def loss(x_: np.ndarray = x, s0: dict = state0, first: int = 0, p: dict = params) -> float:
        """L restricted to steps first+1..T (u of those steps), from state s0 at step first."""
        y, stateT, _ = module.forward(p, x_, s0)
        return float(np.sum(u[first:] * y) + sum(np.sum(v[s] * stateT[s]) for s in v))

    _, _, cache = module.forward(params, x, state0)
    dparams, dx, dstate0 = module.backward(params, cache, u, v)
    errors: list[tuple[str, float]] = []
    for name, p in params.items():
        errors.append((name, relative_error(dparams[name], central_differences(loss, p, eps))))
    errors.append(("x", relative_error(dx, central_differences(loss, x, eps))))
    for s in module.STATE:
        errors.append((f"{s}[0]", relative_error(
            dstate0[s], central_differences(loss, state0[s], eps))))

    # the adjoint of each state at t = 1..T-1: perturb what step t hands to step t+1
    split: dict[str, float] = {s: 0.0 for s in module.STATE}
    chained = 0.0
    for k in range(1, steps):
        _, handed, head = module.forward(params, x[:k], state0)
        handed = {s: a.copy() for s, a in handed.items()}
        _, _, tail = module.forward(params, x[k:], handed)
        d_tail, dx_tail, d_handed = module.backward(params, tail, u[k:], v)
        for s in module.STATE:
            numeric = central_differences(lambda: loss(x[k:], handed, k), handed[s], eps)
            split[s] = max(split[s], relative_error(d_handed[s], numeric))
        d_head, dx_head, d0 = module.backward(params, head, u[:k], d_handed)
        chained = max([chained, relative_error(np.concatenate([dx_head, dx_tail]), dx),
                       *(relative_error(d_head[n] + d_tail[n], dparams[n]) for n in params),
                       *(relative_error(d0[s], dstate0[s]) for s in module.STATE)])
    span = f"t=1..{steps - 1}" if steps > 2 else "t=1"
    errors += [(f"{s}[t] handed to t+1, {span}", e) for s, e in split.items()]
    errors.append((f"backward split at {span}, chained", chained))

    # one random direction through every input at once
    direction = {n: rng.standard_normal(p.shape) for n, p in params.items()}
    dir_x = rng.standard_normal(x.shape)
    dir_s = {s: rng.standard_normal(a.shape) for s, a in state0.items()}

    def moved(h: float) -> float:
        return loss(x + h * dir_x, {s: a + h * dir_s[s] for s, a in state0.items()},
                    p={n: p + h * direction[n] for n, p in params.items()})
    numeric = (moved(eps) - moved(-eps)) / (2 * eps)
    analytic = (sum(np.sum(dparams[n] * direction[n]) for n in params) + np.sum(dx * dir_x)
                + sum(np.sum(dstate0[s] * dir_s[s]) for s in state0))
    errors.append(("random direction", relative_error(analytic, numeric)))

    rows = tuple(Row(q, e, bool(e < tolerance)) for q, e in errors)
    setup = (f"central differences in float64, eps {eps:g}; T={steps}, B={batch}, I={inputs}, "
             f"H={hidden}, seed {seed}")
    return NumericReport(cell.name, rows, tolerance, setup)
