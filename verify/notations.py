r"""Notation profiles: how a source writes a cell's quantities, and formulas read through them.

A :class:`Profile` is data: a table from the source's symbols, written in LaTeX without their
time index, to the names of the IR (a quantity ``c``, an adjoint ``delta_c``, a parameter
``W_hi``, a parameter's gradient ``delta_W_hi``, ``Delta`` from the layer above, or an activation
``sigmoid``/``tanh`` for a function letter). :func:`read_formula` parses a formula
(:mod:`verify.formula`) and maps it through a profile into IR SymPy expressions:

* juxtaposition of a matrix and a vector is ``MatVec`` (``MatVecT`` for ``W^\top``, ``W^T``),
  every other product is elementwise; ``\langle a, b\rangle`` and ``a\, b^\top`` are ``Outer``;
  powers (``(1-o^t)^2``, ``\tanh^2(c)``) are elementwise too;
* ``\delta q``, ``\partial L/\partial q``, ``\nabla_q L`` are the adjoint of q, or the gradient of
  a parameter; a sum over ``t`` runs over its limits (``\sum_{t=1}^{T}``), ``\sum_t`` alone
  over every step where its term exists;
* ``\odot`` and ``\circ`` take two vectors (``W \odot x`` is an error), a matrix next to a
  vector is a matrix product;
* time indices lie within 8 steps of t, T or 0 (``n`` in a sum's limit is T); powers of a
  quantity are at most 8;
* the time index is the superscript (``h^{t-1}``, ``h^{\langle t\rangle}``) or, when the
  subscript alone is a time (``h_{t-1}``), the subscript; a quantity without one is at t. A
  superscript that is no time and no number is a label (``W^{hx}``, ``U^{(f)}`` are ``W_{hx}``,
  ``U_f``); a number is a power where the time is the subscript (``h_t^2``, and ``h^2`` in
  notations that write the time as a subscript), else a time; messages say which reading;
* an equation for unit j (``h^t_j``, ``h_{t,j}``, ``\delta h_j^{(t)}``, ``net_j(t)``: a letter
  beside the time that the notation's symbol does not have) is the same for every j: read as
  the vector equation, j dropped everywhere (``[W x^t]_j``, ``\sigma(a)_j``, ``b_{ih,j}``), and
  a sum ``\sum_k W_{jk} v_k`` (``W_{hh,jk}``, ``W_{j,k}``, ``[W]_{jk}``) is row j of ``W v``,
  ``W_{kj}`` of ``W^\top v``;
* ``\cdot``, ``\times``, ``*`` between two vectors are elementwise (a dot product is a scalar,
  which no term of a cell's vector equations is), a matrix next to a vector is ``W v``;
* a function's subscript is a label the profile must name (``\sigma_c`` is tanh in Wikipedia's
  LSTM; only ``\sigma_g``, the gate sigmoid, is built in), except in per-unit notations;

A profile applies to any cell it can name (the symbols it has, and for every profile but
``graves`` the cell's own names for the rest); the sheets print through the same tables
(derive/printers.py ``profile_notation``), so what ``bptt sheet`` writes, this module reads.
Built-in profiles: ``vector`` (the IR's own names in vector notation, any cell, user cells too),
``pytorch`` (the PyTorch docs: ``i_t``, ``W_{ii}``, ``b_{hi}``; rnn, lstm, gru), ``greff``
(Greff et al. 2017: ``\bar z``, ``R_z``, ``p_i``, ``\Delta``, and ``\delta z`` for the delta of
the pre-activation, as the paper writes it; graves-lstm), ``graves`` (Graves 2012, per unit:
``a``, ``b``, ``s_c``, ``\epsilon``, ``\delta``, ``w_{ij}`` from unit i to unit j; graves-lstm,
lstm, rnn, elman-softmax) and ``cho`` (Cho et al. 2014: ``W_r``, ``U_r``, ``\tilde h``; gru).

Graves writes per unit: ``\sum_i w_{i\iota} x_i^t`` is ``W_i x^t``; a sum over the "to" label
(``\sum_{h'} \delta_{h'}^{t+1} w_{hh'}``) is the transposed product; sums over ``c`` drop (one
cell per block); ``\sum_g`` runs over all inputs of the hidden layer; ``w_{c\iota}`` outside a sum
is a peephole. Units ``k`` belong to the layer above, modelled as ``a_above = W_above y`` so that
``\sum_k w_{ck}\delta_k^t`` is ``Delta^t``. Graves and Cho fold biases into the weights (a
weight from a constant unit), so in their forward equations ``W x`` of an input stands for
``W x`` plus the biases the cell adds beside it (:class:`ImplicitBias`). Graves' weight
gradient ``\partial L/\partial w_{ij} = \sum_t \delta_j^t b_i^t`` is a schema: it is read once for
every parameter of the cell, ``b_i^t`` being what that parameter multiplies.

A profile of your own: ``--map SYMBOL=name`` (repeatable) on top of a profile, or a file.
Profile file (JSON, or TOML with Python 3.11+): an optional ``base`` profile (default
``vector``), an optional ``description``, and ``symbols``, a table from symbols as you write
them (without the time index) to IR names; optional: ``functions`` (function name -> activation,
``{"\\sigma_c": "tanh", "g": "tanh"}``), ``adjoint`` (``"d"``: ``d h_t``, ``dW`` are adjoints;
``"bar"``: ``\bar h_t`` is), ``row_vectors`` and ``constant_unit`` (true: the input carries a
constant unit, biases folded into ``W x``)::

    {"base": "pytorch",
     "symbols": {"\\tilde h": "n", "U_r": "W_hr", "W_r": "W_ir", "\\phi": "tanh"}}

    base = "pytorch"
    [symbols]
    '\tilde h' = "n"
    U_r = "W_hr"

>>> from derive import get_cell
>>> lstm = get_cell("lstm")
>>> profile = get_profile("pytorch", lstm)
>>> reading, = read_formula(r"c_t = f_t \odot c_{t-1} + i_t \odot g_t", profile, lstm)
>>> reading.lhs, reading.rhs
(c[t], c[t - 1]*f[t] + g[t]*i[t])
"""
from __future__ import annotations

import ast
import json
import math
import re
from dataclasses import dataclass, field, fields, replace
from fractions import Fraction
from functools import cache
from pathlib import Path

import sympy as sp

from derive.derivation import adjoint, derive, gradient
from derive.ir import (ACTIVATIONS, SCALAR, Cell, CellError, Delta, MatVec, MatVecT, Outer,
                       Weight, shift, t, T)
from derive.printers import GRAVES_BLOCKS, NOTATIONS, notation_key, vector_symbol
from derive.ir import Softmax
from derive.printers import LOSS_LATEX, own_pre_activations

from .formula import (COMMANDS, Adjoint, BinOp, Call, Equation, Index, Neg, Node, Num, Pow,
                      StepLoss, Sum, Sym, Transpose, _nodes, one_line, parse_formula)

__all__ = ["A_ABOVE", "ALL_STEPS", "CONSTANT_UNIT", "MAX_OFFSET", "W_ABOVE", "ImplicitBias",
           "NotationError", "Profile", "Reading", "Units", "PROFILES", "get_profile",
           "implicit_biases", "load_profile", "map_expression", "read_formula", "read_text_file",
           "stated_conventions", "with_constant_unit"]


class NotationError(CellError):
    """A formula that cannot be read in a notation: ``column`` is 1-based (0: not one place)."""

    def __init__(self, column: int, message: str) -> None:
        self.column = column
        message = one_line(message)
        super().__init__(f"column {column}: {message}" if column else message)


# The layer above the cell, for notations that write it (Graves' units k): a linear layer
# a_above = W_above y, so that the gradient it sends down is Delta = W_above^T delta_a_above.
W_ABOVE = Weight("W_above")
A_ABOVE = sp.IndexedBase("a_above")


class ImplicitBias(sp.Function):
    """The biases a cell adds beside ``W v`` (argument W): what ``W v`` includes in sources
    that write biases as weights from a constant unit. :func:`implicit_biases` resolves it."""
    nargs = 1


def implicit_biases(expr: sp.Expr, cell: Cell) -> sp.Expr:
    """Replace ``ImplicitBias(W)`` by the vector parameters added in the same sum as ``W v``."""
    def biases(W):
        for eq in cell.equations:
            for node in sp.preorder_traversal(eq.rhs):
                if isinstance(node, sp.Add) and any(isinstance(a, MatVec) and a.args[0] == W
                                                    for a in node.args):
                    return sp.Add(*(a for a in node.args if str(a) in cell.params
                                    and not isinstance(a, Weight)))
        return sp.S.Zero
    return expr.replace(ImplicitBias, biases) if expr.has(ImplicitBias) else expr


def _sole_product(W: sp.Expr, cell: Cell) -> bool:
    """``W v`` is a layer above: the only matrix product of its sum in the cell, of a vector
    of the same step (an output layer ``a = W_ho h_t + b_o``). With a constant unit (the layer
    below carries one too) it includes that sum's biases as an input's product does. A sum with
    two products (``W_ih x + W_hh h``) gives its biases to the input's alone, and a product of
    the state at t-1 (GRU's ``W_hn h_{t-1} + b_hn``) includes none."""
    for eq in cell.equations:
        for node in sp.preorder_traversal(eq.rhs):
            if isinstance(node, sp.Add) and any(isinstance(a, MatVec) and a.args[0] == W
                                                for a in node.args):
                products = [a for a in node.args if isinstance(a, (MatVec, MatVecT))]
                v = products[0].args[1]
                return len(products) == 1 and isinstance(v, sp.Indexed) and v.indices[0] == t
    return False


# ---------------------------------------------------------------------------------- profiles
@dataclass(frozen=True)
class Units:
    """Per-unit notation (Graves): weights ``w_{ab}`` from unit a to unit b, sums over units.

    Labels are the names the parser gives (``iota``, ``h``; primes dropped, ``h'`` is ``h``)."""
    matrices: dict[tuple[str, str], str]  #: (from, to) -> matrix, for w_{ab} summed over a or b
    diagonal: dict[tuple[str, str], str] = field(default_factory=dict)  #: w_{ab} outside sums
    single: frozenset[str] = frozenset()  #: one unit per block: the sum is its one term
    groups: dict[str, tuple[str, ...]] = field(default_factory=dict)  #: label over labels
    weight: str = "w"  #: the letter of the weights


@dataclass(frozen=True)
class Profile:
    """How a source writes a cell: ``symbols`` (LaTeX without time -> IR name), ``functions``
    (function letter -> activation), the cells it is written for (empty: any cell)."""
    name: str
    description: str
    symbols: dict[str, str] = field(default_factory=dict)
    functions: dict[str, str] = field(default_factory=dict)
    cells: tuple[str, ...] = ()
    ir_names: bool = False  #: also read the cell's own names, in vector notation
    implicit_bias: bool = False  #: ``W x`` of an input includes the biases beside it
    units: Units | None = None
    time_subscript: bool = False  #: sheets write the time as a subscript (``h_{t}``)
    row_vectors: bool = False  #: ``x W`` is ``W^T x`` (sources that write row vectors)
    #: conventions the user stated (a map to an expression, the constant unit), for verdicts
    conventions: tuple[str, ...] = ()
    adjoint: str | None = None  #: also written ``d h_t`` ("d") or ``\bar h_t`` ("bar")

    def table(self, cell: Cell) -> dict[str, str]:
        """Canonical symbol key -> IR name, for one cell."""
        table = {}
        if self.ir_names:
            names = (*cell.inputs, *cell.quantities, *cell.params)
            table = {_ir_key(name): name for name in names} | {_key(r"\Delta"): "Delta"}
        # a symbol for a name the cell lacks gives way to the cell's own name (cho's W_z is
        # W_iz of a GRU, and graves-lstm's own W_z)
        # (a profile that reads the IR's names drops symbols for names the cell lacks: greff's
        # \delta z is delta_zbar, and a cell without zbar reads \delta z as its own delta_z)
        own = {}
        if self.units is not None:  # the pre-activation a cell computes as a quantity (NIAF's z)
            own = own_pre_activations(NOTATIONS["graves"][notation_key("graves", cell)], cell)
            own |= {f"delta_{k}": f"delta_{v}" for k, v in own.items()}
        return table | {_key(k): own.get(v, v) for k, v in self.symbols.items()
                        if _resolve(own.get(v, v), cell) is not None
                        or not (self.ir_names or _key(k) in table)}

    def extended(self, mapping: dict[str, str], cell: Cell, origin: str = "--map") -> Profile:
        """This profile with a user's symbols added (checked against the cell)."""
        symbols, functions = dict(self.symbols), dict(self.functions)
        conventions = self.conventions
        for symbol, name in mapping.items():
            try:  # an adjoint key, d\Gamma_f or \delta\Gamma_f: what the source names an adjoint
                node = _adjoint_marks(parse_formula(symbol), self.adjoint)
                if not isinstance(node, (Sym, Adjoint)) and (word := re.match(
                        r"[A-Za-z]{2,}(?![A-Za-z])", symbol)):  # net_c: a name of letters
                    node = parse_formula(symbol, frozenset({word.group()}))
            except ValueError as e:
                node = _function_name(symbol)  # \sigma_c alone: a function with a label
                if node is None:
                    raise NotationError(0, f"{origin} '{symbol}={name}': {e}") from None
            if isinstance(node, Sym) and _time(node.sup) is not None:
                node = replace(node, sup=None)  # "h^t=n" names h
            elif isinstance(node, Sym) and node.sup is not None and node.sub is None \
                    and not isinstance(node.sup, Num):
                node = replace(node, sub=node.sup, sup=None)  # W^{hx} is the label hx
            if _is_expression(name):  # b_h=b_ih+b_hh: a convention, checked and stated
                map_expression(name, cell, f"{origin} '{symbol}={name}'")
                if not isinstance(node, Sym):
                    raise NotationError(0, f"{origin} '{symbol}={name}': '{symbol}' is not one "
                                           "symbol")
                symbols[str(node)] = name
                conventions = (*conventions, f"{symbol} = {name}")
                continue
            if _resolve(name, cell) is None:
                raise NotationError(0, f"{origin} '{symbol}={name}': {name!r} is not a quantity, "
                                       f"parameter, delta_<name> or activation of cell "
                                       f"{cell.name!r} ({', '.join(_ir_names(cell))})")
            if _resolve(name, cell)[0] == "function":
                if not (isinstance(node, Sym) and node.sup is None and node.accent is None):
                    raise NotationError(0, f"{origin} '{symbol}={name}': a function is one letter "
                                           "or name, with at most a subscript label")
                functions[_function_key(node.name, node.sub)] = name
            elif isinstance(node, (Sym, Adjoint)):
                symbols[str(node)] = name
            else:
                raise NotationError(0, f"{origin} '{symbol}={name}': '{symbol}' is not one symbol")
        return replace(self, symbols=symbols, functions=functions, conventions=conventions)


_GREEK_NAMES = frozenset(n for n, (kind, _) in COMMANDS.items() if kind == "NAME")


def _function_key(name: str, sub: Node | None) -> str:
    """``sigma``, ``sigma_{c}``: a function by its name and label (Wikipedia's \\sigma_c)."""
    return name if sub is None else f"{name}_{{{sub}}}"


def _function_name(symbol: str) -> Sym | None:
    """A function written alone (``\\sigma_c``, ``\\tanh``) as a Sym, None if it is not one."""
    try:
        call = parse_formula(symbol + "(x)")
    except ValueError:
        return None
    if isinstance(call, Call) and call.args == (Sym("x"),) and call.power == 1 and not call.primes:
        return Sym(call.name, sub=call.sub)
    return None


@cache
def _key(latex: str) -> str:
    return str(parse_formula(latex))


@cache
def _ir_key(name: str) -> str:
    """The vector-notation key of an IR name: ``ibar`` -> ``\\bar{i}``, ``W_hi`` -> ``W_{hi}``."""
    try:
        node = parse_formula(vector_symbol(name))
    except ValueError:
        node = None
    return str(node) if isinstance(node, Sym) else str(Sym(name))  # cand -> \mathrm{cand}


_DEFAULT_FUNCTIONS = {"sigma": "sigmoid", "sigmoid": "sigmoid", "sigm": "sigmoid",
                      "tanh": "tanh", "sigma_{g}": "sigmoid"}  # \sigma_g: a gate (Wikipedia)


def _default_functions() -> dict[str, str]:
    """Every activation by its IR name and by the name its LaTeX prints (``\\operatorname{relu}``
    is relu), as the sheets write them; registered activations included."""
    names = {}
    for f, act in ACTIVATIONS.items():
        try:  # a user's activation may print as LaTeX the reader does not take as a name
            call = parse_formula(act.latex + "(x)")
        except ValueError:
            call = None
        names |= {f.__name__: f.__name__, **({call.name: f.__name__} if isinstance(call, Call)
                                               else {})}
    return names | _DEFAULT_FUNCTIONS | _OTHER_FUNCTIONS
_ABOVE = {"a_k": "a_above", r"\delta_k": "delta_a_above"}


def _graves_symbols(cell: str) -> dict[str, str]:
    """Graves' symbols as the sheets print them (derive/printers.py): one table both ways.
    ``a_{\\iota}`` -> ``ibar``, ``\\delta_{\\iota}`` -> ``delta_ibar``, ``\\beta_{c}`` -> ``b_z``."""
    table = NOTATIONS["graves"][cell]
    symbols = {unit.at(unit.own): q for q, unit in table.units.items()}
    symbols |= {unit.at(unit.own): f"delta_{q}" for q, unit in table.adjoint_units.items()}
    return symbols | {w: name for name, w in table.weights.items() if name.startswith("b_")}


def _graves_lstm(cell: str) -> Profile:
    block = GRAVES_BLOCKS[cell]
    symbols = _graves_symbols(cell) | {"b_h": block.output, **_ABOVE}  # b_h: the block output
    # w_{c k} in a sum is the recurrent weight (\sum_\iota w_{c\iota}\delta_\iota^{t+1} in
    # epsilon_c, the block output being b_c), outside a sum the peephole
    matrices = {(src, g): m.format(k) for src, m in (("i", block.W), ("h", block.R),
                                                     ("c", block.R))
                for k, g in block.gates.items()}
    diagonal = {("c", g): block.peepholes.format(k) for k, g in block.gates.items()
                if g != "c"} if block.peepholes else {}
    units = Units(matrices | {("c", "k"): "W_above", ("h", "k"): "W_above"}, diagonal,
                  frozenset({"c"}), {"g": tuple(block.gates.values())})
    return Profile("graves", "Graves (2012) per unit, one cell per block: a network inputs, "
                   "b activations, s_c the state, delta = dL/da, epsilon = dL/db and dL/ds, "
                   "w_{ij} from unit i to unit j, biases folded into the weights",
                   symbols, {"f": "sigmoid", "g": "tanh", "h": "tanh"}, (cell,),
                   implicit_bias=True, units=units)


def _graves_rnn() -> Profile:
    symbols = _graves_symbols("rnn") | _ABOVE
    units = Units({("i", "h"): "W_ih", ("h", "h"): "W_hh", ("h", "k"): "W_above"})
    return Profile("graves", "Graves (2012) per unit: a_h network input, b_h activation, "
                   "delta_h = dL/da_h, w_{ij} from unit i to unit j, biases folded into the "
                   "weights", symbols, {"theta": "tanh"}, ("rnn",), implicit_bias=True,
                   units=units)


def _graves_softmax() -> Profile:
    # the output layer is the cell's own (a_k, delta_k): no layer above; z_k is the target
    units = Units({("i", "h"): "W_ih", ("h", "h"): "W_hh", ("h", "k"): "W_ho"})
    return Profile("graves", "Graves (2012) per unit: b_h hidden activations, a_k output network "
                   "inputs, y_k softmax outputs, z_k targets, delta_k = dL/da_k, w_{ij} from "
                   "unit i to unit j, biases folded into the weights", _graves_symbols(
                       "elman-softmax"), {"theta": "tanh"}, ("elman-softmax",),
                   implicit_bias=True, units=units)


def _greff() -> Profile:
    # Greff writes delta z^{t+1} for the delta of the pre-activation \bar z (textbooks.md 2)
    return Profile("greff", "Greff et al. (2017): bars on pre-activations, W_* R_* p_* b_*, "
                   "Delta^t from the layer above, delta z = delta of \\bar z",
                   {f"\\delta {k}": f"delta_{k}bar" for k in "zifo"},
                   {"g": "tanh", "h": "tanh"}, ir_names=True)


def _cho() -> Profile:
    symbols = {"x": "x", "h": "h", "r": "r", "z": "z", r"\tilde h": "n", "W": "W_in",
               "U": "W_hn", "W_r": "W_ir", "U_r": "W_hr", "W_z": "W_iz", "U_z": "W_hz"}
    return Profile("cho", "Cho et al. (2014) GRU: W_r, U_r, W_z, U_z, W, U, \\tilde h, "
                   "biases omitted (folded into the weights)", symbols, {"phi": "tanh"},
                   ir_names=True, implicit_bias=True)


#: notation name -> its profiles (one per group of cells it is written for)
PROFILES: dict[str, tuple[Profile, ...]] = {
    "vector": (Profile("vector", "the IR's names in vector notation (\\bar i, W_{hi}, "
                       "\\delta h^t, \\Delta^t), for any cell", ir_names=True),),
    "pytorch": (Profile("pytorch", "the PyTorch documentation: i_t, f_t, g_t, o_t, c_t, h_t, "
                        "r_t, z_t, n_t, W_{ii}, W_{hi}, b_{ii}, b_{hi}",
                        ir_names=True, time_subscript=True),),
    "greff": (_greff(),),
    "graves": (_graves_lstm("graves-lstm"), _graves_rnn(), _graves_lstm("lstm"),
               _graves_softmax()),
    "cho": (_cho(),),
}


def get_profile(notation: str, cell: Cell, mapping: dict[str, str] | None = None) -> Profile:
    """The profile ``notation`` (a name or a .json/.toml file) for ``cell``, plus ``mapping``."""
    if notation not in PROFILES and (notation.endswith((".json", ".toml"))
                                     or Path(notation).is_file()):
        base, symbols, options = load_profile(notation)
        unit = options.pop("constant_unit")
        # options first: with adjoint = d, a key d\Gamma_f is an adjoint
        profile = replace(get_profile(base, cell), **options).extended(symbols, cell, notation)
        profile = replace(profile, name=notation)
        return (with_constant_unit(profile) if unit else profile).extended(mapping or {}, cell)
    if notation not in PROFILES:
        raise NotationError(0, f"unknown notation {notation!r}; notations: "
                               f"{', '.join(PROFILES)}, or a profile file (.json, .toml)")
    # a profile applies to any cell it can name: the one written for the cell, else (per-unit
    # tables) the one that names every quantity of the cell; the error names what it cannot
    profiles = PROFILES[notation]
    if len(profiles) > 1 or profiles[0].cells:
        try:
            key = notation_key(notation, cell) if notation in NOTATIONS else cell.name
        except CellError as e:
            raise NotationError(0, str(e)) from None
        profiles = [p for p in profiles if key in p.cells]
    profile = replace(profiles[0], functions=_default_functions() | profiles[0].functions)
    return profile.extended(mapping or {}, cell)


MAX_FILE_BYTES = 1 << 20  #: --file and profile files: 1 MB


def read_text_file(path: str, what: str) -> str:
    """The text of a small UTF-8 file, read at most MAX_FILE_BYTES (so /dev/zero or a 100 MB
    line is one error, not a MemoryError); NotationError naming the file otherwise."""
    try:
        with open(path, "rb") as f:
            data = f.read(MAX_FILE_BYTES + 1)
    except OSError as e:
        raise NotationError(0, f"cannot read {what} {path}: {e.strerror or e}") from None
    if len(data) > MAX_FILE_BYTES:
        raise NotationError(0, f"{what} {path} is larger than {MAX_FILE_BYTES >> 20} MB")
    if b"\0" in data:
        line = data[:data.index(b"\0")].count(b"\n") + 1
        raise NotationError(0, f"{what} {path} is not text: a NUL byte on line {line}")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise NotationError(0, f"cannot read {what} {path}: not UTF-8 at byte {e.start}") from None


#: a profile file's options besides base and symbols: name -> (allowed values, default)
_OPTIONS = {"row_vectors": ((False, True), False),  # the source writes row vectors: x W = W^T x
            "adjoint": (("delta", "d", "bar"), None),  # also d h_t, or \bar h_t, for delta h_t
            # the input carries a constant unit: W x includes the biases (folded in)
            "constant_unit": ((False, True), False)}


def load_profile(path: str) -> tuple[str, dict[str, str], dict]:
    """(base profile, symbols, options) of a JSON or TOML profile file. ``functions`` (optional):
    a table of function names (``\\phi``, ``g``, ``\\sigma_c``) to activations, added to the
    symbols; options (:data:`_OPTIONS`): ``row_vectors`` (default false), ``adjoint``: ``"d"``
    (``d h_t``, ``dW``) or ``"bar"`` (``\\bar h_t``) is the adjoint of h besides ``\\delta``,
    ``constant_unit`` (default false): the input carries a constant unit, biases omitted, ``W x``
    of an input includes them."""
    text = read_text_file(path, "profile")
    try:
        if path.endswith(".toml"):
            import tomllib
            data = tomllib.loads(text)
        else:
            data = json.loads(text)
    except ImportError:
        raise NotationError(0, f"{path}: TOML profiles need Python 3.11; use JSON") from None
    except RecursionError:
        raise NotationError(0, f"{path}: not a valid profile file: nested too deeply") from None
    except ValueError as e:
        raise NotationError(0, f"{path}: not a valid profile file: "
                               f"{' '.join(str(e).split())}") from None
    symbols = data.get("symbols") if isinstance(data, dict) else None
    base = data.get("base", "vector") if isinstance(data, dict) else None
    if not isinstance(symbols, dict) or not isinstance(base, str) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in symbols.items()):
        raise NotationError(0, f"{path}: expected a table 'symbols' of symbol = IR name strings "
                               "and an optional 'base' profile name")
    if base.endswith((".json", ".toml")):
        raise NotationError(0, f"{path}: 'base' must be a built-in notation")
    functions = data.get("functions", {})
    if not isinstance(functions, dict) or not all(
            isinstance(k, str) and v in _ACTIVATIONS for k, v in functions.items()):
        raise NotationError(0, f"{path}: 'functions' must be a table of function = activation "
                               f"({', '.join(_ACTIVATIONS)})")
    options = {}
    for option, (allowed, default) in _OPTIONS.items():
        value = data.get(option, default)
        if value is not default and not any(value == a and type(value) is type(a)
                                            for a in allowed):  # 1 is not true
            raise NotationError(0, f"{path}: '{option}' must be " + (
                "true or false" if allowed == (False, True)
                else f"one of {', '.join(json.dumps(a) for a in allowed)}"))
        options[option] = None if value == "delta" else value
    return base, symbols | functions, options


# ---------------------------------------------------------------------------------- IR names
# functions by IR name: the activations, and softmax, exp, log (no derivative written f')
_ACTIVATIONS = {f.__name__: f for f in ACTIVATIONS} | {"softmax": Softmax, "exp": sp.exp,
                                                       "log": sp.log}
_OTHER_FUNCTIONS = {"softmax": "softmax", "exp": "exp", "log": "log", "ln": "log"}


@cache
def _losses() -> dict[str, type]:
    """A loss's name as the sheets print it (``\\mathcal{L}_{\\mathrm{CE}}``) -> the loss."""
    heads = {f: parse_formula(tex + "(y, z)") for f, (tex, _) in LOSS_LATEX.items()}
    return {str(Sym(c.name, sub=c.sub)): f for f, c in heads.items()}
_ABOVE_NAMES = {"a_above": A_ABOVE}


def _ir_names(cell: Cell) -> list[str]:
    return [*cell.inputs, *cell.quantities, *cell.params, "Delta", *_ACTIVATIONS]


def _resolve(name: str, cell: Cell) -> tuple[str, sp.Basic] | None:
    """(kind, IR object) of an IR name: quantity, adjoint, matrix, vector, gradient, function."""
    quantities = {q: sp.IndexedBase(q) for q in (*cell.inputs, *cell.quantities)}
    quantities |= {"Delta": Delta, **_ABOVE_NAMES}
    params = {p: cell.params[p].symbol for p in cell.params} | {"W_above": W_ABOVE}
    if name in quantities:
        return "quantity", quantities[name]
    if name in params:
        return ("matrix" if isinstance(params[name], Weight) else "vector"), params[name]
    if name in _ACTIVATIONS:
        return "function", _ACTIVATIONS[name]
    if name.startswith("delta_") and name[6:] in quantities and name[6:] != "Delta":
        return "adjoint", adjoint(name[6:])
    if name.startswith("delta_") and name[6:] in cell.params:
        return "gradient", gradient(name[6:])
    if _is_expression(name):
        try:
            value = map_expression(name, cell)
        except NotationError:
            return None
        return ("matrix" if isinstance(value, (_Matrix, _Block)) else "vector"), value
    return None


# ---------------------------------------------------------------------------------- reading
@dataclass
class Reading:
    """A formula in the IR: ``lhs`` names q[t], delta_q[t] (or [0]) or a gradient delta_P;
    ``terms``: each top-level term of the right side -> its own text, for messages;
    ``instance``: the parameter a schema (Graves' dL/dw_ij) was read for."""
    lhs: sp.Expr
    rhs: sp.Expr
    terms: dict[sp.Expr, str] = field(default_factory=dict)
    instance: str = ""


@dataclass(frozen=True)
class _Matrix:
    """A matrix waiting for the vector it multiplies (``factor`` from a product before it)."""
    weight: sp.Symbol
    transposed: bool = False
    factor: sp.Expr = sp.S.One
    inner: sp.Expr = sp.S.One  #: W diag(d): d multiplies the vector before W does


@dataclass(frozen=True)
class _Block:
    """A block row ``[W_1, W_2]`` (a map's value): ``[W_1, W_2] [a, b]`` is ``W_1 a + W_2 b``."""
    parts: tuple[_Matrix, ...]
    factor: sp.Expr = sp.S.One


@dataclass(frozen=True)
class _Stack:
    """``[a, b]``: vectors stacked, for a block row (colah's ``W_f [h_{t-1}, x_t]``)."""
    parts: tuple[sp.Expr, ...]


@dataclass(frozen=True)
class _Diag:
    r"""``\operatorname{diag}(v)``: a diagonal matrix, ``diag(v) g`` is ``v \odot g``."""
    vector: sp.Expr


class NotConformable(NotationError):
    """A product that is not defined as written (a column vector times a matrix): compare
    calls the formula "differs" and says why."""


@dataclass(frozen=True)
class _GradientT:
    """dL/dW_x for a map W_x = W^T: the transposed gradient of W, only a left side."""
    symbol: sp.Symbol


def _transposed(expr: sp.Expr) -> sp.Expr | None:
    """A matrix written as sums of number * Outer(a, b), transposed (Outer(b, a) each); None
    for any other term, whose transpose is not defined here."""
    terms = []
    for term in sp.Add.make_args(expr):
        c, rest = term.as_coeff_Mul()
        if isinstance(rest, sp.Sum):
            inner = _transposed(rest.function)
            rest = None if inner is None else sp.Sum(inner, *rest.limits)
        elif isinstance(rest, Outer):
            rest = Outer(rest.args[1], rest.args[0])
        else:
            return None
        if rest is None:
            return None
        terms.append(c * rest)
    return sp.Add(*terms)


@dataclass(frozen=True)
class _Row:
    """``v^\\top``: a row vector, for ``g v^\\top`` = Outer(g, v)."""
    vector: sp.Expr


_PRODUCTS = {"juxt", "cdot", "odot", "circ", "times", "*", "otimes"}
_ELEMENTWISE_ONLY = {"odot", "circ"}  #: products of two vectors, never a matrix product
MAX_OFFSET = 8  #: time indices within t-8 .. t+8, T-8 .. T+8, 0 .. 8
MAX_POWER = 8  #: powers of a quantity, (1 - z^t)^2
MAX_TERMS = 1000  #: terms of the expanded right side, a bound on the proof's work


def _multinomial_terms(k: int, n: int) -> int:
    """Terms of (a_1 + ... + a_k)^n, C(n + k - 1, k - 1), saturating above MAX_TERMS."""
    terms = 1
    for j in range(1, k):
        terms = terms * (n + j) // j
        if terms > MAX_TERMS:
            return MAX_TERMS + 1
    return terms


def _expanded_size(expr: sp.Expr) -> int:
    """An upper bound of the number of terms ``expand`` makes of ``expr`` (inside function
    arguments too), computed without expanding; saturates above MAX_TERMS."""
    cache: dict[sp.Basic, int] = {}

    def size(e: sp.Basic) -> int:
        if e in cache:
            return cache[e]
        if not e.args or isinstance(e, sp.Indexed):
            n = 1
        elif isinstance(e, sp.Add):
            n = sum(size(a) for a in e.args)
        elif isinstance(e, sp.Mul):
            n = 1
            for a in e.args:
                n = min(n * size(a), MAX_TERMS + 1)
        elif isinstance(e, sp.Pow) and e.exp.is_Integer and e.exp > 0:
            n = _multinomial_terms(size(e.base), int(e.exp))
        else:  # a function, a matrix product, a sum over t: its arguments are expanded too
            n = sum(size(a) for a in e.args)
        cache[e] = n = min(n, MAX_TERMS + 1)
        return n
    return size(expr)
MAX_NUMBER_BITS = 1000  #: numbers up to about 300 digits, 10^{-60} included


#: the limits of ``\sum_t`` written without any: every step where the term exists, i.e. each
#: term shifted so that its adjoint runs over 1..T (Greff's \sum_t <\delta z^{t+1}, y^t>)
ALL_STEPS = (t, -sp.oo, sp.oo)
_FEED = sp.IndexedBase("_feed")  # schema: what the parameter multiplies
_FEED_LABEL = "\x00"


def _time(node: Node | None) -> sp.Expr | None:
    """``t``, ``t-1``, ``t+1``, ``T``, ``0`` -> the index; anything else None."""
    if isinstance(node, Sym) and node == Sym(node.name) and node.name in ("t", "T", "tau"):
        return t if node.name == "t" else T  # the last step: T or \tau
    if isinstance(node, Num) and Fraction(node.value).denominator == 1:
        return sp.Integer(int(node.value))
    if isinstance(node, Neg) and isinstance(node.x, Num):  # h^{-1}: before the sequence
        index = _time(node.x)
        return None if index is None else -index
    if isinstance(node, BinOp) and node.op in "+-":  # t+1, T-1, also -1 + T
        a, b = _time(node.left), _time(node.right)
        if a is None or b is None:
            return None
        index = a + b if node.op == "+" else a - b
        if any((index - base).is_Integer for base in (t, T, 0)):
            return index
    return None


def _last_step_n(node: Node) -> Node:
    """A sum's limit with n for the last step (``\\sum_{t=1}^{n-1}``) written with T."""
    return Sym("T", col=node.col) if node == Sym("n") else _rebuild(node, _last_step_n)


def _label_sup(sym: Sym) -> bool:
    """A superscript that is no time index and no power: a label (``W^{hx}``, ``U^{(f)}``)."""
    return sym.sub is None and sym.sup is not None and _time(sym.sup) is None \
        and not isinstance(sym.sup, (Num, Neg)) and Sym("t") not in _nodes(sym.sup)  # h^{t+k}


def _factors(node: Node) -> list[Node]:
    if isinstance(node, BinOp) and node.op in _PRODUCTS:
        return _factors(node.left) + _factors(node.right)
    return [node]


def _relabel(node, old: str, new: str):
    """The tree with unit label ``old`` replaced by ``new`` in every subscript."""
    if isinstance(node, Sym):
        if node.sub is None:
            return node
        return replace(node, sub=_swap(node.sub, old, new))
    if not isinstance(node, Node):
        return node
    changes = {}
    for f in fields(node):
        value = getattr(node, f.name)
        if isinstance(value, tuple):
            changes[f.name] = tuple(_relabel(v, old, new) for v in value)
        elif isinstance(value, Node):
            changes[f.name] = _relabel(value, old, new)
    return replace(node, **changes)


def _swap(sub: Node, old: str, new: str) -> Node:
    if isinstance(sub, Sym) and sub.name == old and sub == Sym(old):
        return Sym(new, col=sub.col)
    if isinstance(sub, BinOp) and sub.op == "juxt":
        return replace(sub, left=_swap(sub.left, old, new), right=_swap(sub.right, old, new))
    return sub


def _unit_labels(sym: Node) -> tuple[str, str] | None:
    """The raw (from, to) labels of a per-unit weight ``w_{ab}``."""
    if isinstance(sym, Sym) and sym.sup is None and isinstance(sym.sub, BinOp) \
            and sym.sub.op == "juxt" and all(isinstance(s, Sym) and s == Sym(s.name)
                                             for s in (sym.sub.left, sym.sub.right)):
        return sym.sub.left.name, sym.sub.right.name
    return None


def _is_delta(node: Node) -> bool:
    """A delta or epsilon of Graves (``\\delta_c^t``) or any adjoint (``\\delta y``)."""
    return isinstance(node, Adjoint) or (isinstance(node, Sym)
                                         and node.name in ("delta", "epsilon"))


def _canon(label: str) -> str:
    return label.rstrip("'")


class _Reader:
    """Reads one formula tree through a profile into IR expressions."""

    def __init__(self, text: str, profile: Profile, cell: Cell) -> None:
        self.text, self.profile, self.cell, self.units = text, profile, cell, profile.units
        self.table = profile.table(cell)
        self.feed: str | None = None  # schema: the parameter that ``b_i`` feeds
        self.matrix_lhs = False  # the left side is a matrix's gradient: a \otimes b is a b^T

    # --- errors ------------------------------------------------------------------------
    def fail(self, node: Node, message: str) -> NotationError:
        return NotationError(getattr(node, "col", 0), message)

    def unknown(self, node: Node, what: str) -> NotationError:
        known = [*self.table, *self.profile.functions]
        listed = ", ".join(known[:20]) + (", ..." if len(known) > 20 else "")
        return self.fail(node, f"{self.label_note(node)}{what} '{node}' maps to nothing in "
                               f"notation '{self.profile.name}' for cell '{self.cell.name}' "
                               f"(expected one of {listed}; or add --map 'SYMBOL=name')")

    def label_note(self, sym: Node) -> str:
        """Which reading a superscript got that is neither a time nor a power: a label (and
        how ``d h_t`` reads as an adjoint)."""
        if sym == Sym("d") and self.profile.adjoint != "d":
            return "d h is an adjoint only with the profile-file option adjoint = d: "
        if not (isinstance(sym, Sym) and _label_sup(sym)):
            return ""
        where = "the subscript" if self.profile.time_subscript else "t, t-1, ..."
        return f"read ^{{{sym.sup}}} as a label (the time is {where} in this notation): "

    # --- one unit's equation (h_j^t = \tanh([W x^t]_j + b_j)) ------------------------------
    def per_unit(self, tree: Node) -> Node:
        """An equation for unit j of every quantity, ``h^t_j = \\tanh([W x^t]_j + b_{j})``, is
        the same for every j: read as the vector equation, the index j dropped everywhere."""
        if not isinstance(tree, Equation) or self.units:  # Graves' units: their own reading
            return tree
        of = tree.lhs.of if isinstance(tree.lhs, Adjoint) else tree.lhs
        if isinstance(of, Call) and len(of.args) == 1 and _time(of.args[0]) is not None:
            of = Sym(of.name, sub=of.sub, sup=of.args[0])  # h_j(t)
        if not isinstance(of, Sym):
            return tree
        def known(sym):  # \delta h: the adjoint of h, unless the notation names it itself
            return self.find(sym, isinstance(tree.lhs, Adjoint)) or self.find(sym)
        j = next((j for j, rest in _unit_split(of.sub) if known(of) is None
                  and known(replace(of, sub=rest)) is not None), None)
        if j is None and _time(of.sub) is not None and _unit_split(of.sup) and known(of) is None \
                and known(replace(of, sup=None)) is not None:
            j = of.sup  # h_t^j: the time is the subscript, unit j the superscript (Chung)
        return tree if j is None else self.without_unit(tree, j)

    def without_unit(self, node: Node, j: Sym) -> Node:
        if isinstance(node, Index):
            if node.index != j:
                raise self.fail(node, f"'{node}': component {node.index}, but the left side is "
                                      f"the component {j} of a quantity")
            return self.without_unit(node.x, j)
        if isinstance(node, Sum) and node.index == j:
            raise self.fail(node, f"a sum over the unit index {j} of the left side")
        if isinstance(node, Sum) and isinstance(node.index, Sym) and _unit_split(node.index):
            node = self.row_sum(node, j)  # \sum_{k=1}^{H} W_{jk} h_k^{t-1}: (W h^{t-1})_j
        if isinstance(node, (Sym, Call)):  # h_j^t, net_j(t)
            rest = next((rest for k, rest in _unit_split(node.sub) if k == j), node.sub)
            if rest is not node.sub and self.find(Sym(node.name, sub=node.sub)) is not None:
                raise self.fail(node, f"'{node}': {j} is the unit index of the left side and "
                                      f"a label of a symbol")
            node = replace(node, sub=rest)
        if isinstance(node, Sym) and node.sup == j:  # h_{t-1}^j
            node = replace(node, sup=None)
        return _rebuild(node, lambda n: self.without_unit(n, j))

    def row_sum(self, node: Sum, j: Sym) -> Node:
        """``\\sum_k W_{jk} v_k`` (also ``W_{hh,jk}``, ``U^f_{j,k}``, ``[W]_{jk}``) is the row j of
        ``W v``; ``W_{kj}`` is ``W^\\top``. Factors without k stay outside the product."""
        k = node.index
        entries, rest = [], []
        for f in _factors(node.body):
            entry = _entry(f, j, k)
            (entries if entry is not None else rest).append(entry or f)
        if len(entries) != 1:
            raise self.fail(node, f"the sum over {k} needs one matrix entry indexed by {j} and "
                                  f"{k} (W_{{{j}{k}}}), found {len(entries)}")
        weight, transposed = entries[0]
        inside = [self.without_unit(f, k) for f in rest if _mentions(f, k)]
        outside = [f for f in rest if not _mentions(f, k)]
        if not inside:
            raise self.fail(node, f"the sum over {k} has no vector indexed by {k}")
        matrix = Transpose(weight, weight.col) if transposed else weight
        product = BinOp("juxt", matrix, _product(inside), node.col)
        return _product([*outside, product])

    # --- symbols -------------------------------------------------------------------------
    def labels(self, sub: Node | None) -> Node | None:
        return _strip_primes(sub) if self.units and sub is not None else sub

    def find(self, sym: Sym, as_adjoint: bool = False) -> tuple[str, Node | None] | None:
        """(IR name, time node) of a symbol; the time is the superscript, or the subscript when
        it alone is a time index."""
        candidates = [(Sym(sym.name, sym.accent, self.labels(sym.sub)), sym.sup)]
        if sym.sub is not None and sym.sup is None and _time(sym.sub) is not None:
            candidates.append((Sym(sym.name, sym.accent), sym.sub))
        if _label_sup(sym):  # W^{hx}, U^{(f)}: no time, no power, so a label
            candidates = [(Sym(sym.name, sym.accent, self.labels(sym.sup)), None)]
        for key, time in candidates:
            name = self.table.get(str(Adjoint(key) if as_adjoint else key))
            if name is not None:
                return name, time
        return None

    def index(self, time: Node | None) -> sp.Expr:
        if time is None:
            return t
        index = _time(time)
        if index is None:
            raise self.fail(time, f"expected a time index like t, t-1, t+1 or T, found '{time}'")
        offset = index - (t if index.has(t) else T if index.has(T) else 0)
        if abs(int(offset)) > MAX_OFFSET:
            raise self.fail(time, f"time index '{time}' is more than {MAX_OFFSET} steps from "
                                  f"{'t' if index.has(t) else 'T' if index.has(T) else 0}")
        return index

    def limit(self, node: Node) -> sp.Expr:
        """A limit of a sum over t: 1, T, T-1, 0, ..., and n (the last step, as T)."""
        index = self.index(_last_step_n(node))
        if index.has(t):
            raise self.fail(node, f"a limit of a sum over t cannot depend on t, found '{node}'")
        return index

    def resolve(self, name: str, node: Node) -> tuple[str, sp.Basic]:
        found = _resolve(name, self.cell)
        if found is None:
            raise self.fail(node, f"'{node}' maps to {name!r}, which cell '{self.cell.name}' "
                                  "does not have")
        return found

    def symbol(self, sym: Sym):
        if self.feed and sym.sub == Sym(_FEED_LABEL):
            return _FEED[self.index(sym.sup)]
        if sym.sup == Sym("T") and sym.sub is not None and _time(sym.sub) is not None \
                and self.find(sym) is None:  # h_{t-1}^T: the time is the subscript, T transposes
            return _Row(self.vector(replace(sym, sup=None)))
        # h_t^2: the subscript is the time, so the superscript is a power; so is n^2 where the
        # notation writes the time as a subscript (pytorch: n^2 is n_t^2, never n at step 2;
        # h^{(0)}, h^1 stay steps: a power 0 or 1 is written by nobody)
        timed = sym.sub is not None and _time(sym.sub) is not None and bool(
            _time(sym.sub).free_symbols) and self.find(sym) is None
        bare = sym.sub is None and self.profile.time_subscript and isinstance(sym.sup, Num) \
            and sym.sup.value >= 2
        if isinstance(sym.sup, Num) and (timed or bare):
            found = self.find(replace(sym, sup=None))
            if found is not None and (found[1] is not None or _resolve(found[0], self.cell)[0]
                                      in ("quantity", "adjoint")):
                n = int(Fraction(sym.sup.value)) if Fraction(sym.sup.value).denominator == 1 \
                    else None
                if n is None or n < 1:
                    raise self.fail(sym.sup, f"expected a positive integer power of '{sym}' "
                                             f"(read ^{{{sym.sup}}} as a power: the time is the "
                                             "subscript in this notation)")
                return self.power(self.symbol(replace(sym, sup=None)), n, sym)
        if self.units and sym.name == self.units.weight and _unit_labels(sym):
            a, b = map(_canon, _unit_labels(sym))
            if (a, b) not in self.units.diagonal:
                raise self.fail(sym, f"'{sym}' outside a sum over {a} or {b}: notation "
                                     f"'{self.profile.name}' has no weight from one {a} unit to "
                                     f"its own {b} unit in cell '{self.cell.name}'"
                                     + (" (a peephole: the cell has none)" if a == "c" else ""))
            return self.resolve(self.units.diagonal[(a, b)], sym)[1]
        found = self.find(sym)
        if found is None and sym.sub is not None and self.find(Sym(sym.name, sym.accent)):
            raise self.fail(sym.sub, f"expected a time index like t, t-1, t+1 or T in the "
                                     f"subscript of '{Sym(sym.name, sym.accent)}', found "
                                     f"'{sym.sub}'")
        if found is None:
            raise self.unknown(sym, "symbol")
        name, time = found
        kind, obj = self.resolve(name, sym)
        if kind == "matrix":
            if time is not None and time != Sym("T"):
                raise self.fail(sym, f"matrix '{sym}' cannot have a time index")
            if isinstance(obj, _Block):
                if time is not None:
                    raise self.fail(sym, f"block row '{sym}' cannot be transposed")
                return obj
            m = obj if isinstance(obj, _Matrix) else _Matrix(obj)  # a map: W_xh=W_ih^T
            return replace(m, transposed=m.transposed != (time is not None))
        if kind in ("quantity", "adjoint"):
            return obj[self.index(time)]
        if kind == "function":
            raise self.fail(sym, f"'{sym}' is a function here: write it applied, '{sym}(...)'")
        if time is not None:
            raise self.fail(sym, f"parameter '{sym}' cannot have a time index")
        return obj

    # --- expressions ---------------------------------------------------------------------
    def vector(self, node: Node) -> sp.Expr:
        value = self.value(node)
        if isinstance(value, _Matrix):
            raise self.fail(node, f"matrix '{node}' must be followed by the vector it multiplies")
        if isinstance(value, _Row):
            raise self.fail(node, f"'{node}' is a row vector: write g v^\\top for an outer product")
        if isinstance(value, _Diag):
            raise self.fail(node, f"diagonal matrix '{node}' must be followed by the vector it "
                                  "multiplies")
        if isinstance(value, (_Block, _Stack)):
            raise self.fail(node, f"'{node}' is a block row or a stacked vector: write them "
                                  "together, [W_1, W_2] [a, b]")
        if isinstance(value, _GradientT):
            raise self.fail(node, f"'{node}', the gradient of a transposed matrix, is read only "
                                  "as a left side")
        return value

    def value(self, node: Node):
        if isinstance(node, Num):
            return sp.Rational(Fraction(node.value).numerator, Fraction(node.value).denominator)
        if isinstance(node, Sym):
            if node.name == "e" and node.sup is not None and node.sub is node.accent is None \
                    and self.find(Sym("e")) is None:  # e^{-x}: exp, unless e is a symbol
                return sp.exp(self.vector(node.sup))
            return self.symbol(node)
        if isinstance(node, Call):
            if node.name == "sech" and "sech" not in self.profile.functions and not node.primes \
                    and node.power % 2 == 0:  # sech^2 = tanh' = 1 - tanh^2
                return self.power(1 - _ACTIVATIONS["tanh"](self.vector(node.args[0])) ** 2,
                                  node.power // 2, node)
            return self.call(node)
        if isinstance(node, Adjoint):
            return self.adjoint(node)
        if isinstance(node, Neg):
            return -self.vector(node.x)
        if isinstance(node, Pow):
            return self.power(self.vector(node.base), node.exp.value, node)
        if isinstance(node, Transpose):
            inner = self.value(node.x)
            if isinstance(inner, _Matrix):
                return replace(inner, transposed=not inner.transposed)
            return _Row(self.vector(node.x))
        if isinstance(node, Sum):
            return self.sum(node)
        if isinstance(node, Index):
            raise self.fail(node, f"'{node}': a component {node.index} of a vector, but the left "
                                  f"side is not the component {node.index} of a quantity")
        if isinstance(node, StepLoss):
            return self.step_loss(node)
        if isinstance(node, BinOp):
            if node.op in "+-":
                a, b = self.vector(node.left), self.vector(node.right)
                return a + b if node.op == "+" else a - b
            if node.op == "/":
                return self.vector(node.left) / self.vector(node.right)
            if node.op == "juxt" and (labelled := self.labelled_time(node.left, node.right)):
                return labelled
            return self.product(self.value(node.left), self.value(node.right), node)
        raise self.fail(node, f"'{node}' cannot be read as a value")

    def labelled_time(self, sym: Node, time: Node) -> sp.Expr | None:
        """``y^{out}(t)``, ``\\bar g(t)`` (Hochreiter, Gers): a symbol with a label or accent
        (not read as a call), then the time in parentheses, when it names a quantity; else
        None."""
        step = _time(time)  # a time with t, T or n: \bar h (2) stays the product 2 \bar h
        if not (isinstance(sym, Sym) and None in (sym.sub, sym.sup) and step is not None
                and step.free_symbols):
            return None
        labelled = Sym(sym.name, sym.accent, sym.sub if sym.sup is None else sym.sup, col=sym.col)
        found = self.find(labelled)
        if found is None or found[1] is not None or \
                _resolve(found[0], self.cell)[0] not in ("quantity", "adjoint"):
            return None
        return self.symbol(replace(labelled, sup=time))

    def power(self, base: sp.Expr, n: int, node: Node) -> sp.Expr:
        """``base^n`` within bounds: (1 - z)^2 yes, (f + 1)^{10^8} and 10^{10^8} no."""
        if base.is_Rational:
            if abs(n) * math.log2(max(abs(base.p), base.q, 1)) > MAX_NUMBER_BITS:
                raise self.fail(node, f"'{node}' is a number of more than "
                                      f"{MAX_NUMBER_BITS * 3 // 10} digits")
        elif abs(n) > MAX_POWER:
            raise self.fail(node, f"power {n} in '{node}' is beyond the limit of {MAX_POWER} "
                                  "for a quantity")
        return base ** n

    def product(self, a, b, node: Node):
        if isinstance(a, _Block) and isinstance(b, _Stack):
            if len(a.parts) != len(b.parts):
                raise NotConformable(node.col, f"'{node}': a block row of {len(a.parts)} "
                                               f"matrices times {len(b.parts)} stacked vectors")
            return a.factor * sp.Add(*(self.apply(m, v) for m, v in zip(a.parts, b.parts)))
        if isinstance(b, _Block) and not isinstance(a, (_Matrix, _Row, _Diag, _Block, _Stack)):
            return replace(b, factor=a * b.factor)
        if isinstance(a, (_Block, _Stack)) or isinstance(b, (_Block, _Stack)):
            raise self.fail(node, f"'{node}': a block row (a map W=[W_1, W_2]) and a stacked "
                                  "vector [a, b] multiply each other only: W [a, b] = W_1 a + "
                                  "W_2 b")
        if isinstance(a, _Diag) or isinstance(b, _Diag):
            return self.diag_product(a, b, node)
        if self.profile.row_vectors and isinstance(b, _Matrix) and not isinstance(
                a, (_Matrix, _Row, _Diag)) and getattr(node, "op", "juxt") not in \
                _ELEMENTWISE_ONLY:  # x W in row-vector sources is W^T x
            return self.apply(replace(b, transposed=not b.transposed), a)
        # typed: \odot and \circ take two vectors (a matrix before one waits for its own
        # vector, x \odot W h); a matrix next to a vector is a matrix product
        if getattr(node, "op", "juxt") in _ELEMENTWISE_ONLY and (isinstance(a, (_Matrix, _Row))
                                             or isinstance(b, _Row)):
            what = node.left if isinstance(a, (_Matrix, _Row)) else node.right
            kind = "a matrix" if isinstance(a, _Matrix) else "a row vector"
            raise self.fail(node, f"'\\{node.op}' multiplies two vectors elementwise, but "
                                  f"'{what}' is {kind} (in '{node}')")
        if getattr(node, "op", "") == "otimes":
            # a \otimes b of two columns: elementwise, or the outer product a b^T; only one is
            # conformable with the left side (a vector, or a matrix's gradient), so it decides
            if isinstance(a, (_Matrix, _Row, _Diag)) or isinstance(b, (_Matrix, _Diag)):
                raise self.fail(node, f"'{node}': \\otimes of a matrix (a Kronecker product) "
                                      "is not read")
            if not isinstance(b, _Row):
                return Outer(a, b) if self.matrix_lhs else a * b
        if self.profile.row_vectors and isinstance(a, _Row) != isinstance(b, _Row):
            # rows: x^T g (a column times a row) is the outer product; g x^T is a dot product
            if isinstance(a, _Row) and not isinstance(b, _Matrix):
                return Outer(a.vector, b)
            raise self.fail(node, f"'{node}' in a row-vector source: a row times a column is a "
                                  "dot product (a scalar); write x^T g for an outer product")
        if isinstance(a, _Matrix) and isinstance(b, (_Matrix, _Row)) or isinstance(a, _Row):
            raise self.fail(node, f"'{node}' multiplies two matrices; only W v is defined")
        if isinstance(a, _Matrix):
            return self.apply(a, b)
        if isinstance(b, _Matrix):  # a W v: the factor waits for the vector
            return replace(b, factor=a * b.factor)
        if isinstance(b, _Row):
            return Outer(a, b.vector)
        return a * b

    def diag_product(self, a, b, node: Node):
        """``diag(d) g`` = d g, ``W diag(d) g`` = W (d g), ``diag(d) W v`` = d (W v); a column
        vector before a diagonal matrix is not conformable."""
        if isinstance(a, _Diag) and isinstance(b, _Diag):
            return _Diag(a.vector * b.vector)
        if isinstance(a, _Diag):
            if isinstance(b, _Matrix):
                return replace(b, factor=a.vector * b.factor)
            if isinstance(b, _Row):
                raise NotConformable(node.col, f"'{node}' is a diagonal matrix times a row "
                                               "vector, which is not conformable")
            return a.vector * b
        if isinstance(a, _Matrix):
            return replace(a, inner=a.inner * b.vector)
        if isinstance(a, _Row):  # g^T diag(d): the row (d g)^T
            return _Row(a.vector * b.vector)
        raise NotConformable(node.col, f"'{node}' multiplies a column vector by the diagonal "
                                       f"matrix '{node.right}': not conformable as written (a "
                                       "row vector, v^T diag(d), or diag(d) v is)")

    def apply(self, m: _Matrix, v: sp.Expr) -> sp.Expr:
        v = m.inner * v
        product = (MatVecT if m.transposed else MatVec)(m.weight, v)
        if self.profile.implicit_bias and not m.transposed and isinstance(v, sp.Indexed) \
                and (str(v.base) in self.cell.inputs or _sole_product(m.weight, self.cell)):
            product += ImplicitBias(m.weight)
        return m.factor * product

    def call(self, node: Call):
        if node.name == "outer" and len(node.args) == 2:
            return Outer(*(self.vector(a) for a in node.args))
        if node.name == "concat":
            if not any(_is_block(v) for v in self.profile.symbols.values()):
                raise self.fail(node, f"'{node}' stacks vectors: map its matrix to a block row, "
                                      "--map 'W=[W_1, W_2]' (W [a, b] = W_1 a + W_2 b), or "
                                      "write the product of each part, W_h h_{t-1} + W_x x_t")
            return _Stack(tuple(self.vector(a) for a in node.args))
        if len(node.args) == 2:  # \mathcal{L}_{\mathrm{CE}}(y^t, z^t)
            loss = _losses().get(str(Sym(node.name, sub=node.sub)))
            if loss is None or node.primes or node.power != 1:
                raise self.fail(node, f"'{node}': a function of two arguments is a loss, "
                                      f"one of {', '.join(_losses())}")
            return loss(*(self.vector(a) for a in node.args))
        if node.name == "diag" and len(node.args) == 1 and node.power == 1 and not node.primes:
            return _Diag(self.vector(node.args[0]))
        time = _time(node.args[0]) if len(node.args) == 1 and node.power == 1 else None
        if time is not None and not node.primes and node.name not in self.profile.functions:
            # h(t), s_c(t-1): the time in parentheses, when the symbol names a quantity
            sym = Sym(node.name, sub=node.sub, sup=node.args[0], col=node.col)
            found = self.find(Sym(node.name, sub=node.sub))
            if found is not None and found[1] is None and \
                    _resolve(found[0], self.cell)[0] in ("quantity", "adjoint"):
                return self.symbol(sym)
        activation = self.function(node)
        if activation is not None:
            f = _ACTIVATIONS[activation]
            if node.primes > 1:
                raise self.fail(node, f"'{node}': only first derivatives are known")
            if node.primes and f not in ACTIVATIONS:
                raise self.fail(node, f"'{node}': {activation} has no elementwise derivative")
            arg = self.vector(node.args[0])
            return self.power(ACTIVATIONS[f].prime(arg) if node.primes else f(arg),
                              node.power, node)
        # a symbol written directly before "(": U(r h) applies U, h_t(1 - z_t) is a product,
        # h^2(x) is h at time 2 times x
        sup = Num(node.power) if node.power != 1 else None
        sym = Sym(node.name + "'" * node.primes, sub=node.sub, sup=sup, col=node.col)
        if self.find(sym) is None:
            raise self.unknown(Sym(node.name, col=node.col), "function")
        return self.product(self.symbol(sym), self.value(node.args[0]), node)

    def step_loss(self, node: StepLoss) -> sp.Expr:
        """``\\partial \\ell_t/\\partial h_t``: step t's loss by the cell's output at t, alone,
        is the gradient from above, Delta_t (for a cell whose loss is outside it)."""
        loss = node.loss
        when = self.index(loss.sub if loss.sup is None else loss.sup)
        of = self.vector(node.of)
        own = any(self.cell.sizes.get(q) == SCALAR for q in self.cell.quantities)
        if not own and isinstance(of, sp.Indexed) and str(of.base) == self.cell.output \
                and of.indices[0] == when:
            return Delta[when]
        raise self.fail(node, f"'{node}': the loss of one step is read only as the gradient "
                              f"from above, by the output {self.cell.output} at the same step, "
                              "of a cell without a loss of its own")

    def function(self, node: Call) -> str | None:
        """The activation a function name means: ``\\sigma_c`` by its label where the profile
        names it, else only per unit (Graves' \\theta_h is \\theta of unit h); a label the
        profile does not name is an error, never a guess (Wikipedia's \\sigma_c is tanh)."""
        functions = self.profile.functions
        key = _function_key(node.name, node.sub)
        if key in functions or node.sub is None or self.units:
            return functions.get(key, functions.get(node.name))
        if node.name in functions:
            label = Sym(node.name, sub=node.sub)
            raise self.fail(node, f"function {label} is not named in notation "
                                  f"'{self.profile.name}' (a labelled function may be any): "
                                  f"add it to the profile's functions, or --map '{label}=tanh'")
        return None

    def adjoint(self, node: Adjoint):
        of = node.of
        if isinstance(of, Transpose) and isinstance(of.x, Sym) and not isinstance(
                self.value(of.x), _Matrix):  # \delta h^{t\top}: the adjoint of h^t, transposed
            return _Row(self.vector(Adjoint(of.x, node.col)))
        if isinstance(of, Sym):
            found = self.find(of, as_adjoint=True)
            if found is not None:
                name, time = found
                kind, obj = self.resolve(name, of)
                return obj[self.index(time)] if kind == "adjoint" else obj
            if self.units and of.name == self.units.weight and _unit_labels(of):
                pair = tuple(map(_canon, _unit_labels(of)))
                # outside a sum, w_{c\iota} is the peephole (Graves' own reading); the matrix
                # from the cell outputs is written w_{h\iota} in a gradient
                name = self.units.diagonal.get(pair) or self.units.matrices.get(pair)
                if name is None or name == "W_above":
                    raise self.fail(of, f"no parameter of cell '{self.cell.name}' is written "
                                        f"'{of}' in notation '{self.profile.name}'")
                return gradient(name)
            value = self.value(of)
            if isinstance(value, sp.Indexed) and value.base != Delta \
                    and not str(value.base).startswith("delta_"):
                return adjoint(str(value.base))[value.indices[0]]
            if isinstance(value, _Matrix) and value.factor == value.inner == 1:
                g = gradient(str(value.weight))  # a map W_x = W^T: dL/dW_x = (dL/dW)^T
                return _GradientT(g) if value.transposed else g
            if isinstance(value, sp.Symbol) and str(value) in self.cell.params:
                return gradient(str(value))
            if isinstance(value, sp.Add):
                return self.sum_gradient(value, node)
        raise self.fail(node, f"'{node}': expected the adjoint of one quantity or parameter")

    def sum_gradient(self, value: sp.Add, node: Adjoint) -> sp.Symbol:
        """dL/db for a map b = b_1 + b_2 + ...: defined when the derivation's gradients of the
        b_i are one and the same expression (each enters the cell as their sum does), then it
        is that gradient; never a guess otherwise."""
        params = [str(a) for a in value.args]
        if not all(a.is_Symbol and str(a) in self.cell.params for a in value.args):
            raise self.fail(node, f"'{node}': {value} is not a sum of parameters, whose "
                                  "gradient is not defined here")
        found = {eq.lhs: eq.rhs for eq in derive(self.cell).gradients}
        if len({found[gradient(p)] for p in params}) != 1:
            raise self.fail(node, f"'{node}': the gradients of {', '.join(params)} differ, so "
                                  f"the gradient of their sum {value} is not defined")
        return gradient(params[0])

    def sum(self, node: Sum) -> sp.Expr:
        index = node.index
        if isinstance(index, Sym) and index == Sym("t"):
            body = self.vector(node.body)
            if body.has(sp.Sum):
                raise self.fail(node, "a sum over t inside a sum over t")
            if node.lower is None and node.upper is None:  # \sum_t: every step it exists
                return sp.Sum(body, ALL_STEPS)
            low, high = (sp.S.One if node.lower is None else self.limit(node.lower),
                         T if node.upper is None else self.limit(node.upper))
            return sp.Sum(body, (t, low, high))
        if self.units is None or not (isinstance(index, Sym) and index == Sym(index.name)):
            raise self.fail(node, f"'\\sum' over '{index}': notation '{self.profile.name}' sums "
                                  "only over time, written \\sum_t")
        label = _canon(index.name)
        # one unit per block: the sum is its one term (Graves' \sum_c w_{c\iota} s_c^{t-1} is a
        # peephole), except a sum over the units a weight feeds (\sum_c w_{ic} \delta_c^t)
        feeds = any((_unit_labels(f) or ("", ""))[1] == index.name for f in _factors(node.body)
                    if isinstance(f, Sym) and f.name == self.units.weight)
        if label in self.units.single and not feeds:
            return self.vector(node.body)
        members = self.units.groups.get(label, (label,))
        if len(members) > 1:  # a cell without some gate (Greff's variants) sums over the rest
            members = tuple(m for m in members if any(
                name in self.cell.params for (_, to), name in self.units.matrices.items()
                if to == m)) or members
        return sp.Add(*(self.unit_sum(node, index.name, m) for m in members))

    def unit_sum(self, node: Sum, index: str, member: str) -> sp.Expr:
        """``\\sum_j w_{aj} v_j`` (over the "to" label: W^T v) or ``\\sum_j w_{ja} v_j`` (W v)."""
        factors = _factors(node.body)
        weights = [f for f in factors if isinstance(f, Sym) and f.name == self.units.weight
                   and index in (_unit_labels(f) or ())]
        if len(weights) != 1:
            raise self.fail(node, f"the sum over {index} needs one weight w with {index} in its "
                                  f"subscript, found {len(weights)}")
        a, b = _unit_labels(weights[0])
        # w_{cc} summed over c (cell output to cell input): a sum with a delta runs over the
        # units the weight feeds, as every backward sum does
        to_side = b == index and (a != b or any(
            isinstance(f, (Sym, Adjoint)) and _is_delta(f) for f in factors))
        pair = (_canon(a), _canon(member)) if to_side else (_canon(member), _canon(b))
        name = self.units.matrices.get(pair)
        if name is None:
            raise self.fail(weights[0], f"no weight from unit {pair[0]} to unit {pair[1]} in "
                                        f"notation '{self.profile.name}'")
        rest = [_relabel(f, index, member) for f in factors if f is not weights[0]]
        if not rest:
            raise self.fail(node, f"the sum over {index} has no vector besides its weight")
        v = sp.Mul(*(self.vector(f) for f in rest))
        return self.apply(_Matrix(self.resolve(name, weights[0])[1], to_side), v)

    # --- equations -----------------------------------------------------------------------
    def equation(self, eq: Equation, lhs: sp.Expr | None = None, instance: str = "") -> Reading:
        lhs = self.value(eq.lhs) if lhs is None else lhs
        self.matrix_lhs = isinstance(lhs, _GradientT) or isinstance(lhs, sp.Symbol) and (
            _resolve(str(lhs)[len("delta_"):], self.cell) or ("",))[0] == "matrix"
        transposed = isinstance(lhs, _GradientT)  # dL/dW_x = R for W_x = W^T: dL/dW = R^T
        if transposed:
            lhs = lhs.symbol
        elif not isinstance(lhs, sp.Basic):
            lhs = self.vector(eq.lhs)  # its message
        if isinstance(lhs, sp.Indexed):
            name = str(lhs.base)
            if lhs.base == Delta or name in self.cell.inputs:
                raise self.fail(eq.lhs, f"'{eq.lhs}' is given to the cell, not computed by it")
        elif not (isinstance(lhs, sp.Symbol) and str(lhs).startswith("delta_")):
            raise self.fail(eq.lhs, f"left side '{eq.lhs}': expected one quantity, adjoint or "
                                    "gradient")
        rhs = self.vector(eq.rhs)
        if any(max(r.p.bit_length(), r.q.bit_length()) > MAX_NUMBER_BITS
               for r in rhs.atoms(sp.Rational)):
            raise self.fail(eq.rhs, f"the right side has a number of more than "
                                    f"{MAX_NUMBER_BITS * 3 // 10} digits")
        if rhs.has(sp.zoo, sp.nan):
            raise self.fail(eq.rhs, f"the right side '{eq.rhs}' is undefined (a division by 0)")
        if _expanded_size(rhs) > MAX_TERMS:
            raise self.fail(eq.rhs, f"the right side expands to more than {MAX_TERMS} terms")
        rhs = _written_biases(rhs, self.cell)  # biases written out (beta)
        terms = {} if instance else {self.vector(node): text
                                     for text, node in _top_terms(self.text, eq)}
        if isinstance(lhs, sp.Symbol):
            rhs = self.gradient_products(lhs, rhs, self.transposed_gradient(eq))
        if transposed:
            rhs = _transposed(rhs)
            if rhs is None:
                raise self.fail(eq.rhs, f"'{eq.lhs}' is the gradient of a transposed matrix: "
                                        "expected outer products (a b^T) and sums of them")
            terms = {_transposed(term): text for term, text in terms.items()}
        elif isinstance(lhs, sp.Indexed) and lhs.indices[0].has(t) and lhs.indices[0] != t:  # h_{t+1} = ...: read at t
            k = int(lhs.indices[0] - t)
            lhs, rhs = shift(lhs, -k), shift(rhs, -k)
            terms = {shift(term, -k): text for term, text in terms.items()}
        return Reading(lhs, rhs, terms, instance)

    def transposed_gradient(self, eq: Equation) -> bool:
        """Graves' dL/dw_{ab} pairs delta_b with the activation of unit a; a formula whose
        deltas carry the "from" label a (and none the "to" label b) is the gradient of w_{ba},
        the transposed matrix: ``\\partial L/\\partial w_{h'h} = \\sum_t \\delta_{h'}^t b_h^{t-1}``."""
        labels = _unit_labels(eq.lhs.of) if self.units and isinstance(eq.lhs, Adjoint) else None
        if labels is None or labels[0] == labels[1]:
            return False
        deltas = {n.sub.name for n in _nodes(eq.rhs) if isinstance(n, Sym)
                  and n.name == "delta" and isinstance(n.sub, Sym) and n.sub == Sym(n.sub.name)}
        return labels[0] in deltas and labels[1] not in deltas

    def gradient_products(self, lhs: sp.Symbol, rhs: sp.Expr,
                          transposed: bool = False) -> sp.Expr:
        """Per unit, dL/dw_ij = sum_t delta_j b_i is the outer product delta b^T for a matrix;
        a schema's ``b_i`` is what the parameter multiplies in the cell."""
        param = self.cell.params.get(str(lhs)[6:])
        if self.feed:
            operand = _operand(self.feed, self.cell)
            rhs = rhs.replace(lambda e: isinstance(e, sp.Indexed) and e.base == _FEED,
                              lambda e: shift(operand, int(e.indices[0] - t)))
        if not (self.units and param is not None and isinstance(param.symbol, Weight)):
            return rhs

        # the "from" side is what the weight multiplies: (1 - b_h^2) eps_h x_i is delta_h x_i
        source = next((m.args[1] for eq in self.cell.equations for m in eq.rhs.atoms(MatVec)
                       if m.args[0] == param.symbol), None)

        def outer(term):
            factors = sp.Mul.make_args(term)
            v = [f for f in factors if isinstance(source, sp.Indexed)
                 and isinstance(f, sp.Indexed) and f.base == source.base]
            g = [f for f in factors if f not in v]
            if len(v) != 1:  # else the factors with an adjoint are the delta
                g = [f for f in factors if any(str(q.base).startswith("delta_")
                                               for q in f.atoms(sp.Indexed))]
                v = [f for f in factors if f not in g]
            if not (g and v):
                return term
            return Outer(sp.Mul(*v), sp.Mul(*g)) if transposed else Outer(sp.Mul(*g), sp.Mul(*v))

        def each(expr):
            if isinstance(expr, sp.Sum):
                return sp.Sum(each(expr.function), *expr.limits)
            return sp.Add(*(outer(term) for term in sp.Add.make_args(sp.expand(expr))))
        return sp.Add(*(each(term) for term in sp.Add.make_args(rhs)))


def _words(table: dict[str, str], profile: Profile) -> frozenset[str]:
    """The notation's names of several letters (``\\mathrm{net}``, ``relu``): written without a
    font they are still one name (``net_j(t)``), not a product of letters."""
    names = {m for key in table for m in re.findall(r"\\mathrm\{([A-Za-z]+)\}", key)}
    names |= {f for f in profile.functions if f.isalpha()}
    return frozenset(n for n in names if len(n) > 1 and n not in _GREEK_NAMES)


def _entry(f: Node, j: Sym, k: Sym) -> tuple[Node, bool] | None:
    """(matrix, transposed) of an entry ``W_{jk}``, ``W_{hh,jk}``, ``W_{j,k}``, ``[W]_{jk}``
    (``W_{kj}``: transposed); None when ``f`` is no entry indexed by j and k."""
    sub = f.index if isinstance(f, Index) else f.sub if isinstance(f, Sym) else None
    label = None
    if isinstance(sub, BinOp) and sub.op == "," and isinstance(sub.right, BinOp) \
            and sub.right.op == "juxt":  # W_{hh,jk}
        label, sub = sub.left, sub.right
    if not (isinstance(sub, BinOp) and sub.op in ("juxt", ",")):
        return None
    pair = (sub.left, sub.right)
    if pair not in ((j, k), (k, j)):
        return None
    matrix = f.x if isinstance(f, Index) else replace(f, sub=label)
    return (matrix, pair == (k, j)) if label is None or isinstance(f, Sym) else None


def _mentions(node: Node, k: Sym) -> bool:
    return any(n == k for n in _nodes(node))


def _product(factors: list[Node]) -> Node:
    result = factors[0]
    for f in factors[1:]:
        result = BinOp("juxt", result, f, f.col)
    return result


def _rebuild(node, f):
    """``node`` with ``f`` applied to each child node (``f`` recurses as it needs)."""
    changes = {}
    for fl in fields(node):
        value = getattr(node, fl.name)
        if isinstance(value, tuple):
            changes[fl.name] = tuple(f(v) if isinstance(v, Node) else v for v in value)
        elif isinstance(value, Node):
            changes[fl.name] = f(value)
    return replace(node, **changes)


def _juxt_chain(node: Node) -> list[Node]:
    if isinstance(node, BinOp) and node.op == "juxt":
        return _juxt_chain(node.left) + _juxt_chain(node.right)
    return [node]


def _adjoint_marks(node: Node, mark: str | None) -> Node:
    """A profile's other adjoint mark as ``Adjoint``: ``d h_t``, ``dW`` ("d"; ``d`` then a
    symbol, in a product), ``\\bar h_t`` ("bar")."""
    if mark is None or isinstance(node, Adjoint):
        return node
    if mark == "bar" and isinstance(node, Sym) and node.accent == "bar":
        return Adjoint(replace(node, accent=None), node.col)
    if mark == "d" and isinstance(node, BinOp) and node.op == "juxt":
        chain, out = _juxt_chain(node), []
        for f in chain:
            if out and isinstance(f, Sym) and (marked := _mark_last(out[-1], f)) is not None:
                out[-1] = marked
            else:
                out.append(_adjoint_marks(f, mark))
        result = out[0]
        for f in out[1:]:
            result = BinOp("juxt", result, f, f.col)
        return result
    return _rebuild(node, lambda n: _adjoint_marks(n, mark))


def _mark_last(node: Node, f: Sym) -> Node | None:
    """``node`` whose last factor, ``d``, marks ``f`` as an adjoint: ``x * d`` then ``h`` (the
    parser reads ``x * dh`` as ``(x * d) h``) is ``x * \\delta h``; None when it is not a d."""
    if node == Sym("d"):
        return Adjoint(f, node.col)
    if isinstance(node, BinOp) and node.op in _PRODUCTS:
        right = _mark_last(node.right, f)
        return None if right is None else replace(node, right=right)
    return None


def _unit_split(sub: Node | None) -> list[tuple[Sym, Node | None]]:
    """(unit index, the rest of the subscript) that ``sub`` may hold: ``j``, ``t,j``, ``ih,j``."""
    pairs = [(sub, None)] if isinstance(sub, Sym) else \
        [(sub.right, sub.left), (sub.left, sub.right)] if isinstance(sub, BinOp) \
        and sub.op == "," else []
    return [(j, rest) for j, rest in pairs
            if isinstance(j, Sym) and j == Sym(j.name) and len(j.name) == 1 and _time(j) is None]


def _strip_primes(node: Node) -> Node:
    if isinstance(node, Sym) and node == Sym(node.name):
        return Sym(_canon(node.name), col=node.col)
    if isinstance(node, BinOp) and node.op == "juxt":
        return replace(node, left=_strip_primes(node.left), right=_strip_primes(node.right))
    return node


def _top_terms(text: str, eq: Equation) -> list[tuple[str, Node]]:
    """The top-level terms of the right side, each with its own text (sign included)."""
    chain, node = [], eq.rhs
    while isinstance(node, BinOp) and node.op in "+-":
        chain.append((node.op, node.right, node.col))
        node = node.left
    chain.append(("+", node, eq.col))
    chain.reverse()
    cuts = [col for _, _, col in chain] + [len(text) + 1]
    out = []
    for (op, term, col), end in zip(chain, cuts[1:]):
        piece = text[col:end - 1].strip().rstrip(",.\\$& ").strip()
        sign = "-" if op == "-" else ""
        out.append((f"{sign}{piece}", Neg(term) if sign else term))
    return out


def _written_biases(rhs: sp.Expr, cell: Cell) -> sp.Expr:
    """The biases a product includes give way to biases the formula writes in the same sum
    (Graves' beta; b_hn inside GRU's reset product leaves b_in to W_in x)."""
    biases = _biases(cell)
    return rhs.replace(
        lambda e: isinstance(e, sp.Add) and any(isinstance(a, ImplicitBias) for a in e.args)
        and any(a in biases for a in e.args),
        lambda e: sp.Add(*(a for a in e.args if not isinstance(a, ImplicitBias))))


def _biases(cell: Cell) -> set[sp.Symbol]:
    """The cell's bias vectors: parameters added on their own (what ``W v`` may include)."""
    return {p.symbol for name, p in cell.params.items()
            if not isinstance(p.symbol, Weight) and _operand(name, cell) == 1}


def _operand(param: str, cell: Cell) -> sp.Expr:
    """What ``param`` multiplies in the cell: v in ``W v``, c in ``p c``, 1 for a bias."""
    symbol = cell.params[param].symbol
    for eq in cell.equations:
        for node in sp.preorder_traversal(eq.rhs):
            if isinstance(node, MatVec) and node.args[0] == symbol:
                return node.args[1]
            if isinstance(node, sp.Add):
                for term in node.args:
                    if term == symbol:
                        return sp.S.One
                    if isinstance(term, sp.Mul) and symbol in term.args:
                        return term / symbol
    raise CellError(f"parameter {param} of cell {cell.name!r} is not used")


def _schema(eq: Equation, profile: Profile, cell: Cell) -> list[tuple[str, str, str]] | None:
    """Graves' ``dL/dw_{ij}`` with labels i, j that name no weight: (param, from-variable,
    to-label) for every parameter of the cell that the notation names, biases included."""
    units = profile.units
    if not (units and isinstance(eq.lhs, Adjoint) and isinstance(eq.lhs.of, Sym)
            and eq.lhs.of.name == units.weight and _unit_labels(eq.lhs.of)):
        return None
    a, b = _unit_labels(eq.lhs.of)
    if (_canon(a), _canon(b)) in units.matrices.keys() | units.diagonal.keys():
        return None
    instances: dict[str, str] = {}
    for (_, to), name in [*units.matrices.items(), *units.diagonal.items()]:
        if name in cell.params:
            instances.setdefault(name, to)
    table = profile.table(cell)
    for param in cell.params:  # a bias: the weight from the constant unit to the unit it feeds
        if param not in instances and _operand(param, cell) == 1:
            fed = next(eq.name for eq in cell.equations if eq.rhs.has(cell.params[param].symbol))
            labels = [parse_formula(k).sub for k, v in table.items() if v == fed]
            label = next((s.name for s in labels if isinstance(s, Sym) and s == Sym(s.name)), None)
            if label is not None:
                instances[param] = label
    return [(param, a, to) for param, to in instances.items()]


def read_formula(text: str, profile: Profile, cell: Cell) -> list[Reading]:
    """Read one equation; Graves' weight-gradient schema gives one reading per parameter.

    Raises :class:`verify.formula.FormulaSyntaxError` (unparsable) or :class:`NotationError`
    (a symbol that maps to nothing, or a construct the notation does not allow)."""
    reader = _Reader(text, profile, cell)
    tree = parse_formula(text, _words(reader.table, profile))
    if not isinstance(tree, Equation):
        raise NotationError(1, f"expected an equation 'left = right', found '{tree}'")
    if isinstance(tree.rhs, (Sym, Adjoint)) and not isinstance(tree.lhs, (Sym, Adjoint)):
        tree = Equation(tree.rhs, tree.lhs, tree.col)  # tanh(...) = h_t: the sides swapped
    stacked = next((n for n in _nodes(tree) if isinstance(n, Call) and n.name == "concat"), None)
    if stacked is not None:  # before its weight, which maps to nothing
        reader.call(stacked)
    tree = reader.per_unit(_adjoint_marks(tree, profile.adjoint))
    instances = _schema(tree, profile, cell)
    if instances is None:
        return [reader.equation(tree)]
    readings = []
    for param, source, to in instances:
        reader.feed = param
        body = _relabel(_relabel(tree.rhs, source, _FEED_LABEL), _unit_labels(tree.lhs.of)[1], to)
        readings.append(reader.equation(Equation(tree.lhs, body, tree.col), gradient(param),
                                        instance=param))
    return readings


# ---------------------------------------------------------------------------------- conventions
# A map's right side may be an expression of the cell's parameters: one bias where the cell
# has two (``b_h=b_ih+b_hh``), a transposed matrix for row-vector sources (``W_xh=W_ih^T``), a
# block row for a concatenation (``W_f=[W_hf, W_if]``). The gradient by such a symbol is the
# transposed gradient, or that of the summed parameters when theirs are one (_Reader.adjoint).
# Read with Python's own parser (names are IR names, identifiers), after ``^T`` -> ``.T``.
_TRANSPOSE = re.compile(r"\^\s*(?:\{\s*)?(?:\\top|\\intercal|T)(?:\s*\})?|'")
CONSTANT_UNIT = "the input carries a constant unit (biases folded into the input weights)"


def _is_expression(name: str) -> bool:
    return not name.isidentifier()


def _is_block(name: str) -> bool:
    return name.lstrip().startswith("[")


def map_expression(text: str, cell: Cell, origin: str = "--map") -> sp.Expr | _Matrix | _Block:
    """The value of a map's right side: parameters of ``cell`` joined by ``+ - *`` and numbers
    (a vector), one matrix, possibly transposed (``W_ih^T``), or a block row of matrices
    (``[W_hf, W_if]``, for ``W [h, x]``). NotationError otherwise."""
    def fail(message: str) -> NotationError:
        return NotationError(0, f"{origin}: {message}")
    try:
        tree = ast.parse(_TRANSPOSE.sub(".T", text).strip(), mode="eval").body
    except SyntaxError:
        raise fail(f"cannot read '{text}': write parameters of cell '{cell.name}' joined by "
                   "+ - * and numbers, or one matrix, transposed as W^T") from None

    def value(node: ast.AST):
        if isinstance(node, ast.Name):
            if node.id not in cell.params:
                raise fail(f"{node.id!r} is not a parameter of cell '{cell.name}' "
                           f"({', '.join(cell.params)})")
            symbol = cell.params[node.id].symbol
            return _Matrix(symbol) if isinstance(symbol, Weight) else symbol
        if isinstance(node, ast.Attribute) and node.attr == "T":
            m = value(node.value)
            if not isinstance(m, _Matrix):
                raise fail(f"'{text}' transposes a vector; only a matrix is transposed")
            return replace(m, transposed=not m.transposed)
        if isinstance(node, ast.Constant) and type(node.value) in (int, float):
            return sp.Rational(str(node.value))
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
            return -vector(node.operand)
        if isinstance(node, ast.BinOp) and type(node.op) in _MAP_OPERATORS:
            return _MAP_OPERATORS[type(node.op)](vector(node.left), vector(node.right))
        if isinstance(node, ast.List) and node is tree and len(node.elts) >= 2:
            return block(node.elts)
        raise fail(f"'{ast.unparse(node)}' in '{text}' is not allowed: parameters, numbers, "
                   "+ - * and a transposed matrix W^T")

    def block(elts: list[ast.AST]) -> _Block:
        """[W_hf, W_if]: the block row that multiplies a stacked vector [h, x] (colah)."""
        parts = tuple(value(e) for e in elts)
        if not all(isinstance(m, _Matrix) for m in parts):
            raise fail(f"'{text}': a block row [W_1, W_2, ...] holds matrices only")
        rows = {cell.params[str(m.weight)].shape[1 if m.transposed else 0] for m in parts}
        if len(rows) > 1:
            raise fail(f"'{text}': the blocks have different numbers of rows")
        return _Block(parts)

    def vector(node: ast.AST) -> sp.Expr:
        v = value(node)
        if isinstance(v, (_Matrix, _Block)):
            raise fail(f"'{text}' combines a matrix with other terms; a matrix is mapped alone "
                       "(W_xh=W_ih^T), or a block row [W_hf, W_if]")
        return v
    result = value(tree)
    if not isinstance(result, (_Matrix, _Block)) and not result.free_symbols:
        raise fail(f"'{text}' is a number; map a symbol to parameters of the cell")
    return result


_MAP_OPERATORS = {ast.Add: lambda a, b: a + b, ast.Sub: lambda a, b: a - b,
                  ast.Mult: lambda a, b: a * b}


def with_constant_unit(profile: Profile) -> Profile:
    """The profile for a source whose input carries a constant unit: ``W x`` of an input
    includes the biases of its sum (Graves' and Cho's reading, for any cell)."""
    if CONSTANT_UNIT in profile.conventions:
        return profile
    return replace(profile, implicit_bias=True,
                   conventions=(*profile.conventions, CONSTANT_UNIT))


def stated_conventions(text: str, profile: Profile, cell: Cell,
                       readings: list[Reading]) -> list[str]:
    """The conventions the user stated that a formula's reading used: maps to expressions
    whose symbol it writes, the constant unit where a product includes biases."""
    if not profile.conventions:
        return []
    reader = _Reader(text, profile, cell)
    used = set()
    for node in _nodes(parse_formula(text)):
        found = reader.find(node) if isinstance(node, Sym) else None
        if found is not None and _is_expression(found[0]):
            used.add(found[0])
    out = [c for c in profile.conventions if c != CONSTANT_UNIT
           and c.rpartition(" = ")[2] in used]
    if CONSTANT_UNIT in profile.conventions and any(
            implicit_biases(r.rhs, cell) != r.rhs.replace(ImplicitBias, lambda W: sp.S.Zero)
            for r in readings):
        out.append(CONSTANT_UNIT)
    return out


def shadowed(profile: Profile, cell: Cell) -> list[tuple[str, str]]:
    """(symbol, IR name) where a map to an expression takes the symbol a sheet prints for one
    of the cell's own names (``W_{hh}=W_hh^T``): such a sheet would not read back as printed."""
    names = {_ir_key(n): n for n in (*cell.inputs, *cell.quantities, *cell.params)}
    return [(symbol, names[_key(symbol)]) for symbol, value in profile.symbols.items()
            if _is_expression(value) and _key(symbol) in names]
