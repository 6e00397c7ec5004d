"""Printers: IR expressions to LaTeX in a textbook notation, and to plain text.

A :class:`Notation` is data (how each quantity, adjoint and function is written); one printer
class reads it. ``vector`` is Greff-style vector notation (``\\odot``, ``W x^t``,
``R^\\top \\delta\\bar z^{t+1}``); ``graves`` is Graves' 2012 per-unit notation (a, b, s,
epsilon, delta, w_{ij}, sums over units), known for the cells that Graves writes.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import NamedTuple

import sympy as sp
from sympy.printing.latex import LatexPrinter
from sympy.printing.precedence import PRECEDENCE
from sympy.printing.str import StrPrinter

from .ir import (ACTIVATIONS, PRIMES, Cell, CellError, Delta, Equation, LossBase, MatVec, MatVecT,
                 Outer, Softmax, UnitSum, Weight, base_name, cross_entropy, sigmoid,
                 squared_error, t, tanh)


@dataclass(frozen=True)
class Unit:
    """How Graves writes a quantity: letter, its own unit label and the label when summed."""
    letter: str
    own: str
    summed: str = ""

    def at(self, label: str) -> str:
        return f"{self.letter}_{{{label}}}" if label else self.letter  # a scalar: no label


@dataclass(frozen=True)
class Notation:
    """A notation profile. ``units`` switches to per-unit (Graves) printing."""
    name: str
    description: str
    units: dict[str, Unit] = field(default_factory=dict)       # quantity -> how it is written
    adjoint_units: dict[str, Unit] = field(default_factory=dict)
    # parameter -> LaTeX; for a matrix only the label of the unit it feeds: Graves' w_{ij} takes
    # its "from" label i from the vector it multiplies, which differs between W v and W^T g
    weights: dict[str, str] = field(default_factory=dict)
    functions: dict[tuple, str] = field(default_factory=dict)  # (activation, argument) -> name
    inline: frozenset[str] = frozenset()  # quantities written as their definition
    # vector notations: IR name (quantity, delta_<quantity>, parameter) -> LaTeX without time;
    # a name not in it is written as the IR name (vector_symbol)
    symbols: dict[str, str] = field(default_factory=dict)
    time_subscript: bool = False  # h_{t}, as PyTorch writes it (h^{t} where h has a subscript)

    @property
    def per_unit(self) -> bool:
        return bool(self.units)


# accents a name may carry, as a suffix (ibar, htilde) or as its first subscript (h_tilde)
ACCENTS = {"bar": r"\bar", "tilde": r"\tilde", "hat": r"\hat"}
GREEK = {g: "\\" + g for g in (
    "alpha beta gamma epsilon varepsilon zeta eta theta iota kappa mu nu xi pi rho sigma tau "
    "upsilon phi varphi chi psi omega Gamma Delta Theta Lambda Xi Pi Sigma Phi Psi Omega").split()}


def vector_symbol(name: str) -> str:
    """``ibar`` -> ``\\bar{i}``, ``W_ih`` -> ``W_{ih}``, ``nbar_h`` -> ``\\bar{n}_{h}``,
    ``h_tilde`` -> ``\\tilde{h}``, ``alpha`` -> ``\\alpha``, ``loss`` -> ``\\mathrm{loss}``."""
    base, _, sub = name.partition("_")
    first, _, rest = sub.partition("_")
    accent = first if first in ACCENTS else None
    if accent:
        sub = rest
    else:
        accent = next((a for a in ACCENTS if base.endswith(a) and len(base) > len(a)), None)
        base = base[:-len(accent)] if accent else base
    core = GREEK.get(base) or (base if len(base) == 1 else rf"\mathrm{{{base}}}")
    core = rf"{ACCENTS[accent]}{{{core}}}" if accent else core
    return f"{core}_{{{sub}}}" if sub else core


# per-step losses: (LaTeX name, definition for the sheet's text)
LOSS_LATEX = {cross_entropy: (r"\mathcal{L}_{\mathrm{CE}}", r"-\sum_j z_j \log y_j"),
              squared_error: (r"\mathcal{L}_{\mathrm{SE}}", r"\tfrac{1}{2} \sum_j (y_j - z_j)^2")}


VECTOR = Notation("vector", "Greff-style vector notation: bars mark pre-activations, "
                  r"$\odot$ the elementwise product, $\delta q^t = \partial L/\partial q^t$")


class GravesBlock(NamedTuple):
    """An LSTM cell in Graves' units: its gates (IR names) -> Graves' unit labels (the gate
    labelled ``c`` is the cell input, written inline as g(a_c)), its block output, and the names
    of gate k's parameters (format strings); the sheets print them and ``bptt compare`` reads
    them (verify/notations.py)."""
    gates: dict[str, str]
    output: str
    W: str  # input weights (Graves' w_{i k})
    R: str  # recurrent weights (w_{h k})
    biases: tuple[str, ...]  # beta_k, beta'_k: Graves' weights from a constant unit
    peepholes: str | None  # w_{c k}


#: graves-lstm is Graves' own LSTM; PyTorch's lstm is it without peepholes and with two biases
#: (Graves folds biases into the weights, so one or two is a matter of the constant unit)
GRAVES_BLOCKS = {
    "graves-lstm": GravesBlock({"z": "c", "i": "iota", "f": "phi", "o": "omega"}, "y",
                               "W_{}", "R_{}", ("b_{}",), "p_{}"),
    "lstm": GravesBlock({"g": "c", "i": "iota", "f": "phi", "o": "omega"}, "h",
                        "W_i{}", "W_h{}", ("b_i{}", "b_h{}"), None)}


def _graves_lstm(block: GravesBlock) -> Notation:
    gates = {k: f"\\{g}" if len(g) > 1 else g for k, g in block.gates.items()}
    cell_input = next(k for k, g in gates.items() if g == "c")
    units = {f"{k}bar": Unit("a", g, g) for k, g in gates.items()}
    units |= {k: Unit("b", g, g) for k, g in gates.items() if k != cell_input}
    units |= {"c": Unit("s", "c", "c"), block.output: Unit("b", "c", "h"),
              "x": Unit("x", "i", "i")}
    adjoints = {f"{k}bar": Unit(r"\delta", g, g) for k, g in gates.items()}
    adjoints |= {"c": Unit(r"\epsilon", "s", "s"), block.output: Unit(r"\epsilon", "c", "c"),
                 "x": Unit(r"\epsilon", "i", "i")}
    weights = {m.format(k): g for k, g in gates.items() for m in (block.W, block.R)}
    if block.peepholes:
        weights |= {block.peepholes.format(k): rf"w_{{c{g}}}" for k, g in gates.items()
                    if k != cell_input}
    weights |= {b.format(k): rf"\beta{prime}_{{{g}}}" for k, g in gates.items()
                for prime, b in zip(("", "'"), block.biases)}
    return Notation("graves", "Graves (2012) per-unit notation, one cell per block: "
                    r"$a$ network inputs, $b$ activations, $s_c$ the cell state, "
                    r"$\delta = \partial L/\partial a$, $\epsilon = \partial L/\partial b$ and "
                    r"$\partial L/\partial s$, $w_{ij}$ the weight from unit $i$ to unit $j$, "
                    r"$\beta_j$ the bias (Graves' weight from a constant unit), "
                    r"$\sum_k w_{ck}\delta_k^t$ the gradient from the layer above",
                    units, adjoints, weights,
                    {(sigmoid, None): "f", (tanh, f"{cell_input}bar"): "g", (tanh, "c"): "h"},
                    frozenset({cell_input}))


def _graves_rnn() -> Notation:
    return Notation("graves", "Graves (2012) per-unit notation: $a_h$ network input, $b_h$ "
                    r"activation, $\delta_h = \partial L/\partial a_h$, "
                    r"$\epsilon_h = \partial L/\partial b_h$, $w_{ij}$ the weight from unit $i$ "
                    r"to unit $j$, $\beta_h$ the biases, $\sum_k w_{hk}\delta_k^t$ the gradient "
                    "from the layer above",
                    {"hbar": Unit("a", "h", "h'"), "h": Unit("b", "h", "h'"),
                     "x": Unit("x", "i", "i")},
                    {"hbar": Unit(r"\delta", "h", "h'"), "h": Unit(r"\epsilon", "h", "h'"),
                     "x": Unit(r"\epsilon", "i", "i")},
                    {"W_ih": "h", "W_hh": "h", "b_ih": r"\beta_{h}",
                     "b_hh": r"\beta'_{h}"},
                    {(tanh, None): r"\theta"})


def _graves_softmax() -> Notation:
    # Graves 2012 section 3.1.3: output units k, a_k their network inputs, y_k the softmax, z_k
    # the targets (the cell's z is the target too), delta_k = y_k - z_k; the hidden layer's
    # network input is not a quantity of this cell, written inline in b_h = theta(...)
    return Notation("graves", "Graves (2012) per-unit notation: $b_h$ hidden activations, "
                    r"$a_k$ network inputs of the output units, $y_k$ their softmax, $z_k$ the "
                    r"targets, $\mathcal{L}$ the loss, $\delta_k = \partial L/\partial a_k$, "
                    r"$\epsilon_h = \partial L/\partial b_h$, $w_{ij}$ the weight from unit $i$ "
                    r"to unit $j$, $\beta_j$ the biases",
                    {"h": Unit("b", "h", "h'"), "x": Unit("x", "i", "i"), "a": Unit("a", "k", "k"),
                     "y": Unit("y", "k", "k"), "z": Unit("z", "k", "k"),
                     "loss": Unit(r"\mathcal{L}", "")},
                    {"h": Unit(r"\epsilon", "h", "h'"), "x": Unit(r"\epsilon", "i", "i"),
                     "a": Unit(r"\delta", "k", "k")},
                    {"W_ih": "h", "W_hh": "h", "W_ho": "k", "b_h": r"\beta_{h}",
                     "b_o": r"\beta_{k}"},
                    {(tanh, None): r"\theta"})


# per-unit notation name -> the cell its table is written for -> the table. ``bptt compare``
# reads the same tables (verify/notations.py builds its Graves profiles from them); vector-style
# notations (pytorch, greff, cho, profile files) are the reader's profiles, printed through
# :func:`profile_notation`
NOTATIONS = {"vector": {None: VECTOR},
             "graves": {"graves-lstm": _graves_lstm(GRAVES_BLOCKS["graves-lstm"]),
                        "rnn": _graves_rnn(), "lstm": _graves_lstm(GRAVES_BLOCKS["lstm"]),
                        "elman-softmax": _graves_softmax()}}


#: why a notation has no symbol for a name, where the source says so (the refusal names it)
UNNAMED_WHY = {("graves", "W_hr"): "Graves' LSTM has no projection layer; "}


def unnamed(notation: Notation, cell: Cell) -> list[str]:
    """The cell's inputs, quantities and parameters a per-unit notation has no symbol for."""
    names = [*cell.inputs, *(q for q in cell.quantities if q not in notation.inline)]
    missing = [q for q in names if q not in notation.units]
    return missing + [p for p in cell.params if p not in notation.weights]


def notation_key(name: str, cell: Cell) -> str | None:
    """The cell a per-unit notation's table for ``cell`` was written for: its own, else the
    table that names every quantity of the cell (Greff's variants take graves-lstm's)."""
    tables = NOTATIONS[name]
    if cell.name in tables or None in tables:
        return cell.name if cell.name in tables else None
    best = min(tables, key=lambda k: len(unnamed(tables[k], cell)))
    missing = unnamed(tables[best], cell)
    if missing:
        why = UNNAMED_WHY.get((name, missing[0]), "")
        raise CellError(f"notation {name!r} is not for cell {cell.name!r}: it has no symbol for "
                        f"{missing[0]} ({why}its tables are written for {', '.join(tables)}); "
                        "use --notation vector, or a profile file")
    return best


def own_pre_activations(notation: Notation, cell: Cell) -> dict[str, str]:
    """Pre-activation -> the cell's quantity that is it: a quantity a per-unit table writes
    inline as f(qbar) but the cell computes as a sum with a matrix product, without f and without
    qbar (Greff's NIAF: z = W_z x + R_z y + b_z) takes qbar's symbols (Graves' a_c)."""
    def linear(q):
        return any(isinstance(a, MatVec) for a in sp.Add.make_args(cell.equation(q).rhs))
    return {f"{q}bar": q for q in notation.inline if f"{q}bar" in notation.units
            and q in cell.quantities and f"{q}bar" not in cell.quantities and linear(q)}


def get_notation(name: str, cell: Cell) -> Notation:
    """The notation ``name`` (a built-in name or a profile file) for ``cell``; a cell read from
    a paper prints in the paper's own symbols by default (and in the notation it was read in)."""
    own = cell.notation
    if own is not None and name in ("vector", own.name):
        if name in NOTATIONS and name != "vector":  # read in graves: Graves' per-unit sums
            try:  # when its table names the cell (inline quantities included)
                table = NOTATIONS[name][notation_key(name, cell)]
                if table.inline <= set(cell.quantities):
                    return table
            except CellError:
                pass
        return own
    if name in NOTATIONS:
        notation = NOTATIONS[name][notation_key(name, cell)]
        renamed = own_pre_activations(notation, cell)
        if not renamed:
            return notation
        def rename(units):
            return {renamed.get(k, k): u for k, u in units.items()}
        return replace(notation, units=rename(notation.units),
                       adjoint_units=rename(notation.adjoint_units),
                       inline=notation.inline - set(renamed.values()))
    from verify.notations import get_profile  # the reader's profiles: one table both ways
    return profile_notation(get_profile(name, cell), cell)


def profile_notation(profile, cell: Cell) -> Notation:
    """The printing side of a vector-style reading profile (verify.notations.Profile): each IR
    name is written as the first symbol the profile maps to it, else (profiles that read the
    IR's names) as the IR name; a name it cannot write is an error naming it."""
    if profile.units is not None:
        return NOTATIONS["graves"][notation_key("graves", cell)]
    from verify.notations import shadowed
    for symbol, name in shadowed(profile, cell):
        raise CellError(f"notation {profile.name!r} maps {symbol} to "
                        f"{profile.symbols[symbol]}, the symbol a sheet prints for {name}: it "
                        "would not read back as printed; print with the base notation")
    symbols: dict[str, str] = {}
    names = {*cell.inputs, *cell.quantities, *cell.params, "Delta"}
    for symbol, name in profile.symbols.items():  # greff's \delta z (delta_zbar) where zbar is
        if name.removeprefix("delta_") in names:  # not is no symbol (the reader drops it too)
            symbols.setdefault(name, symbol)
    if not profile.ir_names:
        names = [*cell.inputs, *cell.quantities, *cell.params]
        missing = [n for n in names if n not in symbols]
        if missing:
            raise CellError(f"notation {profile.name!r} is not for cell {cell.name!r}: it has no "
                            f"symbol for {missing[0]}")
    source = (PROFILE_SOURCES.get(profile.name)
              or rf"the profile \texttt{{{_tex_text(profile.name)}}}")
    return Notation(profile.name, f"Symbols as in {source}; what it has no symbol for keeps "
                    "the cell's own name", symbols=symbols, time_subscript=profile.time_subscript)


#: what a sheet says of the reader's built-in vector-style profiles (plain text, LaTeX-safe)
PROFILE_SOURCES = {"pytorch": "the PyTorch documentation (time as a subscript)",
                   "greff": r"Greff et al.\ (2017), $\delta z$ the delta of $\bar z$",
                   "cho": "Cho et al. (2014)"}


_TEX_TEXT = {c: "\\" + c for c in "_%&#${}"} | {"\\": r"\textbackslash{}",
                                              "~": r"\textasciitilde{}",
                                              "^": r"\textasciicircum{}"}


def _tex_text(text: str) -> str:
    """Text (a file name) safe in LaTeX text mode."""
    return "".join(_TEX_TEXT.get(c, c) for c in text)


def _time(index: sp.Expr) -> str:
    return str(index).replace(" ", "")


def _adjoint_name(q: sp.Indexed) -> str | None:
    name = base_name(q)
    return name[6:] if name.startswith("delta_") else None


def _escape_name(name: str) -> str:
    return name.replace("_", r"\_")


class TextbookLatexPrinter(LatexPrinter):
    """LaTeX of IR expressions in a :class:`Notation`."""

    def __init__(self, notation: Notation = VECTOR, cell: Cell | None = None) -> None:
        super().__init__()
        self.notation, self.cell = notation, cell
        self.lhs: sp.Expr = sp.S.Zero  # the left side of the equation being printed
        self.summed = False  # printing the operand of a sum over units (Graves' h')

    # --- symbols -------------------------------------------------------------------------
    def _unit(self, q: sp.Indexed) -> Unit:
        """How the notation writes the quantity (or the adjoint) q."""
        adj = _adjoint_name(q)
        unit = (self.notation.adjoint_units if adj else self.notation.units).get(adj or base_name(q))
        if unit is None:
            raise CellError(f"notation {self.notation.name!r} has no symbol for {q.base}")
        return unit

    def _print_Indexed(self, q: sp.Indexed, summed: bool = False) -> str:
        time = "{" + _time(q.indices[0]) + "}"
        if q.base == Delta:
            return self._from_above(time)
        if self.notation.per_unit:
            unit = self._unit(q)
            summed = (summed or self.summed) and unit.summed
            return f"{unit.at(unit.summed if summed else unit.own)}^{time}"
        adj = _adjoint_name(q)
        symbol = self._vector_symbol(base_name(q))
        if adj and base_name(q) not in self.notation.symbols:
            symbol = rf"\delta {self._vector_symbol(adj)}"
            taken = next((n for n, s in self.notation.symbols.items() if s == symbol), None)
            if taken is not None:  # Greff's \delta i is delta_ibar: delta_i has no symbol left
                who = f"notation {self.notation.name!r}" + (
                    f" is not for cell {self.cell.name!r}: it" if self.cell else "")
                raise CellError(f"{who} has no symbol for {q.base} (its {symbol} is {taken}); "
                                "use --notation vector, or a profile file")
        if self.notation.time_subscript and "_" not in symbol and "^" not in symbol:
            return f"{symbol}_{time}"
        return f"{symbol}^{time}"

    def _vector_symbol(self, name: str) -> str:
        return self.notation.symbols.get(name) or vector_symbol(name)

    def _from_above(self, time: str) -> str:
        if not self.notation.per_unit:
            return rf"\Delta^{time}"
        own = self.notation.units[self.cell.output].own
        return rf"\sum_{{k=1}}^{{K}} w_{{{own}k}}\delta_k^{time}"

    def _print_Symbol(self, s: sp.Symbol) -> str:
        name = str(s)
        if name.startswith("delta_"):  # a parameter gradient
            param = self.cell.params[name[6:]].symbol if self.cell else sp.Symbol(name[6:])
            return rf"\frac{{\partial L}}{{\partial {self._print(param)}}}"
        if not self.notation.per_unit:
            return self._vector_symbol(name)
        if isinstance(s, Weight):  # its usual from-label: that of the vector it multiplies
            v = next(m.args[1] for eq in self.cell.equations for m in eq.rhs.atoms(MatVec)
                     if m.args[0] == s)
            return self._weight(s, self._label(v), self._own_label(s))
        return self.notation.weights.get(name, name)

    def _weight(self, W: Weight, source: str, target: str) -> str:
        return f"w_{{{source}{target}}}"

    def _own_label(self, W: Weight) -> str:
        return self.notation.weights[str(W)]

    _print_Weight = _print_Symbol

    # --- vector operations ---------------------------------------------------------------
    def _operand(self, v: sp.Expr, summed: bool = False) -> str:
        if isinstance(v, sp.Indexed):
            return self._print_Indexed(v, summed)
        if isinstance(v, (sp.Add, sp.Mul)):
            outer, self.summed = self.summed, self.summed or summed  # (1 - b_{h'}^2) eps_{h'}
            try:
                return rf"\left({self._print(v)}\right)"
            finally:
                self.summed = outer
        return self._print(v)

    def _print_MatVec(self, e: MatVec) -> str:
        W, v = e.args
        if not self.notation.per_unit:
            return f"{self._print(W)} {self._operand(v)}"
        index = self._label(v)
        limit = "I" if isinstance(v, sp.Indexed) and base_name(v) in self.cell.inputs else "H"
        w = self._weight(W, index, self._own_label(W))
        return rf"\sum_{{{index}=1}}^{{{limit}}} {w} {self._operand(v, summed=True)}"

    def _print_MatVecT(self, e: MatVecT) -> str:
        W, g = e.args
        if not self.notation.per_unit:
            w = self._print(W)  # a row-vector paper's matrix is printed W^\top: (W^T)^T = W
            if w.endswith(r"^\top"):
                return f"{w[:-5]} {self._operand(g)}"  # 5: len(r"^\top")
            return rf"{w}^\top {self._operand(g)}"
        label = self._label(g)
        w = self._weight(W, self._label(self.lhs, own=True), label)
        return rf"\sum_{{{label}}} {w} {self._operand(g, summed=True)}"

    def _label(self, v: sp.Expr, own: bool = False) -> str:
        """The unit label of the quantity in v (the one it is summed over, or its own)."""
        # an adjoint's label first: Graves sums the error over the units it comes from
        unit = self._unit(min(v.atoms(sp.Indexed), key=lambda q: (not _adjoint_name(q), str(q))))
        return unit.own if own or not unit.summed else unit.summed

    def _print_Outer(self, e: Outer) -> str:
        g, v = e.args
        if self.notation.per_unit:
            return f"{self._operand(g)}\\, {self._operand(v, summed=True)}"
        return rf"{self._operand(g)} \left({self._print(v)}\right)^\top"

    def _print_Softmax(self, e: sp.Function) -> str:
        return rf"\operatorname{{softmax}}\left({self._print(e.args[0])}\right)"

    def _print_UnitSum(self, e: sp.Function) -> str:
        if self.notation.per_unit:
            return rf"\sum_{{{self._label(e.args[0])}}} {self._operand(e.args[0], summed=True)}"
        return rf"\mathbf{{1}}^\top {self._operand(e.args[0])}"

    def _print_LossBase(self, e: LossBase) -> str:
        name = LOSS_LATEX.get(e.func, (rf"\operatorname{{{_escape_name(type(e).__name__)}}}",))[0]
        return rf"{name}\left({self._print(e.args[0])}, {self._print(e.args[1])}\right)"

    def _print_Sum(self, e: sp.Sum) -> str:
        (var, lo, hi), = e.limits
        body = e.function
        body = rf"\left({self._print(body)}\right)" if isinstance(body, sp.Add) else self._print(body)
        return rf"\sum_{{{self._print(var)}={self._print(lo)}}}^{{{self._print(hi)}}} {body}"

    # --- elementwise algebra -------------------------------------------------------------
    def _function_name(self, f: type, arg: sp.Expr) -> str:
        names = self.notation.functions
        key = base_name(arg) if isinstance(arg, sp.Indexed) else None
        return names.get((f, key)) or names.get((f, None)) or ACTIVATIONS[f].latex

    # SymPy's dispatcher finds a Function subclass's methods by its own name or a *Base name
    def _print_ActivationBase(self, e: sp.Function) -> str:
        return rf"{self._function_name(e.func, e.args[0])}\left({self._print(e.args[0])}\right)"

    def _print_PrimeBase(self, e: sp.Function) -> str:
        name = self._function_name(PRIMES[e.func], e.args[0])
        return rf"{name}'\left({self._print(e.args[0])}\right)"

    def _print_Pow(self, e: sp.Pow) -> str:
        base, exp = e.args
        if exp.is_number and exp.is_negative:
            return rf"\frac{{1}}{{{self._print(base ** -exp)}}}"
        if isinstance(base, (sp.Indexed, sp.Symbol)) and not self.notation.per_unit:
            return rf"\left({self._print(base)}\right)^{{{self._print(exp)}}}"
        if isinstance(base, sp.Function) and type(base) in ACTIVATIONS:
            name = self._function_name(base.func, base.args[0])
            return rf"{name}^{{{self._print(exp)}}}\left({self._print(base.args[0])}\right)"
        if isinstance(base, (sp.Indexed, MatVec, MatVecT, Softmax, UnitSum, LossBase)):
            return rf"\left({self._print(base)}\right)^{{{self._print(exp)}}}"
        return super()._print_Pow(e)

    def _factor_rank(self, f: sp.Expr) -> tuple:
        adjoint = bool(f.atoms(sp.Indexed)) and all(
            _adjoint_name(q) or q.base == Delta for q in f.atoms(sp.Indexed))
        if self.notation.per_unit:  # Graves: weights, activations, derivatives, then the error
            rank = (0 if isinstance(f, sp.Symbol) else 4 if adjoint else 1
                    if isinstance(f, sp.Indexed) else 2 if type(f) in PRIMES else 3)
        else:  # Greff: a peephole, the error, then what multiplies it
            rank = (0 if isinstance(f, sp.Symbol) else 1 if adjoint else 2
                    if isinstance(f, sp.Indexed) else 3)
        return rank, str(f)

    def _print_Mul(self, e: sp.Mul) -> str:
        coeff, factors = e.as_coeff_mul()
        if coeff < 0:
            return "-" + self._print_Mul(-e) if coeff != -1 else "-" + self._product(factors)
        if coeff != 1:
            return self._print(coeff) + " " + self._product(factors)
        return self._product(factors)

    def _product(self, factors) -> str:
        below = [f for f in factors if f.is_Pow and f.exp.is_number and f.exp.is_negative]
        if below:  # a fraction: what divides, over the product of the divisors
            above = [f for f in factors if f not in below]
            over = self._print(sp.Mul(*(f.base ** -f.exp for f in below)))
            return rf"\frac{{{self._product(above) if above else '1'}}}{{{over}}}"
        if len(factors) == 1:
            return self._print(factors[0])
        sep = " " if self.notation.per_unit else r" \odot "
        return sep.join(self._operand(f) if isinstance(f, sp.Add) else self._print(f)
                        for f in sorted(factors, key=self._factor_rank))

    def _term_rank(self, term: sp.Expr) -> tuple:
        """Textbook order: gradient from above, terms at t, terms from t+1; inputs before
        recurrent reads, peepholes, then biases."""
        offsets = [int(q.indices[0] - t) for q in term.atoms(sp.Indexed)
                   if q.indices[0].has(t) and (_adjoint_name(q) or q.base == Delta)]
        if term.has(Delta):
            return (-1,)
        negative = term.could_extract_minus_sign()
        if offsets:
            return (max(offsets), term.has(MatVecT), negative, str(term))
        reads = term.atoms(sp.Indexed)
        inputs = ([x for x in self.cell.inputs if x not in self.cell.targets] if self.cell
                  else ("x",))
        kind = (-1 if term.is_number else 0 if any(base_name(q) in inputs for q in reads)
                else 1 if term.has(MatVec) else 2 if reads else 3)
        declared = list(self.cell.params) if self.cell else []
        first = min((declared.index(str(s)) for s in term.atoms(sp.Symbol) if str(s) in declared),
                    default=len(declared))
        return (kind, negative, first, str(term))

    def _print_Add(self, e: sp.Add, order=None) -> str:
        out = ""
        for i, term in enumerate(sorted(e.args, key=self._term_rank)):
            text = self._print(term)
            if text.startswith("-"):
                out += (" - " if i else "-") + text[1:]
            else:
                out += (" + " if i else "") + text
        return out

    def equation(self, eq: Equation) -> str:
        lhs = eq.lhs
        if self.notation.per_unit and isinstance(lhs, sp.Indexed) and base_name(lhs) in (
                self.notation.inline):
            raise CellError(f"{lhs.base} has no symbol in notation {self.notation.name!r}")
        self.lhs = lhs
        return f"{self._print(lhs)} &= {self._print(self.display(eq.rhs))}"

    def display(self, expr: sp.Expr) -> sp.Expr:
        """Write the quantities the notation does not name as their definitions."""
        for name in self.notation.inline:
            defn = self.cell.equation(name).rhs
            expr = expr.replace(lambda e: isinstance(e, sp.Indexed) and base_name(e) == name,
                                lambda e: defn.subs(t, e.indices[0]))
        return expr


class PlainPrinter(StrPrinter):
    """Plain text for terminals and generated docstrings: ``R_z.T @ delta_zbar[t+1]``,
    ``*`` elementwise, ``tanh'(c[t])``."""
    printmethod = "_bptt_plain"  # not Indexed._sympystr, which prints q[t - 1]

    def parenthesize(self, item, level, strict=False):
        # Add, not Mul: a negative product (-a*(W @ v)) asks at the precedence of Add, and
        # Python reads -a*W @ v as (-a*W) @ v; terms of a sum are not parenthesized
        if level >= PRECEDENCE["Add"] and isinstance(item, (MatVec, MatVecT, Outer)):
            return f"({self._print(item)})"
        return super().parenthesize(item, level, strict)

    def _print_Indexed(self, q: sp.Indexed) -> str:
        return f"{q.base}[{_time(q.indices[0])}]"

    def _print_MatVec(self, e) -> str:
        return f"{self._print(e.args[0])} @ {self.parenthesize(e.args[1], PRECEDENCE['Mul'])}"

    def _print_MatVecT(self, e) -> str:
        return f"{self._print(e.args[0])}.T @ {self.parenthesize(e.args[1], PRECEDENCE['Mul'])}"

    def _print_Outer(self, e) -> str:
        return f"outer({self._print(e.args[0])}, {self._print(e.args[1])})"

    def _print_Sum(self, e: sp.Sum) -> str:
        (var, lo, hi), = e.limits
        return f"sum({self._print(e.function)} for {var} = {lo}..{hi})"

    def _print_Function(self, e: sp.Function) -> str:
        args = ", ".join(self._print(a) for a in e.args)
        return f"{type(e).__name__.replace('_prime', chr(39))}({args})"


def plain(expr: sp.Expr | Equation) -> str:
    if isinstance(expr, Equation):
        return f"{plain(expr.lhs)} = {plain(expr.rhs)}"
    return PlainPrinter().doprint(expr)


def latex(expr: sp.Expr | Equation, notation: Notation = VECTOR, cell: Cell | None = None) -> str:
    """LaTeX of an IR expression or equation (``&=`` aligned) in a notation."""
    printer = TextbookLatexPrinter(notation, cell)
    if isinstance(expr, Equation):
        return printer.equation(expr)
    return printer.doprint(printer.display(expr) if cell else expr)


def forward_latex(cell: Cell, notation: Notation = VECTOR) -> str:
    """The forward equations as one ``aligned`` block (for Jupyter)."""
    printer = TextbookLatexPrinter(notation, cell)
    body = r" \\ ".join(printer.equation(eq) for eq in cell.equations
                        if base_name(eq.lhs) not in notation.inline)
    return rf"$$\begin{{aligned}} {body} \end{{aligned}}$$"


def backward_latex(backward, notation: Notation = VECTOR) -> str:
    printer = TextbookLatexPrinter(notation, backward.cell)
    body = r" \\ ".join(printer.equation(eq) for eq in backward.equations)
    return rf"$$\begin{{aligned}} {body} \end{{aligned}}$$"
