"""The oracle of tests/test_paper.py: two cells' derived backward passes are the same when
every equation (state adjoints, dL/dx, the initial state, every parameter gradient), with the
adjoints of all other quantities and the forward quantities that are not state written through
their equations, is the same expression."""
import sympy as sp

from derive import derive
from derive.ir import shift, t
from verify.compare import _linear


def normal(expr: sp.Expr, cell, backward) -> sp.Expr:
    adjoints = {eq.name: eq.rhs for eq in (*backward.adjoints, *backward.intermediate)}
    keep = {*cell.state, *cell.inputs}

    def at(rhs, index):
        return shift(rhs, int(index - t)) if index.has(t) else rhs.subs(t, index)

    def inline(e):
        name = str(e.base)
        if name.startswith("delta_") and name[6:] not in keep and name in adjoints:
            return at(adjoints[name], e.indices[0])
        if name in cell.quantities and name not in keep:
            return at(cell.equation(name).rhs, e.indices[0])
        return e
    for _ in range(60):
        before, expr = expr, expr.replace(lambda e: isinstance(e, sp.Indexed), inline)
        if expr == before:
            return _linear(expr)
    raise AssertionError("the equations do not end")


def backward_equations(cell) -> dict[str, sp.Expr]:
    """Every equation that is the same whatever intermediate quantities a cell names."""
    b = derive(cell)
    eqs = [b.adjoint_of(q) for q in (*cell.state, *cell.inputs)] + list(b.initial) + \
        list(b.gradients)
    return {str(eq.lhs.base if isinstance(eq.lhs, sp.Indexed) else eq.lhs)
            + (f"[{eq.lhs.indices[0]}]" if isinstance(eq.lhs, sp.Indexed) else ""):
            normal(eq.rhs, cell, b) for eq in eqs}


def differences(cell, reference) -> list[str]:
    """The equations where the two derivations differ (none: the same backward pass)."""
    mine, theirs = backward_equations(cell), backward_equations(reference)
    assert mine.keys() == theirs.keys(), (sorted(mine), sorted(theirs))
    return [k for k in theirs if sp.expand(mine[k] - theirs[k]) != 0]
