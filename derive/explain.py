"""``bptt explain``: what the state of a cell is and why its gradient runs backwards in time,
in words, for any cell (user cells included) and in any notation the cell has.

For every state variable s it lists the equations of step t that compute and read s^t, the
equations of step t+1 that read it (written s^{t-1} there), and then each term of the derived
adjoint delta s^t with the path it comes from: the chain rule adds one term per equation that
reads s^t, and the terms of step t+1 are why the recurrence starts at t = T, from the boundary
delta^{T+1} = 0.

    >>> from derive import get_cell
    >>> text = explain(get_cell("rnn"))
    >>> "read by step t+1" in text and "boundary" in text
    True
"""
from __future__ import annotations

import re

import sympy as sp

from .derivation import Backward, adjoint, derive
from .ir import Cell, Delta, Equation, base_name, t
from .labels import latex_to_text
from .printers import TextbookLatexPrinter, get_notation
from .trace import adjoint_terms

DELTA_Q, PARTIAL_Q, PARTIAL = r"\delta q^{t}", r"\partial L/\partial q^{t}", r"\partial L/\partial"
_MATH = re.compile("\x02(.*?)\x03", re.S)


def _math(latex: str) -> str:
    """Mark LaTeX inside a sentence; :func:`_render` turns it into text or ``$...$``."""
    return f"\x02{latex}\x03"


def _render(text: str, fmt: str) -> str:
    if fmt == "md":
        return _MATH.sub(lambda m: f"${m.group(1)}$", text)
    return _MATH.sub(lambda m: latex_to_text(m.group(1)), text)


class _Tex:
    def __init__(self, cell: Cell, notation: str) -> None:
        self.printer = TextbookLatexPrinter(get_notation(notation, cell), cell)
        self.cell = cell

    def raw(self, expr: sp.Expr, lhs: sp.Expr | None = None) -> str:
        self.printer.lhs = lhs if lhs is not None else sp.S.Zero
        return self.printer.doprint(self.printer.display(expr))

    def __call__(self, expr: sp.Expr, lhs: sp.Expr | None = None) -> str:
        return _math(self.raw(expr, lhs))

    def equation(self, eq: Equation, shift: int = 0) -> str:
        lhs, rhs = eq.lhs.subs(t, t + shift), eq.rhs.subs(t, t + shift)
        return _math(f"{self.raw(lhs)} = {self.raw(rhs, lhs)}")

    def named(self, name: str) -> bool:
        return name not in self.printer.notation.inline

    def quantity(self, name: str, k: int = 0) -> str:
        return self(sp.IndexedBase(name)[t + k])


def _path(cell: Cell, state: str, read: sp.Indexed | None, tex: _Tex) -> str:
    """Where one term of delta state^t comes from, in words."""
    if read is None and cell.loss:
        return f"the loss directly: dL/d{tex.quantity(cell.loss)} = 1 at step t"
    if read is None or read.base == Delta:
        return "the loss directly: the gradient from the layer above"
    of = {str(adjoint(q)): q for q in (*cell.inputs, *cell.quantities)}
    target, k = of[base_name(read)], int(read.indices[0] - t)
    where = "step t+1" if k == 1 else "step t"
    direct = cell.equation(target).rhs.has(sp.IndexedBase(state)[t - k])
    how = "which reads" if direct else "which depends on"
    was = tex.quantity(state, -1) if k == 1 else tex.quantity(state)
    return (f"{where}: through {tex.quantity(target, k)}, {how} {tex.quantity(state)}"
            + (f" (written {was} in step t+1's equations)" if k == 1 and direct else ""))


def explain(cell: Cell, notation: str = "vector", fmt: str = "text",
            backward: Backward | None = None) -> str:
    """What the state of ``cell`` is, where its gradient comes from, term by term.

    ``fmt``: ``text`` (Unicode, for a terminal) or ``md`` (Markdown with ``$...$`` math)."""
    backward = backward or derive(cell)
    tex = _Tex(cell, notation)
    out, y = cell.output, tex.quantity(cell.output)
    bullet = "-" if fmt == "md" else "  -"
    lines = [f"{cell.name}: {cell.description}" if cell.description else cell.name, ""]
    sizes: dict[str, list[str]] = {}
    for q in (*cell.inputs, *cell.quantities):
        sizes.setdefault(cell.size(q), []).append(q)
    if cell.loss:
        loss = (f"The loss: L = sum over t = 1..T of {tex.quantity(cell.loss)}, computed by "
                f"the cell itself ({tex.equation(cell.equation(cell.loss))}); no gradient "
                "arrives from above.")
        loss += "".join(f" Assumed: {a} (the targets are distributions)."
                        for a in backward.assumptions)
    else:
        loss = (f"The loss: L adds up what the layers above make of every output {y}, "
                f"t = 1..T; {tex(Delta[t])} = "
                f"{_math(PARTIAL + ' ' + tex.raw(sp.IndexedBase(out)[t]))} is the part of "
                "the gradient that arrives directly from the layer above at step t.")
    lines += [
        f"State: {', '.join(tex.quantity(s) for s in cell.state)}. A state variable is a "
        "quantity that step t computes and step t+1 reads (it appears with time index t-1 "
        "in the equations); everything else is recomputed at every step from the input and "
        "the state.", "",
        "Sizes: " + "; ".join(f"{', '.join(names)}: {size}" for size, names in sizes.items())
        + ".", "", loss, "",
        f"The adjoint of a quantity q at step t, {_math(DELTA_Q)} = "
        f"{_math(PARTIAL_Q)}, is how much L changes per unit change of "
        f"{_math('q^{t}')}, counting every later computation that uses {_math('q^{t}')}.", ""]
    if notation != "vector":
        description = re.sub(r"\$(.*?)\$", lambda m: _math(m.group(1)),
                             tex.printer.notation.description)
        lines += [f"Notation: {description}.", ""]
    for s in cell.state:
        role = "the output and a state variable" if s == out else "a state variable"
        md = fmt == "md"
        lines += [f"**{tex.quantity(s)}: {role}.**", ""] if md else [f"{tex.quantity(s)}: {role}."]
        if tex.named(s):
            lines.append(f"{bullet} computed at step t by {tex.equation(cell.equation(s))}")
        same = [eq for eq in cell.readers(s, 0) if tex.named(eq.name)]
        if same:
            lines.append(f"{bullet} read by step t's own equations:")
            lines += [f"    {bullet} {tex.equation(eq)}" for eq in same]
        lines.append(f"{bullet} read by step t+1's equations, where it is written "
                     f"{tex.quantity(s, -1)}:")
        lines += [f"    {bullet} {tex.equation(eq, 1)}" for eq in cell.readers(s, -1)
                  if tex.named(eq.name)]
        eq = backward.adjoint_of(s)
        terms = sorted(adjoint_terms(eq.rhs), key=lambda tr: tex.printer._term_rank(tr[0]))
        lines.append(f"{bullet} so {tex.quantity(s)} changes L along {len(terms)} paths, and "
                     "the chain rule adds one term per path:")
        if md:  # a display formula and a numbered list inside the list item
            lines += ["", f"    $${_MATH.sub(lambda m: m.group(1), tex.equation(eq))}$$", ""]
        else:
            lines.append(f"    {tex.equation(eq)}")
        for k, (term, read) in enumerate(terms, 1):
            lines.append(f"    {k}. {tex(term, eq.lhs)}: from {_path(cell, s, read, tex)}")
        if md:
            lines.append("")
        nxt = sum(1 for _, r in terms if r is not None and r.base != Delta
                  and r.indices[0] == t + 1)
        lines.append(
            f"{bullet} {nxt} of these terms read adjoints of step t+1, so "
            f"{tex(eq.lhs)} can only be computed after step t+1's: the recurrence runs "
            f"backwards, from t = T down to 1. At t = T no step T+1 reads the state, so those "
            f"terms are 0: the boundary, {_math(tex.raw(adjoint(s)[t + 1]) + ' = 0')} and every "
            "other adjoint "
            "at T+1 is 0.")
        lines.append("")
    return _render("\n".join(lines), fmt)
