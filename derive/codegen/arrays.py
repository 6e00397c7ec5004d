"""What the array-library writers (torch, jax) share: expressions of the plan printed as
whole-array code from one table per target, the module's constants and docstring, and the
backward step and gradient sums read from the plan.

Printing modes of a quantity ``q`` read at ``t + k``: ``step`` (inside the loop: ``q[t + k]``,
an input or dy counted from 0: ``x[t + k - 1]``), ``all`` (every step at once, for the sums
after the loop: ``q[1:T + 1]``, ``q[0:T]``), ``fixed`` (a number as the step: ``q[1]``).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import sympy as sp

from ..derivation import adjoint
from ..ir import (ACTIVATIONS, PRIMES, CellError, Delta, Equation, LossBase, MatVec, Outer,
                  Softmax, UnitSum, base_name, t)
from .plan import Plan, TextPrinter, _cols, _group_of, _index, _is_product, _text, _uncache


@dataclass(frozen=True)
class Target:
    """One array library: the source of each elementwise function by name (``{a}`` the
    argument), of a sum over units and of a softmax, its concatenation and its zeros."""
    functions: dict[str, str]
    library: str
    unit_sum: str
    softmax: str
    concat: str
    zeros: str

    def function(self, f: type) -> str:
        """The source template of an elementwise function (activation, derivative, exp, log):
        a row of the table, else the activation's NumPy source with np. read as the library."""
        name = f.__name__
        if name in self.functions:
            return self.functions[name]
        if f in ACTIVATIONS:
            return ACTIVATIONS[f].numpy.replace("np.", f"{self.library}.")
        if f in PRIMES:
            return ACTIVATIONS[PRIMES[f]].numpy_prime.replace("np.", f"{self.library}.")
        raise CellError(f"codegen: no {self.library} rule for {name}")


class Code(sp.Symbol):
    """Source code standing in an expression (a block of a stacked product)."""


class ArrayPrinter(TextPrinter):
    """Whole-array expressions for one target and mode (see the module docstring)."""

    def __init__(self, writer: "ArrayWriter", mode: str) -> None:
        super().__init__()
        self.w, self.mode = writer, mode

    def _print_Code(self, e):
        return e.name

    def _print_Symbol(self, e):
        return e.name

    def _print_Rational(self, e):
        return repr(float(e))

    _print_Half = _print_Rational

    def _print_Indexed(self, q):
        w, index = self.w, q.indices[0]
        c = w.cell
        if not index.has(t):            # a step given as a number (any mode)
            k = int(index)
            if _is_product(q):
                return f"({w.delta_at(_group_of(q), str(k))} @ {w.weight(_group_of(q))})"
            if base_name(q) in c.inputs:
                return f"{q.base}[{k - 1}]"
            return f"{q.base}[{k}]"
        k = int(index - t)
        if self.mode == "all":
            if _is_product(q):
                gi = _group_of(q)
                if k != 0:
                    raise CellError(f"codegen: a sum over t reads {q}")
                return f"_steps_matmul({w.delta_all(gi)}, {w.weight(gi)})"
            if base_name(q) in c.inputs:
                return base_name(q)
            if q.base == Delta:
                return "dy"
            if k not in (0, -1):
                raise CellError(f"codegen: a sum over t reads {q}")
            return f"{q.base}[{'1:T + 1' if k == 0 else '0:T'}]"
        step = _index(k)
        if _is_product(q):
            return f"({w.delta_at(_group_of(q), step)} @ {w.weight(_group_of(q))})"
        if k == 0 and base_name(q) in w.local:
            return base_name(q)                     # a step's own variable, no history
        if base_name(q) in c.inputs or q.base == Delta:
            name = "dy" if q.base == Delta else base_name(q)
            return f"{name}[{_index(k - 1)}]"       # inputs and dy count steps from 0
        return f"{q.base}[{step}]"

    def _print_Function(self, e):
        target = self.w.target
        if isinstance(e, LossBase):
            return self._print(type(e).value(*e.args))
        if isinstance(e, UnitSum):
            return target.unit_sum.format(v=self._print(e.args[0]))
        if isinstance(e, Softmax):
            return target.softmax.format(a=self._print(e.args[0]))
        return "(" + target.function(type(e)).format(a=self._print(e.args[0])) + ")"

    def _print_MatVec(self, e):
        raise CellError(f"codegen: {e} was not planned as a stacked product")


class ArrayWriter:
    """The parts of a module every array target writes the same way."""
    target: Target

    def __init__(self, p: Plan) -> None:
        self.p, self.cell = p, p.cell
        self.step = ArrayPrinter(self, "step")
        self.all = ArrayPrinter(self, "all")
        self.fixed = ArrayPrinter(self, "fixed")
        self.weights = {gi: p.fresh(f"{g.source}_weights") for gi, g in enumerate(p.groups)}
        self.local: set[str] = set()    # quantities kept only within their step (no history)
        self.computed: set[str] = set()  # equations a step's product lines compute already
        self._sums: dict[str, str] | None = None     # see buffer_sums

    @staticmethod
    def indent(lines: list[str], depth: int) -> list[str]:
        return [("    " * depth + s) if s else s for s in lines]

    # -- names -------------------------------------------------------------------------------

    def param_var(self, key: str) -> str:
        """The variable of a packed parameter (never a cell's name: those cannot start with _)."""
        return f"_{key}"

    def ref(self, key: str) -> str:
        return self.param_var(key)

    def weight(self, gi: int) -> str:
        return self.weights[gi]

    def public_size(self, name: str) -> str:
        return self.p.name(self.cell.size(name))

    def input_shapes(self) -> str:
        return ", ".join(f"{x} (T, B, {self.public_size(x)})" for x in self.cell.inputs)

    def shapes(self) -> str:
        return ", ".join(f"{n!r}: {self.p.packed_shape(n)}" for n in self.p.packed())

    def differentiable(self) -> list[str]:
        return [x for x in self.cell.inputs if x not in self.cell.targets]

    def size_lines(self, ref) -> list[str]:
        """The size variables, read from the arrays: an input's last axis, else a packed
        parameter's axis (``ref(key)``: its code)."""
        c, p = self.cell, self.p
        lines = []
        for size in c.size_names:
            x = next((x for x in c.inputs if c.size(x) == size), None)
            if x is not None:
                lines.append(f"{size} = {x}.shape[2]")
                continue
            key, axis, blocks = next(
                (key, axis, len(members) if axis == 0 else 1)
                for key, (members, shape) in p.packed().items()
                for axis, d in enumerate(shape) if d == size)
            div = f" // {blocks}" if blocks > 1 else ""
            lines.append(f"{size} = {ref(key)}.shape[{axis}]{div}")
        return lines

    # -- module text -------------------------------------------------------------------------

    def constants(self) -> list[str]:
        c, p = self.cell, self.p
        size_of = {p.name(q): self.public_size(q) for q in (*c.inputs, *c.state, c.output)}
        return [
            f"CELL = {c.name!r}",
            f"SIZES = {tuple(p.name(n) for n in c.size_names)!r}  # size names, in the order of "
            "positional sizes",
            f"INPUTS = {tuple(p.name(x) for x in c.inputs)!r}",
            f"TARGETS = {tuple(p.name(x) for x in c.targets)!r}  # inputs without a gradient",
            f"LOSS = {p.name(c.loss) if c.loss else None!r}  # the per-step loss, if any",
            f"STATE = {tuple(p.name(s) for s in c.state)!r}",
            f"OUTPUT = {p.name(c.output)!r}",
            f"SIZE_OF = {size_of!r}",
            f"PARAMS = {tuple(p.packed())!r}  # in the order of the functions' arguments",
            f"_ALIASES = {self.aliases()!r}",
        ]

    def aliases(self) -> dict[str, str]:
        c, p = self.cell, self.p
        out = {"input_size": p.name(c.size(c.inputs[0]))}
        if "H" in c.size_names:
            out["hidden_size"] = "H"
        return out

    def param_shapes_source(self) -> list[str]:
        """The generated ``param_shapes`` function (the same in every array target)."""
        return ["def param_shapes(*sizes, **named):",
                '    """Parameter name -> shape, for the sizes given in the order of SIZES, as a '
                'dict or',
                '    by name; the layout of PyTorch for its cells."""',
                f"    {', '.join(self.cell.size_names)}, = _sizes(sizes, named).values()",
                f"    return {{{self.shapes()}}}"]

    def docstring(self, library: str) -> str:
        c, p = self.cell, self.p
        lines = [f"{c.name}: forward and backward through time for {library}, generated by "
                 "bptt from the cell's equations.", ""]
        if c.description or c.source:
            lines += [f"Cell: {c.description}" + (f" ({c.source})." if c.source else "."), ""]
        lines += ["Forward, t = 1..T:"] + [f"    {_text(eq)}" for eq in c.equations]
        lines += p.backward_lines()
        if p.sheet.assumptions:
            lines += ["", f"Assumed (the backward pass is exact only then): "
                      f"{'; '.join(p.sheet.assumptions)}."]
        lines += ["", "Parameters (a packed parameter is the row-stack of its blocks):"]
        for name, (members, _) in p.packed().items():
            blocks = f" = [{'; '.join(members)}]" if len(members) > 1 else ""
            lines.append(f"    {name} {p.packed_shape(name)}{blocks}")
        return "\n".join(lines)

    # -- forward pieces ------------------------------------------------------------------------

    def products_of(self, eq: Equation) -> dict[sp.Expr, tuple[int, int]]:
        """Each ``W @ v`` term of an equation -> (group, block)."""
        out = {}
        for term in sp.Add.make_args(eq.rhs):
            if isinstance(term, MatVec):
                for gi, g in enumerate(self.p.groups):
                    for k, q in enumerate(g.products):
                        if g.arg == term.args[1] and q.weight == str(term.args[0]) \
                                and q.equation == eq.name:
                            out[term] = (gi, k)
        return out

    def block(self, gi: int, k: int) -> str:
        """The columns of block k of group gi's stacked product."""
        g = self.p.groups[gi]
        rows = [self.cell.params[q.weight].shape[0] for q in g.products]
        return _cols(k, k + 1, rows) if len(rows) > 1 else ""

    def stack(self, gi: int) -> str:
        return self.p.stack(self.p.groups[gi], self.target.concat, self.ref)

    def vector_views(self, exprs) -> list[str]:
        return [f"{n} = {self.p.view(n, self.ref)}" for n in self.p.vectors(list(exprs))]

    def step_body(self, products: dict[int, str], hoisted_at: Callable[[str], str],
                  assign: Callable[[str], str], printer: ArrayPrinter) -> list[str]:
        """One forward step's lines (indented once): each group's product where its first
        equation needs it, then the equations and the activations cached for the backward
        pass. ``hoisted_at`` reads a product computed for all steps before the loop at this
        step; ``assign`` is the left side for a quantity's name."""
        p, lines, started = self.p, [], set()
        at = {gi: (hoisted_at(products[gi]) if p.hoisted(g) else products[gi])
              for gi, g in enumerate(p.groups)}
        for eq in self.cell.equations:
            for gi, g in enumerate(p.groups):
                if gi not in started and not p.hoisted(g) and eq.name in g.layout:
                    started.add(gi)
                    lines += self.step_product_lines(gi, products, at, printer)
            if eq.name in self.computed:
                continue
            lines.append(f"    {self.statement(assign(eq.name), self.forward_rhs(eq, at.get, printer))}")
            lines += [f"    {self.statement(assign(name), printer.doprint(f(sp.IndexedBase(q)[t])))}"
                      for (f, q), name in p.cached.items() if q == eq.name]
        return lines

    @staticmethod
    def statement(target: str, code: str) -> str:
        """The assignment of code to a target."""
        return f"{target} = {code}"

    def step_product_lines(self, gi: int, products: dict[int, str], at: dict[int, str],
                           printer: ArrayPrinter) -> list[str]:
        """The lines of group gi's stacked product at a step (``at``: the code of each
        group's product at this step)."""
        return [f"    {products[gi]} = {printer.doprint(self.p.groups[gi].arg)} @ "
                f"{self.weight(gi)}.T"]

    def rhs(self, eq: Equation) -> sp.Expr:
        """An equation's right side as a step computes it (cached activations read)."""
        return _uncache(self.p, eq.rhs)

    def block_code(self, gi: int, k: int, product_var) -> sp.Expr:
        """Block k of group gi's stacked product at a step, as an expression."""
        cols = self.block(gi, k)
        return Code(f"{product_var(gi)}[..., {cols}]" if cols else product_var(gi))

    def forward_rhs(self, eq: Equation, product_var, printer: ArrayPrinter | None = None) -> str:
        """An equation's right side with each product a block of its group's stacked product
        (``product_var(gi)``: the code of the whole stacked product at this step)."""
        blocks = {term: self.block_code(gi, k, product_var)
                  for term, (gi, k) in self.products_of(eq).items()}
        return (printer or self.step).doprint(self.rhs(eq).xreplace(blocks))

    def saved(self) -> list[str]:
        """The forward histories the backward pass reads."""
        return self.p.saved()

    # -- backward pieces -----------------------------------------------------------------------

    def delta_at(self, gi: int, step: str) -> str:
        buf, a = self.p.delta_of[gi]
        n = len(self.p.groups[gi].products)
        if (a, a + n) == (0, len(buf.holds)):
            return f"{buf.name}[{step}]"
        return f"{buf.name}[{step}, :, {_cols(a, a + n, buf.widths)}]"

    def delta_all(self, gi: int) -> str:
        return self.delta_at(gi, "1:T + 1")

    def in_loop(self) -> list[Equation]:
        return [eq for eq in self.p.adjoints if eq.name[6:] not in self.cell.inputs]

    def later_and_rest(self, eq: Equation) -> tuple[sp.Expr, sp.Expr] | None:
        """A state's adjoint split into its terms from step t+1 and the rest; None for the
        adjoint of anything else."""
        if eq.name[6:] not in self.cell.state:
            return None
        later = sp.Add(*(a for a in sp.Add.make_args(eq.rhs)
                         if any(q.indices[0] == t + 1 for q in a.atoms(sp.Indexed))))
        return later, eq.rhs - later

    def adjoint_step(self, eq: Equation, dstateT: str) -> str:
        """The right side of one adjoint at t; a state's terms from step t+1 are dstateT
        at t = T."""
        split = self.later_and_rest(eq)
        if split is None:
            return self.step.doprint(eq.rhs)
        later, rest = split
        head = f"({self.step.doprint(later)} if t < T else {dstateT})" if later != 0 \
            else f"(0 if t < T else {dstateT})"
        return head if rest == 0 else f"{head} + {self.step.doprint(rest)}"

    def copies(self, eq: Equation) -> list[tuple[str, str]]:
        """(buffer, columns) of the other layouts that hold this adjoint too."""
        home = self.p.adjoint_home.get(eq.name)
        out = []
        for buf in self.p.backward_buffers:
            for k, q in enumerate(buf.holds):
                if home and f"delta_{q}" == eq.name and (buf, k) != home:
                    out.append((buf.name, _cols(k, k + 1, buf.widths)))
        return out

    def gradient_lines(self) -> list[str]:
        """After the loop: the inputs' gradients, dstate0, every packed parameter's gradient,
        each as code assigned to ``d_<name>``; returns the lines."""
        p, c = self.p, self.cell
        L = []
        for x in self.differentiable():
            dx = next((eq for eq in p.adjoints if eq.name == f"delta_{x}"), None)
            if dx is not None and dx.rhs != 0:
                L.append(f"delta_{x} = {self.all.doprint(dx.rhs)}")
            else:
                L.append(f"delta_{x} = {self.target.zeros.format(like=x, shape=f'{x}.shape')}")
        for eq in p.initial:
            L.append(f"{eq.name}_0 = {self.fixed.doprint(eq.rhs)}")
        pieces: dict[str, list[str]] = {}
        whole: dict[tuple[str, ...], str] = {}   # the weights of a group -> its gradient
        for gi, g in enumerate(p.groups):
            dW = p.fresh(f"{self.weights[gi]}_grad")
            arg = self.all.doprint(g.arg)
            L.append(f"{dW} = _outer_sum({self.delta_all(gi)}, {arg})")
            whole[tuple(q.weight for q in g.products)] = dW
            for k, q in enumerate(g.products):
                cols = self.block(gi, k)
                pieces.setdefault(q.weight, []).append(f"{dW}[{cols}]" if cols else dW)
        for eq in p.gradients:
            name, body = eq.name[6:], eq.rhs
            if len(c.params[name].shape) == 2:
                want = sp.Add(*(Outer(adjoint(q.equation)[t], g.arg) for g in p.groups
                                for q in g.products if q.weight == name))
                if body != want:
                    raise CellError(f"cell {c.name!r}: codegen cannot stack the gradient "
                                    f"{_text(eq)}")
            elif body != 0:
                pieces[name] = [self.step_sum(body)]
        for key, (members, (rows, *cols)) in p.packed().items():
            if members in whole and all(len(pieces[m]) == 1 for m in members):
                L.append(f"_d{key} = {whole[members]}")   # a group in the packed order
                continue
            parts = []
            for m in members:
                shape = f"({', '.join([rows, *cols])},)"
                got = pieces.get(m) or [self.target.zeros.format(like=self.param_var(key),
                                                                 shape=shape)]
                parts.append(" + ".join(got))
            L.append(f"_d{key} = " + (parts[0] if len(parts) == 1 else
                                                    f"{self.target.concat}([{', '.join(parts)}])"))
        return L

    def summed(self, body: sp.Expr):
        """(buffer, block) of an adjoint at t that lives in a buffer of several blocks."""
        if isinstance(body, sp.Indexed) and body.indices[0] == t:
            home = self.p.adjoint_home.get(str(body.base))
            if home and len(home[0].holds) > 1:
                return home
        return None

    def buffer_sums(self) -> dict[str, str]:
        """The adjoint buffers whose column sums the vector parameters' gradients read ->
        the variable of those sums."""
        names = {self.summed(eq.rhs)[0].name for eq in self.p.gradients if self.summed(eq.rhs)}
        if self._sums is None:
            self._sums = {n: self.p.fresh(f"{n}_sum") for n in sorted(names)}
        return self._sums

    def sum_lines(self) -> list[str]:
        """One column sum over steps and examples per adjoint buffer that needs it (a sum over
        a strided block is slow)."""
        return [f"{v} = {self.buffer_all(n)}.sum((0, 1))" for n, v in self.buffer_sums().items()]

    def buffer_all(self, name: str) -> str:
        """An adjoint buffer's steps 1..T."""
        return f"{name}[1:T + 1]"

    def step_sum(self, body: sp.Expr) -> str:
        """The code of the sum over steps and examples of a vector parameter's gradient: a
        block of its buffer's column sums, else its own sum."""
        home = self.summed(body)
        if home is None:
            return f"({self.all.doprint(body)}).sum((0, 1))"
        buf, k = home
        return f"{self.buffer_sums()[buf.name]}[{_cols(k, k + 1, buf.widths)}]"

    def gradients(self) -> list[str]:
        """The gradients in the order of the kernel function's arguments: inputs (None for a
        target), initial states, packed parameters."""
        c = self.cell
        return ([f"delta_{x}" if x not in c.targets else "None" for x in c.inputs]
                + [f"delta_{s}_0" for s in c.state]
                + [f"_d{k}" for k in self.p.packed()])


# whole-array helpers every array target's module carries (written with its library's @)
ARRAY_HELPERS = '''

def _steps_matmul(a, w):
    """a @ w for all steps at once: one GEMM."""
    return (a.reshape(-1, a.shape[-1]) @ w).reshape(*a.shape[:-1], w.shape[-1])


def _outer_sum(g, v):
    """The sum over steps and examples of the outer products g v^T: one GEMM."""
    return g.reshape(-1, g.shape[-1]).T @ v.reshape(-1, v.shape[-1])
'''
