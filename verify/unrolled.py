"""Unrolled verification: the derived BPTT equations against derivatives of the unrolled loss.

The cell is unrolled over T steps at a small size and scalarised: every size name gets a
different small number of units (I = 2, H = 3, then 4, 5, ... for P, K, ... in the order the
cell uses them), so that a transposed or misshapen product cannot hide behind equal sizes.
Every unit of every quantity at every step is a real symbol of its own, defined by a scalar
equation over the symbols it reads: a matrix product becomes an explicit sum over the matrix's
scalar entries, softmax exp(a_j) / sum_m exp(a_m), a sum over units an explicit sum, a loss its
definition, an activation its closed form. The loss is L = sum_t loss^t for a cell that computes
one, else L = sum_t sum_j u_j^t y_j^t with symbolic upstream weights u (Delta^t = u^t). The
targets of a cross-entropy are on the simplex exactly, as the derivation assumes: the last unit
is 1 minus the others. dL/d(symbol) follows from the chain rule over this scalar graph, with
SymPy's ``diff`` of each scalar equation by its direct arguments: nothing of the derivation's
vector rules, time shifts or boundary is reused. The adjoint of q^t is L as a function of the
value of q^t where it is written, everything downstream recomputed.

Every derived equation at every step (kept and folded adjoints, initial states, gradients, so
dL/dx^t too) is checked entry by entry, its right side taken at the true values of the adjoints
it reads: a wrong equation is named at the steps where it is wrong, not at everything computed
from it. All rows agreeing means, by induction from the boundary at T, that the recurrences
run as derived give the true adjoints. Each row uses one of two methods:

* ``exact``: the adjoints the derivation keeps stay symbols; the derived right side minus the
  chain rule's dL/dq (one level down the graph, to those symbols) must expand to 0. Cost
  linear in T, no expression swell.
* points, when that difference does not expand to 0 (a rewrite through identities that hold
  only on the forward pass, such as sigma'(ibar) = i (1 - i), or a wrong equation): at random
  points in 50-digit arithmetic, the derived right side at the true adjoints (a reverse sweep
  over the whole unrolled graph) against the true dL/dq.

>>> report = check_unrolled("rnn", steps=2)
>>> report.ok, {row.method for row in report.rows}
(True, {'exact'})
"""
from __future__ import annotations

import itertools
import math
import random
from collections import defaultdict
from dataclasses import dataclass
from functools import cache
from typing import Callable, Iterator

import sympy as sp

from derive.cells import get_cell
from derive.derivation import Backward, adjoint, derive, gradient
from derive.ir import (ACTIVATIONS, PRIMES, SCALAR, Cell, CellError, Delta, Equation, LossBase,
                       MatVec, MatVecT, Outer, Softmax, UnitSum, Weight, explicit)
from derive.unroll import unroll_backward, unroll_forward, unroll_gradients

__all__ = ["DIGITS", "MAX_HIDDEN", "MAX_INPUTS", "MAX_STEPS", "MAX_UNITS", "MIN_POINTS",
           "TOLERANCE", "Row", "UnrolledReport", "VerifyError", "check_sizes", "check_unrolled", "unit_counts"]

# Limits of the sizes: the cost grows linearly in T and about as H (H + I) per step; the largest
# built-in cell, graves-lstm, at T = 24, H = I = 4 takes about 8 s as a fresh process, 10 s when
# rows also need the points (benchmarks/bench_verify.py).
MAX_STEPS = 24
MAX_HIDDEN = 4
MAX_INPUTS = 4
MAX_UNITS = 6     #: of any other size name (P, K, ...)
DEFAULT_UNITS = {"I": 2, "H": 3}  #: other size names get 4, 5, ...: no two sizes are equal
KINK_MARGIN = sp.Float("1e-3")  #: points keep piecewise functions this far from their kinks
KINK_TRIES = 50  #: draws before a point at a kink is accepted (kinks both sides agree on)
MIN_POINTS = 3    #: a disagreement must not hide at a lucky point
DIGITS = 50       #: precision of the point evaluations
_WORKING = DIGITS + 10  # digits carried, so that 50 are right after a few hundred operations
TOLERANCE = sp.Float("1e-40")  #: relative agreement asked of the point evaluations

EXACT = "exact"


class VerifyError(CellError):
    """A request the unrolled check cannot serve: sizes beyond the limits, a mismatched cell."""


class _Unreadable(Exception):
    """An expression that does not denote a value of the unrolled pass (message: why)."""


# --- scalar symbols -----------------------------------------------------------------------

class _Scalars:
    """Names the scalar symbols of one unrolling and reads IR expressions entry by entry."""

    def __init__(self, cell: Cell, steps: int, sizes: dict[str, int]) -> None:
        self.cell, self.steps, self.sizes = cell, steps, {**sizes, SCALAR: 1}
        self.of_adjoint = {str(adjoint(q)): q for q in cell.inputs + cell.quantities}
        self.quantity_of: dict[sp.Symbol, str] = {}  # value symbol -> its quantity's name
        self.adjoint_of: dict[sp.Symbol, sp.Symbol] = {}  # value symbol -> adjoint symbol
        self.value_of: dict[sp.Symbol, sp.Symbol] = {}    # adjoint symbol -> value symbol
        self.simplex = _simplex_targets(cell)  # target input -> what its units sum to
        self.context: int | None = None  # units of the equation being read

    def size(self, name: str) -> int:
        return self.sizes[self.cell.size(name)]

    def size_of(self, expr: sp.Expr) -> int | None:
        """The number of units of a vector expression (None for a scalar, broadcast)."""
        if isinstance(expr, sp.Indexed):
            name = str(expr.base)
            if expr.base == Delta:
                return self.size(self.cell.output)
            return self.size(self.of_adjoint.get(name, name))
        if isinstance(expr, Weight):
            raise _Unreadable(f"matrix {expr} is used outside a matrix product")
        if isinstance(expr, sp.Symbol):
            return self.shape(str(expr))[0]
        if isinstance(expr, MatVec):
            return self.shape(str(expr.args[0]))[0]
        if isinstance(expr, MatVecT):
            return self.shape(str(expr.args[0]))[1]
        if isinstance(expr, (UnitSum, LossBase)):
            return None
        return next((n for a in expr.args if (n := self.size_of(a)) is not None), None)

    def shape(self, param: str) -> tuple[int, ...]:
        if param not in self.cell.params:
            raise _Unreadable(f"{param} is no parameter of cell {self.cell.name!r}")
        return tuple(self.sizes[d] for d in self.cell.params[param].shape)

    def exists(self, name: str, k: int) -> bool:
        """Whether q^k is a value of the unrolled pass: steps 1..T, and 0 for the state."""
        return 1 <= k <= self.steps or (k == 0 and name in self.cell.state)

    def value(self, name: str, k: int, j: int) -> sp.Symbol:
        if not self.exists(name, k):
            raise _Unreadable(f"{name}[{k}] is outside the {self.steps}-step unrolling")
        if not 0 <= j < self.size(name):
            raise _Unreadable(f"{name} has {self.size(name)} units, unit {j} is read")
        sym = sp.Symbol(f"{name}^{k}_{j}", real=True)
        self.quantity_of[sym] = name
        if sym not in self.adjoint_of:
            self.adjoint_of[sym] = sp.Symbol(f"dL/d{name}^{k}_{j}", real=True)
            self.value_of[self.adjoint_of[sym]] = sym
        return sym

    def input_value(self, name: str, k: int, j: int) -> sp.Expr:
        """An input's unit; the last unit of a target on the simplex is the rest of its sum."""
        last = self.size(name) - 1
        if name not in self.simplex or j != last:
            return self.value(name, k, j)
        return self.simplex[name] - sp.Add(*(self.value(name, k, m) for m in range(last)))

    def upstream(self, k: int, j: int) -> sp.Symbol:
        """u_j^k, the weight of y_j^k in the loss (Delta[k] in the IR)."""
        if self.cell.loss:
            raise _Unreadable(f"Delta[{k}] is read, but the cell computes its own loss "
                              f"{self.cell.loss}: no gradient arrives from above")
        if not (1 <= k <= self.steps and 0 <= j < self.size(self.cell.output)):
            raise _Unreadable(f"Delta[{k}] unit {j} is outside the {self.steps}-step unrolling")
        return sp.Symbol(f"u^{k}_{j}", real=True)

    def entry(self, param: str, index: tuple[int, ...]) -> sp.Symbol:
        shape = self.shape(param)
        if len(index) != len(shape) or not all(0 <= i < n for i, n in zip(index, shape)):
            raise _Unreadable(f"{param} of shape {shape} has no entry {index}")
        return sp.Symbol(f"{param}[{','.join(map(str, index))}]", real=True)

    def read(self, expr: sp.Expr, index: tuple[int, ...]) -> sp.Expr:
        """Entry ``index`` ((j,) of a vector, (j, m) of a matrix) of an IR expression."""
        rule = next((rule for op, rule in UNIT_RULES.items() if isinstance(expr, op)), None)
        if rule is not None:
            return rule(self, expr, index)
        if isinstance(expr, sp.Indexed):
            return self._indexed(expr, index)
        if isinstance(expr, Weight):
            raise _Unreadable(f"matrix {expr} is used outside a matrix product")
        if isinstance(expr, sp.Symbol):
            if str(expr) not in self.cell.params:
                raise _Unreadable(f"unknown symbol {expr}")
            return self.entry(str(expr), index)
        if expr.is_Float:  # a number as written (0.5 -> 1/2): exact, never 15 digits
            return sp.Rational(str(expr))
        if not expr.args:
            return expr
        args = (self.read(a, index) for a in expr.args)  # elementwise
        return _closed_forms().get(expr.func, expr.func)(*args)

    def units(self, v: sp.Expr, what: str) -> list[sp.Expr]:
        """Every unit of the vector v; a constant (softmax(h - h) is softmax(0)) has the size
        of the equation it is read in, elementwise operations keeping sizes."""
        n = self.size_of(v) or self.context
        if n is None:
            raise _Unreadable(f"{what} of {v}, which is no vector")
        return [self.read(v, (m,)) for m in range(n)]

    def _indexed(self, q: sp.Indexed, index: tuple[int, ...]) -> sp.Expr:
        name, k = str(q.base), q.indices[0]
        if len(index) != 1 or not k.is_Integer:
            raise _Unreadable(f"vector {q} is read as a matrix entry")
        k, j = int(k), index[0]
        if q.base != Delta and self.size(self.of_adjoint.get(name, name)) == 1:
            j = 0  # a scalar (the loss) broadcast over the units of a vector
        try:
            if q.base == Delta:
                return self.upstream(k, j)
            if name in self.of_adjoint:
                return self.adjoint_of[self.value(self.of_adjoint[name], k, j)]
            if name in self.cell.inputs:
                return self.input_value(name, k, j)
            if name in self.cell.quantities:
                return self.value(name, k, j)
        except _Unreadable as e:
            raise _Unreadable(f"reads {q}, but {e}") from None
        raise _Unreadable(f"{q} is no quantity of cell {self.cell.name!r}")


def _simplex_targets(cell: Cell) -> dict[str, sp.Expr]:
    """The target inputs whose units a loss assumes to sum to a constant (a cross-entropy's
    targets are distributions), with that constant."""
    out = {}
    for eq in cell.equations:
        for loss in eq.rhs.atoms(LossBase):
            for total, value in loss.assumes(loss.args[1]).items():
                (z,) = total.args
                out[str(z.base)] = value
    return out


@cache
def _closed_forms() -> dict[type, sp.Lambda]:
    """Activations and their derivatives as closed forms (ir.explicit), read unit by unit."""
    a = sp.Symbol("a", real=True)
    return {f: sp.Lambda(a, explicit(f(a))) for f in (*ACTIVATIONS, *PRIMES)}


def _matvec(s: _Scalars, node: MatVec, index: tuple[int, ...]) -> sp.Expr:
    """(W v)_j = sum_m W_jm v_m"""
    w, v = node.args
    (j,) = _vector(index, "W v")
    return sp.Add(*(s.entry(str(w), (j, m)) * s.read(v, (m,)) for m in range(s.shape(str(w))[1])))


def _matvec_t(s: _Scalars, node: MatVecT, index: tuple[int, ...]) -> sp.Expr:
    """(W^T g)_j = sum_m W_mj g_m"""
    w, g = node.args
    (j,) = _vector(index, "W^T g")
    return sp.Add(*(s.entry(str(w), (m, j)) * s.read(g, (m,)) for m in range(s.shape(str(w))[0])))


def _outer(s: _Scalars, node: Outer, index: tuple[int, ...]) -> sp.Expr:
    """(g v^T)_jm = g_j v_m"""
    g, v = node.args
    if len(index) != 2:
        raise _Unreadable("an outer product g v^T is read as a vector")
    return s.read(g, index[:1]) * s.read(v, index[1:])


def _softmax(s: _Scalars, node: Softmax, index: tuple[int, ...]) -> sp.Expr:
    """softmax(a)_j = exp(a_j) / sum_m exp(a_m)"""
    (j,) = _vector(index, "softmax(a)")
    units = [sp.exp(u) for u in s.units(node.args[0], "softmax")]
    if j >= len(units):
        raise _Unreadable(f"{node} has {len(units)} units, unit {j} is read")
    return units[j] / sp.Add(*units)


def _unit_sum(s: _Scalars, node: UnitSum, index: tuple[int, ...]) -> sp.Expr:
    """1^T v = sum_m v_m, the same at every entry"""
    return sp.Add(*s.units(node.args[0], "a sum over the units"))


def _loss(s: _Scalars, node: LossBase, index: tuple[int, ...]) -> sp.Expr:
    """The loss's own definition (``value``, never its derivative ``grad``), a scalar."""
    return s.read(type(node).value(*node.args), index)


def _vector(index: tuple[int, ...], what: str) -> tuple[int]:
    if len(index) != 1:
        raise _Unreadable(f"the vector {what} is read as a matrix entry")
    return index


# The operations that mix units, read at one entry as explicit sums over scalar entries (each
# row matches its class and subclasses: every loss). Every other node is elementwise and is
# rebuilt from its arguments read at the same entry.
UNIT_RULES: dict[type, Callable[..., sp.Expr]] = {MatVec: _matvec, MatVecT: _matvec_t,
                                                  Outer: _outer, Softmax: _softmax,
                                                  UnitSum: _unit_sum, LossBase: _loss}


# --- the unrolled scalar graph and its chain rule -----------------------------------------

class _Graph:
    """The scalar computational graph of the unrolled forward pass and of its loss:
    L = sum_t loss^t where the cell computes one, else L = sum u y."""

    def __init__(self, cell: Cell, steps: int, sizes: dict[str, int]) -> None:
        s = self.scalars = _Scalars(cell, steps, sizes)
        self.nodes: dict[sp.Symbol, sp.Expr] = {}  # in evaluation order
        self.partials: dict[sp.Symbol, dict[sp.Symbol, sp.Expr]] = {}
        self.consumers: dict[sp.Symbol, list[tuple[sp.Symbol, sp.Expr]]] = defaultdict(list)
        self.loss: dict[sp.Symbol, sp.Expr] = {}  # y_j^k -> u_j^k = dL/dy_j^k held fixed
        for k, equations in enumerate(unroll_forward(cell, steps), start=1):
            for eq in equations:
                for j in range(s.size(eq.name)):
                    s.context = s.size(eq.name)
                    node, expr = s.read(eq.lhs, (j,)), s.read(eq.rhs, (j,))
                    self.nodes[node] = expr
                    self.partials[node] = {a: sp.diff(expr, a) for a in expr.free_symbols}
                    for arg, d in self.partials[node].items():
                        self.consumers[arg].append((node, d))
            if cell.loss:
                self.loss[s.value(cell.loss, k, 0)] = sp.S.One
            else:
                for j in range(s.size(cell.output)):
                    self.loss[s.value(cell.output, k, j)] = s.upstream(k, j)
        self.leaves = set(self.consumers) - set(self.nodes)
        self.kinks = {d for expr in self.nodes.values() for d in _kinks(expr)}

    def adjoint(self, sym: sp.Symbol, keep: frozenset[str]) -> sp.Expr:
        """dL/dsym by the chain rule, one level down to the adjoints of quantities in keep."""
        def through(node):
            if self.scalars.quantity_of[node] in keep:
                return self.scalars.adjoint_of[node]
            return self.adjoint(node, keep)
        return sp.Add(self.loss.get(sym, sp.S.Zero),
                      *(through(node) * d for node, d in self.consumers[sym]))

    def at_point(self, rng: random.Random) -> "_Point":
        """Values of every symbol at a random point, and the true dL/d of every value by a
        reverse sweep over the whole unrolled graph."""
        for _ in range(KINK_TRIES):
            values = self._forward(rng)
            if all(abs(_number(d, values)) >= KINK_MARGIN for d in self.kinks):
                break
        total: dict[sp.Symbol, sp.Expr] = defaultdict(lambda: sp.S.Zero)
        for y, u in self.loss.items():
            total[y] += values.get(u, u)
        for node in reversed(self.nodes):  # every consumer of node comes later
            for arg, d in self.partials[node].items():
                total[arg] += total[node] * _number(d, values)
        adjoints = {a: total[v] for v, a in self.scalars.adjoint_of.items()}
        return _Point(values | adjoints, dict(total))

    def _forward(self, rng: random.Random) -> dict[sp.Symbol, sp.Expr]:
        """The leaves drawn at random (targets on the simplex), every node computed."""
        def draw():
            return sp.Float(sp.Rational(rng.randint(-10**6, 10**6), 10**6), _WORKING)
        upstream = {u for u in self.loss.values() if isinstance(u, sp.Symbol)}
        inputs = sorted(self.leaves | upstream, key=str)  # same point every run
        values = {sym: draw() for sym in inputs}
        s = self.scalars
        for name, total in s.simplex.items():  # positive, summing to total exactly
            for k in range(1, s.steps + 1):
                weights = [rng.randint(1, 10**6) for _ in range(s.size(name))]
                for m, w in enumerate(weights[:-1]):
                    values[s.value(name, k, m)] = sp.Float(total * sp.Rational(w, sum(weights)),
                                                           _WORKING)
        for node, expr in self.nodes.items():
            values[node] = _number(expr, values)
        return values


def _kinks(expr: sp.Expr) -> set[sp.Expr]:
    """Expressions that are 0 where a piecewise function in expr has its kink."""
    out = set()
    for f in expr.atoms(sp.Max, sp.Min):
        out |= {a - b for a, b in zip(f.args, f.args[1:])}
    for f in expr.atoms(sp.Abs, sp.sign, sp.Heaviside):
        out.add(f.args[0])
    for f in expr.atoms(sp.Piecewise):
        out |= {c.lhs - c.rhs for _, c in f.args if isinstance(c, sp.core.relational.Relational)}
    return {d for d in out if d.free_symbols}


@dataclass(frozen=True)
class _Point:
    values: dict[sp.Symbol, sp.Expr]  #: of every symbol, adjoint symbols included
    total: dict[sp.Symbol, sp.Expr]   #: dL/d(value symbol), parameters' entries included


def _number(expr: sp.Expr, values: dict[sp.Symbol, sp.Expr]) -> sp.Float:
    """expr at the point ``values``, in working precision."""
    try:
        value = expr.xreplace(values).evalf(_WORKING)
    except OverflowError:  # exp(exp(exp(h))) over a few steps: no number at all
        raise _Unreadable("its values overflow at random points (try fewer steps)") from None
    if value.free_symbols:
        raise _Unreadable(f"depends on {', '.join(sorted(map(str, value.free_symbols)))}")
    return value


# --- the report -----------------------------------------------------------------------------

@dataclass(frozen=True)
class Row:
    """One derived quantity at one step, checked on all its entries."""
    quantity: str            #: the derived equation's left side, e.g. "delta_c" or "delta_W_z"
    step: int | None         #: t of the adjoint, 0 for the initial state, None for a gradient
    kind: str                #: "recurrence", "folded adjoint", "initial adjoint", "gradient"
    method: str              #: "exact" or the points used, e.g. "3 points, 50 digits"
    ok: bool
    max_abs: float           #: largest |derived - unrolled| over entries (and points)
    max_rel: float           #: the same relative to |unrolled|
    note: str = ""           #: why there is no difference: the equation is missing or unreadable

    @property
    def where(self) -> str:
        return self.quantity if self.step is None else f"{self.quantity} at t={self.step}"

    @property
    def message(self) -> str:
        if self.note:
            return f"{self.where}: {self.note}"
        return (f"{self.where}: derived {self.kind} differs from the unrolled derivative "
                f"by {self.max_abs:.1e}")


@dataclass(frozen=True)
class UnrolledReport:
    cell: str
    loss: str    #: "L = sum_t u^t . y^t, u symbolic", or "L = sum_t loss^t" for a loss cell
    steps: int
    sizes: dict[str, int]  #: units of each size name, e.g. {"I": 2, "H": 3, "P": 4}
    rows: tuple[Row, ...]

    @property
    def ok(self) -> bool:
        return all(row.ok for row in self.rows)

    @property
    def failures(self) -> tuple[Row, ...]:
        return tuple(row for row in self.rows if not row.ok)

    def format(self) -> str:
        """The table, one row per quantity and step, then a verdict naming every failure."""
        head = ("quantity", "t", "method", "result", "max abs diff", "max rel diff")
        body = [(r.quantity, "" if r.step is None else str(r.step), r.method,
                 "ok" if r.ok else "DIFFERS", f"{r.max_abs:.1e}", f"{r.max_rel:.1e}")
                for r in self.rows]
        widths = [max(len(line[i]) for line in [head, *body]) for i in range(len(head))]
        sizes = ", ".join(f"{name}={n}" for name, n in self.sizes.items())
        lines = [f"{self.cell} unrolled over T={self.steps} steps, {sizes}; {self.loss}"]
        lines += ["  ".join(c.ljust(w) for c, w in zip(line, widths)).rstrip()
                  for line in [head, *body]]
        if self.ok:
            lines.append(f"all {len(self.rows)} rows agree with the unrolled derivative")
        else:
            lines.append(f"{len(self.failures)} of {len(self.rows)} rows disagree:")
            lines += [f"  {row.message}" for row in self.failures]
        lines.append(f"exact: derived - unrolled expands to 0; n points, {DIGITS} digits: they "
                     f"agree to a relative {float(TOLERANCE):.0e} at n random points")
        return "\n".join(lines)


# --- the check --------------------------------------------------------------------------------

def _limit(name: str, value: int, low: int, high: int | None) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise VerifyError(f"{name} must be an integer >= {low}, got {value!r}")
    if high is not None and value > high:
        raise VerifyError(f"{name}={value} is above the limit of {high} for bptt verify")


def check_sizes(steps: int = 3, hidden: int | None = None, inputs: int | None = None) -> None:
    """VerifyError unless every size given is an integer from 1 to its limit (MAX_STEPS, ...)."""
    _limit("steps", steps, 1, MAX_STEPS)
    for name, value, high in (("hidden", hidden, MAX_HIDDEN), ("inputs", inputs, MAX_INPUTS)):
        if value is not None:
            _limit(name, value, 1, high)


def unit_counts(cell: Cell, hidden: int | None = None, inputs: int | None = None,
                sizes: dict[str, int] | None = None) -> dict[str, int]:
    """The number of units of each size name the cell uses (I and H first): H = ``hidden``,
    I = ``inputs``, any other name as in ``sizes``; a name not given takes its default (I = 2,
    H = 3) if no other size has it, else the smallest number from 2 up that none has."""
    given = {**(sizes or {})}
    given |= {name: n for name, n in (("H", hidden), ("I", inputs)) if n is not None}
    for name, n in given.items():
        high = {"H": MAX_HIDDEN, "I": MAX_INPUTS}.get(name, MAX_UNITS)
        _limit({"H": "hidden", "I": "inputs"}.get(name, f"size {name}"), n, 1, high)
    names = [n for n in DEFAULT_UNITS if n in cell.size_names]
    names += [n for n in cell.size_names if n not in DEFAULT_UNITS]
    counts = {name: given[name] for name in names if name in given}
    for name in names:
        if name not in counts:
            taken = set(counts.values())
            default = DEFAULT_UNITS.get(name)
            counts[name] = default if default is not None and default not in taken else next(
                n for n in itertools.count(2) if n not in taken)
    return {name: counts[name] for name in names}


def check_unrolled(cell: Cell | str, steps: int = 3, hidden: int | None = None,
                   inputs: int | None = None, backward: Backward | None = None,
                   points: int = MIN_POINTS, seed: int = 0,
                   sizes: dict[str, int] | None = None) -> UnrolledReport:
    """Check every equation of ``backward`` (default: ``derive(cell)``) against the
    derivatives of the loss unrolled over ``steps`` steps, with the units of
    :func:`unit_counts` (H = ``hidden``, I = ``inputs``, other size names from ``sizes``)."""
    cell = get_cell(cell) if isinstance(cell, str) else cell
    _limit("steps", steps, 1, MAX_STEPS)
    counts = unit_counts(cell, hidden, inputs, sizes)
    _limit("points", points, MIN_POINTS, None)
    backward = derive(cell) if backward is None else backward
    if backward.cell != cell:
        raise VerifyError(f"the backward pass is of cell {backward.cell.name!r}, "
                          f"not of {cell.name!r}")
    try:
        graph = _Graph(cell, steps, counts)
    except _Unreadable as e:
        raise VerifyError(f"cell {cell.name!r} cannot be unrolled: {e}") from None
    checker = _Checker(graph, backward, points, seed)
    rows = [checker.row(eq, k, kind) for eqs, k in _per_step(backward, steps)
            for eq, kind in eqs]
    rows += [checker.row(eq, None, "gradient") for eq in unroll_gradients(backward, steps)]
    rows += _missing(backward, steps, {(row.quantity, row.step) for row in rows})
    loss = (f"L = sum_t {cell.loss}^t" if cell.loss
            else f"L = sum_t u^t . {cell.output}^t, u symbolic")
    return UnrolledReport(cell.name, loss, steps, counts, tuple(rows))


def _per_step(backward: Backward, steps: int
              ) -> Iterator[tuple[list[tuple[Equation, str]], int]]:
    """(equations with their kind, step) for k = T..1, then the initial states at 0."""
    kept = {eq.name for eq in backward.adjoints}
    groups = unroll_backward(backward, steps, intermediate=True)
    for k, eqs in zip(range(steps, 0, -1), groups):
        yield [(eq, "recurrence" if eq.name in kept else "folded adjoint") for eq in eqs], k
    yield [(eq, "initial adjoint") for eq in groups[-1]], 0


def _missing(backward: Backward, steps: int, present: set[tuple[str, int | None]]) -> list[Row]:
    """Rows for what every backward pass must give: dL/dx^t, dL/ds^0 and every gradient."""
    cell = backward.cell
    wanted = [(str(adjoint(x)), k, "recurrence") for k in range(steps, 0, -1)
              for x in cell.inputs if x not in cell.targets]  # no gradient flows into a target
    wanted += [(str(adjoint(s)), 0, "initial adjoint") for s in cell.state]
    wanted += [(str(gradient(p)), None, "gradient") for p in cell.params]
    return [Row(name, k, kind, "-", False, math.nan, math.nan,
                f"no derived {kind} for it in the backward pass")
            for name, k, kind in wanted if (name, k) not in present]


class _Checker:
    """Checks derived equations against one unrolled graph, drawing its points on demand."""

    def __init__(self, graph: _Graph, backward: Backward, points: int, seed: int) -> None:
        self.graph, self.scalars = graph, graph.scalars
        self.keep = frozenset(self.scalars.of_adjoint[eq.name] for eq in backward.adjoints
                              if eq.name in self.scalars.of_adjoint)
        self.of_gradient = {str(gradient(p)): p for p in graph.scalars.cell.params}
        self.count, self.seed = points, seed
        self.probe = random.Random(seed + 1)  # the symbols' values for the exactness probe
        self._points: list[_Point] | None = None
        self.method = f"{points} points, {DIGITS} digits"

    def points(self) -> list[_Point]:
        """The random points, drawn once and only when an exact check is inconclusive."""
        if self._points is None:
            rng = random.Random(self.seed)
            self._points = [self.graph.at_point(rng) for _ in range(self.count)]
        return self._points

    def targets(self, eq: Equation) -> list[tuple[tuple[int, ...], sp.Symbol]]:
        """The entries of the quantity eq defines, each with the symbol of its value."""
        s = self.scalars
        if isinstance(eq.lhs, sp.Indexed) and eq.name in s.of_adjoint:
            q, k = s.of_adjoint[eq.name], int(eq.lhs.indices[0])
            return [((j,), s.value(q, k, j)) for j in range(s.size(q))]
        if isinstance(eq.lhs, sp.Symbol) and eq.name in self.of_gradient:
            param = self.of_gradient[eq.name]
            return [(ix, s.entry(param, ix)) for ix in _entries(s.shape(param))]
        raise VerifyError(f"backward equation {eq.lhs} defines neither an adjoint nor a "
                          "gradient")

    def row(self, eq: Equation, k: int | None, kind: str) -> Row:
        try:
            targets = self.targets(eq)
            self.scalars.context = self.scalars.size_of(eq.lhs) if isinstance(
                eq.lhs, sp.Indexed) else self.scalars.shape(self.of_gradient[eq.name])[0]
            derived = [self.scalars.read(eq.rhs, ix) for ix, _ in targets]
            if all(self._exact(d, sym) for d, (_, sym) in zip(derived, targets)):
                return Row(eq.name, k, kind, EXACT, True, 0.0, 0.0)
            checks = [self._at_points(d, sym) for d, (_, sym) in zip(derived, targets)]
        except _Unreadable as e:
            return Row(eq.name, k, kind, "-", False, math.nan, math.nan,
                       f"derived {kind} cannot be evaluated: {e}")
        return Row(eq.name, k, kind, self.method, all(ok for ok, _, _ in checks),
                   max(a for _, a, _ in checks), max(r for _, _, r in checks))

    def _exact(self, derived: sp.Expr, target: sp.Symbol) -> bool:
        graph, s = self.graph, self.scalars
        # an adjoint the graph does not keep as a symbol (one the derivation folded, or one a
        # wrong equation reads) stands for its chain-rule expression
        folded = {a: graph.adjoint(s.value_of[a], self.keep) for a in derived.free_symbols
                  if a in s.value_of and s.quantity_of[s.value_of[a]] not in self.keep}
        difference = derived.xreplace(folded) - graph.adjoint(target, self.keep)
        # expanding is costly where it cannot give 0 (softmax, fractions): a difference that is
        # not 0 at a random point of its free symbols is not identically 0, so not exact
        return _near_zero_somewhere(difference, self.probe) and _expands_to_zero(difference)

    def _at_points(self, derived: sp.Expr, target: sp.Symbol) -> tuple[bool, float, float]:
        """Whether derived equals the true dL/dtarget at every point, and the largest absolute
        and relative differences."""
        ok, worst_abs, worst_rel = True, 0.0, 0.0
        for point in self.points():
            truth = point.total.get(target, sp.S.Zero)
            gap = abs(_number(derived, point.values) - truth)
            ok &= bool(gap <= TOLERANCE * max(abs(truth), 1))
            worst_abs = max(worst_abs, float(gap))
            worst_rel = max(worst_rel, float(gap / abs(truth)) if truth else
                            (math.inf if gap else 0.0))
        return ok, worst_abs, worst_rel


def _expands_to_zero(expr: sp.Expr) -> bool:
    """Products and powers multiplied out; exp(a + b) and log(a b) left as they are (both sides
    use the same closed forms, and splitting them costs more than it finds)."""
    return sp.expand(expr, power_exp=False, power_base=False, log=False) == 0


def _near_zero_somewhere(expr: sp.Expr, rng: random.Random) -> bool:
    """Whether expr is 0 (to 30 of 60 digits) with its free symbols at random values: False
    proves it is not identically 0; True (or no number at all) leaves it to expand."""
    values = {s: sp.Float(sp.Rational(rng.randint(1, 10**6), 10**6), _WORKING)
              for s in sorted(expr.free_symbols, key=str)}
    try:
        value = expr.xreplace(values).evalf(_WORKING)
    except OverflowError:
        return True
    return not value.is_number or not value.is_finite or bool(abs(value) < sp.Float("1e-30"))


def _entries(shape: tuple[int, ...]) -> list[tuple[int, ...]]:
    if not shape:
        return [()]
    return [(i, *rest) for i in range(shape[0]) for rest in _entries(shape[1:])]
