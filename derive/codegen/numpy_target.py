"""The NumPy writer: a plan printed as in-place NumPy code (``out=``), one module."""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Callable

import sympy as sp
from sympy.printing.precedence import PRECEDENCE

from ..derivation import adjoint
from ..ir import (ACTIVATIONS, PRIMES, CellError, Delta, Equation, LossBase, MatVec,
                  Outer, Softmax, UnitSum, base_name, sigmoid, t, tanh)
from .plan import (AS_TANH, POOL_HELPER, SIZES_HELPER, Buffer, Group, Plan, TextPrinter, _cols, _group_of, _index,
                   _is_product, _text, _uncache)

# --- tables -------------------------------------------------------------------------------

# Elementwise functions with a NumPy ufunc that writes in place (``out=``; ``sigma`` is the
# generated module's stable sigmoid). Other activations are evaluated from their NumPy source
# in ``ir.ACTIVATIONS``. Adding a function is adding a row.
NUMPY_FUNCTIONS: dict[type, str] = {
    sigmoid: "sigma", tanh: "np.tanh",
    sp.tanh: "np.tanh", sp.exp: "np.exp", sp.log: "np.log", sp.Abs: "np.abs",
}
CONCAT = "np.concatenate"
# Powers with a cheaper NumPy call than np.power.
POWERS = {2: "np.square", -1: "np.reciprocal", sp.Rational(1, 2): "np.sqrt"}


def numpy_source(f: type) -> Callable[[str], str] | None:
    """NumPy source of an elementwise function of an operand (a new array), from the tables:
    an activation's or its derivative's NumPy source (``ir.ACTIVATIONS``), the softmax."""
    if f in ACTIVATIONS:
        return lambda a: ACTIVATIONS[f].numpy.format(a=a)
    if f in PRIMES:
        return lambda a: ACTIVATIONS[PRIMES[f]].numpy_prime.format(a=a)
    if f is Softmax:
        return lambda a: f"softmax({a})"
    return None


# --- printers ------------------------------------------------------------------------------

class ColumnPrinter(TextPrinter):
    """Runnable column form (one example; vectors as (n, 1) columns) that latexify renders as
    math: ``W @ x[t]``, ``np.transpose(W) @ g``, ``sigma(a)``."""

    def _print_MatVec(self, e):
        return f"{self._print(e.args[0])} @ {self.parenthesize(e.args[1], PRECEDENCE['Mul'])}"

    def _print_MatVecT(self, e):
        return (f"np.transpose({self._print(e.args[0])}) @ "
                f"{self.parenthesize(e.args[1], PRECEDENCE['Mul'])}")

    def _print_Outer(self, e):   # latexify renders np.transpose only of a plain name
        return f"outer({self._print(e.args[0])}, {self._print(e.args[1])})"

    units = 0   #: the axis of the units (0 in column form, -1 batched)

    def _print_Function(self, e):
        if type(e) in NUMPY_FUNCTIONS:
            return f"{NUMPY_FUNCTIONS[type(e)]}({self._print(e.args[0])})"
        if isinstance(e, LossBase):
            return self._print(type(e).value(*e.args))
        if isinstance(e, UnitSum):
            return f"np.sum({self._print(e.args[0])}, axis={self.units}, keepdims=True)"
        if isinstance(e, Softmax):
            return f"softmax({self._print(e.args[0])}, axis={self.units})"
        if (source := numpy_source(type(e))) is not None:
            return source(self._print(e.args[0]))
        raise CellError(f"codegen: no NumPy rule for {type(e).__name__} (in {e})")

    def _print_Rational(self, e):
        return repr(float(e))

    _print_Half = _print_Rational


class AllStepsPrinter(ColumnPrinter):
    """Batched expressions over all steps at once (after the backward loop): ``q[t]`` is
    ``q[1:]``, ``q[t-1]`` is ``q[:-1]``, a stacked product is one GEMM."""

    units = -1

    def __init__(self, p: Plan) -> None:
        super().__init__()
        self.plan = p

    def _print_Indexed(self, q):
        index = q.indices[0]
        if _is_product(q):
            gi = _group_of(q)
            if not index.has(t):
                return f"{self.plan.delta(gi, str(index))} @ {self.plan.weights[gi]}"
            if index != t:
                raise CellError(f"codegen: a sum over t reads {q}")
            return f"_steps_matmul({self.plan.delta_all(gi)}, {self.plan.weights[gi]})"
        if base_name(q) in self.plan.cell.inputs:
            return base_name(q)
        if q.base == Delta:
            return "dy"
        if not index.has(t):
            return f"{q.base}[{index}]"
        k = int(index - t)
        if k not in (0, -1):
            raise CellError(f"codegen: a sum over t reads {q}")
        return f"{q.base}[{'1:' if k == 0 else ':-1'}]"


# --- in-place elementwise code ---------------------------------------------------------------

class Temps:
    """Scratch (B, size) arrays, reused from one equation to the next: ``tmp0, tmp1, ...``."""

    def __init__(self) -> None:
        self.free: dict[str, list[str]] = {}
        self.size: dict[str, str] = {}   # name -> its size name

    def take(self, size: str) -> str:
        free = self.free.setdefault(size, [])
        if free:
            return free.pop()
        name = f"tmp{len(self.size)}"
        self.size[name] = size
        return name

    def give(self, name: str) -> None:
        self.free[self.size[name]].append(name)


class InPlace:
    """NumPy calls that evaluate an elementwise expression into an existing array (``out=``),
    composite terms first so that leaves need no scratch space.

    ``leaf(e)`` prints an operand that needs no computation (a quantity at a step, a parameter,
    a number) or returns None; ``product(q, out)`` prints a stacked product into ``out``;
    ``size(e)`` is the size name of a subexpression (for its scratch array). Operations that
    have no in-place ufunc (activations from their NumPy source, softmax, sums over units)
    compute a new array and copy it into ``out``, broadcasting a sum over units.
    """

    def __init__(self, leaf: Callable[[sp.Expr], str | None],
                 product: Callable[[sp.Indexed, str], str], temps: Temps,
                 size: Callable[[sp.Expr], str]) -> None:
        self.leaf, self.product, self.temps, self.size = leaf, product, temps, size

    def assign(self, expr: sp.Expr, out: str) -> list[str]:
        """``out = expr``."""
        if (s := self.leaf(expr)) is not None:
            return [f"np.copyto({out}, {s})"]
        if _is_product(expr):
            return [self.product(expr, out)]
        if isinstance(expr, sp.Add):
            return self._sum([_signed(a) for a in expr.args], out)
        if isinstance(expr, sp.Mul):
            c, rest = expr.as_coeff_Mul()
            if c == -1:
                return self.assign(rest, out) + [f"np.negative({out}, out={out})"]
            return self._product(list(sp.Mul.make_args(expr)), out)
        if isinstance(expr, sp.Pow):
            base, exp = expr.args
            call = POWERS.get(exp)
            fmt = (f"{call}({{}}, out={out})" if call else
                   f"np.power({{}}, {float(exp)!r}, out={out})")
            return self._unary(fmt.format, base, out)
        if type(expr) in NUMPY_FUNCTIONS:
            return self._unary(f"{NUMPY_FUNCTIONS[type(expr)]}({{}}, out={out})".format,
                               expr.args[0], out)
        if isinstance(expr, LossBase):
            return self.assign(type(expr).value(*expr.args), out)
        if isinstance(expr, UnitSum):
            operand, code = self._operand(expr.args[0])
            return code + [f"np.copyto({out}, np.sum({operand}, axis=-1, keepdims=True))"]
        if (source := numpy_source(type(expr))) is not None:
            return self._unary(lambda a: f"np.copyto({out}, {source(a)})", expr.args[0], out)
        raise CellError(f"codegen: no NumPy rule for {type(expr).__name__} (in {expr})")

    def add_to(self, expr: sp.Expr, out: str) -> list[str]:
        """``out += expr``."""
        lines = []
        for sign, term in map(_signed, sp.Add.make_args(expr)):
            operand, code = self._operand(term)
            op = "np.add" if sign > 0 else "np.subtract"
            lines += code + [f"{op}({out}, {operand}, out={out})"]
        return lines

    def _operand(self, e: sp.Expr) -> tuple[str, list[str]]:
        """A leaf as is, else e computed into a scratch array."""
        if (s := self.leaf(e)) is not None:
            return s, []
        tmp = self.temps.take(self.size(e))
        code = self.assign(e, tmp)
        self.temps.give(tmp)
        return tmp, code

    def _unary(self, call: Callable[[str], str], arg: sp.Expr, out: str) -> list[str]:
        if (s := self.leaf(arg)) is not None:
            return [call(s)]
        return self.assign(arg, out) + [call(out)]

    def _ordered(self, items: list) -> list:
        """Stacked products first (they write out= directly), other composites, then leaves."""
        def key(item):
            e = item[1] if isinstance(item, tuple) else item
            return self.leaf(e) is not None, not _is_product(e)
        return sorted(items, key=key)

    def _sum(self, terms: list[tuple[int, sp.Expr]], out: str) -> list[str]:
        (sign, first), *rest = self._ordered(terms)
        if self.leaf(first) is None:
            lines = self.assign(first, out)   # out holds sign * first
        else:   # only leaves: start from two, a positive one first
            (s1, second), *rest = rest
            if sign < 0 < s1:
                (sign, first), (s1, second) = (s1, second), (sign, first)
            lines = [f"{'np.add' if s1 == sign else 'np.subtract'}"
                     f"({self.leaf(first)}, {self.leaf(second)}, out={out})"]
        for s, term in rest:
            operand, code = self._operand(term)
            lines += code
            if sign < 0 < s:
                lines.append(f"np.subtract({operand}, {out}, out={out})")
                sign = 1
            else:
                op = "np.add" if s == sign else "np.subtract"
                lines.append(f"{op}({out}, {operand}, out={out})")
        if sign < 0:
            lines.append(f"np.negative({out}, out={out})")
        return lines

    def _product(self, factors: list[sp.Expr], out: str) -> list[str]:
        first, *rest = self._ordered(factors)
        if self.leaf(first) is None:
            lines = self.assign(first, out)
        else:
            second, *rest = rest
            lines = [f"np.multiply({self.leaf(first)}, {self.leaf(second)}, out={out})"]
        for f in rest:
            operand, code = self._operand(f)
            lines += code + [f"np.multiply({out}, {operand}, out={out})"]
        return lines


def _signed(term: sp.Expr) -> tuple[int, sp.Expr]:
    c, rest = term.as_coeff_Mul()
    if c < 0:
        return -1, rest if c == -1 else -term
    return 1, term


def _number(e: sp.Expr) -> str:
    return str(int(e)) if e.is_Integer else repr(float(e))


# --- stage 3: scheduled operations of one step -----------------------------------------------

@dataclass
class Op:
    """Lines of code with the names (quantities, buffers) they read and write."""
    lines: list[str]
    reads: set[str]
    writes: set[str]


@dataclass
class BlockOp:
    """One NumPy call on blocks a..b-1 of ``dst`` (from blocks sa.. of ``src``) that merges
    with the same call on adjacent blocks: kind "activate" (``extra``: the activations),
    "add" (add the source blocks), "bias" (``extra``: the constant terms) or "copy".
    ``dst_names``/``src_names``: the quantity in each block, where it has a name."""
    kind: str
    dst: Buffer
    a: int
    src: Buffer | None
    sa: int
    extra: list
    dst_names: list[str | None]
    src_names: list[str | None]
    comment: list[str]

    @property
    def b(self) -> int:
        return self.a + len(self.dst_names)

    def follows(self, other: BlockOp) -> bool:
        return (self.kind == other.kind and self.dst is other.dst and self.src is other.src
                and self.a == other.b and self.sa == other.sa + other.b - other.a)

    def merged(self, other: BlockOp) -> BlockOp:
        return BlockOp(self.kind, self.dst, self.a, self.src, self.sa, self.extra + other.extra,
                       self.dst_names + other.dst_names, self.src_names + other.src_names,
                       self.comment + other.comment)

    @property
    def reads(self) -> set[str]:
        src = {self.src.name, *filter(None, self.src_names)} if self.src else set()
        return src | ({self.dst.name} if self.kind != "activate" else set())

    @property
    def writes(self) -> set[str]:
        return {self.dst.name, *filter(None, self.dst_names)}

    def text(self, index: str) -> tuple[str, str]:
        """The destination and source blocks at a step."""
        one = len(self.dst_names) == 1
        dst = self.dst.at(self.a, self.b, index, self.dst_names[0] if one else None)
        src = self.src.at(self.sa, self.sa + self.b - self.a, index,
                          self.src_names[0] if one else None) if self.src else ""
        return dst, src


def _runs(ops: list[BlockOp]) -> list[BlockOp]:
    """Block operations on adjacent blocks (in any order) merged into single calls."""
    runs: list[BlockOp] = []
    for op in sorted(ops, key=lambda o: (o.dst.name, o.a)):
        if runs and op.follows(runs[-1]):
            runs[-1] = runs[-1].merged(op)
        else:
            runs.append(op)
    return runs


# --- stage 4: the module text ----------------------------------------------------------------

class ModuleWriter:
    """Writes the generated module from a plan."""

    def __init__(self, p: Plan) -> None:
        self.p, self.cell = p, p.cell
        self.prelude: list[str] = []     # constants of merged calls, computed before the loop
        self.all_steps = AllStepsPrinter(p)
        # Pre-activations computed in place and activated as scale * tanh(scale * a) + shift
        # with scale != 1 (sigmoid): their weights' rows and constants are multiplied by the
        # scale once per call (exact, a power of two), so each step saves one pass. Not where
        # the equation has other terms (they would need scaling too).
        self.prescaled: dict[str, float] = {
            q: AS_TANH[type(self.cell.equation(a).rhs)][0] for a, q in p.aliases.items()
            if AS_TANH.get(type(self.cell.equation(a).rhs), (1,))[0] != 1 and not self.rest(q)}
        self.scale_of: dict[int, str] = {}   # group -> its rows' scales, where prescaled
        # Histories of the input's products (and of activations computed from them) gate-major,
        # (T + 1, blocks, B, width): every block contiguous at a step, as the per-gate calls of
        # both loops want (on a strided column block they are 2 to 4 times slower). The
        # per-step products stay (B, width) for the GEMM; adding them converts.
        for gi, g in enumerate(p.groups):
            buf = p.products[gi]
            buf.major = p.hoisted(g) and len(buf.holds) > 1 and len(set(buf.widths)) == 1
        for buf in p.forward_buffers:   # a parallel buffer of activations follows its source
            if all(buf is not b for b in p.products.values()):
                q = next(q for q in buf.blocks if q)
                buf.major = p.home[base_name(self.cell.equation(q).rhs.args[0])][0].major
        # Their adjoints likewise: written gate-major, copied once per step into the (B, width)
        # layout ("_stacked") that the products read.
        self.twins: dict[int, Buffer] = {}   # id of a stacked adjoint buffer -> gate-major twin
        for buf in p.backward_buffers:
            if all(buf.blocks) and len(buf.holds) > 1 and len(set(buf.widths)) == 1:
                twin = Buffer(buf.name, list(buf.holds), blocks=list(buf.blocks),
                              widths=list(buf.widths), major=True)
                buf.name, buf.blocks = p.fresh(f"{buf.name}_stacked"), [None] * len(buf.holds)
                p.adjoint_home.update({f"delta_{q}": (twin, k) for k, q in enumerate(buf.holds)})
                self.twins[id(buf)] = twin
        self.defined: dict[str, str] = {}    # constant arrays of the forward: value -> name

    # -- parameters ------------------------------------------------------------------------

    # -- operands --------------------------------------------------------------------------

    def leaf(self, e: sp.Expr) -> str | None:
        """An operand of per-step code: a quantity at a step, a parameter, a number."""
        if isinstance(e, sp.Number):
            return _number(e)
        if isinstance(e, sp.Indexed) and not _is_product(e):
            k = int(e.indices[0] - t)
            if base_name(e) in self.cell.inputs:
                return f"{e.base}[{_index(k - 1)}]"   # inputs and dy count steps from 0
            if e.base == Delta:
                return f"dy[{_index(k - 1)}]"
            return f"{e.base}[{_index(k)}]"
        if isinstance(e, sp.Symbol) and str(e) in self.cell.params:
            return str(e)
        return None

    def reads(self, expr: sp.Expr) -> set[str]:
        return {self.p.delta_of[_group_of(q)][0].name if _is_product(q) else str(q.base)
                for q in expr.atoms(sp.Indexed)}

    def rest(self, q: str) -> sp.Expr:
        """The terms of an equation with products that are neither products nor constants."""
        return sp.Add(*(a for a in sp.Add.make_args(_uncache(self.p, self.cell.equation(q).rhs))
                        if not isinstance(a, MatVec) and a.atoms(sp.Indexed)))

    def constant(self, q: str) -> sp.Expr:
        """The constant terms (parameters only) of an equation with products."""
        return sp.Add(*(a for a in sp.Add.make_args(self.cell.equation(q).rhs)
                        if not a.atoms(sp.Indexed) and not isinstance(a, MatVec)))

    def size(self, e: sp.Expr) -> str:
        """The size name of a per-step expression ("1" for a scalar per example)."""
        if isinstance(e, sp.Indexed):
            if _is_product(e):
                return self.cell.size(self.p.groups[_group_of(e)].source)
            return self.p.size(self.cell.output if e.base == Delta else str(e.base))
        if isinstance(e, sp.Symbol) and str(e) in self.cell.params:
            return self.cell.params[str(e)].shape[0]
        if isinstance(e, MatVec):
            return self.cell.params[str(e.args[0])].shape[0]
        if isinstance(e, (UnitSum, LossBase)) or not e.args:
            return "1"
        sizes = [self.size(a) for a in e.args]
        return next((n for n in sizes if n != "1"), "1")

    def vector(self, parts: list[sp.Expr], widths: list[str]) -> str:
        """One array of blocks (of the given widths) of constant terms."""
        items = [self.all_steps.doprint(e) if e.free_symbols else
                 f"np.full({w}, {self.all_steps.doprint(e)}, dtype)"
                 for e, w in zip(parts, widths)]
        return items[0] if len(items) == 1 else f"np.concatenate([{', '.join(items)}])"

    # -- docstring -------------------------------------------------------------------------

    def docstring(self) -> str:
        c, p = self.cell, self.p
        lines = [f"{c.name}: forward and backward through time, generated by bptt from the "
                 "cell's equations.", ""]
        if c.description or c.source:
            lines += [f"Cell: {c.description}" + (f" ({c.source})." if c.source else "."), ""]
        inputs = ", ".join(f"{x}[t]" for x in c.inputs)
        lines += [f"Forward, t = 1..T (input {inputs}; {', '.join(f'{s}[0]' for s in c.state)} "
                  "given, zero if missing):"]
        lines += [f"    {_text(eq)}" for eq in c.equations]
        lines += p.backward_lines()
        lines += ["", "Parameters (a packed parameter is the row-stack of its blocks):"]
        for name, (members, _) in self.p.packed().items():
            blocks = f" = [{'; '.join(members)}]" if len(members) > 1 else ""
            lines.append(f"    {name} {self.p.packed_shape(name)}{blocks}")
        if p.sheet.assumptions:
            lines += ["", f"Assumed (the backward pass is exact only then): "
                      f"{'; '.join(p.sheet.assumptions)}."]
        shapes = [f"{x} (T, B, {self.public_size(x)})" for x in (*c.inputs, c.output)]
        states = ", ".join(f"{s} (B, {self.public_size(s)})" for s in c.state)
        lines += ["", f"Arrays are batched, steps first: {', '.join(shapes)}; states {states}."]
        return "\n".join(lines)

    # -- forward ---------------------------------------------------------------------------

    def forward(self) -> list[str]:
        p, c = self.p, self.cell
        temps = Temps()
        code = InPlace(self.leaf, lambda q, out: "", temps, self.size)
        inputs = ", ".join(c.inputs)
        what = (f"(loss, stateT, cache).\n\n    loss: the sum over steps and examples of "
                f"{c.loss}[t]" if c.loss else
                f"(y, stateT, cache).\n\n    y (T, B, {self.public_size(c.output)}): the output "
                f"{c.output}[t] at every step (a read-only view into cache)")
        L = [f"def forward(params, {inputs}, state0=None):",
             f'    """Run the cell over {self.input_shapes()}; returns {what}.',
             "    state0, stateT: state name -> (B, size) array; a missing entry of state0 is "
             "zero.",
             '    """',
             f"    params, ({inputs},), T, B, sizes = _check_input(params, ({inputs},))",
             f"    {', '.join(c.size_names)}, = sizes.values()",
             f"    dtype = {c.inputs[0]}.dtype",
             "    state0 = _states(state0, B, sizes, dtype, 'state0')"]
        vectors = self.p.vectors([eq.rhs for eq in c.equations])
        if vectors:
            L.append("    # parameters used elementwise (views of the packed ones)")
            L += [f"    {n} = {self.p.view(n)}" for n in vectors]
        L.append("    # stacked weights: one matrix product per argument")
        for gi, g in enumerate(p.groups):
            blocks = ", ".join(q.weight for q in g.products)
            scales = [float(self.prescaled.get(q.equation, 1)) for q in g.products]
            stack = self.p.stack(g, CONCAT)
            if any(k != 1 for k in scales):
                if not self.scale_of:
                    L.append(f"    # {', '.join(self.prescaled)} pre-scaled (weights' rows, "
                             "constants): then their activations are tanh, scale, shift")
                rows = [c.params[q.weight].shape[0] for q in g.products]
                stem = "_".join(q.equation for q in g.products) + "_scale"
                self.scale_of[gi] = self.named(self.per_block(scales, rows), stem, L)
            if p.hoisted(g):
                rows = f" * {self.scale_of[gi]}[:, None]" if gi in self.scale_of else ""
                L.append(f"    {p.weights[gi]} = {stack}{rows}  # {blocks}")
            elif gi in self.scale_of:
                L.append(f"    {p.transposed[gi]} = np.multiply({stack}.T, {self.scale_of[gi]}, "
                         f"order='C')  # {blocks}; contiguous for the per-step product")
            else:
                L.append(f"    {p.transposed[gi]} = np.ascontiguousarray({stack}.T)"
                         f"  # {blocks}; contiguous for the per-step product")
        L.append("    # histories q[t], t = 1..T; a state's q[0] is its initial value; recycled "
                 "from dead caches")
        histories = [*c.quantities, *p.cached.values()]
        L += self.allocate(p.forward_buffers, histories, p.home, new="_scratch")
        owned = [buf.name for buf in p.forward_buffers] + [q for q in histories
                                                           if q not in p.home]
        L += [f"    {s}[0] = state0[{p.name(s)!r}]" for s in c.state]
        L += [f"    {self.call(f, f'{q}[0]', f'{name}[0]')}"
              for (f, q), name in p.cached.items() if self.reads_initial(name)]
        step = self.schedule(self.forward_ops(code))
        L += ["    " + s for s in self.hoisted_products() + self.prelude]
        L += [f"    {k} = np.empty((B, {n}), dtype)" for k, n in temps.size.items()]
        L.append("    for t in range(1, T + 1):")
        L += ["        " + s for s in step]
        saved = ", ".join(f"{n!r}: {n}" for n in (*c.inputs, *self.saved()))
        result = f"{c.loss}[1:].sum()" if c.loss else f"_readonly({c.output}[1:])"
        L += ["    cache = _Cache({'kernel': _KERNEL, 'params': params, 'T': T, 'B': B, "
              "'sizes': sizes,",
              f"                    'dtype': dtype, {saved},",
              f"                    '_owned': ({''.join(f'{n}, ' for n in owned)})}})",
              f"    stateT = {{{', '.join(f'{p.name(s)!r}: {s}[T].copy()' for s in c.state)}}}",
              f"    return {result}, stateT, cache"]
        return L

    def public_size(self, name: str) -> str:
        return self.p.name(self.cell.size(name))

    def input_shapes(self) -> str:
        return ", ".join(f"{x} (T, B, {self.public_size(x)})" for x in self.cell.inputs)

    def allocate(self, buffers: list[Buffer], names: list[str],
                 home: dict[str, tuple[Buffer, int]], new: str = "np.empty") -> list[str]:
        L = []
        for buf in buffers:
            n = len(buf.holds)
            shape = f"(T + 1, B, {buf.width})" if buf.history else f"(B, {buf.width})"
            if buf.major:
                shape = f"(T + 1, {n}, B, {buf.widths[0]})"
            L.append(f"    {buf.name} = {new}({shape}, dtype)")
            views = ", ".join(q or "_" for q in buf.blocks)
            if buf.major:
                L.append(f"    {views} = {buf.name}.swapaxes(0, 1)"
                         f"  # (T + 1, B, {buf.widths[0]}) each")
            elif any(buf.blocks):
                L.append(f"    {views} = _blocks({buf.name}, {', '.join(buf.widths)})" if n > 1
                         else f"    {views} = {buf.name}")
        L += [f"    {q} = {new}((T + 1, B, {self.p.size(q)}), dtype)"
              for q in names if q not in home]
        if buffers is self.p.forward_buffers and self.p.aliases:
            L.append(f"    {', '.join(self.p.aliases)} = {', '.join(self.p.aliases.values())}"
                     "  # in place: nothing else reads these pre-activations")
        return L

    def hoisted_products(self) -> list[str]:
        """The input's products for all steps in one GEMM, the constant terms folded in; into
        a gate-major history through a recycled scratch array, converted in the same pass."""
        L = []
        for gi, g in enumerate(self.p.groups):
            if not self.p.hoisted(g):
                continue
            buf = self.p.products[gi]
            n, out = len(buf.holds), f"{buf.name}[1:]"
            if buf.major:
                out = self.p.fresh(f"{g.source}_products")
                L.append(f"{out} = _scratch((T, B, {buf.width}), dtype)  # never returned")
            L += [f"# {', '.join(f'{q.weight}@{g.source}[t]' for q in g.products)}: "
                  "all steps in one product",
                  f"np.matmul({g.source}.reshape(T * B, {self.cell.size(g.source)}), "
                  f"{self.p.weights[gi]}.T, out={out}.reshape(T * B, {buf.width}))"]
            consts = [self.constant(q) if q else sp.S.Zero for q in buf.blocks]
            src = f"_gate_major({out}, {n})" if buf.major else out
            if any(consts):
                terms = ", ".join(f"{q}: {_text(k)}" for q, k in zip(buf.blocks, consts) if k)
                vector = self.vector(consts, buf.widths)
                if gi in self.scale_of:
                    vector = f"({vector} * {self.scale_of[gi]})"
                if buf.major:
                    vector += f".reshape({n}, 1, {buf.widths[0]})"
                L += [f"# plus the constant terms ({terms})"
                      f"{', scaled' if gi in self.scale_of else ''}"
                      f"{', into the gate-major history' if buf.major else ''}",
                      f"np.add({src}, {vector}, out={buf.name}[1:])"]
            elif buf.major:
                L += ["# into the gate-major history", f"np.copyto({buf.name}[1:], {src})"]
            if buf.major:
                L.append(f"_recycle({out})")
        return L

    def forward_ops(self, code: InPlace) -> list[Op | BlockOp]:
        p, c = self.p, self.cell
        ops: list[Op | BlockOp] = []
        with_products = {q.equation for g in p.groups for q in g.products}
        started: set[int] = set()
        for eq in c.equations:
            for gi, g in enumerate(p.groups):   # a group's product right before its first use
                if gi not in started and eq.name in g.layout:
                    started.add(gi)
                    ops += self.forward_product(gi, g)
            rhs = _uncache(p, eq.rhs)
            home = p.home.get(eq.name)
            if eq.name in with_products:
                rest = sp.Add(*(a for a in sp.Add.make_args(rhs)
                                if not isinstance(a, MatVec) and a.atoms(sp.Indexed)))
                if rest != 0:
                    ops.append(Op([f"# {eq.name}[t] += {_text(rest)}"]
                                  + code.add_to(rest, f"{eq.name}[t]"), self.reads(rest),
                                  {eq.name}))
            elif eq.name in p.activated:
                src, k = p.home[base_name(rhs.args[0])]
                ops.append(BlockOp("activate", home[0], home[1], src, k, [type(rhs)],
                                   [eq.name], [base_name(rhs.args[0])], [_text(eq)]))
            else:
                ops.append(Op([f"# {_text(Equation(eq.lhs, rhs))}"]
                              + code.assign(rhs, f"{eq.name}[t]"), self.reads(rhs), {eq.name}))
            ops += [Op([f"# {name}[t] = {f.__name__}({q}[t])",
                        self.call(f, f"{q}[t]", f"{name}[t]")], {q}, {name})
                    for (f, q), name in p.cached.items() if q == eq.name]
        return ops

    def forward_product(self, gi: int, g: Group) -> list[Op | BlockOp]:
        """A per-step group: its stacked product, then each block added to its equation's home
        (or, in its home, the constant terms added)."""
        p = self.p
        buf = p.products[gi]
        ops: list[Op | BlockOp] = []
        if not p.hoisted(g):
            products = ", ".join(f"{q.weight}@{_text(g.arg)}" for q in g.products)
            ops.append(Op([f"# {products}: one stacked product",
                           f"np.matmul({self.leaf(g.arg)}, {p.transposed[gi]}, "
                           f"out={buf.at(0, len(buf.holds), 't')})"],
                          {g.source}, {buf.name, *filter(None, buf.blocks)}))
        for k, q in enumerate(g.products):
            home, hk = p.home[q.equation]
            if home is not buf:
                ops.append(BlockOp("add", home, hk, buf, k, [None], [q.equation], [None],
                                   [f"{q.equation}[t] += {q.weight}@{_text(g.arg)}"]))
            elif hk == k and not p.hoisted(g) and self.constant(q.equation) != 0:
                const = self.constant(q.equation) * sp.nsimplify(
                    self.prescaled.get(q.equation, 1))
                ops.append(BlockOp("bias", buf, k, None, 0, [const], [q.equation], [],
                                   [f"{q.equation}[t] += {_text(const)}"]))
        return ops

    def schedule(self, ops: list[Op | BlockOp]) -> list[str]:
        """Block operations wait, so that those on adjacent blocks become one call; they are
        written out before anything that reads what they write."""
        out: list[str] = []
        waiting: dict[str, list[BlockOp]] = {}

        def flush(kind: str) -> None:
            for run in _runs(waiting.pop(kind, [])):
                out.extend(self.block_lines(run))

        for op in ops:
            for kind in list(waiting):
                same = isinstance(op, BlockOp) and op.kind == kind
                if not same and any(w.writes & op.reads for w in waiting[kind]):
                    flush(kind)
            if isinstance(op, BlockOp):
                waiting.setdefault(op.kind, []).append(op)
            else:
                out.extend(op.lines)
        for kind in list(waiting):
            flush(kind)
        return out

    def block_lines(self, op: BlockOp) -> list[str]:
        n = op.b - op.a
        dst, src = op.text("t")
        if op.src and op.src.major != op.dst.major and n > 1:   # the row-major side as blocks
            if op.dst.major:
                src = f"_gate_major({src}, {n})"
            else:
                dst = f"_gate_major({dst}, {n})"
        lines = [f"# {c}" for c in op.comment]
        if op.kind == "add":
            return lines + [f"np.add({dst}, {src}, out={dst})"]
        if op.kind == "copy":
            return lines + [f"np.copyto({dst}, {src})"]
        if op.kind == "bias":
            vec = self.vector(op.extra, op.dst.widths[op.a:op.b])
            if op.dst.major and n > 1:
                vec = f"{vec}.reshape({n}, 1, {op.dst.widths[op.a]})"
            if op.b - op.a > 1 or not isinstance(op.extra[0], sp.Symbol):
                name = self.p.fresh(f"{op.dst.name}_constant")
                self.prelude.append(f"{name} = {vec}")
                vec = name
            return lines + [f"np.add({dst}, {vec}, out={dst})"]
        kinds = set(op.extra)          # "activate"
        if any(q in self.prescaled for q in op.src_names):   # tanh of the scaled pre-activation
            scales = [AS_TANH[f][0] for f in op.extra]
            shifts = [AS_TANH[f][1] for f in op.extra]
            lines.append(f"np.tanh({src}, out={dst})")
            for call, numbers, stem in (("multiply", scales, "scale"), ("add", shifts, "shift")):
                if len(set(numbers)) == 1 and numbers[0] in (0, 1):
                    continue
                operand = repr(float(numbers[0])) if len(set(numbers)) == 1 else None
                if operand is None:
                    operand = self.named(self.blocks_of(numbers, op), "_".join(
                        filter(None, op.dst_names)) + f"_{stem}", self.prelude, "")
                lines.append(f"np.{call}({dst}, {operand}, out={dst})")
            return lines
        if len(kinds) == 1:
            return lines + [self.call(kinds.pop(), src, dst)]
        gates = "_".join(filter(None, op.dst_names))
        scale, shift_ = self.p.fresh(f"{gates}_scale"), self.p.fresh(f"{gates}_shift")
        self.prelude += [
            f"# {', '.join(filter(None, op.dst_names))} as scale * tanh(scale * a) + shift: "
            "one tanh call for all",
            f"{scale} = {self.blocks_of([AS_TANH[f][0] for f in op.extra], op)}",
            f"{shift_} = {self.blocks_of([AS_TANH[f][1] for f in op.extra], op)}"]
        return lines + [f"np.multiply({src}, {scale}, out={dst})",
                        f"np.tanh({dst}, out={dst})",
                        f"np.multiply({dst}, {scale}, out={dst})",
                        f"np.add({dst}, {shift_}, out={dst})"]

    def blocks_of(self, numbers: list[float], op: BlockOp) -> str:
        """One number per block of op's destination, as an array of the blocks' widths."""
        if op.dst.major:
            return f"np.array({numbers}, dtype)[:, None, None]"
        return self.per_block(numbers, op.dst.widths[op.a:op.b])

    def named(self, value: str, stem: str, lines: list[str], indent: str = "    ") -> str:
        """A name for a constant array, defined once (in lines) for each value."""
        if value not in self.defined:
            self.defined[value] = self.p.fresh(stem)
            lines.append(f"{indent}{self.defined[value]} = {value}")
        return self.defined[value]

    def per_block(self, numbers: list[float], widths: list[str]) -> str:
        """One number per block, as an array of the blocks' widths."""
        if len(set(widths)) == 1:
            return f"np.repeat(np.array({numbers}, dtype), {widths[0]})"
        return ("np.concatenate([" + ", ".join(f"np.full({w}, {k}, dtype)"
                                               for k, w in zip(numbers, widths)) + "])")

    def call(self, f: type, arg: str, out: str) -> str:
        """``out = f(arg)`` for an elementwise function: in place where NumPy has a ufunc."""
        if f in NUMPY_FUNCTIONS:
            return f"{NUMPY_FUNCTIONS[f]}({arg}, out={out})"
        return f"np.copyto({out}, {numpy_source(f)(arg)})"

    def reads_initial(self, name: str) -> bool:
        """Whether a history is read at step 0 (at t-1 in a step, or by the initial state)."""
        exprs = [*(eq.rhs for eq in (*self.p.adjoints, *self.p.initial, *self.p.gradients)),
                 *(_uncache(self.p, eq.rhs) for eq in self.cell.equations)]
        return any(str(q.base) == name and (q.indices[0] == t - 1 or q.indices[0] == 0)
                   for e in exprs for q in e.atoms(sp.Indexed))

    def saved(self) -> list[str]:
        """The forward histories the backward pass reads."""
        return self.p.saved()

    # -- backward --------------------------------------------------------------------------

    def backward(self) -> list[str]:
        p, c = self.p, self.cell
        temps = Temps()

        def product(q: sp.Indexed, out: str) -> str:
            gi = _group_of(q)
            return (f"np.matmul({p.delta(gi, _index(int(q.indices[0] - t)))}, {p.weights[gi]}, "
                    f"out={out})")
        code = InPlace(self.leaf, product, temps, self.size)
        dx = [f"d{x}" for x in self.differentiable()]
        dx = dx[0] if len(dx) == 1 else f"({', '.join(dx)})"
        if c.loss:
            head = ["def backward(params, cache, dstateT=None):",
                    f'    """Gradients of L = the sum of {c.loss}[t] over steps and examples, '
                    "plus sum(dstateT * stateT)",
                    "    (dstateT: state name -> dL/dstate at T; missing = 0); returns "
                    f"(dparams, {dx}, dstate0),"]
        else:
            head = ["def backward(params, cache, dy, dstateT=None):",
                    f"    \"\"\"Gradients of a loss L from dy = dL/d{c.output} "
                    f"(T, B, {self.public_size(c.output)}) and dstateT (state name ->",
                    f"    dL/dstate at T; missing = 0); returns (dparams, {dx}, dstate0),"]
        L = head + [
             '    dparams with the keys and shapes of params."""',
             "    params, T, B, sizes, dtype = _check_cache(params, cache)",
             f"    {', '.join(c.size_names)}, = sizes.values()"]
        if not c.loss:
            L.append(f"    dy = _array('dy', dy, (T, B, {c.size(c.output)}), dtype)")
        L += ["    dstateT = _states(dstateT, B, sizes, dtype, 'dstateT')"]
        L += [f"    {n} = cache[{n!r}]" for n in (*c.inputs, *self.saved())]
        L += [f"    {n} = {self.p.view(n)}"
              for n in self.p.vectors([eq.rhs for eq in (*p.adjoints, *p.initial, *p.gradients)])]
        L += [f"    {p.weights[gi]} = {self.p.stack(g, CONCAT)}" for gi, g in enumerate(p.groups)]
        in_loop = [eq for eq in p.adjoints if eq.name[6:] not in c.inputs]
        L.append("    # scratch arrays, recycled from the previous call of the same shape")
        twins = list(self.twins.values())
        L += self.allocate([*p.backward_buffers, *twins], [eq.name for eq in in_loop],
                           p.adjoint_home, new="_scratch")
        step = self.schedule([op for eq in in_loop for op in self.adjoint_ops(eq, code)])
        L += [f"    {k} = _scratch((B, {n}), dtype)" for k, n in temps.size.items()]
        L.append("    for t in range(T, 0, -1):")
        L += ["        " + s for s in step]
        L += ["    " + s for s in self.after_loop()]
        scratch = [buf.name for buf in (*p.backward_buffers, *twins)] + [
            eq.name for eq in in_loop if eq.name not in p.adjoint_home] + [
            *temps.size]
        L[-1:-1] = [f"    _recycle({', '.join(scratch)})"]
        return L

    def adjoint_ops(self, eq: Equation, code: InPlace) -> list[Op | BlockOp]:
        """One adjoint at t; a state's terms from step t+1 are dstateT at t = T."""
        p, name = self.p, eq.name
        out = f"{name}[t]"
        lines = [f"# {_text(p.derived(eq))}"]
        if name[6:] in self.cell.state:
            later = sp.Add(*(a for a in sp.Add.make_args(eq.rhs)
                             if any(q.indices[0] == t + 1 for q in a.atoms(sp.Indexed))))
            lines += ["if t < T:"]
            lines += ["    " + s for s in (code.assign(later, out) if later != 0 else
                                           [f"{out}.fill(0)"])]
            lines += ["else:", f"    np.copyto({out}, dstateT[{p.name(name[6:])!r}])"]
            if eq.rhs != later:
                lines += code.add_to(eq.rhs - later, out)
        else:
            lines += code.assign(eq.rhs, out)
        home = p.adjoint_home.get(name)
        ops: list[Op | BlockOp] = [Op(lines, self.reads(eq.rhs),
                                      {name} | ({home[0].name} if home else set()))]
        for buf in p.backward_buffers:   # a copy where another layout holds it too
            for k, q in enumerate(buf.holds):
                if home and f"delta_{q}" == name and (buf, k) != home:
                    ops.append(BlockOp("copy", buf, k, home[0], home[1], [None], [None], [name],
                                       [f"{buf.name} holds {name}[t] too"]))
        return ops

    def after_loop(self) -> list[str]:
        p, c, print_ = self.p, self.cell, self.all_steps.doprint
        L = []
        for x in self.differentiable():
            dx = next((eq for eq in p.adjoints if eq.name == f"delta_{x}"), None)
            if dx is not None and dx.rhs != 0:
                L += [f"# {_text(p.derived(dx))}, all steps at once",
                      f"delta_{x} = {print_(dx.rhs)}"   # a bare adjoint would be scratch memory
                      f"{'.copy()' if dx.rhs.is_Indexed and not _is_product(dx.rhs) else ''}"]
            else:
                L.append(f"delta_{x} = np.zeros_like({x})")
        L += [f"# {_text(p.derived(eq))}" for eq in p.initial]
        L.append("dstate0 = {" + ", ".join(  # a bare adjoint would be a view of scratch memory
            f"{p.name(eq.name[6:])!r}: {print_(eq.rhs)}"
            f"{'.copy()' if eq.rhs.is_Indexed and not _is_product(eq.rhs) else ''}"
            for eq in p.initial) + "}")
        # each gradient as pieces: (array, first block, end block, blocks) or code
        pieces: dict[str, list] = {}
        for gi, g in enumerate(p.groups):
            dW = p.fresh(f"{p.weights[gi]}_grad")
            L += [f"# {', '.join(f'delta_{q.weight}' for q in g.products)}: the sums over t of "
                  "outer products, one product",
                  f"{dW} = _outer_sum({p.delta_all(gi)}, {print_(g.arg)})"]
            for k, q in enumerate(g.products):
                rows = [c.params[r.weight].shape[0] for r in g.products]
                pieces.setdefault(q.weight, []).append((dW, k, k + 1, rows))
        sums: dict[str, str] = {}
        for eq in p.gradients:
            name, body = eq.name[6:], eq.rhs
            if len(c.params[name].shape) == 2:
                self.check_outer(name, eq)
            elif isinstance(body, sp.Indexed) and body.indices[0] == t \
                    and str(body.base) in p.adjoint_home:   # a block of a column sum
                buf, k = p.adjoint_home[str(body.base)]
                buf = next((b for b in p.backward_buffers if self.twins.get(id(b)) is buf), buf)
                if buf.name not in sums:
                    sums[buf.name] = p.fresh(f"{buf.name}_sum")
                    L.append(f"{sums[buf.name]} = {buf.name}[1:].sum(axis=(0, 1))")
                pieces[name] = [(sums[buf.name], k, k + 1, buf.widths)]
            else:
                L.append(f"# {_text(eq)}")
                pieces[name] = [f"({print_(body)}).sum(axis=(0, 1))" if body != 0
                                else f"np.zeros({c.params[name].shape[0]}, dtype)"]
        L.append("dparams = {")
        for name, (members, (rows, *cols)) in self.p.packed().items():
            zero = f"np.zeros(({', '.join([rows, *cols])},), dtype)"
            gradient = _row_stack([_sum_of(pieces.get(m, [zero])) for m in members])
            L.append(f"    {name!r}: {gradient},")
        dx = [f"delta_{x}" for x in self.differentiable()]
        return L + ["}", f"return dparams, {dx[0] if len(dx) == 1 else '(' + ', '.join(dx) + ')'}"
                    ", dstate0"]

    def differentiable(self) -> list[str]:
        """The inputs that get a gradient (all but a loss's targets)."""
        return [x for x in self.cell.inputs if x not in self.cell.targets]

    def check_outer(self, name: str, eq: Equation) -> None:
        """A weight's gradient must be the sum of its groups' outer products."""
        want = sp.Add(*(Outer(adjoint(q.equation)[t], g.arg) for g in self.p.groups
                        for q in g.products if q.weight == name))
        if eq.rhs != want:
            raise CellError(f"cell {self.cell.name!r}: codegen cannot stack the gradient "
                            f"{_text(eq)}")

    # -- step functions in column form -------------------------------------------------------

    def step_functions(self) -> list[str]:
        """forward_step and backward_step: the equations as runnable code that latexify
        renders (one example, column vectors)."""
        c, col = self.cell, ColumnPrinter()
        derived = self.p.sheet.adjoints
        gradients = [Equation(eq.lhs, eq.rhs.function) for eq in self.p.sheet.gradients]

        def used(eqs, names):
            found = {str(s) for eq in eqs for s in (*eq.rhs.free_symbols,
                                                    *(q.base for q in eq.rhs.atoms(sp.Indexed)))}
            return [n for n in names if n in found]

        fwd_args = [*c.inputs, *c.quantities, *used(c.equations, c.params)]
        bwd_args = [*(eq.name for eq in derived),
                    *used([*derived, *gradients], [*c.inputs, *c.quantities, "Delta", *c.params]),
                    *(eq.name for eq in gradients)]
        L = [f"def forward_step(t, {', '.join(fwd_args)}):",
             '    """One forward step in column form (one example; vectors as (n, 1) columns).',
             '    The equations as code, rendered as math by derive.codegen.code_latex."""']
        L += [f"    {col.doprint(eq.lhs)} = {col.doprint(eq.rhs)}" for eq in c.equations]
        L += [f"    return {', '.join(f'{s}[t]' for s in c.state)}", "", "",
              f"def backward_step(t, {', '.join(dict.fromkeys(bwd_args))}):",
              '    """One backward step in column form: the adjoints at t from those at t+1, and',
              '    the step\'s terms of the gradients, added to the delta_<parameter> arrays."""']
        L += [f"    {col.doprint(eq.lhs)} = {col.doprint(eq.rhs)}" for eq in derived]
        L += [f"    {eq.name} += {col.doprint(eq.rhs)}" for eq in gradients]
        L.append(f"    return {', '.join(f'delta_{s}[t]' for s in c.state)}")
        return L

    # -- the module ------------------------------------------------------------------------

    def module(self) -> str:
        c, p = self.cell, self.p
        forward = self.forward()
        self.prelude = []
        backward = self.backward()
        sizes = ", ".join(c.size_names)
        shapes = ", ".join(f"{n!r}: {self.p.packed_shape(n)}" for n in self.p.packed())
        views = ", ".join(f"{p.name(m)!r}: {self.p.view(m)}" for m in c.params)
        docstring = self.docstring()
        init = "H" if "H" in c.size_names else c.size(c.output)
        aliases = {"input_size": p.name(c.size(c.inputs[0]))}
        if "H" in c.size_names:
            aliases["hidden_size"] = "H"
        return "\n".join([
            f'"""{docstring}\n"""',
            "import sys",
            "",
            "import numpy as np",
            "",
            f"CELL = {c.name!r}",
            f"SIZES = {tuple(p.name(n) for n in c.size_names)!r}  # size names, in the order "
            "of positional sizes",
            f"INPUTS = {tuple(p.name(x) for x in c.inputs)!r}  # forward's arrays after params",
            f"TARGETS = {tuple(p.name(x) for x in c.targets)!r}  # inputs without a gradient "
            "(targets of the loss)",
            f"LOSS = {p.name(c.loss) if c.loss else None!r}  # the per-step loss, if the cell "
            "computes one",
            f"STATE = {tuple(p.name(s) for s in c.state)!r}",
            f"OUTPUT = {p.name(c.output)!r}",
            f"SIZE_OF = {({p.name(q): self.public_size(q) for q in (*c.inputs, *c.quantities)})!r}"
            "  # the size name of each input and quantity",
            "",
            "",
            "def param_shapes(*sizes, **named):",
            '    """Parameter name -> shape, for the sizes given in the order of SIZES, as a dict or',
            '    by name; the layout of PyTorch for its cells."""',
            f"    {sizes}, = _sizes(sizes, named).values()",
            f"    return {{{shapes}}}",
            "",
            "",
            "def init_params(*sizes, seed=0, dtype=np.float64, **named):",
            f'    """Parameters drawn uniformly from (-1/sqrt({p.name(init)}), '
            f'1/sqrt({p.name(init)})), as PyTorch does; sizes as',
            '    for param_shapes."""',
            "    sizes = _sizes(sizes, named)",
            "    rng = np.random.default_rng(seed)",
            f"    bound = 1 / np.sqrt(sizes[{p.name(init)!r}])",
            "    return {name: rng.uniform(-bound, bound, shape).astype(dtype)",
            "            for name, shape in param_shapes(sizes).items()}",
            "",
            "",
            "def unpack(params):",
            '    """The parameters of the equations (per gate), as views of the packed ones."""',
            f"    {sizes}, = _infer_sizes(params).values()",
            f"    return {{{views}}}",
            "",
            "",
            *forward,
            "",
            "",
            *backward,
            "",
            "",
            *self.step_functions(),
            "",
            "",
            "# where each size is read from: (input or parameter, axis, blocks along it)",
            f"_SIZE_FROM = {self.size_sources()!r}",
            f"_SHAPES = {({n: self.p.packed_shape(n) for n in self.p.packed()})!r}",
            f"_ALIASES = {aliases!r}",
            f"_KERNEL = {c.name + ':' + hashlib.sha256(docstring.encode()).hexdigest()[:16]!r}"
            "  # marks this module's caches",
            HELPERS + POOL_HELPER + SIZES_HELPER])

    def size_sources(self) -> dict[str, list[tuple[str, int, int]]]:
        """Each size name -> where forward reads it: an input's last axis, else a packed
        parameter's axis (rows of a stack of n blocks count n times)."""
        c, p = self.cell, self.p
        out = {}
        for size in c.size_names:
            found = [(p.name(x), 2, 1) for x in c.inputs if c.size(x) == size]
            found += [(key, axis, len(members) if axis == 0 else 1)
                      for key, (members, shape) in self.p.packed().items()
                      for axis, d in enumerate(shape) if d == size]
            if not found:
                raise CellError(f"cell {c.name!r}: no input or parameter has size {size}")
            out[p.name(size)] = found
        return out


def _sum_of(pieces: list) -> tuple | str:
    """One gradient from its pieces (a weight in several products has several)."""
    return pieces[0] if len(pieces) == 1 else " + ".join(map(_piece, pieces))


def _piece(q: tuple | str) -> str:
    return q if isinstance(q, str) else f"{q[0]}[{_cols(q[1], q[2], q[3])}]"


def _row_stack(parts: list) -> str:
    """Per-block gradients stacked as rows; adjacent blocks of one array stay one slice, so a
    gradient already in packed order is used as is. Always a fresh array."""
    runs: list = []
    for q in parts:
        prev = runs[-1] if runs else None
        if isinstance(q, tuple) and isinstance(prev, tuple) and prev[0] == q[0] \
                and prev[2] == q[1]:
            runs[-1] = (prev[0], prev[1], q[2], prev[3])
        else:
            runs.append(q)
    if len(runs) > 1:
        return f"np.concatenate([{', '.join(map(_piece, runs))}])"
    (q,) = runs
    if isinstance(q, str):
        return q
    if (q[1], q[2]) == (0, len(q[3])):   # a whole product is a fresh array; a shared sum is not
        return f"{q[0]}.copy()" if q[0].endswith("_sum") else q[0]
    return f"{_piece(q)}.copy()"


# Helpers every generated module carries; the same for every cell.
HELPERS = '''

def sigma(a, out=None):
    """The logistic sigmoid as 0.5 * tanh(0.5 * a) + 0.5: no overflow for any a."""
    out = np.multiply(a, 0.5, out=out)
    np.tanh(out, out=out)
    out *= 0.5
    out += 0.5
    return out


def outer(g, v):
    """g v^T (the column form's outer product)."""
    return g @ np.transpose(v)


def _scratch(shape, dtype):
    """An uninitialised array: one recycled from an earlier call if there is one (fresh
    memory costs a page fault per page on first touch), else a new one."""
    spare = _SPARE.get((shape, np.dtype(dtype)))
    try:
        return spare.pop()          # atomic: concurrent calls never share an array
    except (AttributeError, IndexError):
        return np.empty(shape, dtype)


def _recycle(*arrays):
    """Keep arrays for later calls (finished calls' scratch, dead caches' histories)."""
    for a in arrays:
        _keep((a.shape, a.dtype), a)


class _Cache(dict):
    """forward's cache. When it dies, the histories it owns ("_owned") go back to the pool
    of _scratch, unless something else still holds one (y, a view, a reference): at the
    large sizes fresh histories cost a page fault per page, about a tenth of a call."""

    def __del__(self):
        for a in self.get("_owned", ()):
            if _only_cached(a, self):
                _recycle(a)


def _only_cached(a, cache):
    """Whether nothing but cache holds a, itself or through the views cache has of it:
    references counted (anything else that holds a or one of them adds one)."""
    views = [v for v in cache.values() if v is not a and getattr(v, "base", None) is a]
    entry = any(v is a for v in cache.values())
    # a view: cache, views, the loop's name, getrefcount's argument; a: _owned, the caller's
    # and this frame's names, the argument, its entry, and each view's base
    return all(sys.getrefcount(v) == 4 for v in views) and \
        sys.getrefcount(a) == 4 + entry + len(views)


def _blocks(a, *widths):
    """The column blocks of the given widths of a stacked array, as views."""
    ends = np.cumsum(widths)
    return tuple(a[..., end - n:end] for n, end in zip(widths, ends))


def _gate_major(a, n):
    """The n column blocks of a (..., B, n * width) array as a (..., n, B, width) view."""
    return a.reshape(*a.shape[:-1], n, a.shape[-1] // n).swapaxes(-3, -2)


def _steps_matmul(a, w):
    """a @ w for all steps at once: one GEMM."""
    return (a.reshape(-1, a.shape[-1]) @ w).reshape(*a.shape[:-1], w.shape[-1])


def _outer_sum(g, v):
    """The sum over steps and examples of the outer products g v^T: one GEMM."""
    return g.reshape(-1, g.shape[-1]).T @ v.reshape(-1, v.shape[-1])


def _readonly(a):
    a = a.view()
    a.flags.writeable = False
    return a


def _infer_sizes(params, inputs=None):
    """The sizes read from the inputs and parameters (see _SIZE_FROM); shapes are checked
    against them afterwards."""
    if not isinstance(params, dict):
        raise ValueError(f"params: expected a dict of arrays, got {type(params).__name__}")
    sizes = {}
    for size, sources in _SIZE_FROM.items():
        for where, axis, blocks in sources:
            if where in INPUTS:
                if inputs is not None:
                    sizes[size] = inputs[INPUTS.index(where)].shape[2]
                    break
                continue
            if where not in params:
                raise ValueError(f"params: missing {where!r} (expected shape {_SHAPES[where]})")
            shape = np.shape(_array_like(f"params[{where!r}]", params[where]))
            if len(shape) <= axis or shape[axis] % blocks or shape[axis] == 0:
                raise ValueError(f"params[{where!r}]: expected shape {_SHAPES[where]}, "
                                 f"got {shape}")
            sizes[size] = shape[axis] // blocks
            break
    return sizes


def _array_like(name, a):
    """a, if NumPy can take it as it is (an array, a list, a number); tensors of other
    libraries are refused rather than silently copied."""
    if not isinstance(a, (np.ndarray, np.generic, list, tuple, int, float)):
        raise ValueError(f"{name}: expected a NumPy array, got {type(a).__module__}."
                         f"{type(a).__name__} (convert it, e.g. tensor.detach().numpy())")
    return a


def _array(name, a, shape, dtype):
    a = np.asarray(_array_like(name, a))
    if a.shape != tuple(shape):
        raise ValueError(f"{name}: expected shape {tuple(shape)}, got {a.shape}")
    if a.dtype != dtype:
        raise ValueError(f"{name}: dtype {a.dtype} differs from x's {np.dtype(dtype).name} "
                         f"(expected shape {tuple(shape)})")
    return a


def _check_params(params, sizes, dtype):
    """params as arrays, each checked against param_shapes(sizes) and the inputs' dtype."""
    if not isinstance(params, dict):
        raise ValueError(f"params: expected a dict of arrays, got {type(params).__name__}")
    shapes = param_shapes(sizes)
    for name in params:
        if name not in shapes:
            raise ValueError(f"params: unexpected {name!r}; expected {', '.join(shapes)}")
    for name, shape in shapes.items():
        if name not in params:
            raise ValueError(f"params: missing {name!r} (expected shape {shape})")
    return {name: _array(f"params[{name!r}]", params[name], shape, dtype)
            for name, shape in shapes.items()}


def _check_input(params, inputs):
    """(params, inputs, T, B, sizes) of a forward call, every array checked; the inputs are
    copies, so that backward does not depend on the caller leaving them unchanged."""
    checked = []
    for name, a in zip(INPUTS, inputs):
        a = np.array(_array_like(name, a))
        if a.ndim != 3 or 0 in a.shape:
            raise ValueError(f"{name}: expected shape (T, B, {SIZE_OF[name]}), T and B >= 1, "
                             f"got {a.shape}")
        if a.dtype not in (np.float32, np.float64):
            raise ValueError(f"{name}: expected dtype float32 or float64, got {a.dtype}")
        if checked and (a.shape[:2] != checked[0].shape[:2] or a.dtype != checked[0].dtype):
            raise ValueError(f"{name}: expected shape (T, B) = {checked[0].shape[:2]} and dtype "
                             f"{checked[0].dtype} as {INPUTS[0]}, got {a.shape}, {a.dtype}")
        checked.append(a)
    T, B = checked[0].shape[:2]
    sizes = _infer_sizes(params, checked)
    for name, a in zip(INPUTS, checked):
        if a.shape[2] != sizes[SIZE_OF[name]]:
            raise ValueError(f"{name}: expected shape (T, B, {sizes[SIZE_OF[name]]}) "
                             f"({SIZE_OF[name]}), got {a.shape}")
    return _check_params(params, sizes, checked[0].dtype), tuple(checked), T, B, sizes


def _check_cache(params, cache):
    """(params, T, B, sizes, dtype) of a backward call: the cache must come from this
    module's forward, with the same parameters."""
    if not isinstance(cache, dict) or cache.get("kernel") != _KERNEL:
        raise ValueError(f"cache: not made by the forward of this module (cell {CELL!r})")
    sizes, dtype = cache["sizes"], cache["dtype"]
    params = _check_params(params, sizes, dtype)
    for name, a in params.items():
        if a is not cache["params"][name] and not np.array_equal(a, cache["params"][name]):
            raise ValueError(f"params[{name!r}]: differs from the params of the forward call "
                             "that made cache")
    return params, cache["T"], cache["B"], sizes, dtype


def _states(states, B, sizes, dtype, what):
    if states is None:
        states = {}
    if not isinstance(states, dict):
        raise ValueError(f"{what}: expected a dict state name -> array (states "
                         f"{', '.join(STATE)}), got {type(states).__name__}")
    for name in states:
        if name not in STATE:
            raise ValueError(f"{what}: unexpected {name!r}; the states are {', '.join(STATE)}")
    return {s: _array(f"{what}[{s!r}]", states[s], (B, sizes[SIZE_OF[s]]), dtype)
            if s in states else np.zeros((B, sizes[SIZE_OF[s]]), dtype) for s in STATE}


def softmax(a, axis=-1):
    """exp(a) / sum(exp(a)) over the units, shifted by the largest unit: no overflow."""
    e = np.exp(a - np.max(a, axis=axis, keepdims=True))
    return e / np.sum(e, axis=axis, keepdims=True)
'''

