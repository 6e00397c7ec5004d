"""The NumPy writer: a plan printed as in-place NumPy code (``out=``), one module."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import sympy as sp

from ..derivation import adjoint
from ..ir import Cell, CellError, Delta, Equation, MatVec, Outer, base_name, t
from .plan import (AS_TANH, NUMPY_FUNCTIONS, POWERS, AllStepsPrinter, Buffer, ColumnPrinter,
                   Group, Plan, _cols, _group_of, _index, _is_product, _text, _uncache, _width)


# --- in-place elementwise code ---------------------------------------------------------------

class Temps:
    """Scratch (B, H) arrays, reused from one equation to the next."""

    def __init__(self) -> None:
        self.used = self.count = 0

    def take(self) -> str:
        self.used += 1
        self.count = max(self.count, self.used)
        return f"tmp{self.used - 1}"

    def give(self) -> None:
        self.used -= 1


class InPlace:
    """NumPy calls that evaluate an elementwise expression into an existing array (``out=``),
    composite terms first so that leaves need no scratch space.

    ``leaf(e)`` prints an operand that needs no computation (a quantity at a step, a parameter,
    a number) or returns None; ``product(q, out)`` prints a stacked product into ``out``.
    """

    def __init__(self, leaf: Callable[[sp.Expr], str | None],
                 product: Callable[[sp.Indexed, str], str], temps: Temps) -> None:
        self.leaf, self.product, self.temps = leaf, product, temps

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
            return self._unary(fmt, base, out)
        if type(expr) in NUMPY_FUNCTIONS:
            return self._unary(f"{NUMPY_FUNCTIONS[type(expr)]}({{}}, out={out})", expr.args[0], out)
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
        tmp = self.temps.take()
        code = self.assign(e, tmp)
        self.temps.give()
        return tmp, code

    def _unary(self, fmt: str, arg: sp.Expr, out: str) -> list[str]:
        if (s := self.leaf(arg)) is not None:
            return [fmt.format(s)]
        return self.assign(arg, out) + [fmt.format(out)]

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

    # -- parameters ------------------------------------------------------------------------

    def packed(self) -> dict[str, tuple[tuple[str, ...], tuple[str, ...]]]:
        """Packed parameter -> (its blocks, the shape of one block in size names)."""
        out = {name: (members, self.cell.params[members[0]].shape)
               for name, members in self.cell.stacks.items()}
        stacked = {m for ms in self.cell.stacks.values() for m in ms}
        out.update({name: ((name,), prm.shape) for name, prm in self.cell.params.items()
                    if name not in stacked})
        return out

    def packed_shape(self, name: str) -> str:
        members, (rows, *cols) = self.packed()[name]
        rows = rows if len(members) == 1 else f"{len(members)} * {rows}"
        return f"({rows}, {cols[0]})" if cols else f"({rows},)"

    def view(self, param: str) -> str:
        """A per-gate parameter as a view of its packed parameter."""
        for name, (members, _) in self.packed().items():
            if param in members:
                k, n = members.index(param), len(members)
                return f"params[{name!r}]" if n == 1 else f"params[{name!r}][{_cols(k, k + 1, n)}]"
        raise KeyError(param)

    def stack(self, g: Group) -> str:
        """A group's stacked weight: a packed parameter (or a slice) where the order matches."""
        for name, (members, _) in self.packed().items():
            ws = [q.weight for q in g.products]
            n = len(ws)
            for a in range(len(members) - n + 1):
                if list(members[a:a + n]) == ws:
                    whole = n == len(members)
                    return f"params[{name!r}]" if whole else \
                        f"params[{name!r}][{_cols(a, a + n, len(members))}]"
        return f"np.concatenate([{', '.join(self.view(q.weight) for q in g.products)}])"

    def vectors(self, exprs) -> list[str]:
        """The vector parameters used elementwise by exprs, as views."""
        used = set().union(*(e.free_symbols for e in exprs)) if exprs else set()
        return [n for n, prm in self.cell.params.items()
                if len(prm.shape) == 1 and prm.symbol in used]

    # -- operands --------------------------------------------------------------------------

    def leaf(self, e: sp.Expr) -> str | None:
        """An operand of per-step code: a quantity at a step, a parameter, a number."""
        if isinstance(e, sp.Number):
            return _number(e)
        if isinstance(e, sp.Indexed) and not _is_product(e):
            k = int(e.indices[0] - t)
            if base_name(e) in self.cell.inputs:
                return f"x[{_index(k - 1)}]"        # x and dy count steps from 0
            if e.base == Delta:
                return f"dy[{_index(k - 1)}]"
            return f"{e.base}[{_index(k)}]"
        if isinstance(e, sp.Symbol) and str(e) in self.cell.params:
            return str(e)
        return None

    def reads(self, expr: sp.Expr) -> set[str]:
        return {self.p.delta_of[_group_of(q)][0].name if _is_product(q) else str(q.base)
                for q in expr.atoms(sp.Indexed)}

    def constant(self, q: str) -> sp.Expr:
        """The constant terms (parameters only) of an equation with products."""
        return sp.Add(*(a for a in sp.Add.make_args(self.cell.equation(q).rhs)
                        if not a.atoms(sp.Indexed) and not isinstance(a, MatVec)))

    def vector(self, parts: list[sp.Expr]) -> str:
        """One array of len(parts) H-wide blocks of constant terms."""
        items = [self.all_steps.doprint(e) if e.free_symbols else
                 f"np.full(H, {self.all_steps.doprint(e)}, dtype)" for e in parts]
        return items[0] if len(items) == 1 else f"np.concatenate([{', '.join(items)}])"

    # -- docstring -------------------------------------------------------------------------

    def docstring(self) -> str:
        c, p = self.cell, self.p
        lines = [f"{c.name}: forward and backward through time, generated by bptt from the "
                 "cell's equations.", ""]
        if c.description or c.source:
            lines += [f"Cell: {c.description}" + (f" ({c.source})." if c.source else "."), ""]
        lines += [f"Forward, t = 1..T (input x[t]; {', '.join(f'{s}[0]' for s in c.state)} "
                  "given, zero if missing):"]
        lines += [f"    {_text(eq)}" for eq in c.equations]
        lines += ["", f"Backward, t = T..1 (Delta[t] = dL/d{c.output}[t] from the layer above; "
                  "every adjoint is zero at T+1):"]
        lines += [f"    {_text(eq)}" for eq in p.sheet.adjoints]
        lines += ["", "Initial state:"] + [f"    {_text(eq)}" for eq in p.sheet.initial]
        lines += ["", "Gradients:"] + [f"    {_text(eq)}" for eq in p.sheet.gradients]
        lines += ["", "Parameters (a packed parameter is the row-stack of its blocks):"]
        for name, (members, _) in self.packed().items():
            blocks = f" = [{'; '.join(members)}]" if len(members) > 1 else ""
            lines.append(f"    {name} {self.packed_shape(name)}{blocks}")
        lines += ["", "Arrays are batched, steps first: x (T, B, I), y (T, B, H), states (B, H)."]
        return "\n".join(lines)

    # -- forward ---------------------------------------------------------------------------

    def forward(self) -> list[str]:
        p, c = self.p, self.cell
        temps = Temps()
        code = InPlace(self.leaf, lambda q, out: "", temps)
        L = ["def forward(params, x, state0=None):",
             '    """Run the cell over x (T, B, I); returns (y, stateT, cache).',
             "",
             "    y (T, B, H): the cell output at every step (a read-only view into cache).",
             "    state0, stateT: state name -> (B, H) array; a missing entry of state0 is zero.",
             '    """',
             "    params, x, T, B, I, H = _check_input(params, x)",
             "    dtype = x.dtype",
             "    state0 = _states(state0, B, H, dtype, 'state0')"]
        vectors = self.vectors([eq.rhs for eq in c.equations])
        if vectors:
            L.append("    # parameters used elementwise (views of the packed ones)")
            L += [f"    {n} = {self.view(n)}" for n in vectors]
        L.append("    # stacked weights: one matrix product per argument")
        for gi, g in enumerate(p.groups):
            blocks = ", ".join(q.weight for q in g.products)
            if p.hoisted(g):
                L.append(f"    {p.weights[gi]} = {self.stack(g)}  # {blocks}")
            else:
                L.append(f"    {p.transposed[gi]} = np.ascontiguousarray({self.stack(g)}.T)"
                         f"  # {blocks}; contiguous for the per-step product")
        L.append("    # histories q[t], t = 1..T; a state's q[0] is its initial value")
        L += self.allocate(p.forward_buffers, [*c.quantities, *p.cached.values()], p.home)
        L += [f"    {s}[0] = state0[{s!r}]" for s in c.state]
        L += [f"    {NUMPY_FUNCTIONS[f]}({q}[0], out={name}[0])"
              for (f, q), name in p.cached.items() if self.reads_initial(name)]
        step = self.schedule(self.forward_ops(code))
        L += ["    " + s for s in self.hoisted_products() + self.prelude]
        L += [f"    tmp{k} = np.empty((B, H), dtype)" for k in range(temps.count)]
        L.append("    for t in range(1, T + 1):")
        L += ["        " + s for s in step]
        saved = ", ".join(f"{n!r}: {n}" for n in self.saved())
        L += [f"    cache = {{'sizes': (T, B, I, H), 'dtype': dtype, 'x': x, {saved}}}",
              f"    stateT = {{{', '.join(f'{s!r}: {s}[T].copy()' for s in c.state)}}}",
              f"    return _readonly({c.output}[1:]), stateT, cache"]
        return L

    def allocate(self, buffers: list[Buffer], names: list[str],
                 home: dict[str, tuple[Buffer, int]], new: str = "np.empty") -> list[str]:
        L = []
        for buf in buffers:
            n = len(buf.holds)
            shape = f"(T + 1, B, {_width(n)})" if buf.history else f"(B, {_width(n)})"
            L.append(f"    {buf.name} = {new}({shape}, dtype)")
            if any(buf.blocks):
                views = ", ".join(q or "_" for q in buf.blocks)
                L.append(f"    {views} = _blocks({buf.name}, {n})" if n > 1 else
                         f"    {views} = {buf.name}")
        L += [f"    {q} = {new}((T + 1, B, H), dtype)" for q in names if q not in home]
        if buffers is self.p.forward_buffers and self.p.aliases:
            L.append(f"    {', '.join(self.p.aliases)} = {', '.join(self.p.aliases.values())}"
                     "  # in place: nothing else reads these pre-activations")
        return L

    def hoisted_products(self) -> list[str]:
        """The input's products for all steps in one GEMM, the constant terms folded in."""
        L = []
        for gi, g in enumerate(self.p.groups):
            if not self.p.hoisted(g):
                continue
            buf = self.p.products[gi]
            L += [f"# {', '.join(f'{q.weight}@{g.source}[t]' for q in g.products)}: "
                  "all steps in one product",
                  f"np.matmul(x.reshape(T * B, I), {self.p.weights[gi]}.T, "
                  f"out={buf.name}[1:].reshape(T * B, {_width(len(buf.holds))}))"]
            consts = [self.constant(q) if q else sp.S.Zero for q in buf.blocks]
            if any(consts):
                terms = ", ".join(f"{q}: {_text(k)}" for q, k in zip(buf.blocks, consts) if k)
                L += [f"# plus the constant terms ({terms})",
                      f"np.add({buf.name}[1:], {self.vector(consts)}, out={buf.name}[1:])"]
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
                        f"{NUMPY_FUNCTIONS[f]}({q}[t], out={name}[t])"], {q}, {name})
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
                const = self.constant(q.equation)
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
        dst, src = op.text("t")
        lines = [f"# {c}" for c in op.comment]
        if op.kind == "add":
            return lines + [f"np.add({dst}, {src}, out={dst})"]
        if op.kind == "copy":
            return lines + [f"np.copyto({dst}, {src})"]
        if op.kind == "bias":
            vec = self.vector(op.extra)
            if op.b - op.a > 1 or not isinstance(op.extra[0], sp.Symbol):
                name = self.p.fresh(f"{op.dst.name}_constant")
                self.prelude.append(f"{name} = {vec}")
                vec = name
            return lines + [f"np.add({dst}, {vec}, out={dst})"]
        kinds = set(op.extra)          # "activate"
        if len(kinds) == 1:
            return lines + [f"{NUMPY_FUNCTIONS[kinds.pop()]}({src}, out={dst})"]
        gates = "_".join(filter(None, op.dst_names))
        scale, shift_ = self.p.fresh(f"{gates}_scale"), self.p.fresh(f"{gates}_shift")
        self.prelude += [
            f"# {', '.join(filter(None, op.dst_names))} as scale * tanh(scale * a) + shift: "
            "one tanh call for all",
            f"{scale} = np.repeat(np.array({[AS_TANH[f][0] for f in op.extra]}, dtype), H)",
            f"{shift_} = np.repeat(np.array({[AS_TANH[f][1] for f in op.extra]}, dtype), H)"]
        return lines + [f"np.multiply({src}, {scale}, out={dst})",
                        f"np.tanh({dst}, out={dst})",
                        f"np.multiply({dst}, {scale}, out={dst})",
                        f"np.add({dst}, {shift_}, out={dst})"]

    def reads_initial(self, name: str) -> bool:
        """Whether a history is read at step 0 (at t-1 in a step, or by the initial state)."""
        exprs = [*(eq.rhs for eq in (*self.p.adjoints, *self.p.initial, *self.p.gradients)),
                 *(_uncache(self.p, eq.rhs) for eq in self.cell.equations)]
        return any(str(q.base) == name and (q.indices[0] == t - 1 or q.indices[0] == 0)
                   for e in exprs for q in e.atoms(sp.Indexed))

    def saved(self) -> list[str]:
        """The forward histories the backward pass reads."""
        p = self.p
        reads = {g.source for g in p.groups}
        for eq in (*p.adjoints, *p.initial, *p.gradients):
            reads |= {str(q.base) for q in eq.rhs.atoms(sp.Indexed)}
        return [q for q in (*self.cell.quantities, *p.cached.values())
                if q in reads and q not in self.cell.inputs]

    # -- backward --------------------------------------------------------------------------

    def backward(self) -> list[str]:
        p, c = self.p, self.cell
        temps = Temps()

        def product(q: sp.Indexed, out: str) -> str:
            gi = _group_of(q)
            return (f"np.matmul({p.delta(gi, _index(int(q.indices[0] - t)))}, {p.weights[gi]}, "
                    f"out={out})")
        code = InPlace(self.leaf, product, temps)
        L = ["def backward(params, cache, dy, dstateT=None):",
             '    """Gradients of a loss L from dy = dL/dy (T, B, H) and dstateT (state name ->',
             "    dL/dstate at T; missing = 0); returns (dparams, dx, dstate0), dparams with the",
             '    keys and shapes of params."""',
             "    T, B, I, H = cache['sizes']",
             "    dtype = cache['dtype']",
             "    params = _check_params(params, I, H, dtype)",
             "    dy = _array('dy', dy, (T, B, H), dtype)",
             "    dstateT = _states(dstateT, B, H, dtype, 'dstateT')",
             "    x = cache['x']"]
        L += [f"    {n} = cache[{n!r}]" for n in self.saved()]
        L += [f"    {n} = {self.view(n)}"
              for n in self.vectors([eq.rhs for eq in (*p.adjoints, *p.initial, *p.gradients)])]
        L += [f"    {p.weights[gi]} = {self.stack(g)}" for gi, g in enumerate(p.groups)]
        in_loop = [eq for eq in p.adjoints if eq.name[6:] not in c.inputs]
        L.append("    # scratch arrays, recycled from the previous call of the same shape")
        L += self.allocate(p.backward_buffers, [eq.name for eq in in_loop], p.adjoint_home,
                           new="_scratch")
        step = self.schedule([op for eq in in_loop for op in self.adjoint_ops(eq, code)])
        L += [f"    tmp{k} = _scratch((B, H), dtype)" for k in range(temps.count)]
        L.append("    for t in range(T, 0, -1):")
        L += ["        " + s for s in step]
        L += ["    " + s for s in self.after_loop()]
        scratch = [buf.name for buf in p.backward_buffers] + [
            eq.name for eq in in_loop if eq.name not in p.adjoint_home] + [
            f"tmp{k}" for k in range(temps.count)]
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
            lines += ["else:", f"    np.copyto({out}, dstateT[{name[6:]!r}])"]
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
        dx = next((eq for eq in p.adjoints if eq.name[6:] in c.inputs), None)
        if dx is not None and dx.rhs != 0:
            L += [f"# {_text(p.derived(dx))}, all steps at once", f"dx = {print_(dx.rhs)}"]
        else:
            L.append("dx = np.zeros_like(x)")
        L += [f"# {_text(p.derived(eq))}" for eq in p.initial]
        L.append("dstate0 = {" + ", ".join(  # a bare adjoint would be a view of scratch memory
            f"{eq.name[6:]!r}: {print_(eq.rhs)}"
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
                pieces.setdefault(q.weight, []).append((dW, k, k + 1, len(g.products)))
        sums: dict[str, str] = {}
        for eq in p.gradients:
            name, body = eq.name[6:], eq.rhs
            if len(c.params[name].shape) == 2:
                self.check_outer(name, eq)
            elif isinstance(body, sp.Indexed) and body.indices[0] == t \
                    and str(body.base) in p.adjoint_home:   # a block of a column sum
                buf, k = p.adjoint_home[str(body.base)]
                if buf.name not in sums:
                    sums[buf.name] = p.fresh(f"{buf.name}_sum")
                    L.append(f"{sums[buf.name]} = {buf.name}[1:].sum(axis=(0, 1))")
                pieces[name] = [(sums[buf.name], k, k + 1, len(buf.holds))]
            else:
                L.append(f"# {_text(eq)}")
                pieces[name] = [f"({print_(body)}).sum(axis=(0, 1))" if body != 0
                                else "np.zeros(H, dtype)"]
        L.append("dparams = {")
        for name, (members, (rows, *cols)) in self.packed().items():
            zero = f"np.zeros(({', '.join([rows, *cols])},), dtype)"
            gradient = _row_stack([_sum_of(pieces.get(m, [zero])) for m in members])
            L.append(f"    {name!r}: {gradient},")
        return L + ["}", "return dparams, dx, dstate0"]

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
        c = self.cell
        forward = self.forward()
        self.prelude = []
        backward = self.backward()
        first, (members, (rows, *_)) = next(iter(self.packed().items()))
        shapes = ", ".join(f"{n!r}: {self.packed_shape(n)}" for n in self.packed())
        views = ", ".join(f"{m!r}: {self.view(m)}" for m in c.params)
        return "\n".join([
            f'"""{self.docstring()}\n"""',
            "import numpy as np",
            "",
            f"CELL = {c.name!r}",
            f"STATE = {tuple(c.state)!r}",
            f"OUTPUT = {c.output!r}",
            "",
            "",
            "def param_shapes(input_size, hidden_size):",
            '    """Parameter name -> shape; the layout of PyTorch for its cells."""',
            "    I, H = input_size, hidden_size",
            f"    return {{{shapes}}}",
            "",
            "",
            "def init_params(input_size, hidden_size, seed=0, dtype=np.float64):",
            '    """Parameters drawn uniformly from (-1/sqrt(H), 1/sqrt(H)), as PyTorch does."""',
            "    rng = np.random.default_rng(seed)",
            "    bound = 1 / np.sqrt(hidden_size)",
            "    return {name: rng.uniform(-bound, bound, shape).astype(dtype)",
            "            for name, shape in param_shapes(input_size, hidden_size).items()}",
            "",
            "",
            "def unpack(params):",
            '    """The parameters of the equations (per gate), as views of the packed ones."""',
            *(["    H = _hidden_size(params)"] if "H" in views else []),
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
            f"_FIRST = ({first!r}, {len(members)})  # the parameter that gives H: "
            f"{len(members)} blocks of {rows} rows",
            HELPERS])


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
    if (q[1], q[2]) == (0, q[3]):   # a whole product is a fresh array; a shared sum is not
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


_SPARE = {}  # (shape, dtype) -> scratch arrays of finished backward calls, for reuse


def _scratch(shape, dtype):
    """An uninitialised array: one recycled from an earlier call if there is one (fresh
    memory costs a page fault per page on first touch), else a new one."""
    spare = _SPARE.get((shape, np.dtype(dtype)))
    try:
        return spare.pop()          # atomic: concurrent calls never share an array
    except (AttributeError, IndexError):
        return np.empty(shape, dtype)


def _recycle(*arrays):
    for a in arrays:
        spare = _SPARE.setdefault((a.shape, a.dtype), [])
        if len(spare) < 4:
            spare.append(a)


def _blocks(a, n):
    """The n H-wide column blocks of a stacked array, as views."""
    H = a.shape[-1] // n
    return tuple(a[..., k * H:(k + 1) * H] for k in range(n))


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


def _hidden_size(params):
    name, blocks = _FIRST
    if not isinstance(params, dict):
        raise ValueError(f"params: expected a dict of arrays, got {type(params).__name__}")
    if name not in params:
        raise ValueError(f"params: missing {name!r} (expected shape "
                         f"{param_shapes('I', 'H')[name]})")
    shape = np.shape(params[name])
    if not shape or shape[0] % blocks or shape[0] == 0:
        raise ValueError(f"params[{name!r}]: expected shape {param_shapes('I', 'H')[name]}, "
                         f"got {shape}")
    return shape[0] // blocks


def _array(name, a, shape, dtype):
    a = np.asarray(a)
    if a.shape != tuple(shape):
        raise ValueError(f"{name}: expected shape {tuple(shape)}, got {a.shape}")
    if a.dtype != dtype:
        raise ValueError(f"{name}: dtype {a.dtype} differs from x's {np.dtype(dtype).name} "
                         f"(expected shape {tuple(shape)})")
    return a


def _check_params(params, I, H, dtype):
    """params as arrays, each checked against param_shapes(I, H) and x's dtype."""
    shapes = param_shapes(I, H)
    for name in params:
        if name not in shapes:
            raise ValueError(f"params: unexpected {name!r}; expected {', '.join(shapes)}")
    for name, shape in shapes.items():
        if name not in params:
            raise ValueError(f"params: missing {name!r} (expected shape {shape})")
    return {name: _array(f"params[{name!r}]", params[name], shape, dtype)
            for name, shape in shapes.items()}


def _check_input(params, x):
    """(params, x, T, B, I, H) of a forward call, every array checked."""
    x = np.asarray(x)
    if x.ndim != 3 or 0 in x.shape:
        raise ValueError(f"x: expected shape (T, B, input_size), T and B >= 1, got {x.shape}")
    if x.dtype not in (np.float32, np.float64):
        raise ValueError(f"x: expected dtype float32 or float64, got {x.dtype}")
    T, B, I = x.shape
    H = _hidden_size(params)
    return _check_params(params, I, H, x.dtype), x, T, B, I, H


def _states(states, B, H, dtype, what):
    states = {} if states is None else dict(states)
    for name in states:
        if name not in STATE:
            raise ValueError(f"{what}: unexpected {name!r}; the states are {', '.join(STATE)}")
    return {s: _array(f"{what}[{s!r}]", states[s], (B, H), dtype) if s in states
            else np.zeros((B, H), dtype) for s in STATE}
'''

