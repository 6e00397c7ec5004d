"""The plan of a cell's kernels, shared by every target: the cell with its matrix products
lifted, the products grouped into stacked GEMMs, the derived backward pass with stacked
``W^T delta`` placeholders, and the memory layout (buffers, homes) of the recurrent loop."""
from __future__ import annotations

import builtins
import dataclasses
import itertools
import keyword
import re
from dataclasses import dataclass, field

import sympy as sp
from sympy.printing.precedence import PRECEDENCE

from ..derivation import Backward, adjoint, derive, through_outputs
from ..ir import (ACTIVATIONS, Activation, Cell, CellError, Equation, MatVec, MatVecT, Param,
                  base_name, sigmoid, t, tanh, time_offset)
from ..printers import PlainPrinter

# --- tables -------------------------------------------------------------------------------

# Activations as scale * tanh(scale * a) + shift: adjacent gates of mixed kinds are then one
# tanh call (and the sigmoid cannot overflow).
AS_TANH: dict[type, tuple[float, float]] = {sigmoid: (0.5, 0.5), tanh: (1.0, 0.0)}
# Names the generated modules (every target) use themselves; a cell's names that clash with
# them, with Python's keywords or builtins, are renamed inside the generated code.
RESERVED = {
    "np", "torch", "jax", "jnp", "T", "B", "t", "sizes", "dtype", "params", "inputs", "state0",
    "stateT", "dstateT", "dstate0", "dparams", "cache", "dy", "dx", "dloss", "Delta",
    "sigma", "outer", "softmax",                                    # NumPy helpers
    "ctx", "self", "grads", "with_state", "without",                # torch
    "saved", "residuals", "cotangents", "prev", "xs", "ys", "step", "v0", "vm", "vp", "dn",
    "out", "zero", "base", "full",                                  # jax
    "forward", "backward", "unpack", "param_shapes", "init_params", "forward_step",
    "backward_step", "run", "CELL", "STATE", "OUTPUT", "SIZES", "INPUTS", "TARGETS", "LOSS",
    "SIZE_OF", "PARAMS"}


def clashes(name: str) -> bool:
    """Whether a cell's name cannot be a variable of the generated code as it is."""
    return (keyword.iskeyword(name) or name in RESERVED or name in dir(builtins)
            or re.fullmatch(r"tmp\d+", name) is not None)


def unclash(cell: Cell) -> tuple[Cell, dict[str, str]]:
    """The cell with every clashing name (quantity, input, parameter, size) renamed, and the
    map from the new names back to the cell's own (its public names: parameters' keys,
    states' keys)."""
    sizes = set(cell.size_names)
    names = {*cell.quantities, *cell.inputs, *cell.params}
    taken = names | sizes | set(cell.stacks)
    rename: dict[str, str] = {}
    for name in [*names, *sizes]:
        if clashes(name) or (name in names and name in sizes and name not in rename):
            new = next(n for n in (name + "_" * k for k in itertools.count(1))
                       if n not in taken and not clashes(n))
            taken.add(new)
            rename[name] = new
    if not rename:
        return cell, {}

    def size(n: str) -> str:
        return rename.get(n, n) if n in sizes else n
    bases = {sp.IndexedBase(n): sp.IndexedBase(rename.get(n, n))
             for n in (*cell.quantities, *cell.inputs)}
    params = {}
    for name, prm in cell.params.items():
        new = rename.get(name, name)
        symbol = type(prm.symbol)(new)
        bases[prm.symbol] = symbol
        params[new] = Param(new, tuple(size(d) for d in prm.shape), symbol)
    equations = tuple(Equation(eq.lhs.xreplace(bases), eq.rhs.xreplace(bases))
                      for eq in cell.equations)
    return dataclasses.replace(
        cell, equations=equations, params=params,
        inputs=tuple(rename.get(n, n) for n in cell.inputs),
        output=rename.get(cell.output, cell.output),
        stacks={k: tuple(rename.get(m, m) for m in ms) for k, ms in cell.stacks.items()},
        sizes={rename.get(n, n): size(d) for n, d in cell.sizes.items()},
    ), {new: old for old, new in rename.items()}


# --- stage 1: a cell whose kernels can be planned -------------------------------------------

def lift_products(cell: Cell) -> Cell:
    """The same cell with every matrix product a top-level term of its equation and every
    product's argument a named quantity.

    Then the adjoint of each product is the kept adjoint of its equation, and the backward
    pass never needs a product's value. The built-in cells are already in this form.
    """
    equations: list[Equation] = []
    taken = {*cell.quantities, *cell.inputs, *cell.params}

    def define(rhs: sp.Expr, stem: str) -> sp.Indexed:
        name = next(n for n in itertools.chain([stem], (f"{stem}{k}" for k in itertools.count(2)))
                    if n not in taken)
        taken.add(name)
        equations.append(Equation(sp.IndexedBase(name)[t], rhs))
        return sp.IndexedBase(name)[t]

    def lift(expr: sp.Expr, top: bool, owner: str, parent: sp.Expr | None = None) -> sp.Expr:
        if not expr.has(MatVec):
            return expr
        if isinstance(expr, MatVec):
            W, v = expr.args
            if not isinstance(v, sp.Indexed):
                v = define(lift(v, True, owner), f"{owner}_in")
            return MatVec(W, v) if top else define(MatVec(W, v), f"{owner}_{W}")
        if isinstance(expr, sp.Add):
            terms = sp.Add(*(lift(a, True, owner) for a in expr.args))
            if top:
                return terms
            return define(terms, f"{owner}bar" if isinstance(parent, Activation) else
                          f"{owner}_lin")
        return expr.func(*(lift(a, False, owner, expr) for a in expr.args))

    for eq in cell.equations:
        equations.append(Equation(eq.lhs, lift(eq.rhs, True, eq.name)))
    if len(equations) == len(cell.equations):
        return cell
    return dataclasses.replace(cell, equations=tuple(equations))


def check_supported(cell: Cell) -> None:
    """Raise CellError naming the first operation or name the generator cannot handle."""
    where = f"cell {cell.name!r}"
    for name in cell.stacks:
        if not name.isidentifier():
            raise CellError(f"{where}: stack name {name!r} is not an identifier")
    for packed, members in cell.stacks.items():
        unknown = [m for m in members if m not in cell.params]
        if unknown:
            raise CellError(f"{where}: stack {packed!r} names unknown parameter {unknown[0]!r}")
        if len({cell.params[m].shape for m in members}) > 1:
            raise CellError(f"{where}: stack {packed!r} mixes parameter shapes")
    stacked = [m for ms in cell.stacks.values() for m in ms]
    if len(stacked) != len(set(stacked)):
        raise CellError(f"{where}: a parameter is in two stacks")
    weights = {name for name, p in cell.params.items() if len(p.shape) == 2}

    def visit(expr: sp.Expr, eq: str) -> None:
        if isinstance(expr, MatVec):
            visit(expr.args[1], eq)
            return
        if str(expr) in weights and isinstance(expr, sp.Symbol):
            raise CellError(f"{where}: equation {eq} uses weight {expr} outside a matrix "
                            "product")
        if isinstance(expr, sp.Indexed):
            if base_name(expr) in cell.inputs and time_offset(expr) != 0:
                raise CellError(f"{where}: equation {eq} reads {expr}; codegen needs the "
                                "input at t")
            return
        for a in expr.args:
            visit(a, eq)

    for eq in cell.equations:
        visit(eq.rhs, eq.name)


# --- stage 2: the plan ---------------------------------------------------------------------

@dataclass(frozen=True)
class Product:
    """One ``W @ v`` term: the weight and the equation it feeds."""
    weight: str
    equation: str


@dataclass(frozen=True)
class Group:
    """The products sharing one argument: a single stacked matrix product."""
    arg: sp.Indexed
    products: tuple[Product, ...]

    @property
    def source(self) -> str:
        return base_name(self.arg)

    @property
    def layout(self) -> tuple[str, ...]:
        return tuple(p.equation for p in self.products)


@dataclass(eq=False)
class Buffer:
    """A stacked array of blocks, over steps 0..T if ``history``.

    ``holds[k]`` is the quantity block k contains; ``blocks[k]`` is the same name where the
    block is that quantity's home (its own variable, a view), else None; ``widths[k]`` is the
    block's size name.
    """
    name: str
    holds: list[str | None]
    history: bool = True
    blocks: list[str | None] = field(default_factory=list)
    widths: list[str] = field(default_factory=list)
    #: gate-major: stored (T + 1, blocks, B, width), every block contiguous at a step (blocks of
    #: one width only; the NumPy writer's choice)
    major: bool = False

    @property
    def width(self) -> str:
        return _width(self.widths)

    def at(self, a: int, b: int, index: str, name: str | None = None) -> str:
        """Blocks a..b-1 at a step, by a quantity's own name where there is one."""
        name = name or (self.blocks[a] if b - a == 1 else None)
        if b - a == 1 and name:
            return f"{name}[{index}]"
        if self.major:
            return f"{self.name}[{index}]" if (a, b) == (0, len(self.holds)) else \
                f"{self.name}[{index}, {a}:{b}]"
        cols = "" if (a, b) == (0, len(self.holds)) else _cols(a, b, self.widths)
        if self.history:
            return f"{self.name}[{index}, :, {cols}]" if cols else f"{self.name}[{index}]"
        return f"{self.name}[:, {cols}]" if cols else self.name


def _cols(a: int, b: int, widths: list[str] | tuple[str, ...]) -> str:
    """The column slice of blocks a..b-1 of blocks of the given widths: ``H:3 * H``."""
    n = len(widths)
    return f"{_width(widths[:a]) if a else ''}:{_width(widths[:b]) if b < n else ''}"


def _width(widths: list[str] | tuple[str, ...]) -> str:
    """The total width of blocks of the given size names: ``2 * H + P``."""
    counts: dict[str, int] = {}
    for w in widths:
        counts[w] = counts.get(w, 0) + 1
    return " + ".join(w if k == 1 else f"{k} * {w}" for w, k in counts.items())


def _index(k: int) -> str:
    return "t" if k == 0 else (f"t + {k}" if k > 0 else f"t - {-k}")


@dataclass
class Plan:
    """The cell (lifted), its backward pass as derived (``sheet``) and ready to print
    (``adjoints``, ``initial``, ``gradients``: stacked products, cached activations), and
    the memory layout."""
    cell: Cell
    groups: list[Group]
    sheet: Backward
    adjoints: list[Equation] = field(default_factory=list)
    initial: list[Equation] = field(default_factory=list)
    gradients: list[Equation] = field(default_factory=list)   # the sums' bodies
    cached: dict[tuple[type, str], str] = field(default_factory=dict)  # (f, q) -> f(q) name
    forward_buffers: list[Buffer] = field(default_factory=list)
    home: dict[str, tuple[Buffer, int]] = field(default_factory=dict)
    aliases: dict[str, str] = field(default_factory=dict)  # activation -> its pre-activation
    activated: set[str] = field(default_factory=set)       # activations of whole blocks
    products: dict[int, Buffer] = field(default_factory=dict)    # group -> its products
    weights: dict[int, str] = field(default_factory=dict)        # group -> stacked weight
    transposed: dict[int, str] = field(default_factory=dict)     # group -> its transpose
    backward_buffers: list[Buffer] = field(default_factory=list)
    adjoint_home: dict[str, tuple[Buffer, int]] = field(default_factory=dict)
    delta_of: dict[int, tuple[Buffer, int]] = field(default_factory=dict)  # group -> blocks
    names: set[str] = field(default_factory=set)
    public: dict[str, str] = field(default_factory=dict)  # renamed -> the cell's own name


    def backward_lines(self) -> list[str]:
        """The derived backward pass as the generated modules' docstrings list it."""
        c = self.cell
        given = (f"L = the sum over t of {c.loss}[t]" if c.loss else
                 f"Delta[t] = dL/d{c.output}[t] from the layer above")
        lines = ["", f"Backward, t = T..1 ({given}; every adjoint is zero at T+1):"]
        lines += [f"    {_text(eq)}" for eq in self.sheet.adjoints]
        lines += ["", "Initial state:"] + [f"    {_text(eq)}" for eq in self.sheet.initial]
        return lines + ["", "Gradients:"] + [f"    {_text(eq)}" for eq in self.sheet.gradients]

    def saved(self) -> list[str]:
        """The forward histories the backward pass reads (every target saves these)."""
        reads = {g.source for g in self.groups}
        for eq in (*self.adjoints, *self.initial, *self.gradients):
            reads |= {str(q.base) for q in eq.rhs.atoms(sp.Indexed)}
        return [q for q in (*self.cell.quantities, *self.cached.values())
                if q in reads and q not in self.cell.inputs]
    def name(self, name: str) -> str:
        """A name as the cell has it (for keys of params and states)."""
        return self.public.get(name, name)

    def size(self, name: str) -> str:
        """The size name of a quantity, input, its adjoint or a cached activation of one."""
        name = name.removeprefix("delta_")
        for (f, q), cached in self.cached.items():
            if name == cached:
                return self.cell.size(q)
        return self.cell.size(name)

    # -- parameters: packed as a library packs them, per-gate views --------------------------

    def packed(self) -> dict[str, tuple[tuple[str, ...], tuple[str, ...]]]:
        """Packed parameter -> (its blocks, the shape of one block in size names)."""
        out = {name: (members, self.cell.params[members[0]].shape)
               for name, members in self.cell.stacks.items()}
        stacked = {m for ms in self.cell.stacks.values() for m in ms}
        out.update({self.name(name): ((name,), prm.shape)
                    for name, prm in self.cell.params.items() if name not in stacked})
        return out

    def packed_shape(self, name: str) -> str:
        members, (rows, *cols) = self.packed()[name]
        rows = rows if len(members) == 1 else f"{len(members)} * {rows}"
        return f"({rows}, {cols[0]})" if cols else f"({rows},)"

    def view(self, param: str, ref=repr) -> str:
        """A per-gate parameter as a view of its packed parameter."""
        for name, (members, _) in self.packed().items():
            if param in members:
                k, n = members.index(param), len(members)
                rows = [self.cell.params[param].shape[0]] * n
                whole = f"params[{ref(name)}]" if ref is repr else ref(name)
                return whole if n == 1 else f"{whole}[{_cols(k, k + 1, rows)}]"
        raise KeyError(param)

    def stack(self, g: Group, concat: str, ref=repr) -> str:
        """A group's stacked weight: a packed parameter (or a slice) where the order matches."""
        for name, (members, (rows, *_)) in self.packed().items():
            ws = [q.weight for q in g.products]
            n = len(ws)
            for a in range(len(members) - n + 1):
                if list(members[a:a + n]) == ws:
                    whole = n == len(members)
                    packed = f"params[{ref(name)}]" if ref is repr else ref(name)
                    return packed if whole else \
                        f"{packed}[{_cols(a, a + n, [rows] * len(members))}]"
        return f"{concat}([{', '.join(self.view(q.weight, ref) for q in g.products)}])"

    def vectors(self, exprs) -> list[str]:
        """The vector parameters used elementwise by exprs, as views."""
        used = set().union(*(e.free_symbols for e in exprs)) if exprs else set()
        return [n for n, prm in self.cell.params.items()
                if len(prm.shape) == 1 and prm.symbol in used]

    def fresh(self, stem: str) -> str:
        name = next(n for n in itertools.chain([stem], (f"{stem}_{k}" for k in itertools.count(2)))
                    if n not in self.names and not clashes(n))
        self.names.add(name)
        return name

    def hoisted(self, g: Group) -> bool:
        return g.source in self.cell.inputs

    def derived(self, eq: Equation) -> Equation:
        """The adjoint equation as derived (for comments)."""
        return next(d for d in (*self.sheet.adjoints, *self.sheet.initial) if d.lhs == eq.lhs)

    def delta(self, gi: int, index: str) -> str:
        """The adjoints of group gi's equations, stacked, at a step."""
        buf, a = self.delta_of[gi]
        return buf.at(a, a + len(self.groups[gi].products), index)

    def delta_all(self, gi: int) -> str:
        """The same for steps 1..T."""
        buf, a = self.delta_of[gi]
        n = len(self.groups[gi].products)
        if (a, a + n) == (0, len(buf.holds)):
            return f"{buf.name}[1:]"
        return f"{buf.name}[1:, :, {_cols(a, a + n, buf.widths)}]"


def plan(cell: Cell) -> Plan:
    """Lift, derive and lay out the kernels of ``cell``."""
    check_supported(cell)
    cell, public = unclash(cell)
    cell = lift_products(cell)
    back = derive(cell).map(lambda e: through_outputs(e, cell))
    p = Plan(cell, _groups(cell), back, public=public)
    p.names = {*cell.quantities, *cell.params, *cell.stacks, *cell.inputs, *RESERVED,
               *cell.size_names,
               *(f"delta_{q}" for q in (*cell.quantities, *cell.inputs))}
    _cache_activations(p, p.sheet.equations)

    def ready(expr: sp.Expr) -> sp.Expr:
        return _stacked(p, _uncache(p, expr))
    p.adjoints = [Equation(eq.lhs, ready(eq.rhs)) for eq in p.sheet.adjoints]
    p.initial = [Equation(eq.lhs, ready(eq.rhs)) for eq in p.sheet.initial]
    p.gradients = [Equation(eq.lhs, ready(eq.rhs.function)) for eq in p.sheet.gradients]
    for gi, g in enumerate(p.groups):
        p.weights[gi] = p.fresh(f"{g.source}_weights")
        p.transposed[gi] = p.fresh(f"{g.source}_weights_T")
    _layout_forward(p)
    _layout_backward(p)
    return p


def _groups(cell: Cell) -> list[Group]:
    """The products grouped by argument, blocks in the packed parameters' order; the input's
    group first, the others in order of first use."""
    position = {m: (i, j) for i, ms in enumerate(cell.stacks.values()) for j, m in enumerate(ms)}
    order = {eq.name: k for k, eq in enumerate(cell.equations)}
    by_arg: dict[sp.Indexed, list[Product]] = {}
    for eq in cell.equations:
        for term in sp.Add.make_args(eq.rhs):
            if isinstance(term, MatVec):
                by_arg.setdefault(term.args[1], []).append(Product(str(term.args[0]), eq.name))
    groups = [Group(arg, tuple(sorted(prods, key=lambda q: (
        position.get(q.weight, (len(position), 0)), order[q.equation]))))
        for arg, prods in by_arg.items()]
    return sorted(groups, key=lambda g: (g.source not in cell.inputs,
                                         min(order[q.equation] for q in g.products)))


def _cache_activations(p: Plan, equations) -> None:
    """Activations the backward pass needs and no equation names (tanh(c) of an LSTM) are
    kept by the forward pass instead of being recomputed."""
    named = {(type(eq.rhs), base_name(eq.rhs.args[0])) for eq in p.cell.equations
             if type(eq.rhs) in ACTIVATIONS and isinstance(eq.rhs.args[0], sp.Indexed)}
    found = {(type(f), base_name(f.args[0])) for eq in equations for f in eq.rhs.atoms(Activation)
             if isinstance(f.args[0], sp.Indexed) and base_name(f.args[0]) in p.cell.quantities}
    for f, q in sorted(found - named, key=lambda k: (p.cell.quantities.index(k[1]),
                                                     k[0].__name__)):
        p.cached[(f, q)] = p.fresh(f"{f.__name__}_{q}")


def _uncache(p: Plan, expr: sp.Expr) -> sp.Expr:
    """Read cached activations instead of recomputing them."""
    def cached(e: sp.Expr) -> sp.Expr:
        arg = e.args[0]
        name = p.cached.get((type(e), base_name(arg))) if isinstance(arg, sp.Indexed) else None
        return sp.IndexedBase(name)[arg.indices[0]] if name else e
    return expr.replace(lambda e: isinstance(e, Activation), cached)


def _stacked(p: Plan, expr: sp.Expr) -> sp.Expr:
    """Replace each group's sum of ``W_j^T delta_j[index]`` terms by a placeholder
    ``@gi[index]`` that stands for one stacked product."""
    for gi, g in enumerate(p.groups):
        placeholder = sp.IndexedBase(f"@{gi}")
        for index in {m.args[1].indices[0] for m in expr.atoms(MatVecT)
                      if isinstance(m.args[1], sp.Indexed)}:
            want = {MatVecT(p.cell.params[q.weight].symbol, adjoint(q.equation)[index])
                    for q in g.products}
            if len(want) == 1:
                expr = expr.xreplace({next(iter(want)): placeholder[index]})
                continue

            def stack(add: sp.Expr, want=want, index=index) -> sp.Expr:
                coeffs = {m: c for c, m in (a.as_coeff_Mul() for a in add.args) if m in want}
                if len(coeffs) < len(want) or len(set(coeffs.values())) != 1:
                    return add
                rest = [a for a in add.args if a.as_coeff_Mul()[1] not in want]
                return sp.Add(next(iter(coeffs.values())) * placeholder[index], *rest)
            expr = expr.replace(lambda e: isinstance(e, sp.Add), stack)
    if expr.has(MatVecT):
        raise CellError(f"cell {p.cell.name!r}: codegen cannot stack the product "
                        f"{sorted(map(str, expr.atoms(MatVecT)))[0]}")
    return expr


def _is_product(q: sp.Expr) -> bool:
    return isinstance(q, sp.Indexed) and str(q.base).startswith("@")


def _group_of(q: sp.Indexed) -> int:
    return int(str(q.base)[1:])


def _layout_forward(p: Plan) -> None:
    """Homes of the equations with products, product buffers, and parallel buffers that keep
    the activations of adjacent blocks adjacent."""
    first: dict[str, tuple[int, int]] = {}
    for gi, g in enumerate(p.groups):
        for k, q in enumerate(g.products):
            first.setdefault(q.equation, (gi, k))
    for gi, g in enumerate(p.groups):
        holds = [q.equation for q in g.products]
        homes = [q if first[q] == (gi, k) else None for k, q in enumerate(holds)]
        stem = "_".join(q for q in homes if q) if p.hoisted(g) and any(homes) \
            else f"{g.source}_products"
        buf = Buffer(p.fresh(stem), holds, history=p.hoisted(g) or any(homes), blocks=homes,
                     widths=[p.size(q) for q in holds])
        p.products[gi] = buf
        p.forward_buffers.append(buf)
        p.home.update({q: (buf, k) for k, q in enumerate(homes) if q})
    # activations of blocks: in place where the pre-activation is read by nothing else,
    # else into a parallel buffer (for two or more), so adjacent gates stay one call
    readers = {q: [eq.name for eq in p.cell.equations
                   if any(base_name(r) == q for r in eq.reads())] for q in p.home}
    backward = {str(q.base) for eq in (*p.adjoints, *p.initial, *p.gradients)
                for q in eq.rhs.atoms(sp.Indexed)}
    claims: dict[int, list[tuple[int, str]]] = {}
    for eq in p.cell.equations:
        arg = eq.rhs.args[0] if type(eq.rhs) in AS_TANH else None
        if not (isinstance(arg, sp.Indexed) and time_offset(arg) == 0
                and base_name(arg) in p.home):
            continue
        q = base_name(arg)
        src, k = p.home[q]
        if readers[q] == [eq.name] and q not in backward and q not in p.cell.state \
                and q != p.cell.output and all(c != q for _, c in p.cached):
            p.home[eq.name] = (src, k)
            p.aliases[eq.name] = q
        elif all(k != j for j, _ in claims.get(id(src), [])):
            claims.setdefault(id(src), []).append((k, eq.name))
    for src in list(p.forward_buffers):
        mine = claims.get(id(src), [])
        if len(mine) < 2:
            continue
        blocks: list[str | None] = [None] * len(src.holds)
        for k, q in mine:
            blocks[k] = q
        buf = Buffer(p.fresh("_".join(q for q in blocks if q)), list(blocks), blocks=blocks,
                     widths=src.widths)
        p.forward_buffers.append(buf)
        p.home.update({q: (buf, k) for k, q in mine})
    p.activated = {*p.aliases, *(q for mine in claims.values() if len(mine) > 1
                                 for _, q in mine)}


def _layout_backward(p: Plan) -> None:
    """Stacked adjoint buffers: one per group layout, or a run of blocks of a larger one."""
    for gi in sorted(range(len(p.groups)), key=lambda gi: -len(p.groups[gi].products)):
        layout = list(p.groups[gi].layout)
        n = len(layout)
        for buf in p.backward_buffers:
            a = next((a for a in range(len(buf.holds) - n + 1) if buf.holds[a:a + n] == layout),
                     None)
            if a is not None:
                p.delta_of[gi] = (buf, a)
                break
        else:
            buf = Buffer(p.fresh("delta_" + "_".join(layout)), layout,
                         widths=[p.size(q) for q in layout])
            p.backward_buffers.append(buf)
            p.delta_of[gi] = (buf, 0)
    for buf in p.backward_buffers:
        for k, q in enumerate(buf.holds):
            p.adjoint_home.setdefault(f"delta_{q}", (buf, k))
        buf.blocks = [f"delta_{q}" if p.adjoint_home[f"delta_{q}"] == (buf, k) else None
                      for k, q in enumerate(buf.holds)]


# --- printers ------------------------------------------------------------------------------

class TextPrinter(PlainPrinter):
    """Equations as plain text for the module docstring and comments (the terminal's text),
    with stacked products in parentheses inside a product."""

    def parenthesize(self, item, level, strict=False):
        if level >= PRECEDENCE["Add"] and _is_product(item):   # see PlainPrinter
            return f"({self._print(item)})"
        return super().parenthesize(item, level, strict)


TEXT = TextPrinter()


def _text(e: Equation | sp.Expr) -> str:
    if isinstance(e, Equation):
        return f"{TEXT.doprint(e.lhs)} = {TEXT.doprint(e.rhs)}"
    return TEXT.doprint(e)


# The pool of arrays the NumPy and torch modules reuse between calls (fresh memory costs a page
# fault per page on first touch); each module's _scratch takes from it, _recycle gives to it.
POOL_HELPER = '''

_SPARE = {}  # (shape, dtype) -> arrays of finished calls, for reuse


def _keep(key, a):
    """Keep a for a later call: at most 4 of a key, of the 32 keys kept last (so that
    sequences of many lengths hold bounded memory)."""
    spare = _SPARE.pop(key, [])
    if len(spare) < 4:
        spare.append(a)
    _SPARE[key] = spare                     # last in order: the keys kept last stay
    while len(_SPARE) > 32:
        try:
            del _SPARE[next(iter(_SPARE))]  # the key kept longest ago
        except (KeyError, RuntimeError, StopIteration):   # another thread's change
            break
'''

# The sizes argument of every generated module's param_shapes (SIZES, _ALIASES: its constants).
SIZES_HELPER = '''

def _sizes(args, named):
    """Sizes by name in the order of SIZES, from positional values, one dict, or keywords."""
    if len(args) == 1 and isinstance(args[0], dict):
        args, named = (), {**args[0], **named}
    named = {_ALIASES.get(name, name): n for name, n in named.items()}
    if len(args) > len(SIZES):
        raise ValueError(f"sizes: expected at most {len(SIZES)} ({', '.join(SIZES)}), got "
                         f"{len(args)}")
    named = {**dict(zip(SIZES, args)), **named}
    for name in named:
        if name not in SIZES:
            raise ValueError(f"sizes: unexpected {name!r}; the sizes are {', '.join(SIZES)}")
    for name in SIZES:
        n = named.get(name)
        if n is None:
            raise ValueError(f"sizes: missing {name!r}; the sizes are {', '.join(SIZES)}")
        if isinstance(n, bool) or not hasattr(n, "__index__") or n < 1:
            raise ValueError(f"sizes[{name!r}]: expected a positive integer, got {n!r}")
    return {name: int(named[name]) for name in SIZES}
'''
