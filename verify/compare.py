r"""Compare formulas from papers with the derivation: does each hold for the cell, and if not, how
does it differ.

A formula is read through a notation profile (:mod:`verify.notations`) into the IR; its left side
names a forward quantity ``q[t]``, an adjoint ``delta_q[t]`` (or ``delta_s[0]``) or a gradient
``delta_P``. The *reference* is the cell with its derived backward pass (:func:`derive`).

Verdicts: proven, or not given. ``holds`` only with a proof: both sides normalised (adjoints
at t replaced by their derived equations, forward quantities by their definitions, ``f'``
written through ``f``, tanh through sigma, matrix products and sums over t expanded linearly,
each term of a sum shifted so that its adjoint is at t, with its limits) expand to the same
expression. ``differs`` only with a proof too: in a random forward and backward pass of the
reference (size 3, 3 random points of exact binary fractions), computed in interval arithmetic
(50 digits, more when the formula's constants ask for it: ``10^{-60} h^t`` needs about 130), the
enclosures of the two sides do not overlap somewhere. The run covers every step the formula
mentions (it is lengthened for ``t+3`` or ``t-2``, up to ``t\pm 8``); a value the cell never
relates (``i`` at step 0) is an independent random draw, so a formula that reads one differs,
and the term is named; after the last step the forward pass goes on. A loss's targets are drawn
as the derivation assumes (a cross-entropy's sum to 1); softmax, the sums over units and the
losses are evaluated by their definitions, and a formula with no real value where the cell has
one (the log of a negative number) differs. Adjoints beyond T are 0, the boundary
that is really there: a sum to T+1 of a term with an adjoint at t still holds; so are the
adjoints at step 0 of quantities that have no step 0 (all but the state), so Greff's sums from
t = 0 hold, the note saying that the term at t = 0 is 0. Sum limits are
read (``\sum_{t=2}^{T}`` misses the term at t = 1); ``\sum_t`` alone runs over every step
where its term exists (Greff's ``\sum_t \langle\delta\bar z^{t+1}, y^t\rangle``). Equal at the
points but without a proof is ``unproven``: not called holds.

Conventions. A formula that does not hold but holds for a :class:`Convention` variant of the
reference (Cho's reset before the recurrent product, PyTorch's after it, Chung's update
convention, the truncated
LSTM gradient) gets the verdict ``convention``, with the convention named; the variants are
generated from the cell by generic rewrites, not written per cell.
A convention the user *states* is part of the notation, not another cell: a map to an
expression (``--map 'b_h=b_ih+b_hh'``, ``W_xh=W_ih^T``) or the constant unit (``W x`` includes
the biases beside it) reparametrises the same cell, so a formula that holds through it is
``holds``, with the stated convention it used named in the note; a wrong one still differs.

Explanations. Both sides are split into expanded terms (or into their terms as written, when
fewer are left unmatched: ``(1 - z)`` stays one factor); terms equal in value cancel. Each
remaining formula term is paired with a remaining derivation term it becomes after one edit: an
index at another time step, a transposed weight, a symbol of another gate, a factor missing or
extra, one factor for another (a derivative ``f'(a)`` shown through the output too, ``1 - z^2``),
the sign. What is left is an extra or a missing term. Terms print in the source's own text
where the formula has them, else in the notation's printer (Graves' for ``graves``, vector
notation otherwise). When only parts of the derivation's vocabulary appear in the formula
(Graves' ``\delta_h`` folds ``\epsilon_h`` in), the adjoints at t found on one side only are
first replaced by their equations.

``bptt compare`` (:func:`run_compare`) prints one row per formula (verdict, equation, note; the
residual under a row that differs) or ``--json``; exit code 0 when every formula holds, 1 when
one differs (by error or by a named convention, which the verdict tells apart) or is unproven,
2 (a :class:`CompareError`) when a formula cannot be read, is beyond the reader's bounds
(:data:`verify.formula.LIMITS`, time offsets, powers, 2000 formulas a run), or the arguments
are wrong. A run longer than 2 s reports its progress on stderr.

>>> [v.kind for v in compare("lstm", [r"c_t = i_t \odot g_t + f_t \odot c_{t-1}",
...                                   r"c_t = f_t \odot c_{t} + i_t \odot g_t"], "pytorch")]
['holds', 'differs']
"""
from __future__ import annotations

import dataclasses

import argparse
import json
import random
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cached_property
from typing import Callable, Iterator

import mpmath
import numpy as np
from mpmath import iv
import sympy as sp

from derive.cells import get_cell, load_cell, parse_maps
from derive.paper import is_paper
from derive.derivation import Backward, adjoint, derive, loss_assumptions
from derive.ir import (ACTIVATIONS, PRIMES, Cell, CellError, Delta, Equation, LossBase, MatVec,
                       MatVecT, Outer, Softmax, UnitSum, Weight, shift, sigmoid, t, T, tanh,
                       time_offset)
from derive.printers import VECTOR, NOTATIONS, TextbookLatexPrinter, plain

from . import catalog
from .formula import FormulaSyntaxError
from .notations import (A_ABOVE, ALL_STEPS, MAX_OFFSET, read_text_file, W_ABOVE, NotationError, Profile, Reading,
                        get_profile, implicit_biases, read_formula, NotConformable,
                        stated_conventions, with_constant_unit)

__all__ = ["CONVENTIONS", "CompareError", "Convention", "Reference", "Verdict", "compare",
           "run_compare"]

SIZE = 3      #: units of every vector (inputs and the layer above too, so transposes show)
STEPS = 5     #: steps of the random runs, at least (more when a formula mentions t+3 or later)
STEP = 2      #: the step t at which per-step formulas are evaluated, at least
POINTS = 3    #: random points: a disagreement must not hide at a lucky one
DIGITS = 50   #: precision of the interval evaluations
MAX_DIGITS = 800  #: the most a formula's constants may ask for (10^-60 needs about 200)
_BITS = 160   #: random values are multiples of 2^-160, exact at DIGITS and above
_MAX_PAIRS = 200  #: an explanation tries single edits for at most this many term pairs
_EXPLAIN_SECONDS = 2.0  #: and for at most this much processor time
_RUN_STEPS = (STEPS, 9, 13, 2 * MAX_OFFSET + 4)  #: the lengths of runs


class CompareError(CellError):
    """A comparison that cannot be made: unparsable formula, unknown symbol, bad arguments."""


@dataclass(frozen=True)
class Verdict:
    """The outcome for one formula: ``kind`` is ``holds`` (proven), ``differs`` (proven),
    ``convention`` (proven to hold for a named other convention) or ``unproven`` (equal at
    the random points, no proof found)."""
    formula: str
    holds: bool
    kind: str
    explanation: str
    residual: sp.Expr = sp.S.Zero  #: formula minus derivation over the terms that differ

    def to_json(self) -> dict:
        return {"formula": self.formula, "holds": self.holds, "kind": self.kind,
                "explanation": self.explanation, "residual": plain(self.residual)}


# ---------------------------------------------------------------------------------- reference
_ADJOINT_ABOVE = adjoint(str(A_ABOVE))  # the gradient Delta comes from: W_above^T of it


@dataclass(frozen=True)
class Reference:
    """What formulas are compared with: a cell and its backward pass (derived, or a variant)."""
    cell: Cell
    backward: Backward

    @classmethod
    def of(cls, cell: Cell) -> Reference:
        return cls(cell, derive(cell))

    @cached_property
    def adjoint_equations(self) -> dict[str, sp.Expr]:
        return {eq.name: eq.rhs for eq in self.backward.adjoints + self.backward.intermediate}

    @cached_property
    def normal_forms(self) -> dict[tuple[sp.Expr, bool], sp.Expr]:
        return {}  # filled by _normal

    @cached_property
    def intermediate(self) -> set[str]:
        return {eq.name for eq in self.backward.intermediate}

    def rhs(self, lhs: sp.Expr) -> sp.Expr | None:
        """The derivation's right side for a formula's left side (None: not computed here)."""
        if isinstance(lhs, sp.Symbol):
            return next((eq.rhs for eq in self.backward.gradients if eq.lhs == lhs), None)
        name, index = str(lhs.base), lhs.indices[0]
        if lhs.base == A_ABOVE:
            return MatVec(W_ABOVE, sp.IndexedBase(self.cell.output)[index])
        if name.startswith("delta_"):
            if index == 0:
                return next((eq.rhs for eq in self.backward.initial if eq.lhs == lhs), None)
            rhs = self.adjoint_equations.get(name)
        else:
            rhs = next((eq.rhs for eq in self.cell.equations if eq.name == name), None)
        if rhs is None:
            return None
        return shift(rhs, index - t) if index.has(t) else rhs.subs(t, index)

    def definition(self, q: sp.Indexed, forward: bool) -> sp.Expr | None:
        """What q stands for at its step, for the exact check: Delta and a_above through the
        layer above; adjoints at t (and folded ones at t+1) by their equations; forward
        quantities at t or later by theirs (when ``forward``)."""
        name, index = str(q.base), q.indices[0]
        if _is_adjoint(q.base) and (index - T).is_positive:
            return sp.S.Zero  # the boundary: nothing comes back from beyond T
        if q.base == Delta:
            return MatVecT(W_ABOVE, _ADJOINT_ABOVE[index])
        if q.base == A_ABOVE:
            return MatVec(W_ABOVE, sp.IndexedBase(self.cell.output)[index])
        if forward and index.is_Integer and index >= 1 and name in self.cell.quantities:
            return self.cell.equation(name).rhs.subs(t, index)  # at a given step: s_c^1
        k = index - t
        if not k.is_Integer:
            return None
        if name in self.adjoint_equations and (k == 0 or (k == 1 and name in self.intermediate)):
            return shift(self.adjoint_equations[name], int(k))
        if forward and k >= 0 and name in self.cell.quantities:
            return shift(self.cell.equation(name).rhs, int(k))
        return None


# ---------------------------------------------------------------------------------- conventions
def _variant_cell(cell: Cell, equations: list[Equation], label: str) -> Cell:
    """The cell with new equations, those nothing reads any more dropped."""
    while True:
        read = {str(q.base) for eq in equations for q in eq.reads()}
        unused = [eq for eq in equations if eq.name not in read and eq.name != cell.output]
        if not unused:
            break
        equations = [eq for eq in equations if eq not in unused]
    return dataclasses.replace(cell, name=f"{cell.name} ({label})", equations=tuple(equations))


def reset_before_product(ref: Reference) -> Reference | None:
    """A gate multiplying a matrix product acts on the product's vector instead:
    ``r (W h + b)`` becomes ``W (r h) + b`` (Cho et al. 2014 v3)."""
    cell = ref.cell
    linear = {eq.name: eq.rhs for eq in cell.equations if eq.rhs.has(MatVec) and all(
        isinstance(a, MatVec) or str(a) in cell.params for a in sp.Add.make_args(eq.rhs))}

    def is_product(f):
        return isinstance(f, sp.Indexed) and f.indices == (t,) and str(f.base) in linear

    def before(m):
        q = next(f for f in m.args if is_product(f))
        gate = m / q
        return sp.Add(*(MatVec(a.args[0], gate * a.args[1]) if isinstance(a, MatVec) else a
                        for a in sp.Add.make_args(linear[str(q.base)])))

    equations = [Equation(eq.lhs, eq.rhs.replace(
        lambda e: isinstance(e, sp.Mul) and any(is_product(f) for f in e.args), before))
        for eq in cell.equations]
    if [eq.rhs for eq in equations] == [eq.rhs for eq in cell.equations]:
        return None
    try:
        return Reference.of(_variant_cell(cell, equations, "reset before the product"))
    except CellError:  # not conformable: r (W x) with x of another size than r has no W (r x)
        return None


def reset_after_product(ref: Reference) -> Reference | None:
    """The reverse of :func:`reset_before_product`: a gate multiplying the state inside a
    matrix product acts on the product instead: ``W (r h)`` becomes ``r (W h)`` (PyTorch)."""
    cell = ref.cell

    def gates(v):  # quantities of step t in the product's vector, beside the state at t-1
        factors = sp.Mul.make_args(v)
        return [f for f in factors if isinstance(f, sp.Indexed) and f.indices == (t,)
                and str(f.base) in cell.quantities] if any(
            isinstance(f, sp.Indexed) and f.indices == (t - 1,) for f in factors) else []

    def after(m):
        gate = sp.Mul(*gates(m.args[1]))
        return gate * MatVec(m.args[0], m.args[1] / gate)
    equations = [Equation(eq.lhs, eq.rhs.replace(
        lambda e: isinstance(e, MatVec) and bool(gates(e.args[1])), after))
        for eq in cell.equations]
    if [eq.rhs for eq in equations] == [eq.rhs for eq in cell.equations]:
        return None
    try:
        return Reference.of(_variant_cell(cell, equations, "reset after the product"))
    except CellError:
        return None


def swapped_update(ref: Reference) -> Reference | None:
    """In an update ``(1 - z) a + z b`` the gate's two roles are swapped: ``z a + (1 - z) b``
    (Chung et al. 2014 against PyTorch and Cho). Only a reparametrisation (the gate's weights
    negated, 1 - sigma(a) = sigma(-a)) when the gate appears nowhere else in the cell: MGU's
    forget gate also scales the candidate's state, so swapping it there is another cell."""
    cell = ref.cell

    def elsewhere(q, eq):
        return any(e is not eq and e.rhs.has(q.base) for e in cell.equations)
    equations, changed = [], False
    for eq in cell.equations:
        gates = [q for q in eq.rhs.atoms(sp.Indexed) if q.indices == (t,) and eq.rhs.has(1 - q)
                 and not elsewhere(q, eq)]
        rhs = eq.rhs.subs({g: 1 - g for g in gates}, simultaneous=True) if gates else eq.rhs
        equations.append(Equation(eq.lhs, rhs))
        changed |= bool(gates)
    return Reference.of(_variant_cell(cell, equations, "swapped update")) if changed else None


def truncated(ref: Reference) -> Reference | None:
    """The truncated gradient: no error through recurrent weights or peepholes, only along the
    state's own path (Hochreiter & Schmidhuber 1997, Gers et al. 2000, 2002). Only for cells
    that keep such a path (an LSTM's cell state): without one nothing flows back in time."""
    cell, backward = ref.cell, ref.backward
    recurrent = {m.args[0] for eq in cell.equations for m in eq.rhs.atoms(MatVec)
                 if any(time_offset(q) == -1 for q in m.args[1].atoms(sp.Indexed))}
    # vector parameters in an adjoint equation are peepholes (biases leave none behind)
    peepholes = {p.symbol for p in cell.params.values() if not isinstance(p.symbol, Weight)}
    cut = recurrent | peepholes

    def keep(eqs):
        return tuple(Equation(eq.lhs, sp.Add(*(term for term in sp.Add.make_args(sp.expand(eq.rhs))
                                               if not term.free_symbols & cut))) for eq in eqs)
    adjoints = keep(backward.adjoints)
    carried = any(q.indices[0] == t + 1 for eq in adjoints for q in eq.rhs.atoms(sp.Indexed))
    if not carried or adjoints == tuple(Equation(e.lhs, sp.expand(e.rhs))
                                        for e in backward.adjoints):
        return None
    return Reference(cell, Backward(cell, adjoints, keep(backward.intermediate),
                                    keep(backward.initial), backward.gradients))


@dataclass(frozen=True)
class Convention:
    """A known difference of convention: a generic rewrite of the reference, and its name."""
    name: str
    note: str
    variant: Callable[[Reference], Reference | None]


CONVENTIONS: tuple[Convention, ...] = (
    Convention("Cho reset placement", "convention: reset gate applied before the recurrent matrix "
               "product (Cho et al. 2014 v3, Keras reset_after=False, ONNX "
               "linear_before_reset=0); this cell applies it after (PyTorch, cuDNN)",
               reset_before_product),
    Convention("PyTorch reset placement", "convention: reset gate applied after the recurrent "
               "matrix product (PyTorch, cuDNN, Keras reset_after=True); this cell applies it "
               "before (Cho et al. 2014 v3)", reset_after_product),
    Convention("Chung update", "convention: the other update, h = (1-z) h^{t-1} + z h~ (Chung et "
               "al. 2014); this cell has h = (1-z) h~ + z h^{t-1} (PyTorch, Cho et al. 2014)",
               swapped_update),
    Convention("truncated gradient", "convention: truncated gradient, no error through peepholes "
               "or recurrent connections (Hochreiter & Schmidhuber 1997, Gers et al. 2000/2002); "
               "the derivation is the full gradient", truncated),
)


# ---------------------------------------------------------------------------------- evaluation
def _interval_tanh(a):
    return 1 - 2 / (iv.exp(2 * a) + 1)  # a occurs once: the enclosure stays tight


def _elementwise(expr: Callable[[sp.Expr], sp.Expr]) -> np.ufunc:
    a = sp.Dummy("a")
    return np.frompyfunc(sp.lambdify(a, expr(a), [{"exp": iv.exp, "tanh": _interval_tanh}]), 1, 1)


# Elementwise functions in interval arithmetic, from the closed forms of ir.ACTIVATIONS.
_ELEMENTWISE = {f: _elementwise(rule.explicit) for f, rule in ACTIVATIONS.items()} | {
    rule.prime: _elementwise(rule.explicit_prime)
    for rule in ACTIVATIONS.values()} | {sp.exp: np.frompyfunc(iv.exp, 1, 1),
                                         sp.log: np.frompyfunc(lambda a: _interval_log(a), 1, 1)}


class _Undefined(ValueError):
    """The expression has no real value at the point (the log of a negative number), where
    the cell's quantities, and so the derivation, have one: a proven difference."""


def _interval_log(a):
    if a.b < 0:
        raise _Undefined(f"log of a negative number {a}")
    return iv.log(a)  # an interval around 0: mpmath refuses it, and nothing is proven


def _unit_sum(v):
    """1^T v; a scalar v stands for the vector of SIZE equal units."""
    return sum(np.broadcast_to(np.asarray(v, dtype=object), (SIZE,)))


def _softmax(a):
    e = _ELEMENTWISE[sp.exp](np.asarray(a, dtype=object))
    return e / _unit_sum(e)


_VECTOR_OPS = {MatVec: lambda W, v: W.dot(v), MatVecT: lambda W, v: W.T.dot(v),
               Outer: np.multiply.outer, UnitSum: _unit_sum, Softmax: _softmax}


def _adjoint_offset(term: sp.Expr) -> int:
    """The time offset of the adjoint a term carries (0 if none)."""
    offsets = sorted(int(q.indices[0] - t) for q in term.atoms(sp.Indexed)
                     if _is_adjoint(q.base) and (q.indices[0] - t).is_Integer)
    return offsets[0] if offsets else 0


def _is_adjoint(base: sp.IndexedBase) -> bool:
    return base == Delta or str(base).startswith("delta_")


@contextmanager
def _precision(digits: int) -> Iterator[None]:
    """mpmath's interval context at ``digits`` (it is global state: set and restore)."""
    before = iv.dps
    iv.dps = digits
    try:
        yield
    finally:
        iv.dps = before


@dataclass(frozen=True)
class _Window:
    """Per-step formulas are evaluated at ``step`` of a run of ``steps`` steps; every step a
    formula mentions lies inside it, adjoints included. Runs come in a few lengths
    (``_RUN_STEPS``), so that formulas share them."""
    step: int = STEP
    steps: int = STEPS

    @classmethod
    def of(cls, *exprs: sp.Expr) -> _Window:
        offsets = [int(q.indices[0] - t) for e in exprs for q in e.atoms(sp.Indexed)
                   if (q.indices[0] - t).is_Integer]
        low, high = min([-1, *offsets]), max([1, *offsets])
        if max(-low, high) > MAX_OFFSET:
            raise CompareError(f"time offset t{low if -low > high else high:+d} is beyond the "
                               f"limit of t-{MAX_OFFSET} .. t+{MAX_OFFSET}")
        step = max(STEP, 1 - low)            # t+low is a real step (1 or later)
        need = step + high + 2               # t+high has its adjoint, and one step more
        return cls(step, next(n for n in _RUN_STEPS if n >= need))


class _Run:
    """One random forward and backward pass of a reference in interval arithmetic: every
    quantity and adjoint at steps 1..steps encloses its true value at a random point of exact
    binary fractions (the state also at 0; adjoints and Delta are 0 beyond the last step).
    A value the cell never relates (``i`` at step 0) is an independent random draw: a formula
    that reads it cannot agree with the derivation, which does not. The adjoint of a quantity
    computed from step 1 on (all but the state) is 0 at steps 0, -1, ...: nothing is computed
    there. After the last step the forward pass goes on (from new inputs), as if the sequence
    were longer; adjoints there are 0."""

    def __init__(self, ref: Reference, seed: int, steps: int = STEPS,
                 digits: int = DIGITS) -> None:
        with _precision(digits):
            self._fill(ref, seed, steps)

    def _fill(self, ref: Reference, seed: int, steps: int) -> None:
        rng = random.Random(seed)
        self.seed, self.steps = seed, steps
        cell, self.values = ref.cell, {}
        self.unborn = _unborn(frozenset(cell.state))
        self.forward = {eq.name: eq.rhs for eq in cell.equations}
        self.forward["a_above"] = MatVec(W_ABOVE, sp.IndexedBase(cell.output)[t])
        self.symbols = {name: self.draw(rng, SIZE, SIZE) if len(p.shape) == 2
                        else self.draw(rng, SIZE) for name, p in sorted(cell.params.items())}
        self.symbols["W_above"] = self.draw(rng, SIZE, SIZE)
        # targets whose units a loss assumes to sum to a constant (a cross-entropy's sum to 1)
        self.sums = {str(a.args[0].base): b for a, b in loss_assumptions(cell).items()
                     if isinstance(a, UnitSum)}
        for s in sorted(cell.state):
            self.values[(s, 0)] = self.draw(rng, SIZE)
        for step in range(1, steps + 1):
            for x in cell.inputs:
                self.values[(x, step)] = self.draw_input(rng, x)
            above = self.values[("delta_a_above", step)] = self.draw(rng, SIZE)
            self.values[("Delta", step)] = self.symbols["W_above"].T.dot(above)
        for step in range(1, steps + 1):
            for eq in cell.equations:
                self.values[(eq.name, step)] = self.value(eq.rhs, step)
            self.values[("a_above", step)] = self.symbols["W_above"].dot(
                self.values[(cell.output, step)])
        for step in range(steps, 0, -1):
            for eq in ref.backward.adjoints + ref.backward.intermediate:
                self.values[(eq.name, step)] = self.value(eq.rhs, step)
        for eq in ref.backward.initial:
            self.values[(eq.name, 0)] = self.value(eq.rhs, 0)
        for eq in ref.backward.gradients:
            self.symbols[eq.name] = self.value(eq.rhs, 1)  # a sum over t: any step

    @staticmethod
    def draw(rng: random.Random, *shape: int) -> np.ndarray:
        """Uniform in (-1, 1), multiples of 2^-_BITS: exact at every precision used."""
        n = int(np.prod(shape))
        return np.array([iv.mpf(mpmath.ldexp(rng.randint(-2**_BITS, 2**_BITS), -_BITS))
                         for _ in range(n)], dtype=object).reshape(shape)

    def draw_input(self, rng: random.Random, name: str) -> np.ndarray:
        """An input; a target as its loss assumes (a cross-entropy's a distribution): units
        in (0, 1/4), the last the rest of the sum, exact as the draws are."""
        if name not in self.sums:
            return self.draw(rng, SIZE)
        v = [iv.mpf(mpmath.ldexp(rng.randint(1, 2**_BITS), -_BITS - 2)) for _ in range(SIZE - 1)]
        return np.array([*v, self.value(self.sums[name], 0) - sum(v)], dtype=object)

    def at(self, q: sp.Indexed, step: int):
        n = q.indices[0].xreplace({t: sp.Integer(step), T: sp.Integer(self.steps)})
        if not n.is_Integer:
            raise CompareError(f"cannot evaluate {q} at step {step}")
        key = (str(q.base), int(n))
        if key not in self.values:
            if _is_adjoint(q.base) and key[1] > self.steps or self.unborn(q.base) and key[1] < 1:
                return np.zeros(SIZE, dtype=object) + iv.mpf(0)  # the boundaries
            if key[0] in self.forward and key[1] > self.steps:  # the sequence goes on
                self.values[key] = self.value(self.forward[key[0]], key[1])
            else:  # an input, or a step the cell never relates: an independent draw
                self.values[key] = self.draw_input(random.Random(f"{self.seed}/{key}"), key[0])
        return self.values[key]

    def value(self, expr: sp.Expr, step: int):
        if expr.is_Number:
            if not expr.is_Rational:
                return iv.mpf(str(expr))
            return iv.mpf(expr.p) / expr.q if expr.q != 1 else iv.mpf(expr.p)
        if isinstance(expr, sp.Indexed):
            return self.at(expr, step)
        if isinstance(expr, sp.Symbol):
            if str(expr) not in self.symbols:
                raise CompareError(f"{expr} has no value in cell runs")
            return self.symbols[str(expr)]
        if isinstance(expr, sp.Sum) and expr.limits == (ALL_STEPS,):  # each term's own steps
            total = 0
            for term in sp.Add.make_args(sp.expand(expr.function)):
                k = _adjoint_offset(term)
                for s in range(1 - k, self.steps + 1 - k):
                    total = total + self.value(term, s)
            return total
        if isinstance(expr, sp.Sum):  # the steps its limits say
            (_, low, high), = expr.limits
            bounds = [b.xreplace({T: sp.Integer(self.steps), t: sp.Integer(step)})
                      for b in (low, high)]
            if not all(b.is_Integer for b in bounds):
                raise CompareError(f"cannot evaluate the limits of {expr}")
            total = 0
            for s in range(int(bounds[0]), int(bounds[1]) + 1):
                total = total + self.value(expr.function, s)
            return total
        if isinstance(expr, LossBase):  # by its definition, a sum over units
            return self.value(expr.value(*expr.args), step)
        args = [self.value(a, step) for a in expr.args]
        if isinstance(expr, (sp.Add, sp.Mul)):  # arrays first: iv.mpf * array is not defined
            args.sort(key=lambda a: not isinstance(a, np.ndarray))
        if isinstance(expr, sp.Add):
            return sum(args[1:], args[0])
        if isinstance(expr, sp.Mul):
            out = args[0]
            for a in args[1:]:
                out = out * a
            return out
        if isinstance(expr, sp.Pow):
            if not expr.exp.is_Integer:
                raise CompareError(f"cannot evaluate the power {expr}")
            return args[0] ** int(expr.exp)
        op = _VECTOR_OPS.get(type(expr)) or _ELEMENTWISE.get(type(expr))
        if op is None:
            raise CompareError(f"cannot evaluate {type(expr).__name__} in {expr}")
        return op(*args)


def _excludes_zero(value) -> bool:
    """Some entry of an interval value is proven nonzero."""
    return any(0 not in v for v in np.asarray(value, dtype=object).flat)


# ---------------------------------------------------------------------------------- exact check
def _split(v: sp.Expr) -> list[tuple[sp.Expr, sp.Expr]]:
    return [term.as_coeff_Mul() for term in sp.Add.make_args(sp.expand(v))]


def _linear(expr: sp.Expr) -> sp.Expr:
    """Expanded, with matrix products, outer products and sums over t distributed over terms."""
    for _ in range(4):
        before = expr
        expr = sp.expand(_distribute(sp.expand(expr)))
        if expr == before:
            break
    return expr


def _distribute(expr: sp.Expr) -> sp.Expr:
    if not expr.args or isinstance(expr, sp.Indexed):
        return expr
    expr = expr.func(*(_distribute(a) for a in expr.args))
    if isinstance(expr, (MatVec, MatVecT)):
        W, v = expr.args
        return sp.Add(*(c * expr.func(W, rest) for c, rest in _split(v)))
    if isinstance(expr, Outer):
        return sp.Add(*(c1 * c2 * Outer(g, v) for c1, g in _split(expr.args[0])
                        for c2, v in _split(expr.args[1])))
    if isinstance(expr, sp.Sum):
        return sp.Add(*(c * sp.Sum(rest, *expr.limits) for c, rest in _split(expr.function)))
    return expr


def _shift_sums(expr: sp.Expr, state: frozenset[str] | None = None,
                zeroed: set[str] | None = None) -> sp.Expr:
    """Each term of a sum over t shifted so that its adjoint is at t, the limits with it; an
    upper limit beyond T comes back to T when the terms there are 0 (adjoints beyond T are),
    a lower limit before 1 to 1 when they are 0 there: adjoints of quantities without a step 0
    (all but the ``state``; Greff's sums from t = 0). ``zeroed`` collects those adjoints."""
    def normal(e: sp.Sum) -> sp.Sum:
        (index, low, high), = e.limits
        k = _adjoint_offset(e.function)
        if e.limits == (ALL_STEPS,):
            return sp.Sum(shift(e.function, -k), (index, 1, T))
        body, low, high = shift(e.function, -k), low + k, high + k
        if (high - T).is_positive and _vanishes(body):
            high = T
        if state is not None and (1 - low).is_positive and _vanishes(body, _unborn(state)):
            low = 1
            if zeroed is not None:
                zeroed.update(str(q.base) for q in body.atoms(sp.Indexed)
                              if q.indices[0] == t and _unborn(state)(q.base))
        return sp.Sum(body, (index, low, high))
    return expr.replace(lambda e: isinstance(e, sp.Sum), normal)


def _unborn(state: frozenset[str]) -> Callable[[sp.IndexedBase], bool]:
    """Adjoints that are 0 at steps 0, -1, ...: of quantities computed from step 1 on (the
    state has a step 0, its initial value; Delta is given)."""
    return lambda base: str(base).startswith("delta_") and str(base)[6:] not in state


def _vanishes(body: sp.Expr, zero: Callable[[sp.IndexedBase], bool] = _is_adjoint) -> bool:
    """The term is 0 when the adjoints at t (those ``zero`` takes) are (it is linear in them)."""
    adjoints = {q: sp.S.Zero for q in body.atoms(sp.Indexed)
                if zero(q.base) and q.indices[0] == t}
    return bool(adjoints) and _linear(body.xreplace(adjoints)) == 0


def _as_sigmoid(expr: sp.Expr) -> sp.Expr:
    """tanh(a) = 2 sigma(2a) - 1: one activation left, for formulas that mix them."""
    return expr.replace(tanh, lambda a: 2 * sigmoid(2 * a) - 1)


def _as_exp(expr: sp.Expr) -> sp.Expr:
    """sigma and tanh through exp, for formulas that write them out (1/(1 + e^{-a}))."""
    return expr.replace(sigmoid, lambda a: 1 / (1 + sp.exp(-a))).replace(
        tanh, lambda a: 1 - 2 / (1 + sp.exp(2 * a)))


def _zero(d: sp.Expr, rewrite) -> bool:  # exp's quotients cancel only as one fraction
    return (sp.cancel(sp.together(d)) if rewrite is _as_exp else sp.expand(d)) == 0


def _through_activations(expr: sp.Expr) -> sp.Expr:
    for f, rule in ACTIVATIONS.items():
        if rule.through_output is None:  # relu': no closed form through its output
            continue
        expr = expr.replace(rule.prime, lambda a, f=f, rule=rule: rule.through_output(f(a)))
    return expr


def _normal(expr: sp.Expr, ref: Reference, forward: bool) -> sp.Expr:
    """The normal form, cached on the reference: the derivation's side recurs in every
    formula for the same left side, and a sheet read in another notation is the same IR."""
    key = (expr, forward)
    if key not in ref.normal_forms:
        ref.normal_forms[key] = _normalised(expr, ref, forward)
    return ref.normal_forms[key]


def _normalised(expr: sp.Expr, ref: Reference, forward: bool) -> sp.Expr:
    expr = _shift_sums(_linear(implicit_biases(expr, ref.cell)), frozenset(ref.cell.state))
    for _ in range(40):
        before = expr
        expr = expr.replace(lambda e: isinstance(e, sp.Indexed)
                            and ref.definition(e, forward) is not None,
                            lambda e: ref.definition(e, forward))
        if expr == before:
            break
    return _linear(_through_activations(expr))


def _exact(reading: Reading, ref: Reference) -> bool:
    """A proof that the formula is the derivation's equation: both sides normalised to the
    same expression (every step is an identity, and function applications with equal
    arguments are equal): first by the adjoint equations alone, then with every forward
    quantity written through its definition, then with tanh written through sigma."""
    reference = ref.rhs(reading.lhs)
    steps = ((False, None), (True, None), (True, _as_sigmoid))
    for forward, rewrite in steps + (((True, _as_exp),) if reading.rhs.has(sp.exp) else ()):
        a, b = _normal(reading.rhs, ref, forward), _normal(reference, ref, forward)
        if rewrite is not None:
            a, b = _linear(rewrite(a)), _linear(rewrite(b))
        if _zero(a - b, rewrite):
            return True
        a2, b2 = _unfolded(a, b, ref, reading.lhs)
        if (a2, b2) != (a, b):
            a2, b2 = _normal(a2, ref, forward), _normal(b2, ref, forward)
            if rewrite is not None:
                a2, b2 = _linear(rewrite(a2)), _linear(rewrite(b2))
            if _zero(a2 - b2, rewrite):
                return True
    return False


def _unfolded(a: sp.Expr, b: sp.Expr, ref: Reference, lhs: sp.Expr) -> tuple[sp.Expr, sp.Expr]:
    """The next step's adjoints written out: ``W^T (delta h_{t+1} (1 - h_{t+1}^2))`` is the
    derivation's ``W^T delta hbar_{t+1}``. An adjoint at any step that one side mentions and the
    other not is replaced by its derived equation (an identity at every step) when that equation
    stays at its step (so the rewriting ends: each step's adjoints form no cycle)."""
    def adjoints(e):
        return {q for q in e.atoms(sp.Indexed) if q != lhs and str(q.base) in
                ref.adjoint_equations and (q.indices[0] - t).is_Integer}

    def equation(q):
        return shift(ref.adjoint_equations[str(q.base)], int(q.indices[0] - t))

    def same_step(q):
        return all(p.indices[0] == q.indices[0] for p in equation(q).atoms(sp.Indexed)
                   if _is_adjoint(p.base))
    for _ in range(8):
        in_a, in_b = adjoints(a), adjoints(b)
        new_a = {q: equation(q) for q in in_a - in_b if same_step(q)}
        new_b = {q: equation(q) for q in in_b - in_a if same_step(q)}
        if not new_a and not new_b:
            break
        a, b = a.xreplace(new_a), b.xreplace(new_b)
    return a, b


# ---------------------------------------------------------------------------------- explanation
class _Show:
    """Prints IR terms in the source's notation (Graves' printer for ``graves``, vector
    notation otherwise), a formula's own terms in its own text."""

    def __init__(self, profile: Profile, ref: Reference, reading: Reading) -> None:
        self.printers = []
        for notation in (NOTATIONS.get(profile.name, {}).get(ref.cell.name), VECTOR):
            if notation is not None:
                printer = TextbookLatexPrinter(notation, ref.cell)
                printer.lhs = reading.lhs
                self.printers.append(printer)
        self.cell = ref.cell
        self.own: dict[sp.Expr, str] = {}
        for expr, text in reading.terms.items():
            expr = implicit_biases(expr, ref.cell)
            self.own[expr] = text  # as written, e.g. with a factor (1 - z^t)
            terms = sp.Add.make_args(_linear(expr))
            if len(terms) == 1:
                self.own[terms[0]] = text

    def __call__(self, expr: sp.Expr) -> str:
        if expr in self.own:
            return self.own[expr]
        expr = expr.replace(lambda e: isinstance(e, MatVecT) and e.args[0] == W_ABOVE
                            and isinstance(e.args[1], sp.Indexed)
                            and e.args[1].base == _ADJOINT_ABOVE,
                            lambda e: Delta[e.args[1].indices[0]])
        for printer in self.printers:
            try:
                return printer.doprint(expr)
            except Exception:  # noqa: BLE001 - a notation without a symbol for a term
                continue
        return plain(expr)

    def factor(self, expr: sp.Expr) -> str:
        """A factor: a sum in parentheses, f'(a) also through its output (1 - z^2)."""
        if expr.is_Add:
            return f"({self(expr)})"
        f = PRIMES.get(type(expr))
        if f is None:
            return self(expr)
        y = f(expr.args[0])  # with the cell's name for f(a) if the notation has one: z^t
        named = [shift(eq.lhs, k) for eq in self.cell.equations for k in (0, 1, -1)
                 if shift(eq.rhs, k) == y]
        for output in (*named, y):
            try:
                through = self.printers[0].doprint(ACTIVATIONS[f].through_output(output))
            except Exception:  # noqa: BLE001 - Graves has no symbol for g(a_c)
                continue
            return f"{self(expr)} = {through}"
        return self(expr)


def _names(expr: sp.Expr) -> set[sp.Basic]:
    """The quantities (as IndexedBase) and parameters a term mentions."""
    bases = {q.base for q in expr.atoms(sp.Indexed)}
    labels = {b.label for b in bases}
    return bases | {s for s in expr.free_symbols - labels - {t, T}
                    if not isinstance(s, sp.Indexed)}


def _edits(f: sp.Expr, r: sp.Expr, show: _Show,
           others: list[sp.Expr]) -> Iterator[tuple[str, sp.Expr]]:
    """(message, edited f) for the single edits that might turn formula term f into r."""
    atoms = sorted(f.atoms(sp.Indexed), key=lambda q: (not str(q.base).startswith("delta_"),
                                                       str(q)))
    for q in atoms:
        for k in (1, -1):
            moved = q.base[q.indices[0] + k]
            yield (f"the derivation has {show(moved)} where the formula has {show(q)} "
                   "(another time step)"), f.xreplace({q: moved})
    for m in sorted(f.atoms(MatVec, MatVecT), key=str):
        flipped = (MatVecT if isinstance(m, MatVec) else MatVec)(*m.args)
        yield (f"transposed weight: the derivation has {show(flipped)}, not {show(m)}",
               f.xreplace({m: flipped}))
    f_names, r_names = _names(f), _names(r)
    for a in sorted(f_names - r_names, key=str):
        for b in sorted(r_names - f_names, key=str):
            if isinstance(a, sp.IndexedBase) == isinstance(b, sp.IndexedBase):
                edited = f.xreplace({a: b})
                old = next((q for q in f.atoms(sp.Indexed) if q.base == a), a)
                new = old.xreplace({a: b}) if isinstance(old, sp.Indexed) else b
                yield (f"{show(old)} where the derivation has {show(new)} (a symbol from the "
                       "wrong gate)"), edited
    for factor in sp.Mul.make_args(r):
        if not factor.is_Number:
            note = ""
            if type(factor) in {rule.prime for rule in ACTIVATIONS.values()} and any(
                    factor in sp.Mul.make_args(o) for o in others):
                note = " (the derivative is applied to only one of the summands)"
            yield f"factor {show(factor)} missing{note}", f * factor
    for factor in sp.Mul.make_args(f):
        if not factor.is_Number:
            yield f"extra factor {show(factor)}", f / factor
    for a in sp.Mul.make_args(f):  # one factor for another: (1 - z) where tanh'(zbar) is meant
        for b in sp.Mul.make_args(r):
            if a != b and not (a.is_Number or b.is_Number or (f / a).is_Number):
                yield (f"factor {show.factor(a)} where the derivation has {show.factor(b)}",
                       f / a * b)
    yield "wrong sign", -f
    c, rest = f.as_coeff_Mul()
    c_r = r.as_coeff_Mul()[0]
    if c != c_r:  # 1 + 10^-30 where 1 is meant
        yield f"coefficient {_number(c)} where the derivation has {_number(c_r)}", rest * c_r


def _number(c: sp.Expr) -> str:
    text = plain(c)
    return text if len(text) <= 24 else plain(sp.N(c, 35))


@dataclass
class _Values:
    """Values of expressions at the random points (interval enclosures), cached."""
    runs: list[_Run]
    step: int = STEP  #: where per-step formulas are evaluated
    digits: int = DIGITS
    cache: dict = field(default_factory=dict)

    def __call__(self, expr: sp.Expr) -> list:
        if expr not in self.cache:
            with _precision(self.digits):
                self.cache[expr] = [run.value(expr, self.step) for run in self.runs]
        return self.cache[expr]

    def differ(self, a: sp.Expr, b: sp.Expr) -> bool:
        """Proven different: at some point some entry of a - b excludes 0."""
        with _precision(self.digits):
            return any(_excludes_zero(np.asarray(u, dtype=object) - np.asarray(v, dtype=object))
                       for u, v in zip(self(a), self(b)))

    def same(self, a: sp.Expr, b: sp.Expr) -> bool:
        """Not told apart at the points (for explanations only, never for a verdict)."""
        try:
            return not self.differ(a, b)
        except (ValueError, TypeError, ZeroDivisionError, CompareError):
            return False


def _unmatched(formula: list, derived: list, values: _Values) -> tuple[list, list]:
    derived = list(derived)
    extra = []
    for f in formula:
        match = next((r for r in derived if values.same(f, r)), None)
        if match is None:
            extra.append(f)
        else:
            derived.remove(match)
    return extra, derived


def _common_vocabulary(a: sp.Expr, b: sp.Expr, ref: Reference,
                       lhs: sp.Expr) -> tuple[sp.Expr, sp.Expr]:
    """Replace the adjoints at t that only one side mentions by their derived equations (not
    the left side's own: a formula that reads it is wrong, not in other words)."""
    def adjoints(e):
        return {q for q in e.atoms(sp.Indexed) if q.indices[0] == t and q != lhs
                and str(q.base) in ref.adjoint_equations}
    for _ in range(10):
        only_a, only_b = adjoints(a) - adjoints(b), adjoints(b) - adjoints(a)
        if not only_a and not only_b:
            break
        a = a.xreplace({q: ref.adjoint_equations[str(q.base)] for q in only_a})
        b = b.xreplace({q: ref.adjoint_equations[str(q.base)] for q in only_b})
    return a, b


def _explain(reading: Reading, ref: Reference, values: _Values, show: _Show) -> tuple[str, sp.Expr]:
    formula = implicit_biases(reading.rhs, ref.cell)
    derived = ref.rhs(reading.lhs)
    if len(sp.Add.make_args(formula)) > 1 and values.same(-formula, derived):
        # z - y for y - z: one note for the whole side, not one per term (a swapped symbol)
        return "wrong sign: the right side is minus the derivation's", formula - derived
    best = None
    splits = [(sp.Add.make_args(_linear(a)), sp.Add.make_args(_linear(b))) for a, b in
              ((formula, derived), _common_vocabulary(formula, derived, ref, reading.lhs))]
    splits.append((sp.Add.make_args(formula), sp.Add.make_args(derived)))  # terms as written
    for terms_a, terms_b in splits:
        extra, missing = _unmatched(list(terms_a), terms_b, values)
        if best is None or len(extra) + len(missing) < len(best[1]) + len(best[2]):
            best = (list(terms_a), extra, missing)
    terms, extra, missing = best
    residual = sp.Add(*extra) - sp.Add(*missing)
    notes, left = [], list(missing)
    if len(extra) * max(1, len(left)) > _MAX_PAIRS:  # too many to pair up one by one
        return "; ".join(_limit_notes(formula, derived, ref.cell) + [
            f"{len(extra)} extra and {len(left)} missing terms"]), residual
    deadline = time.process_time() + _EXPLAIN_SECONDS

    def same(edited, r):  # past the deadline nothing more is tried: the term is listed as is
        return time.process_time() < deadline and values.same(edited, r)
    for f in extra:
        others = [o for o in terms if o is not f]
        found = next(((message, r) for r in left for message, edited in _edits(f, r, show, others)
                      if same(edited, r)), None)
        if found is None:
            notes.append(f"extra term {show(f)}")
        else:
            notes.append(f"term {show(f)}: {found[0]}")
            left.remove(found[1])
    notes += [f"missing term {show(r)}" for r in left]
    return "; ".join(_limit_notes(formula, derived, ref.cell) + notes) or "differs in value", \
        residual


def _limit_notes(formula: sp.Expr, derived: sp.Expr, cell: Cell) -> list[str]:
    """Sums over t whose limits (each term shifted so its adjoint is at t) are not the
    derivation's: ``the sum runs over t = 2..T, the derivation's over t = 1..T``."""
    def limits(expr):
        return {e.limits[0][1:] for e in _shift_sums(_linear(expr), frozenset(cell.state))
                .atoms(sp.Sum)}
    theirs, ours = limits(formula), limits(derived)
    return [f"the sum runs over t = {plain(a)}..{plain(b)}, the derivation's over "
            + ", ".join(f"t = {plain(c)}..{plain(d)}" for c, d in sorted(ours, key=str))
            for a, b in sorted(theirs - ours, key=str) if ours]


# ---------------------------------------------------------------------------------- comparing
_CHECKED: list[_Checker] = []  #: the last few cells' checkers, newest first


class _Checker:
    """Compares readings with a reference and its convention variants (built when needed)."""

    def __init__(self, cell: Cell, profile: Profile) -> None:
        self.profile = profile
        shared = next((c for c in _CHECKED if c.base.cell == cell), None)
        if shared is None:
            self.base = Reference.of(cell)
            self._runs: dict[tuple, list[_Run]] = {}
            self._variants: list[tuple[Convention, Reference]] | None = None
            _CHECKED.insert(0, self)
            del _CHECKED[4:]
        else:  # the same cell again (a library caller, the tests): its derivation and runs
            self.base, self._runs = shared.base, shared._runs
            self._variants = shared.variants

    def values(self, ref: Reference, window: _Window, digits: int = DIGITS) -> _Values:
        key = (id(ref), window.steps, digits)
        if key not in self._runs:
            self._runs[key] = [_Run(ref, seed, window.steps, digits) for seed in range(POINTS)]
        return _Values(self._runs[key], window.step, digits)

    @property
    def variants(self) -> list[tuple[Convention, Reference]]:
        if self._variants is None:
            self._variants = [(c, v) for c in CONVENTIONS if (v := c.variant(self.base))]
        return self._variants

    def decide(self, reading: Reading, ref: Reference) -> tuple[str, _Values]:
        """``holds`` (proven by :func:`_exact`), ``differs`` (proven: at a random point the
        enclosures of the two sides do not overlap) or ``unproven``; and the values used.

        The formula's constants set the precision of a second evaluation: a term 10^-60 h^t
        is invisible at 50 digits, not at 130."""
        rhs = implicit_biases(reading.rhs, ref.cell)
        window = _Window.of(reading.lhs, rhs)
        values = self.values(ref, window)
        if self._differs(values, rhs, reading.lhs):
            return "differs", values
        digits = _digits_needed(rhs)
        if digits > DIGITS:  # before the proof, which is the slow part
            finer = self.values(ref, window, digits)
            if self._differs(finer, rhs, reading.lhs):
                return "differs", finer
        if _exact(reading, ref):
            return "holds", values
        return "unproven", values

    @staticmethod
    def _differs(values: _Values, rhs: sp.Expr, lhs: sp.Expr) -> bool:
        try:
            return values.differ(rhs, lhs)
        except _Undefined:  # the formula has no value where the derivation has one
            return True
        except (ValueError, TypeError, ZeroDivisionError, ArithmeticError):
            return False  # not evaluable (1/0): not proven different either

    def judge(self, reading: Reading) -> tuple[str, str, sp.Expr]:
        kind, values = self.decide(reading, self.base)
        if kind == "holds":
            return "holds", "exact" + _zero_start_note(reading.rhs, self.base.cell), sp.S.Zero
        for convention, variant in self.variants:
            if variant.rhs(reading.lhs) is not None and \
                    self.decide(reading, variant)[0] == "holds":
                return "convention", convention.note, sp.S.Zero
        if kind == "unproven":
            return "unproven", (f"not told apart at {POINTS} random points ({values.digits}-"
                                "digit intervals), but not proven equal: not called holds"), \
                sp.S.Zero
        show = _Show(self.profile, self.base, reading)
        explanation, residual = _explain(reading, self.base, values, show)
        return "differs", explanation, residual

    def verdict(self, text: str, where: str) -> Verdict:
        try:
            readings = read_formula(text, self.profile, self.base.cell)
        except NotConformable as e:  # read, and wrong as written: a verdict, not an error
            return Verdict(text, False, "differs", str(e))
        except (FormulaSyntaxError, NotationError) as e:
            raise CompareError(f"{where}{e}") from None
        except RecursionError:
            raise CompareError(f"{where}the formula is nested too deeply to read") from None
        for reading in readings:
            if self.base.rhs(reading.lhs) is None:
                raise CompareError(f"{where}left side {plain(reading.lhs)} is not computed by "
                                   f"cell {self.base.cell.name!r}")
        try:
            judged = [(r, *self.judge(r)) for r in readings]
        except CompareError as e:
            raise CompareError(f"{where}{e}") from None
        except RecursionError:  # a safety net: the reader's bounds should make it unreachable
            raise CompareError(f"{where}the formula is nested too deeply to check") from None
        # a convention the user stated (--map b_h=b_ih+b_hh, the constant unit) is part of the
        # notation: the formula holds for this cell as the user reads it, and the note says so
        stated = stated_conventions(text, self.profile, self.base.cell, readings)
        under = f"under the stated convention: {'; '.join(stated)}" if stated else ""
        if len(judged) == 1:
            _, kind, explanation, residual = judged[0]
            note = f"; {under}" if kind == "holds" else f"; read {under}"
            return Verdict(text, kind == "holds", kind, explanation + (note if under else ""),
                           residual)
        # a schema: one reading per parameter
        params = ", ".join(r.instance for r in readings)
        for kind in ("differs", "convention", "unproven"):
            bad = [(r, e, res) for r, k, e, res in judged if k == kind]
            if bad:
                return Verdict(text, False, kind, "; ".join(f"for {r.instance}: {e}"
                                                            for r, e, _ in bad),
                               sp.Add(*(res for *_, res in bad)))
        return Verdict(text, True, "holds", f"for every parameter ({params}); exact"
                       + (f"; {under}" if under else ""))


def _zero_start_note(rhs: sp.Expr, cell: Cell) -> str:
    """Says which terms of a sum from t = 0 (or before) are 0, where a proof used them."""
    zeroed: set[str] = set()
    _shift_sums(_linear(implicit_biases(rhs, cell)), frozenset(cell.state), zeroed)
    return "; the terms at t < 1 are 0: " + ", ".join(
        f"{z} has no step 0 or before (nothing is computed there)" for z in sorted(zeroed)) \
        if zeroed else ""


def _digits_needed(expr: sp.Expr) -> int:
    """Enough digits that the formula's smallest or largest constant (10^-60, 1 + 10^-30)
    cannot hide a term: DIGITS plus twice its size, at most MAX_DIGITS."""
    size = max((abs(n).bit_length() * 3 // 10 + 1 for r in expr.atoms(sp.Rational)
                for n in (r.p, r.q)), default=0)  # digits, without str() of a huge int
    if size <= 5:  # 1 - z, 1/2: DIGITS is plenty
        return DIGITS
    return min(MAX_DIGITS, -(-(DIGITS + 2 * size + 10) // 100) * 100)  # whole hundreds


def compare(cell: Cell | str, formulas: list[str], notation: str,
            mapping: dict[str, str] | None = None,
            progress: Callable[[str], None] | None = None,
            constant_unit: bool = False) -> list[Verdict]:
    """Does each formula hold for the cell? ``notation``: a profile name or a profile file;
    ``mapping``: extra ``{symbol: IR name or expression}`` (``b_h: b_ih+b_hh``, ``W_xh:
    W_ih^T``); ``constant_unit``: the input carries a constant unit (``W x`` includes the
    biases); ``progress``: called with a line now and then during a long run. Raises
    :class:`CompareError` (a :class:`derive.ir.CellError`) for a formula that cannot be read."""
    cell = get_cell(cell) if isinstance(cell, str) else cell
    try:
        profile = get_profile(notation, cell, mapping)
        profile = with_constant_unit(profile) if constant_unit else profile
    except NotationError as e:
        raise CompareError(str(e)) from None
    if len(formulas) > MAX_FORMULAS:
        raise CompareError(f"{len(formulas)} formulas: at most {MAX_FORMULAS} in one run")
    verdicts, start = [], time.monotonic()
    last = start
    with mpmath.workdps(DIGITS + 10):  # for the explanations' printing of numbers
        checker = _Checker(cell, profile)
        for i, text in enumerate(formulas, 1):
            verdicts.append(checker.verdict(text, f"formula {i}: " if len(formulas) > 1 else ""))
            if progress is not None and i < len(formulas) \
                    and time.monotonic() - last > PROGRESS_SECONDS:
                last = time.monotonic()
                progress(f"compared {i} of {len(formulas)} formulas "
                         f"({last - start:.0f} s)")
    return verdicts


# ---------------------------------------------------------------------------------- command
MAX_FORMULAS = 2000       #: formulas of one run
PROGRESS_SECONDS = 2.0    #: a run that takes longer reports progress on stderr this often


def _formulas(args: argparse.Namespace) -> list[str]:
    formulas = list(args.formula or [])
    if args.file:
        lines = read_text_file(args.file, "--file").splitlines()  # NotationError: exit 2
        formulas += [line.strip() for line in lines
                     if line.strip() and not line.lstrip().startswith("%")]
    if len(formulas) > MAX_FORMULAS:
        raise CompareError(f"{len(formulas)} formulas: at most {MAX_FORMULAS} in one run "
                           "(split the file)")
    return formulas


def _table(rows: list[tuple[Verdict, str]], title: str) -> str:
    held = sum(v.kind == "holds" for v, _ in rows)
    width = max(len(v.formula) for v, _ in rows)
    lines = [f"{title}: {held} of {len(rows)} hold", f"{'verdict':<11} {'equation':<{width}}  note"]
    for verdict, where in rows:
        note = "; ".join(x for x in (where, verdict.explanation) if x)
        lines.append(f"{verdict.kind:<11} {verdict.formula:<{width}}  {note}")
        if verdict.kind == "differs":
            lines.append(f"{'':<11} residual (formula - derivation): {plain(verdict.residual)}")
    return "\n".join(lines)


def _progress(line: str) -> None:
    print(f"bptt compare: {line}", file=sys.stderr, flush=True)


def run_compare(args: argparse.Namespace) -> int:
    """``bptt compare``: prints the table (or JSON); returns 0 when every formula holds, 1 when
    one differs or holds only under another convention; bad input raises CompareError."""
    mapping = parse_maps(args.map or [])
    unit = getattr(args, "constant_unit", False)
    # the cell as every command loads it; a paper's forward equations are read in the
    # formulas' notation and --map, so its backward formulas are checked in its own symbols
    if is_paper(args.cell):
        source = catalog.SOURCES.get(args.source or "")  # --source: read in its notation
        reading = args.notation or (source.notation if source else None)
        cell = load_cell(args.cell, reading, mapping, constant_unit=unit)
        for name, symbol in cell.notation.symbols.items():  # a row-vector paper's W is held
            if symbol.endswith(r"^\top"):                    # transposed (derive/paper.py)
                mapping.setdefault(symbol[:-len(r"^\top")], f"{name}^T")
    else:
        cell = load_cell(args.cell)
    if args.source:
        if args.formula or args.file:
            raise CompareError("--source checks a built-in catalog: give it without "
                               "--formula or --file")
        try:
            source = catalog.get_source(args.source)
            entries = source.entries(cell.name)
        except catalog.CatalogError as e:
            raise CompareError(str(e)) from None
        if args.notation is not None and args.notation != source.notation:
            raise CompareError(f"--source {source.name} is written in notation "
                               f"{source.notation!r}; leave out --notation")
        verdicts = compare(cell, [e.latex for e in entries], source.notation, mapping, _progress,
                           unit)
        rows = list(zip(verdicts, (e.where for e in entries)))
        title = f"{cell.name} against {source.title} (notation {source.notation})"
    else:
        formulas = _formulas(args)
        if not formulas:
            raise CompareError("nothing to compare: give --formula 'LATEX', --file FILE or "
                               f"--source ({', '.join(catalog.SOURCES)})")
        notation = "vector" if args.notation is None else args.notation
        rows = [(v, "") for v in compare(cell, formulas, notation, mapping, _progress, unit)]
        title = f"{cell.name} (notation {notation})"
    if args.json:
        print(json.dumps({"cell": cell.name, "title": title,
                          "results": [dict(v.to_json(), where=w) for v, w in rows]}, indent=2))
    else:
        print(_table(rows, title))
    # the contract: 0 only when every formula holds; a named convention is not an error, but
    # the formula does not hold for this cell either
    return 0 if all(v.kind == "holds" for v, _ in rows) else 1
