"""A worked example in numbers: the forward pass and the derived backward pass of any cell,
evaluated step by step at a small size, each adjoint shown as its terms.

The IR is evaluated generically: each equation's right side becomes a NumPy function through
``sympy.lambdify``, with a small table for the vector operations (:data:`VECTOR_OPS`) and the
activations written in closed form by :func:`derive.ir.explicit` (so every row of
``ir.ACTIVATIONS`` works, including ones added later). Nothing here knows a particular cell.

The loss: a cell that computes its own (``Cell.loss``, e.g. ``cross_entropy(softmax(a), z)``)
is trained on ``L = sum_t loss^t``; its backward pass starts from dL/dloss^t = 1 and its targets
are drawn as the loss assumes (a cross-entropy's one-hot, summing exactly to 1). Any other cell
gets ``L = sum_t Delta^t . y^t`` for drawn vectors ``Delta^t`` (the gradient arriving from the
layer above, ``y`` the cell output), so ``delta y^t`` starts from ``Delta^t``.

Every size name of the cell gets a value: ``H`` and ``I`` from ``hidden`` and ``inputs``, any
other (``P``, ``K``, ...) from ``sizes``, else 1.

    >>> from derive import get_cell
    >>> tr = trace(get_cell("rnn"), steps=2)
    >>> [(step.equation.name, step.step) for step in tr.backward_steps][:2]
    [('delta_h', 2), ('delta_hbar', 2)]
    >>> [term.source for term in tr.backward_steps[0].terms]
    ['layer above', 'step T+1 = 3: boundary, 0']
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Callable

import numpy as np
import sympy as sp

from .derivation import Backward, adjoint, derive, gradient, loss_assumptions
from .ir import (SCALAR, Cell, CellError, Delta, Equation, LossBase, MatVec, MatVecT, Outer,
                 UnitSum, base_name, cross_entropy, explicit, t)

#: NumPy meaning of the IR's vector operations (everything else is elementwise)
VECTOR_OPS: dict[str, Callable] = {
    MatVec.__name__: lambda W, v: W @ v,
    MatVecT.__name__: lambda W, g: W.T @ g,
    Outer.__name__: np.outer,
    UnitSum.__name__: np.sum,  # a softmax and a loss are written with it by ir.explicit
}

#: the value of a size name that neither --hidden (H), --inputs (I) nor ``sizes`` gives
OTHER_SIZE = 1


def _one_hot(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """One unit 1, the others 0, at every step: a distribution, summing exactly to 1."""
    steps, size = shape
    return np.eye(size)[rng.integers(size, size=steps)]


def _draw_any(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    return _draw(rng, shape)


#: how the targets of each loss are drawn: as the loss's derivation assumes (ir.LossBase.assumes)
TARGET_DRAWS: dict[type[LossBase], Callable] = {cross_entropy: _one_hot}


def size_values(cell: Cell, hidden: int = 1, inputs: int = 1,
                sizes: dict[str, int] | None = None) -> dict[str, int]:
    """A number for every size name of ``cell``: H = hidden, I = inputs, the others from
    ``sizes`` (which may also set H and I), else 1. CellError for a name the cell does not use
    or a value that is not a positive integer."""
    sizes = dict(sizes or {})
    unknown = sorted(set(sizes) - set(cell.size_names) - {"H", "I"})
    if unknown:
        raise CellError(f"trace: cell {cell.name!r} has no size {unknown[0]} (its sizes: "
                        f"{', '.join(cell.size_names)})")
    out = {"H": hidden, "I": inputs} | {n: OTHER_SIZE for n in cell.size_names
                                        if n not in ("H", "I")} | sizes
    for name, value in out.items():
        if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 1:
            raise CellError(f"trace: size {name} = {value!r}: a size is a positive integer")
    return out | {SCALAR: 1}


def _reads(expr: sp.Expr) -> tuple[list[sp.Indexed], list[sp.Symbol]]:
    indexed = sorted(expr.atoms(sp.Indexed), key=str)
    labels = {q.base.label for q in indexed}
    symbols = sorted(expr.atoms(sp.Symbol) - labels - {t}, key=str)
    return indexed, symbols


@lru_cache(maxsize=None)
def compile_expr(expr: sp.Expr) -> tuple[Callable, tuple[sp.Indexed, ...], tuple[sp.Symbol, ...]]:
    """A NumPy function of an IR expression, with the indexed values and parameters it reads
    (in the order the function takes them)."""
    indexed, symbols = _reads(expr)
    holes = [sp.Dummy(f"v{k}") for k in range(len(indexed))]
    body = explicit(expr.xreplace(dict(zip(indexed, holes))))
    fn = sp.lambdify(holes + symbols, body, modules=[VECTOR_OPS, "numpy"])
    return fn, tuple(indexed), tuple(symbols)


class Values:
    """Numbers of one example: forward values, adjoints and Delta, by (name, step).

    A value outside the example (an adjoint at T+1, the boundary) is zero."""

    def __init__(self, cell: Cell, sizes: dict[str, int], steps: int,
                 params: dict[str, np.ndarray]) -> None:
        self.cell, self.sizes, self.steps, self.params = cell, sizes, steps, params
        self.of_adjoint = {str(adjoint(q)): q for q in (*cell.inputs, *cell.quantities)}
        self.table: dict[tuple[str, int], np.ndarray] = {}

    def size(self, name: str) -> int:
        quantity = self.of_adjoint.get(name, name)
        if name == str(Delta) and self.cell.loss:
            raise CellError(f"trace: cell {self.cell.name!r} computes its loss: no Delta")
        if name == str(Delta):
            quantity = self.cell.output
        size = self.cell.size(quantity)
        if size not in self.sizes:
            raise CellError(f"trace: {quantity} has size {size}, which has no value "
                            f"(known: {', '.join(self.sizes)})")
        return self.sizes[size]

    def get(self, q: sp.Indexed, step: int) -> np.ndarray:
        name, k = base_name(q), int(q.indices[0].subs(t, step))
        return self.table.get((name, k), np.zeros(self.size(name)))


def forward_values(cell: Cell, params: dict[str, np.ndarray], xs: dict[str, np.ndarray],
                   state0: dict[str, np.ndarray], sizes: dict[str, int],
                   nudge: dict[tuple[str, int], np.ndarray] | None = None) -> Values:
    """Run the cell's equations for steps 1..T (T = len of the inputs' first axis).

    ``xs[name][t - 1]`` is input ``name`` at step t; ``state0`` the state at step 0; ``nudge``
    adds a vector to a quantity right after it is computed (for finite differences)."""
    steps = len(next(iter(xs.values())))
    values = Values(cell, sizes, steps, params)
    for s, v in state0.items():
        values.table[(s, 0)] = np.asarray(v, dtype=float)
    for step in range(1, steps + 1):
        for name in cell.inputs:
            values.table[(name, step)] = np.asarray(xs[name][step - 1], dtype=float)
        for eq in cell.equations:
            value = _evaluate(values, eq.rhs, step, (values.size(eq.name),))
            if nudge and (eq.name, step) in nudge:
                value = value + nudge[(eq.name, step)]
            values.table[(eq.name, step)] = value
    return values


def _evaluate(values: Values, expr: sp.Expr, step: int, shape: tuple[int, ...]) -> np.ndarray:
    fn, indexed, symbols = compile_expr(expr)
    out = fn(*(values.get(q, step) for q in indexed), *(values.params[str(s)] for s in symbols))
    return np.broadcast_to(np.asarray(out, dtype=float), shape).copy()


def loss(values: Values, deltas: dict[int, np.ndarray]) -> float:
    """``L = sum_t loss^t`` for a cell that computes its loss, else ``L = sum_t Delta^t . y^t``."""
    steps = range(1, values.steps + 1)
    if values.cell.loss:
        return float(sum(values.table[(values.cell.loss, k)].sum() for k in steps))
    return float(sum(np.dot(deltas[k], values.table[(values.cell.output, k)]) for k in steps))


@dataclass(frozen=True)
class Term:
    """One term of an adjoint at one step: its IR expression (at general t), its value and
    where it comes from ("layer above", the loss at this step, "step t" or "step t+1", with
    the boundary marked)."""
    expr: sp.Expr
    value: np.ndarray
    source: str
    from_step: int | None  #: the step whose adjoint the term reads (None: above, or the loss)
    boundary: bool = False  #: it reads an adjoint at T+1, which is 0
    read: sp.Indexed | None = None  #: the adjoint (or Delta) it reads, at the concrete step
    read_value: np.ndarray | None = None  #: that adjoint's value, computed before


@dataclass(frozen=True)
class AdjointStep:
    """An adjoint (or dL/ds^0) at one step, as the sum of its terms."""
    equation: Equation
    step: int
    terms: tuple[Term, ...]
    value: np.ndarray


def adjoint_terms(rhs: sp.Expr) -> list[tuple[sp.Expr, sp.Indexed | None]]:
    """The terms of an adjoint's right side, each with the one adjoint (or Delta) it reads."""
    out = []
    for term in sp.Add.make_args(rhs):
        read = [q for q in term.atoms(sp.Indexed) if q.base == Delta
                or str(q.base).startswith("delta_")]
        if len(read) > 1 and sp.expand(term) != term:
            out += adjoint_terms(sp.expand(term))
        else:
            out.append((term, read[0] if read else None))
    return out


@dataclass
class Trace:
    """A worked example: inputs, parameters, forward values, and the backward pass T..1."""
    cell: Cell
    backward: Backward
    sizes: dict[str, int]
    steps: int
    seed: int
    params: dict[str, np.ndarray]
    values: Values
    deltas: dict[int, np.ndarray]
    backward_steps: list[AdjointStep] = field(default_factory=list)
    initial: list[AdjointStep] = field(default_factory=list)
    gradients: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def loss(self) -> float:
        return loss(self.values, self.deltas)

    def adjoint(self, name: str, step: int) -> np.ndarray:
        """dL/d name^step as the trace computed it (``step`` 0 for the initial state)."""
        return self.values.table[(str(adjoint(name)), step)]


def _terms(values: Values, eq: Equation, step: int, steps: int) -> AdjointStep:
    shape = (values.size(base_name(eq.lhs)),)
    terms = []
    for expr, read in adjoint_terms(eq.rhs):
        if read is None and values.cell.loss:  # it carries dL/dloss^t = 1
            source, from_step = f"the loss at this step (dL/d{values.cell.loss}^{step} = 1)", None
        elif read is None or read.base == Delta:
            source, from_step = "layer above", None
        else:
            from_step = int(read.indices[0].subs(t, step))
            source = (f"this step ({from_step})" if from_step == step
                      else f"step t+1 = {from_step}")
        boundary = from_step is not None and from_step > steps
        if boundary:
            source = f"step T+1 = {from_step}: boundary, 0"
        at = read.subs(t, step) if read is not None else None
        terms.append(Term(expr, _evaluate(values, expr, step, shape), source, from_step, boundary,
                          at, values.get(read, step) if read is not None else None))
    value = sum((term.value for term in terms), np.zeros(shape))
    return AdjointStep(eq, step, tuple(terms), value)


def _draw(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """Numbers a student can redo by hand: multiples of 0.1 in [-1, 1]."""
    return np.round(rng.uniform(-1, 1, shape), 1) + 0.0


def draw_inputs(cell: Cell, rng: np.random.Generator, steps: int,
                sizes: dict[str, int]) -> dict[str, np.ndarray]:
    """Every input over the steps: multiples of 0.1, a loss's targets as the loss assumes
    (:data:`TARGET_DRAWS`); CellError if the drawn targets break an assumption of the
    derivation (a loss whose targets need a draw that the table lacks)."""
    draws = {base_name(f.args[1]): TARGET_DRAWS.get(type(f), _draw_any)
             for eq in cell.equations for f in eq.rhs.atoms(LossBase)}
    xs = {name: draws.get(name, _draw_any)(rng, (steps, sizes[cell.size(name)]))
          for name in cell.inputs}
    for side, value in loss_assumptions(cell).items():
        if not (isinstance(side, UnitSum) and isinstance(side.args[0], sp.Indexed)
                and side.args[0].indices == (t,)):
            continue  # the same assumption at t-1 and t+1
        name = base_name(side.args[0])
        if not np.allclose(xs[name].sum(axis=1), float(value), rtol=0, atol=1e-12):
            raise CellError(f"trace: the derivation assumes {sp.sstr(side)} = {value}, which "
                            f"the drawn {name} does not satisfy; add its loss to TARGET_DRAWS")
    return xs


def trace(cell: Cell, steps: int = 3, hidden: int = 1, inputs: int = 1, seed: int = 0,
          state0: dict[str, np.ndarray] | None = None,
          sizes: dict[str, int] | None = None) -> Trace:
    """The numeric example of ``cell`` over ``steps`` steps at hidden size ``hidden`` and input
    size ``inputs`` (other size names from ``sizes``, else 1): parameters, inputs and, for a
    cell without a loss of its own, ``Delta^t`` drawn with ``seed`` (multiples of 0.1; a loss's
    targets as it assumes), the initial state zero unless given."""
    if steps < 1:
        raise CellError(f"trace: --steps must be at least 1, got {steps}")
    sizes = size_values(cell, hidden, inputs, sizes)
    rng = np.random.default_rng(seed)
    params = {p.name: _draw(rng, tuple(sizes[n] for n in p.shape)) for p in cell.params.values()}
    xs = draw_inputs(cell, rng, steps, sizes)
    out_size = sizes[cell.size(cell.output)]
    deltas = {} if cell.loss else {k: _draw(rng, (out_size,)) for k in range(1, steps + 1)}
    state0 = state0 if state0 is not None else {
        s: np.zeros(sizes[cell.size(s)]) for s in cell.state}
    values = forward_values(cell, params, xs, state0, sizes)
    for k, d in deltas.items():
        values.table[(str(Delta), k)] = d
    backward = derive(cell)
    result = Trace(cell, backward, sizes, steps, seed, params, values, deltas)
    for step in range(steps, 0, -1):
        for eq in backward.adjoints:
            done = _terms(values, eq, step, steps)
            values.table[(eq.name, step)] = done.value
            result.backward_steps.append(done)
    for eq in backward.initial:
        done = _terms(values, eq, 0, steps)
        values.table[(eq.name, 0)] = done.value
        result.initial.append(done)
    of_gradient = {gradient(p): p for p in cell.params}
    for eq in backward.gradients:
        body = eq.rhs.function if isinstance(eq.rhs, sp.Sum) else eq.rhs
        param = cell.params[of_gradient[eq.lhs]]
        shape = tuple(sizes[n] for n in param.shape)
        result.gradients[param.name] = sum(
            (_evaluate(values, body, k, shape) for k in range(1, steps + 1)), np.zeros(shape))
    return result


# --- the trace as text, Markdown and JSON ---------------------------------------------------

def _numbers(v: np.ndarray, digits: int = 4) -> str:
    """``0.3`` for one number, ``[0.3, -0.1]`` for a vector, ``[a, b; c, d]`` for a matrix."""
    def one(a: float) -> str:
        text = f"{a:.{digits}f}"
        return text[1:] if text.startswith("-") and float(text) == 0 else text
    v = np.asarray(v, dtype=float)
    if v.size == 1:
        return one(float(v.ravel()[0]))
    if v.ndim == 2:
        return "[" + "; ".join(", ".join(one(a) for a in row) for row in v) + "]"
    return "[" + ", ".join(one(a) for a in v) + "]"


class _Writer:
    """Prints expressions of the trace at concrete steps in a notation."""

    def __init__(self, tr: Trace, notation: str) -> None:
        from .printers import TextbookLatexPrinter, get_notation
        self.tr = tr
        self.printer = TextbookLatexPrinter(get_notation(notation, tr.cell), tr.cell)

    def tex(self, expr: sp.Expr, step: int, lhs: sp.Expr | None = None) -> str:
        self.printer.lhs = lhs if lhs is not None else sp.S.Zero
        return self.printer.doprint(self.printer.display(expr.subs(t, step)))

    def lhs(self, eq: Equation, step: int) -> str:
        return self.tex(eq.lhs, step, eq.lhs)

    def named(self, name: str, step: int) -> bool:
        """False for quantities the notation writes only as their definition."""
        return name not in self.printer.notation.inline


def _targets(tr: Trace, markdown: bool = False) -> str:
    """How the targets were drawn and what the derivation assumes of them."""
    drawn = ", ".join(f"${z}^{{t}}$" if markdown else f"{z}^t" for z in tr.cell.targets)
    one_hot = any(TARGET_DRAWS.get(type(f)) is _one_hot for eq in tr.cell.equations
                  for f in eq.rhs.atoms(LossBase))
    assumed = "; ".join(f"`{a}`" if markdown else a for a in tr.backward.assumptions)
    how = "one-hot (one unit 1, the others 0)" if one_hot else "multiples of 0.1"
    return (f"The targets {drawn} are drawn {how}" + (f", as the derivation assumes: {assumed}"
                                                      if assumed else "") + ".")


def _header(tr: Trace) -> list[str]:
    out, cell = tr.cell.output, tr.cell
    zero = ", ".join(f"{s}^0" for s in cell.state)
    start = "zero" if all(not tr.values.table[(s, 0)].any() for s in cell.state) else "given"
    first = (f"Worked example: {cell.name}, T = {tr.steps} steps, "
             + ", ".join(f"{k} = {tr.sizes[k]}" for k in cell.size_names) + f", seed {tr.seed}")
    rest = (f"Initial state {zero}: {start}. Boundary: every adjoint at t = {tr.steps + 1} "
            "is 0.")
    if cell.loss:
        return [first, f"Loss L = sum over t of {cell.loss}^t, the loss the cell computes: no "
                f"gradient arrives from a layer above, the backward pass starts from "
                f"dL/d{cell.loss}^t = 1 at every step. {rest}", _targets(tr),
                "Parameters and the other inputs are multiples of 0.1 so that every line can "
                "be redone by hand."]
    return [first, f"Loss L = sum over t of Delta^t . {out}^t, with Delta^t = dL/d{out}^t from "
            f"the layer above (drawn below). {rest}",
            "Parameters, inputs and Delta are multiples of 0.1 so that every line can be "
            "redone by hand."]


def format_text(tr: Trace, notation: str = "vector") -> str:
    """The trace for a terminal: forward values step by step, then each adjoint of the
    backward pass as its terms, with their values and the step each comes from."""
    from .labels import latex_to_text as text
    w = _Writer(tr, notation)
    lines = [*_header(tr), "", "Parameters (the same at every step):"]
    lines += [f"  {text(w.tex(tr.cell.params[p].symbol, 1))} = {_numbers(v, 1)}"
              for p, v in tr.params.items()]
    lines += ["", f"Forward pass, t = 1 .. {tr.steps}:"]
    for s in tr.cell.state:
        if w.named(s, 0):
            lines.append(f"  {text(w.tex(tr.cell.equation(s).lhs, 0))} = "
                         f"{_numbers(tr.values.table[(s, 0)])}")
    for step in range(1, tr.steps + 1):
        lines.append(f"  t = {step}")
        for name in tr.cell.inputs:
            lines.append(f"    {text(w.tex(sp.IndexedBase(name)[t], step))} = "
                         f"{_numbers(tr.values.table[(name, step)], 1)}")
        if not tr.cell.loss:
            lines.append(f"    {text(w.tex(Delta[t], step))} = {_numbers(tr.deltas[step], 1)}")
        for eq in tr.cell.equations:
            if w.named(eq.name, step):
                lines.append(f"    {text(w.lhs(eq, step))} = {text(w.tex(eq.rhs, step, eq.lhs))}"
                             f" = {_numbers(tr.values.table[(eq.name, step)])}")
    lines += ["", f"Backward pass, t = {tr.steps} .. 1 (each adjoint = the sum of its terms):"]
    current = None
    for done in [*tr.backward_steps, *tr.initial]:
        if done.step != current:
            current = done.step
            lines.append(f"  t = {done.step}" if done.step else
                         "  the initial state (what step 1 reads)")
        lines.append(f"    {text(w.lhs(done.equation, done.step))}")
        for k, term in enumerate(done.terms):
            uses = (f", uses {text(w.tex(term.read, done.step))} = {_numbers(term.read_value)}"
                    if term.from_step is not None and not term.boundary else "")
            lines.append(f"      {'=' if k == 0 else '+'} "
                         f"{text(w.tex(term.expr, done.step, done.equation.lhs)):<44} "
                         f"{_numbers(term.value):>10}   from {term.source}{uses}")
        lines.append(f"      = {_numbers(done.value)}")
    lines += ["", f"Parameter gradients (sums over t = 1 .. {tr.steps}):"]
    lines += [f"  dL/d{text(w.tex(tr.cell.params[p].symbol, 1))} = {_numbers(g)}"
              for p, g in tr.gradients.items()]
    lines.append(f"Loss L = {tr.loss:.6f}")
    return "\n".join(lines) + "\n"


def format_markdown(tr: Trace, notation: str = "vector") -> str:
    """The trace as Markdown with LaTeX (``$...$``), one table per step."""
    w = _Writer(tr, notation)

    def math(s: str) -> str:
        return f"${s}$"
    def at_t(name: str) -> str:
        return w.tex(sp.IndexedBase(name)[t], 0).replace("^{0}", "^{t}")
    y = at_t(tr.cell.output)
    state0 = ", ".join(w.tex(sp.IndexedBase(s)[t], 0) for s in tr.cell.state if w.named(s, 0))
    zero = all(not tr.values.table[(s, 0)].any() for s in tr.cell.state)
    if tr.cell.loss:
        ell = at_t(tr.cell.loss)
        loss_text = (f"The loss is $L = \\sum_t {ell}$, the loss the cell computes: no gradient "
                     f"arrives from a layer above, the backward pass starts from $\\partial L / "
                     f"\\partial {ell} = 1$ at every step. {_targets(tr, True)} Parameters and the "
                     f"other inputs are multiples of 0.1 so that every line can be redone by hand.")
    else:
        loss_text = (f"The loss is $L = \\sum_t \\Delta^t \\cdot {y}$ with $\\Delta^t = "
                     f"\\partial L / \\partial {y}$, the gradient from the layer above, drawn like "
                     f"the parameters and inputs as multiples of 0.1 so that every line can be "
                     f"redone by hand.")
    lines = [_header(tr)[0] + ".", "",
             f"{loss_text} Initial state ${state0}$: {'zero' if zero else 'given'}. Boundary: "
             f"every adjoint at $t = T+1 = {tr.steps + 1}$ is 0.", "",
             "**Parameters** (the same at every step): " + ", ".join(
                 math(f"{w.tex(tr.cell.params[p].symbol, 1)} = {_numbers(v, 1)}")
                 for p, v in tr.params.items()) + "."]
    lines += ["", "**Forward pass**", "", "| t | quantity | equation | value |",
              "| --- | --- | --- | --- |"]
    for s in tr.cell.state:
        if w.named(s, 0):
            lines.append(f"| 0 | {math(w.tex(tr.cell.equation(s).lhs, 0))} | initial state | "
                         f"{_numbers(tr.values.table[(s, 0)])} |")
    for step in range(1, tr.steps + 1):
        for name in tr.cell.inputs:
            role = "target" if name in tr.cell.targets else "input"
            lines.append(f"| {step} | {math(w.tex(sp.IndexedBase(name)[t], step))} | {role} | "
                         f"{_numbers(tr.values.table[(name, step)], 1)} |")
        if not tr.cell.loss:
            lines.append(f"| {step} | {math(w.tex(Delta[t], step))} | from the layer above | "
                         f"{_numbers(tr.deltas[step], 1)} |")
        for eq in tr.cell.equations:
            if w.named(eq.name, step):
                lines.append(f"| {step} | {math(w.lhs(eq, step))} | "
                             f"{math(w.tex(eq.rhs, step, eq.lhs))} | "
                             f"{_numbers(tr.values.table[(eq.name, step)])} |")
    lines += ["", f"**Backward pass**, from $t = {tr.steps}$ down to 1; a term *from step t+1* "
              "reads an adjoint that the previous row block (the later step) computed.", "",
              "| t | adjoint | term | value | comes from | uses |",
              "| --- | --- | --- | --- | --- | --- |"]
    for done in [*tr.backward_steps, *tr.initial]:
        name = math(w.lhs(done.equation, done.step))
        for term in done.terms:
            source = (f"**{term.source}**" if term.from_step == done.step + 1 and not term.boundary
                      else term.source)
            text = math(w.tex(term.expr, done.step, done.equation.lhs))
            uses = (math(f"{w.tex(term.read, done.step)} = {_numbers(term.read_value)}")
                    if term.from_step is not None and not term.boundary else "")
            lines.append(f"| {done.step} | {name} | {text}"
                         f" | {_numbers(term.value)} | {source} | {uses} |")
        lines.append(f"| {done.step} | {name} | **sum** | **{_numbers(done.value)}** | | |")
    lines += ["", "**Parameter gradients** (sums over the steps): " + ", ".join(
        math(f"\\partial L / \\partial {w.tex(tr.cell.params[p].symbol, 1)} = {_numbers(g)}")
        for p, g in tr.gradients.items()) + ".", "", f"Loss $L = {tr.loss:.6f}$."]
    return "\n".join(lines) + "\n"


def format_json(tr: Trace) -> str:
    """The trace as JSON: every number, each term in plain text with its source step."""
    from .printers import plain

    def each(done: AdjointStep) -> dict:
        return {"adjoint": done.equation.name, "step": done.step, "value": done.value.tolist(),
                "terms": [{"term": plain(term.expr.subs(t, done.step)),
                           "value": term.value.tolist(), "from": term.source,
                           "from_step": term.from_step, "boundary": term.boundary}
                          for term in done.terms]}
    data = {"cell": tr.cell.name, "steps": tr.steps, "sizes": tr.sizes, "seed": tr.seed,
            "params": {p: v.tolist() for p, v in tr.params.items()},
            "forward": [{"name": n, "step": k, "value": v.tolist()}
                        for (n, k), v in tr.values.table.items()
                        if not n.startswith("delta_") and n != str(Delta)],
            "L": (f"sum over t of {tr.cell.loss}[t]" if tr.cell.loss
                  else f"sum over t of Delta[t] . {tr.cell.output}[t]"),
            "assumptions": list(tr.backward.assumptions),
            "Delta": {str(k): v.tolist() for k, v in tr.deltas.items()},
            "backward": [each(d) for d in tr.backward_steps],
            "initial": [each(d) for d in tr.initial],
            "gradients": {p: g.tolist() for p, g in tr.gradients.items()},
            "loss": tr.loss}
    return json.dumps(data, indent=1) + "\n"


FORMATS = {"text": format_text, "md": format_markdown, "json": lambda tr, notation: format_json(tr)}
