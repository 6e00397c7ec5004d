r"""Mutation tests of ``bptt compare`` (issue 9): every derived equation of every built-in cell,
with one typical error put in, must be called "differs".

The mutants are made on the IR (so that each is a real change of meaning), printed by the
sheets' own vector-notation printer and read back by ``compare``: the reader, the evaluation
window, the interval arithmetic and the exact proof are all exercised. Oracle: each mutant
changes the formula's value as a function of the cell's quantities (a dropped term, an index at
another step, a symbol of another gate, a transpose, sigma' of another argument, other sum
limits, a term 10^-60 small, a coefficient 1 + 10^-30), so none may be called "holds".
"""
from __future__ import annotations

from typing import Iterator

import pytest
import sympy as sp

from derive import derive, get_cell
from derive.ir import ACTIVATIONS, MatVec, MatVecT, Outer
from derive.printers import VECTOR, TextbookLatexPrinter
from verify.compare import _Checker
from verify.notations import get_profile, read_formula

CELLS = ("rnn", "lstm", "gru", "graves-lstm", "elman-softmax")  # softmax and a loss too
TINY, NEAR_ONE = sp.Rational(1, 10**60), 1 + sp.Rational(1, 10**30)
PRIMES = {rule.prime for rule in ACTIVATIONS.values()}


def equations(cell):
    """Every equation a sheet prints: the forward pass, adjoints, initial state, gradients."""
    backward = derive(cell)
    return [*cell.equations, *backward.adjoints, *backward.initial, *backward.gradients]


def _replace(expr: sp.Expr, old: sp.Basic, new: sp.Basic) -> sp.Expr:
    return expr.xreplace({old: new})


def mutants(cell, rhs: sp.Expr) -> Iterator[tuple[str, sp.Expr]]:
    """(kind, mutated right side) for the typical errors of textbooks.md section 6."""
    body, limits = (rhs.function, rhs.limits) if isinstance(rhs, sp.Sum) else (rhs, None)

    def whole(new_body):
        return sp.Sum(new_body, *limits) if limits else new_body
    terms = sp.Add.make_args(body)
    if len(terms) > 1:
        for term in terms:
            yield "drop a term", whole(body - term)
    indexed = sorted(body.atoms(sp.Indexed), key=str)
    for q in indexed:
        for k in (1, -1, 2, -2):
            yield f"shift {q} by {k:+d}", whole(_replace(body, q, q.base[q.indices[0] + k]))
    quantities = sorted({eq.name for eq in cell.equations} | set(cell.inputs))
    for q in indexed:  # a symbol of another gate or state, at the same step
        name = str(q.base)
        pool = [f"delta_{n}" for n in quantities] if name.startswith("delta_") else quantities
        others = [n for n in pool if n != name and sp.IndexedBase(n) not in
                  {a.base for a in indexed}]
        if others:
            yield f"{q} from another gate", whole(_replace(body, q, sp.IndexedBase(others[0])[
                q.indices[0]]))
    for m in sorted(body.atoms(MatVec, MatVecT, Outer), key=str):
        flipped = {MatVec: lambda W, v: MatVecT(W, v), MatVecT: lambda W, v: MatVec(W, v),
                   Outer: lambda g, v: Outer(v, g)}[type(m)](*m.args)
        yield f"transpose {m}", whole(_replace(body, m, flipped))
    arguments = sorted({a.args[0] for eq in cell.equations for a in eq.rhs.atoms(*ACTIVATIONS)},
                       key=str)
    for d in sorted((a for a in body.atoms(sp.Function) if type(a) in PRIMES), key=str):
        wrong = next((a for a in arguments if a != d.args[0]), None)
        if wrong is not None:
            yield f"{d} of another argument", whole(_replace(body, d, type(d)(wrong)))
    if limits:
        (index, low, high), = limits
        for new in ((low + 1, high), (low, high - 1), (low - 1, high - 1)):
            yield f"sum limits {new}", sp.Sum(body, (index, *new))
    yield "a tiny extra term", whole(body + TINY * terms[-1])
    yield "a coefficient 1 + 1e-30", whole(body - terms[0] + NEAR_ONE * terms[0])


@pytest.mark.parametrize("name", CELLS)
def test_every_mutant_of_every_equation_differs(name):
    cell = get_cell(name)
    printer = TextbookLatexPrinter(VECTOR, cell)
    checker = _Checker(cell, get_profile("vector", cell))
    count, wrong = 0, []
    for eq in equations(cell):
        lhs = printer.doprint(eq.lhs)
        for kind, rhs in mutants(cell, eq.rhs):
            if sp.expand(rhs - eq.rhs) == 0:
                continue  # not a change (a symmetric product): nothing to find
            text = f"{lhs} = {printer.doprint(rhs)}"
            reading, = read_formula(text, checker.profile, cell)
            decided, _ = checker.decide(reading, checker.base)
            count += 1
            if decided != "differs":
                wrong.append((kind, text, decided))
    print(f"{name}: {count} mutants, {count - len(wrong)} differ")
    assert count >= 100 and wrong == []
