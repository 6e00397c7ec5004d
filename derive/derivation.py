"""Reverse-mode derivation of the BPTT recurrences from a cell's forward equations alone.

The per-step equations are differentiated once; time enters only through the state edges:
a quantity read at t-1 by step t receives, in its own recurrence at t, the contribution of
step t+1. No cell is special-cased here.
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Callable

import sympy as sp

from .ir import (ACTIVATIONS, LOSSES, Cell, Delta, Equation, LossBase, MatVec, MatVecT, Outer,
                 Softmax, UnitSum, base_name, shift, t, T, time_offset)


def adjoint(name: str) -> sp.IndexedBase:
    """The adjoint dL/dq of a time-varying quantity: ``adjoint("c")[t + 1]``."""
    return sp.IndexedBase(f"delta_{name}")


def gradient(param: str) -> sp.Symbol:
    """The gradient dL/dP of a parameter, summed over all steps."""
    return sp.Symbol(f"delta_{param}")


# Reverse-mode rules of the vector-level operations: given an operation node and the adjoint g
# of its value, the (argument, adjoint contribution) pairs. Elementwise expressions need no row:
# SymPy's diff gives their (diagonal) Jacobian unit by unit, activations included (ir.ACTIVATIONS).
Rule = Callable[[sp.Expr, sp.Expr], list[tuple[sp.Expr, sp.Expr]]]
RULES: dict[type, Rule] = {
    MatVec: lambda node, g: [(node.args[0], Outer(g, node.args[1])),   # dW += g v^T
                             (node.args[1], MatVecT(node.args[0], g))],  # dv += W^T g
    # y = softmax(a): da = y (.) g - y (1^T (y (.) g)), the Jacobian diag(y) - y y^T applied to g
    Softmax: lambda node, g: [(node.args[0], node * g - node * UnitSum(node * g))],
}
# a loss l(y, z) is a scalar: dy += g dl/dy; no gradient flows into the target z
RULES |= {loss: (lambda node, g: [(node.args[0], g * type(node).grad(*node.args))])
          for loss in LOSSES}


def _is_leaf(expr: sp.Expr) -> bool:
    return isinstance(expr, (sp.Indexed, sp.Symbol)) and expr != t


def _rule_nodes(expr: sp.Expr) -> set[sp.Expr]:
    """The outermost subexpressions that need a vector rule."""
    if type(expr) in RULES:
        return {expr}
    return set().union(*(_rule_nodes(a) for a in expr.args)) if expr.args else set()


def _leaves(expr: sp.Expr) -> set[sp.Expr]:
    labels = {q.base.label for q in expr.atoms(sp.Indexed)}
    return expr.atoms(sp.Indexed) | (expr.atoms(sp.Symbol) - labels - {t})


def pullback(expr: sp.Expr, g: sp.Expr) -> list[tuple[sp.Expr, sp.Expr]]:
    """The contributions of g, the adjoint of ``expr``, to the adjoints of the leaves it reads."""
    if _is_leaf(expr):
        return [(expr, g)]
    holes = {node: sp.Dummy() for node in _rule_nodes(expr)}
    refill = {hole: node for node, hole in holes.items()}
    elementwise = expr.xreplace(holes)

    def partial(wrt):  # d elementwise / d wrt, with the rule nodes put back
        return sp.diff(elementwise, wrt).xreplace(refill)

    out = [(leaf, g * d) for leaf in _leaves(elementwise) - set(refill)
           if (d := partial(leaf)) != 0]
    for node, hole in holes.items():
        for arg, contribution in RULES[type(node)](node, g * partial(hole)):
            out += pullback(arg, contribution)
    return out


@dataclass(frozen=True)
class Backward:
    """The derived backward pass of a cell.

    ``adjoints``: the recurrences kept by textbooks (state, output, input, pre-activations, i.e.
    the quantities whose adjoints feed a matrix), in evaluation order for one step t = T..1;
    ``intermediate``: the adjoints of the other quantities, already folded into ``adjoints``;
    ``initial``: dL/ds^0 for each state variable; ``gradients``: dL/dP as sums over t;
    ``assumptions``: what the result takes for granted (targets of a cross-entropy sum to 1).
    The boundary is delta^{T+1} = 0 for every adjoint.
    """
    cell: Cell
    adjoints: tuple[Equation, ...]
    intermediate: tuple[Equation, ...]
    initial: tuple[Equation, ...]
    gradients: tuple[Equation, ...]
    assumptions: tuple[str, ...] = ()

    @property
    def equations(self) -> tuple[Equation, ...]:
        return self.adjoints + self.initial + self.gradients

    def adjoint_of(self, name: str) -> Equation:
        for eq in self.adjoints + self.intermediate:
            if eq.name == f"delta_{name}":
                return eq
        raise KeyError(name)

    def map(self, fn: Callable[[sp.Expr], sp.Expr]) -> "Backward":
        """The same backward pass with every right-hand side rewritten by fn."""
        def each(eqs):
            return tuple(Equation(eq.lhs, fn(eq.rhs)) for eq in eqs)
        return Backward(self.cell, each(self.adjoints), each(self.intermediate),
                        each(self.initial), each(self.gradients), self.assumptions)

    def _repr_latex_(self) -> str:
        from .printers import backward_latex
        return backward_latex(self)


def kept_adjoints(cell: Cell) -> set[str]:
    """Quantities whose adjoint gets an equation of its own, as in the textbooks: state,
    inputs, what feeds a matrix, and the output where the gradient arrives from above (a
    loss's adjoint is 1, folded into what it reads)."""
    with_matrix = {eq.name for eq in cell.equations if eq.rhs.has(MatVec)}
    output = set() if cell.loss else {cell.output}
    kept = set(cell.state) | output | set(cell.inputs) | with_matrix
    return kept - set(cell.targets) - {cell.loss}


def named_values(cell: Cell) -> Callable[[sp.Expr], sp.Expr]:
    """Write a softmax by the quantity that holds it (y for softmax(a) where y = softmax(a)),
    so that the loss's dl/dy and the softmax rule cancel as in the textbooks."""
    # only as written: softmax(a[t-1]) is not y[t-1] at t = 1, where y[0] is no softmax
    table = {eq.rhs: eq.lhs for eq in cell.equations if isinstance(eq.rhs, Softmax)}
    return lambda expr: expr.xreplace(table) if table else expr


def loss_assumptions(cell: Cell) -> dict[sp.Expr, sp.Expr]:
    """The sums over units the loss targets satisfy (a cross-entropy's targets sum to 1)."""
    out: dict[sp.Expr, sp.Expr] = {}
    for eq in cell.equations:
        for loss in eq.rhs.atoms(LossBase):
            for k in (-1, 0, 1):
                out |= {shift(a, k): shift(b, k) for a, b in loss.assumes(loss.args[1]).items()}
    return out


def derive(cell: Cell) -> Backward:
    """Derive the BPTT recurrences of ``cell`` with the rule table above."""
    into: dict[str, list[sp.Expr]] = defaultdict(list)      # adjoint terms at step t
    from_next: dict[str, list[sp.Expr]] = defaultdict(list)  # terms coming from step t+1
    into_param: dict[str, list[sp.Expr]] = defaultdict(list)
    name = named_values(cell)
    for eq in cell.equations:
        for leaf, term in pullback(eq.rhs, adjoint(eq.name)[t]):
            term = name(term)
            if isinstance(leaf, sp.Indexed):
                # step t reads leaf = q[t-1]: in q's recurrence at t that is step t+1's term
                k = time_offset(leaf)
                (from_next if k else into)[base_name(leaf)].append(shift(term, -k))
            else:
                into_param[str(leaf)].append(term)
    if cell.loss:  # L = sum over t of loss^t
        into[cell.loss].append(sp.S.One)
    else:  # dL/dy^t arrives from the layer above
        into[cell.output].append(Delta[t])

    kept = kept_adjoints(cell)
    folded: dict[str, sp.Expr] = {}
    assumed = loss_assumptions(cell)
    of = {adjoint(n): n for n in cell.inputs + cell.quantities}

    def vanishes_beyond_T(expr: sp.Expr) -> bool:
        """Every term carries an adjoint (or Delta), which the boundary makes 0 at T+1."""
        return all(any(q.base in of or q.base == Delta for q in term.atoms(sp.Indexed))
                   for term in sp.Add.make_args(expr))

    def fold(expr: sp.Expr) -> sp.Expr:
        """Substitute the adjoints of folded quantities, at whatever step they are read; one read
        at t+1 stays an adjoint where its value would not vanish at T+1 (the loss's adjoint 1
        folded into it: step T+1 has no loss)."""
        expr = expr.replace(
            lambda e: isinstance(e, sp.Indexed) and of.get(e.base) in folded and (
                time_offset(e) == 0 or vanishes_beyond_T(folded[of[e.base]])),
            lambda e: shift(folded[of[e.base]], time_offset(e)))
        return expr.xreplace(assumed) if assumed else expr

    targets = set(cell.targets)
    order = [n for n in reversed(cell.inputs + cell.quantities)  # readers before what they read
             if n not in targets]
    raw = {name: sp.Add(*into[name], *from_next[name]) for name in order}
    for name in order:  # a folded adjoint reads only adjoints at t of later quantities
        if name not in kept:
            folded[name] = fold(raw[name])
    # the kept ones last: one may read a folded adjoint at t+1 (a state read by one)
    rhs = {n: fold(raw[n]) if n in kept else folded[n] for n in order}
    initial = [Equation(adjoint(s)[0], fold(sp.Add(*from_next[s])).subs(t, 0))
               for s in cell.state]
    gradients = [Equation(gradient(p), sp.Sum(fold(sp.Add(*into_param[p])), (t, 1, T)))
                 for p in cell.params]
    read = [*rhs.values(), *(eq.rhs for eq in initial + gradients)]
    kept |= {of[q.base] for e in read for q in e.atoms(sp.Indexed) if of.get(q.base) in folded}
    adjoints = [Equation(adjoint(n)[t], rhs[n]) for n in order if n in kept]
    intermediate = [Equation(adjoint(n)[t], rhs[n]) for n in order if n not in kept]
    assumptions = tuple(f"{sp.sstr(a)} = {sp.sstr(b)}" for a, b in assumed.items()
                        if a.has(t) and not a.has(t - 1) and not a.has(t + 1))
    return Backward(cell, tuple(adjoints), tuple(intermediate), tuple(initial), tuple(gradients),
                    assumptions)


def through_outputs(expr: sp.Expr, cell: Cell, unnamed_only: bool = False) -> sp.Expr:
    """Write activation derivatives with the activation's output: sigma' = i (1 - i) where
    i = sigma(ibar) is a named quantity, 1 - tanh(c)^2 where it is not. ``unnamed_only``: only
    derivatives of an argument that is no quantity (Graves writes f'(a_j) of a named a_j)."""
    named = {(type(eq.rhs), eq.rhs.args[0]): eq.lhs for eq in cell.equations
             if type(eq.rhs) in ACTIVATIONS}
    for act, rule in ACTIVATIONS.items():
        if rule.through_output is None:  # relu, elu, ...: f'(a) stays as it is
            continue

        def rewrite(arg, act=act, rule=rule):
            for k in (0, 1, -1):
                q = named.get((act, shift(arg, -k)))
                if q is not None:
                    return rule.through_output(shift(q, k))
            steps = {i.indices[0] for i in arg.atoms(sp.Indexed)}  # at a fixed step (h^1 of h^0)
            for (a, e), q in named.items():
                for n in (steps if a is act and not arg.has(t) else ()):
                    for step in (n, n + 1):
                        if e.subs(t, step) == arg:
                            return rule.through_output(q.subs(t, step))
            return rule.through_output(act(arg))
        expr = expr.replace(lambda e, p=rule.prime: isinstance(e, p) and not (
            unnamed_only and isinstance(e.args[0], sp.Indexed)), lambda e, f=rewrite: f(e.args[0]))
    return expr
