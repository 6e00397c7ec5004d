"""Unrolling the per-step IR over concrete steps 1..T.

The per-step equations speak of ``q[t]`` and ``q[t - 1]``; unrolled, step k reads the state
step k-1 wrote (``q[0]`` is the initial state) and the backward pass runs k = T..1 with the
boundary applied: every adjoint at T+1 is 0, so the terms it multiplies vanish. The result is
plain IR equations, for the printers (``bptt sheet --unrolled``) and for verification.

>>> from derive import derive, get_cell
>>> [str(eq.rhs) for eq in unroll_forward(get_cell("rnn"), 2)[1]][-1]
'tanh(hbar[2])'
>>> last = unroll_backward(derive(get_cell("rnn")), 2)[0]   # step T = 2: nothing from T+1
>>> str(last[0].lhs), str(last[0].rhs)
('delta_h[2]', 'Delta[2]')
"""
from __future__ import annotations

import sympy as sp

from .derivation import Backward, adjoint
from .ir import Cell, CellError, Equation, MatVec, MatVecT, Outer, T, t

__all__ = ["UnrollError", "unroll_backward", "unroll_forward", "unroll_gradients"]

# Operations linear in their vector arguments: a zero argument (an adjoint beyond T) makes the
# whole product zero. SymPy cancels ``0 * f[T+1]`` by itself but not ``MatVecT(R, 0)``.
LINEAR_OPS = (MatVec, MatVecT, Outer)


class UnrollError(CellError):
    """A number of steps that cannot be unrolled."""


def _check_steps(steps: int) -> None:
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise UnrollError(f"steps must be a positive integer, got {steps!r}")


def _at(expr: sp.Expr, k: int) -> sp.Expr:
    """The per-step expression at step k (q[t-1] becomes q[k-1])."""
    return expr.xreplace({t: sp.Integer(k)})


def _vanish(expr: sp.Expr) -> sp.Expr:
    return expr.replace(lambda e: isinstance(e, LINEAR_OPS) and any(a == 0 for a in e.args),
                        lambda e: sp.S.Zero)


def _boundary(cell: Cell, steps: int) -> dict[sp.Expr, sp.Expr]:
    """Every adjoint at T+1 is zero."""
    return {adjoint(q)[steps + 1]: sp.S.Zero for q in cell.inputs + cell.quantities}


def _apply(eq: Equation, k: int | None, zero: dict[sp.Expr, sp.Expr]) -> Equation:
    lhs, rhs = (eq.lhs, eq.rhs) if k is None else (_at(eq.lhs, k), _at(eq.rhs, k))
    return Equation(lhs, _vanish(rhs.xreplace(zero)))


def unroll_forward(cell: Cell, steps: int) -> list[list[Equation]]:
    """The forward equations of steps k = 1..steps, in that order, with t replaced by k."""
    _check_steps(steps)
    return [[Equation(_at(eq.lhs, k), _at(eq.rhs, k)) for eq in cell.equations]
            for k in range(1, steps + 1)]


def unroll_backward(backward: Backward, steps: int, *,
                    intermediate: bool = False) -> list[list[Equation]]:
    """The backward pass of steps k = steps..1 (first list: k = T), then the initial-state
    equations as a last list; the boundary delta^{T+1} = 0 is applied.

    Each step holds the kept adjoint recurrences in evaluation order, followed, with
    ``intermediate=True``, by the adjoints folded into them (which read only adjoints at k).
    A forward quantity at T+1 that no vanishing adjoint multiplies (only a wrong backward pass
    has one) is left in place, visible.
    """
    _check_steps(steps)
    zero = _boundary(backward.cell, steps)
    per_step = backward.adjoints + (backward.intermediate if intermediate else ())
    groups = [[_apply(eq, k, zero) for eq in per_step] for k in range(steps, 0, -1)]
    return groups + [[_apply(eq, None, zero) for eq in backward.initial]]


def unroll_gradients(backward: Backward, steps: int) -> list[Equation]:
    """The parameter gradients with their sums over t = 1..steps written out term by term."""
    _check_steps(steps)
    zero = _boundary(backward.cell, steps)
    return [Equation(eq.lhs, _vanish(eq.rhs.xreplace({T: sp.Integer(steps)}).doit()
                                     .xreplace(zero)))
            for eq in backward.gradients]
