r"""Parse the LaTeX people really write for recurrent-cell equations into a small neutral tree.

SymPy's ``parse_latex`` rejects most of this notation (``\delta\bar o^{t+1}``, ``R_z^\top``,
``\sum_k w_{ck}\delta_k^t``, ``h^{\langle t-1\rangle}``), so this module has its own pipeline:

1. ``_tokenize``: a regex scanner that resolves fonts (``\mathbf{W}`` -> ``W``), sizes
   (``\Big(`` -> ``(``), spacing and unknown commands, checks bracket balance and records whether
   an opening parenthesis follows its left neighbour directly (that decides call vs product);
2. ``GRAMMAR``: an LALR grammar (lark) over those tokens; its few shift/reduce conflicts are
   resolved as *shift*, which is exactly the "longest reading" papers rely on (a ``\sum`` body
   runs to the next ``+``/``-``, ``\delta y`` is an adjoint, ``h(x)`` is a call);
3. ``_Build``: a transformer into frozen dataclasses (``Equation``, ``Num``, ``Sym``, ``Call``,
   ``Adjoint``, ``BinOp``, ``Neg``, ``Sum``, ``Transpose``, ``Pow``).

Reading rules for the ambiguous cases:

- Every Latin letter is its own symbol (``Wx``, ``W_{hn}`` are products); only a braced word in
  a font command is one name (``\mathrm{sigm}`` -> ``sigm``).  Unbraced scripts take one
  character or command, as in TeX (``x_12`` is ``x_1 2``).
- Call: ``\tanh \exp \log \ln \sin \cos \sinh \cosh \sigma`` and ``\operatorname{..}`` always
  apply, to the parenthesised group or the next atom (``\tanh c_t``).  Any other plain name
  (subscript, primes and a power allowed; no other superscript, accent or transpose) applies
  only when ``(`` follows it directly: ``h(x)``, ``h_t(x)`` are calls, ``h (x)``, ``h\,(x)``,
  ``h^t(x)`` products.  The caller turns a Call of a variable back into a product.
- ``\delta`` directly followed by a symbol is its adjoint (``\delta\bar o^t``, ``\delta W_z``);
  with its own scripts it is Graves' ``Sym('delta', ...)``.  ``\partial L/\partial x``,
  ``\frac{\partial L}{\partial x}``, ``\frac{dL}{dx}`` and ``\nabla_x L`` need the loss
  ``L``, ``\mathcal L``, ``E``, ``J`` or ``\ell``; with a time (``\partial \ell_t/\partial h_t``)
  it is one step's loss, ``StepLoss``.
- ``\sum`` takes the product term after it (up to ``+``/``-`` at that level) as its body.
- ``^\top``/``^\intercal`` (also ``^{t\top}``) -> ``Transpose``; ``^T`` stays a superscript.
- Powers: only a parenthesised group or a function takes one; a superscript on a symbol stays
  a (time) superscript (``o_t^2`` is o at time 2, ``o^t(1-o^t)`` a product).  ``(1-o^t)^2``,
  ``\left(1-z_t\right)^{2}`` -> ``Pow``; ``\tanh^2(c)``, ``\tanh^2 c``, ``\tanh(c)^2`` -> ``Call``
  with ``power`` 2, the power of the function's value, and so is ``g^2(a)``: a plain name with a
  superscript 2, 3, ... directly followed by ``(`` (the caller reads ``g^2`` times a where g is a
  variable).  Exponents are integers, a function's positive (``\tanh^{-1}`` is the inverse);
  ``\tanh(c)^\top`` transposes the value; ``h_t(x)^2`` is an error: ``(h_t(x))^2`` or
  ``h_t\,(x)^2``?
- ``h^{\langle t\rangle}``, ``h^{(t)}``, ``h^{<t>}`` are ``h^t``: brackets leave no node.
- A roman word in a script is its letters (``W_{\mathrm{xh}}`` is ``W_{xh}``, ``xi`` never
  ``\xi``); ``b_{ih,j}``, ``h_{t,j}``: a comma in a script is ``BinOp(',')``; ``[W x]_j``,
  ``\sigma(a)_j``, ``\sigma(a)^j`` -> ``Index`` (a unit's component; verify/notations.py
  reads them).
- ``\partial_{h_t} L`` is ``\nabla_{h_t} L``; ``\widetilde{C_t}`` is ``\tilde{C}_t``; a ``T``
  after a time in one superscript transposes (``h^{(t)T}``, ``h^{(t),T}``), and so does a
  transposed time (``h^{(t-1)^\top}``, as Goodfellow et al. print it); ``[h_{t-1}, x_t]``
  is ``Call('concat')``, which the reader multiplies by a block row (a map ``W=[W_1, W_2]``).

Columns (``col``, 1-based character offset into the text, newlines count as one character) are
kept on every node but excluded from equality, so typographic variants compare equal.  A node's
``col`` is where its text starts, except ``BinOp``/``Equation`` (column of the operator; for
juxtaposition, of the right operand) and ``Transpose``/``Pow`` of a group (that of its
content).  ``str(node)`` prints LaTeX that parses back to an equal tree (the one exception: a
bare ``Sym('delta')`` followed by a symbol reads back as an adjoint).

>>> str(parse_formula(r"\delta\bar o^{t+1}"))
'\\delta \\bar{o}^{t + 1}'
>>> parse_formula(r"h_t=\tanh(c_t)").rhs == Call('tanh', 0, (Sym('c', sub=Sym('t')),))
True
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field, fields
from decimal import Decimal
from fractions import Fraction
from typing import Iterator

from lark import Lark, Token, Transformer, v_args
from lark.exceptions import UnexpectedInput
from lark.lexer import Lexer

__all__ = ["FormulaSyntaxError", "LIMITS", "one_line", "parse_formula", "Node", "Equation", "Num", "Sym", "Call",
           "Adjoint", "StepLoss", "BinOp", "Neg", "Sum", "Transpose", "Pow", "Index"]


# Bounds on what is read: over any of them a formula is a FormulaSyntaxError, never a
# RecursionError, a hang or a blown memory later on (issue 9).
LIMITS = {
    "length": 4000,       # characters of one formula
    "depth": 64,          # nesting of the syntax tree (brackets, functions, chains of terms)
    "digits": 100,        # digits of one number
    "exponent": 1000,     # |n| of a power ^{n} (of a number: 10^{-60}; a quantity's: 8)
}


def one_line(message: str, excerpt: int = 60) -> str:
    """A message fit for one line of stderr: whitespace collapsed, control characters (NUL)
    escaped, every quoted piece cut to ``excerpt`` characters, the whole to five times that."""
    text = " ".join(message.split())
    text = "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)
    text = re.sub(r"'([^']{%d,})'" % (excerpt + 1),
                  lambda m: f"'{m.group(1)[:excerpt - 3]}...'", text)
    return text if len(text) <= 5 * excerpt else text[:5 * excerpt - 3] + "..."


class FormulaSyntaxError(ValueError):
    """A one-line message ``column N: ...``; ``column`` is 1-based in the original text."""

    def __init__(self, column: int, message: str) -> None:
        self.column = column
        self.message = one_line(message)  # never more than one line, never a long quote
        super().__init__(f"column {column}: {self.message}")


# ---------------------------------------------------------------------------- syntax tree
def _col() -> int:
    return field(default=0, compare=False, repr=False)


@dataclass(frozen=True)
class Node:
    def __str__(self) -> str:
        return _latex(self)


@dataclass(frozen=True)
class Equation(Node):
    lhs: Node
    rhs: Node
    col: int = _col()


@dataclass(frozen=True)
class Num(Node):
    value: int | Fraction
    col: int = _col()


@dataclass(frozen=True)
class Sym(Node):
    """``name``: ``h``, ``W``, ``delta``, ``epsilon``, ``sigm`` (from ``\\mathrm``), primes
    included (``h'``); ``accent``: ``bar``, ``tilde``, ``hat`` or None."""
    name: str
    accent: str | None = None
    sub: Node | None = None
    sup: Node | None = None
    col: int = _col()


@dataclass(frozen=True)
class Call(Node):
    """``name(args...)`` with ``primes`` derivative marks, its value to the ``power``
    (``\\tanh^2 x``); ``outer`` has two args."""
    name: str
    primes: int
    args: tuple[Node, ...]
    sub: Node | None = None
    power: int = 1
    col: int = _col()


@dataclass(frozen=True)
class Adjoint(Node):
    """dLoss/d(of): ``\\delta y^t``, ``\\partial L/\\partial h_t``, ``\\nabla_{h_t} L``..."""
    of: Node
    col: int = _col()


@dataclass(frozen=True)
class StepLoss(Node):
    """``\\partial \\ell_t/\\partial h_t``: the gradient of one step's loss ``loss`` (a loss
    symbol with its time) by ``of`` alone, not through later steps."""
    loss: Sym
    of: Node
    col: int = _col()


@dataclass(frozen=True)
class BinOp(Node):
    """``op``: ``+ - juxt cdot odot circ times * /``; ``,`` only in a script (``b_{ih,j}``)."""
    op: str
    left: Node
    right: Node
    col: int = _col()


@dataclass(frozen=True)
class Neg(Node):
    x: Node
    col: int = _col()


@dataclass(frozen=True)
class Sum(Node):
    index: Node | None
    lower: Node | None
    upper: Node | None
    body: Node
    col: int = _col()


@dataclass(frozen=True)
class Transpose(Node):
    x: Node
    col: int = _col()


@dataclass(frozen=True)
class Pow(Node):
    """``(base)^{exp}``, elementwise; ``exp`` an integer."""
    base: Node
    exp: Num
    col: int = _col()


@dataclass(frozen=True)
class Index(Node):
    """``[W x]_j``, ``\\sigma(\\cdot)_j``: component ``index`` (a unit) of a vector."""
    x: Node
    index: Node
    col: int = _col()


@dataclass(frozen=True)
class _Top(Node):
    """``\\top`` before it is attached to the symbol it transposes; never in a result."""
    col: int = _col()


# ---------------------------------------------------------------------------- vocabulary (data)
_GREEK = ("alpha beta gamma epsilon zeta eta theta iota kappa lambda mu nu xi pi rho tau upsilon "
          "phi chi psi omega Gamma Delta Theta Lambda Xi Pi Sigma Upsilon Phi Psi Omega").split()
_FUNCS = "sigma tanh exp log ln sin cos sinh cosh".split()   # commands that always apply
_FUNC_WORDS = set(_FUNCS) | {"sigmoid", "sigm", "softmax", "relu", "ReLU", "diag"}  # \mathrm{}
#: function names written without a backslash or font (tanh(c_t), as code and notes write them):
#: a run of letters that is exactly one of these words is the function, not a product of letters
_BARE_FUNCS = re.compile(r"(tanh|sigmoid|sigm|softmax|diag)(?![A-Za-z])")
LOSSES = frozenset({"L", "E", "J", "ell"})  # J: the cost of CS224n and Ng's notes

#: commands known but not read, and what to write instead
_REFUSED = {"prod": "products over time (Jacobian chains) are not read: write the recurrence"}
_EVALUATION_BAR = r"an evaluation bar '\left. ... \right|' is not read: write the value"
_SWITCHES = "bf rm it sf cal boldmath".split()
_SWITCH_GROUP = re.compile(r"\{\s*\\(?:%s)(?![A-Za-z])" % "|".join(_SWITCHES))
# command -> (token type, canonical value); anything not here is an error naming the command
COMMANDS: dict[str, tuple[str, str]] = {
    **{g: ("NAME", g) for g in _GREEK},
    "varepsilon": ("NAME", "epsilon"), "varphi": ("NAME", "phi"), "vartheta": ("NAME", "theta"),
    "varrho": ("NAME", "rho"), "varpi": ("NAME", "pi"), "ell": ("NAME", "ell"),
    "delta": ("DELTA", "delta"),
    **{f: ("FUNC", f) for f in _FUNCS},
    "odot": ("PRODOP", "odot"), "cdot": ("PRODOP", "cdot"), "circ": ("PRODOP", "circ"),
    "times": ("PRODOP", "times"), "otimes": ("PRODOP", "otimes"),
    "ast": ("PRODOP", "*"), "star": ("PRODOP", "*"),  # as '*': typeset asterisks (CS230's star)
    # plain-TeX font switches: dropped, and so is the group they open ({\bf h} is h)
    **{f: ("SPACE", f) for f in _SWITCHES},
    "bar": ("ACCENT", "bar"), "overline": ("ACCENT", "bar"), "tilde": ("ACCENT", "tilde"),
    "widetilde": ("ACCENT", "tilde"), "hat": ("ACCENT", "hat"), "widehat": ("ACCENT", "hat"),
    **{f: ("FONT", f) for f in "mathbf boldsymbol bm mathrm mathit mathsf mathcal mathbb "
       "mathnormal vec text textrm textbf textit operatorname".split()},
    "top": ("TOP", "top"), "intercal": ("TOP", "top"), "prime": ("PRIME", "'"),
    "sum": ("SUM", "sum"), "frac": ("FRAC", "frac"), "dfrac": ("FRAC", "frac"),
    "tfrac": ("FRAC", "frac"), "partial": ("PARTIAL", "partial"), "nabla": ("NABLA", "nabla"),
    "langle": ("BRACKET", "langle"), "rangle": ("BRACKET", "rangle"),  # see _OPENERS
    **{s: ("SIZE", s) for s in "left right middle big Big bigg Bigg bigl bigr Bigl Bigr biggl "
       "biggr Biggl Biggr".split()},
    **{s: ("SPACE", s) for s in "quad qquad displaystyle textstyle limits nolimits nonumber "
       "notag".split()},
    "coloneqq": ("EQ", "="), "triangleq": ("EQ", "="), "equiv": ("EQ", "="),
}
# single characters -> token type; brackets are handled by _OPENERS/_CLOSERS
_LABELS = {"tag", "label", "begin", "end"}  # commands dropped with their braced argument
#: environments of one equation, where '&' and '\\' are only layout (in a matrix they separate)
_ENVIRONMENTS = frozenset({"aligned", "align", "equation", "split", "gather", "gathered"})
_CHARS = {":=": "EQ", "+": "PLUS", "-": "MINUS", "*": "PRODOP", "/": "SLASH", "=": "EQ",
          ",": "_COMMA", ".": "DOT", "'": "PRIME", "_": "_SUB", "^": "_SUP"}
_OPENERS = {"(": ")", "[": "]", "\\{": "\\}", "{": "}", "<": ">", "\\langle": "\\rangle"}
_CLOSERS = {")", "]", "\\}", "}", ">", "\\rangle"}
_TOKEN = re.compile(r"""
    (?P<space> \s+ | ~ | \\[,;:!\ ] | & | \$ | \\\\ )
  | (?P<cmd>   \\[A-Za-z]+ )
  | (?P<esc>   \\[{}] )
  | (?P<num>   \d+(?:\.\d+)? )
  | (?P<letter>[A-Za-z] )
  | (?P<char>  := | [-+*/=,.'_^{}()\[\]<>] )
""", re.VERBOSE)


# ---------------------------------------------------------------------------- tokenizer
def _bracket_type(opener: str, tight: bool) -> str:
    return {"{": "_LBRACE", "<": "_LANGLE", "\\langle": "_LANGLE"}.get(
        opener, "_TLPAR" if tight else "_LPAR")


def _closer_type(closer: str) -> str:
    return {"}": "_RBRACE", ">": "_RANGLE", "\\rangle": "_RANGLE"}.get(closer, "_RPAR")


def _match_brace(text: str, start: int) -> int:
    depth = 0
    for m in re.finditer(r"\\.|[{}]", text[start:]):
        if m.group() == "{":
            depth += 1
        elif m.group() == "}":
            depth -= 1
            if depth == 0:
                return start + m.start()
    raise FormulaSyntaxError(start + 1, "unmatched '{'")


_QUAD = r"\\q?quad(?![A-Za-z])"
#: a condition after the formula, at bracket depth 0 past its '=': ", \quad t = 1, \dots, T",
#: "\quad \text{for } t < T", ", \forall t": the formula ends before it
_CONDITION = re.compile(rf"(?:,|{_QUAD})\s*(?:{_QUAD}\s*)*(?:\\(?:text|textrm|mbox)\s*{{"
                        r"|\\forall(?![A-Za-z])"
                        r"|[A-Za-z]\s*(?:=|\\in(?![A-Za-z]))[^=]*\\[lc]?dots(?![A-Za-z]))")


def _without_condition(text: str) -> str:
    """The formula without a trailing condition or range, and without a final ';'."""
    start = text.find("=")
    for m in _CONDITION.finditer(text, max(start, 0)):
        before = re.sub(r"\\.", "", text[:m.start()])
        if start >= 0 and sum(before.count(c) for c in "{([") == sum(
                before.count(c) for c in "})]"):
            text = text[:m.start()]
            break
    return re.sub(r"\s*;\s*$", "", text)


#: Werbos' ordered derivative ``\partial^+ E`` (``^{+}``): the total derivative, the adjoint
_ORDERED = re.compile(r"\s*\^\s*(?:\+|\{\s*\+\s*\})")


def _tokenize(text: str, words: frozenset[str] = frozenset()) -> list[Token]:
    if len(text) > LIMITS["length"]:
        raise FormulaSyntaxError(LIMITS["length"] + 1, f"the formula is longer than "
                                 f"{LIMITS['length']} characters ({len(text)})")
    text = _without_condition(text)
    toks: list[Token] = []
    stack: list[tuple[str, str, int, bool]] = []  # (expected closer, opener, position, script)
    skip_close: set[int] = set()            # closing braces of fonts dropped transparently
    pos, spaced, size_at = 0, False, None   # size_at: start of a pending \left, \Big, ...

    def emit(type_: str, value: str, start: int, end: int) -> None:
        nonlocal spaced
        toks.append(Token(type_, value, start, 1, start + 1, 1, end + 1, end))
        spaced = False

    while pos < len(text):
        if pos in skip_close:
            pos += 1
            continue
        if m := _SWITCH_GROUP.match(text, pos):  # {\bf h}: both braces and the switch go
            skip_close.add(_match_brace(text, pos))
            pos = m.end()
            continue
        m = _TOKEN.match(text, pos)
        if m is None and size_at is not None and text[pos] == "|":
            raise FormulaSyntaxError(pos + 1, _EVALUATION_BAR)
        if m is None:
            raise FormulaSyntaxError(pos + 1, f"unexpected character {text[pos]!r}")
        kind, raw, start, pos = m.lastgroup, m.group(), pos, m.end()
        if kind == "cmd" and raw[1:] in _LABELS:  # \tag{3}, \label{eq:h}: not the formula
            j = pos
            while j < len(text) and (text[j].isspace() or text[j] == "*" and j == pos):
                j += 1  # \tag*{A}
            if j < len(text) and text[j] == "{":
                pos = _match_brace(text, j) + 1
                env = text[j + 1:pos - 1].strip().rstrip("*")
                if raw[1:] in ("begin", "end") and env not in _ENVIRONMENTS:  # & separates
                    raise FormulaSyntaxError(start + 1, f"environment '{env}' is not read "
                                             f"(only {', '.join(sorted(_ENVIRONMENTS))})")
            continue
        if kind == "cmd":
            if raw[1:] in _REFUSED:
                raise FormulaSyntaxError(start + 1, f"'{raw}': {_REFUSED[raw[1:]]}")
            if raw[1:] not in COMMANDS:
                raise FormulaSyntaxError(start + 1, f"unknown command '{raw}'")
            kind, value = COMMANDS[raw[1:]]
            if kind == "PARTIAL" and (plus := _ORDERED.match(text, pos)):
                pos = plus.end()  # Werbos' ordered derivative \partial^+: the total one
        elif kind == "char" and raw in _CHARS:
            kind, value = _CHARS[raw], raw
        else:
            value = raw
        is_bracket = raw in _OPENERS or raw in _CLOSERS
        if size_at is not None and raw == ".":  # \left. ... \right|_{t}
            raise FormulaSyntaxError(start + 1, _EVALUATION_BAR)
        if size_at is not None and kind != "space" and not is_bracket:
            raise FormulaSyntaxError(start + 1, f"expected a delimiter after "
                                     f"'{text[size_at:start].strip()}', found '{raw}'")
        if kind == "space":
            spaced = spaced or size_at is None  # "\left (" is as tight as "\left("
        elif kind == "SPACE":
            spaced = True
        elif kind == "SIZE":
            size_at = start
        elif raw in _OPENERS:
            at, size_at = (start if size_at is None else size_at), None
            script = bool(toks) and toks[-1].type in ("_SUB", "_SUP")
            stack.append((_OPENERS[raw], raw, at, script or any(e[3] for e in stack)))
            if len(stack) > LIMITS["depth"]:
                raise FormulaSyntaxError(start + 1, f"brackets nested more than "
                                         f"{LIMITS['depth']} deep")
            emit(_bracket_type(raw, bool(toks) and not spaced), raw, at, pos)
        elif raw in _CLOSERS:
            at, size_at = (start if size_at is None else size_at), None
            if not stack:
                raise FormulaSyntaxError(start + 1, f"unmatched '{raw}'")
            want, opener, where, _ = stack.pop()
            if raw != want:
                raise FormulaSyntaxError(start + 1, f"'{raw}' does not match '{opener}' "
                                         f"at column {where + 1}")
            emit(_closer_type(raw), raw, at, pos)
        elif kind == "FONT":
            script = (bool(toks) and toks[-1].type in ("_SUB", "_SUP")) or any(e[3] for e in stack)
            pos = _font(text, raw[1:], start, pos, emit, skip_close, script, toks)
        elif kind == "PRIME" and raw == "\\prime":
            if not toks or toks[-1].type != "_SUP":
                raise FormulaSyntaxError(start + 1, "'\\prime' must follow '^'")
            sup = toks.pop()
            emit("PRIME", "'", sup.start_pos, pos)
        elif kind == "num":
            if toks and toks[-1].type in ("_SUB", "_SUP"):  # x_12 is x_1 2, as in TeX
                pos = start + 1
            if pos - start > LIMITS["digits"]:
                raise FormulaSyntaxError(start + 1, f"a number of more than "
                                         f"{LIMITS['digits']} digits")
            emit("NUMBER", text[start:pos], start, pos)
        elif kind == "letter" and not (start and text[start - 1].isalpha()) and (
                word := _BARE_FUNCS.match(text, start)):
            pos = word.end()
            emit("FUNC", word.group(1), start, pos)
        elif kind == "letter" and words and not (start and text[start - 1].isalpha()) and not (
                toks and toks[-1].type in ("_SUB", "_SUP") or any(e[3] for e in stack)) and (
                word := _word(text, start, words)):  # net_j(t): a name of the notation
            pos = start + len(word)
            emit("WORD", word, start, pos)
        elif kind == "letter":
            emit("LETTER", raw, start, pos)
        else:
            emit(kind, value, start, pos)
    if size_at is not None:
        raise FormulaSyntaxError(size_at + 1, "expected a delimiter at the end")
    if stack:
        _, opener, where, _ = stack[-1]
        raise FormulaSyntaxError(where + 1, f"unmatched '{opener}'")
    while toks and toks[-1].type in ("_COMMA", "DOT"):  # sentence punctuation after display math
        toks.pop()
    if not toks:
        raise FormulaSyntaxError(1, "empty formula, expected an expression")
    return toks


def _word(text: str, start: int, words: frozenset[str]) -> str | None:
    """The longest of ``words`` written at ``start`` as a whole run of letters."""
    end = start
    while end < len(text) and text[end].isalpha():
        end += 1
    return text[start:end] if text[start:end] in words else None


def _font(text: str, font: str, start: int, pos: int, emit, skip_close: set[int],
          script: bool = False, toks: list[Token] = ()) -> int:
    """Drop a font command; a braced word becomes one WORD/FUNC token, in a script its letters
    (``W_{\\mathrm{xh}}`` is ``W_{xh}``: labels are letters, and ``xi`` is never ``\\xi``).
    Returns the new pos."""
    j = pos
    while j < len(text) and text[j].isspace():
        j += 1
    if j < len(text) and text[j] == "{":
        k = _match_brace(text, j)
        inner = text[j + 1:k].strip()
        if re.fullmatch(r"[A-Za-z]+|\d+", inner):
            if inner.isdigit():
                kind = "NUMBER"
            elif script and font != "operatorname":
                at = j + 1 + text[j + 1:k].index(inner)
                unbraced = len(inner) > 1 and toks[-1].type in ("_SUB", "_SUP")
                if unbraced:  # W_\mathrm{hh} is W_{hh}
                    emit("_LBRACE", "{", j, j + 1)
                for n, letter in enumerate(inner):
                    emit("LETTER", letter, at + n, at + n + 1)
                if unbraced:
                    emit("_RBRACE", "}", k, k + 1)
                return k + 1
            elif font == "operatorname" or (len(inner) > 1 and inner in _FUNC_WORDS):
                kind = "FUNC"
            else:
                kind = "LETTER" if len(inner) == 1 else "WORD"
            emit(kind, inner, start, k + 1)
            return k + 1
        if font == "operatorname":
            raise FormulaSyntaxError(j + 2, "expected a function name in \\operatorname{...}")
        skip_close.add(k)  # e.g. \mathbf{h_t}: keep the content, forget the font
        return j + 1
    if j < len(text) and (text[j].isalnum()):
        emit("NUMBER" if text[j].isdigit() else "LETTER", text[j], start, j + 1)
        return j + 1
    if j < len(text) and text[j] == "\\":
        return j  # \bm\delta: the next command is the symbol
    raise FormulaSyntaxError(start + 1, f"expected an argument after '\\{font}'")


# ---------------------------------------------------------------------------- grammar (data)
# LALR; lark resolves its three shift/reduce conflicts as shift, on purpose: after \delta a
# symbol is its operand, a \sum body takes all further factors, a name takes a tight "(".
GRAMMAR = r"""
%declare LETTER NAME WORD NUMBER FUNC DELTA ACCENT TOP SUM FRAC PARTIAL NABLA PRIME
%declare PLUS MINUS PRODOP SLASH EQ DOT _COMMA _SUB _SUP
%declare _LBRACE _RBRACE _LPAR _TLPAR _RPAR _LANGLE _RANGLE

?start: expr | expr EQ expr                    -> equation
?expr: term
     | MINUS term                              -> neg
     | expr PLUS term                          -> binop
     | expr MINUS term                         -> binop
?term: factor
     | term PRODOP factor                      -> binop
     | term SLASH factor                       -> binop
     | term factor                             -> juxt
?factor: atom
     | symbol _TLPAR expr _COMMA expr _RPAR    -> call2     // L_{CE}(y, z): a loss
     | SUM limit* term                         -> sum       // body: the product term after it
     | FUNC mark* operand                      -> func      // \tanh c_t, \sigma'(x), \tanh^2 x
     | FUNC mark* group _SUP sarg              -> func_sup  // \tanh(c)^2: of the value
     | FUNC mark* group _SUB sarg              -> func_sub  // \sigma(a)_j: a component
     | symbol _TLPAR expr _RPAR                -> maybe_call  // h(x) directly, no space
     | symbol _TLPAR expr _RPAR _SUP sarg      -> maybe_call_sup
?atom: operand
     | group _SUP sarg                         -> group_sup
     | group _SUB sarg                         -> index     // [W x]_j
?operand: symbol
     | DELTA symbol                            -> adjoint   // \delta y^t
     | DELTA mark*                             -> delta_sym // \delta_k^t (Graves)
     | NUMBER                                  -> num
     | group
     | _LANGLE expr _COMMA expr _RANGLE        -> outer
     | FRAC _LBRACE expr _RBRACE _LBRACE expr _RBRACE -> frac
     | FRAC _LBRACE PARTIAL symbol _RBRACE _LBRACE PARTIAL symbol _RBRACE -> partial_frac
     | PARTIAL symbol SLASH PARTIAL symbol     -> partial_slash
     | NABLA _SUB sarg symbol                  -> nabla
     | PARTIAL _SUB sarg symbol                -> nabla     // \partial_{h_t} L
     | _LPAR expr (_COMMA expr)+ _RPAR         -> concat    // [h_{t-1}, x_t]
     | _TLPAR expr (_COMMA expr)+ _RPAR        -> concat
     | TOP                                     -> top
?group: _LPAR expr _RPAR | _TLPAR expr _RPAR | _LANGLE expr _RANGLE
symbol: base mark*
base: plain | ACCENT plain | ACCENT _LBRACE plain _RBRACE
    | ACCENT _LBRACE plain mark+ _RBRACE       -> accented  // \widetilde{C_t}
?plain: LETTER | NAME | WORD
mark: _SUB sarg -> sub | _SUP sarg -> sup | PRIME -> prime
limit: _SUB sarg -> sub | _SUP sarg -> sup | _SUB _LBRACE expr EQ expr _RBRACE -> range
?sarg: _LBRACE expr _RBRACE | plain -> sym1 | DELTA -> sym1 | NUMBER -> num | TOP -> top
    | _LBRACE expr _COMMA expr _RBRACE         -> pair      // b_{ih,j}, h_{t,j}
"""

def _err(node_or_tok, message: str) -> FormulaSyntaxError:
    col = node_or_tok.column if isinstance(node_or_tok, Token) else node_or_tok.col
    return FormulaSyntaxError(col, message)


def _is_loss(x: Node) -> bool:
    return isinstance(x, Sym) and x.name in LOSSES and x.sub is None and x.sup is None \
        and x.accent is None


def _check_loss(x: Node, after: str) -> None:
    if not _is_loss(x):
        raise _err(x, f"expected the loss (L, \\mathcal L, E, J or \\ell) after '{after}', "
                      f"found '{x}'")


def _loss_gradient(loss: Node, of: Node, after: str, col: int) -> Node:
    """dL/d(of) (``Adjoint``), or of one step's loss ``\\ell_t`` (``StepLoss``)."""
    if isinstance(loss, Sym) and loss.name in LOSSES and loss.accent is None \
            and (loss.sub is None) != (loss.sup is None):
        return StepLoss(loss, of, col)
    _check_jacobian(loss, of)
    _check_loss(loss, after)
    return Adjoint(of, col)


def _check_jacobian(num: Node, den: Node) -> None:
    """``\\partial h_{t+1}/\\partial h_t`` (not of the loss): a Jacobian, which is not read."""
    if isinstance(num, Sym) and num.name not in LOSSES and (num.sub, num.sup) != (None, None):
        raise _err(num, f"'\\partial {num}/\\partial {den}' is a Jacobian, which is not read: "
                        f"write the product it stands for (W^\\top \\mathrm{{diag}}(...) ...), "
                        f"or the adjoint of the loss")


def _exponent(sup: Node, of: str, positive: bool = False) -> int:
    """The integer of a power's superscript (``2``, ``{-1}``); anything else is an error."""
    num = sup.x if isinstance(sup, Neg) else sup
    if not (isinstance(num, Num) and Fraction(num.value).denominator == 1):
        raise _err(sup, f"expected an integer exponent of {of}, found '{sup}'")
    n = int(num.value) * (-1 if num is not sup else 1)
    if abs(n) > LIMITS["exponent"]:
        raise _err(sup, f"exponent {n} of {of} is beyond the limit of {LIMITS['exponent']}")
    if positive and n < 1:
        raise _err(sup, f"expected a positive power of {of}, found '{sup}'"
                        + " (a function to the power -1 is its inverse)" * (n < 0))
    return n


def _split_top(sup: Node | None) -> tuple[bool, Node | None]:
    """``^{\\top}`` -> (True, None); ``^{t\\top}`` -> (True, t); otherwise (False, sup)."""
    if isinstance(sup, _Top):
        return True, None
    if isinstance(sup, Transpose) and _has_time(sup.x):  # h^{(t-1)^\top}: Goodfellow's print
        return True, sup.x
    if isinstance(sup, BinOp) and sup.op in ("juxt", ","):
        if isinstance(sup.right, _Top) or (sup.right == Sym("T") and _has_time(sup.left)):
            return True, sup.left  # h^{(t)T}, h^{(t),T}: T after a time is a transpose
        if isinstance(sup.left, _Top):
            return True, sup.right
    return False, sup


def _has_time(node: Node) -> bool:
    """``t``, ``t-1``: an expression of the time step t (``h^{(t-1)T}``)."""
    return any(n == Sym("t") for n in _nodes(node))


@v_args(inline=True)
class _Build(Transformer):
    def equation(self, lhs, eq, rhs):
        return Equation(lhs, rhs, eq.column)

    def neg(self, minus, x):
        return Neg(x, minus.column)

    def binop(self, left, op, right):
        return BinOp(op.value, left, right, op.column)

    def juxt(self, left, right):
        return BinOp("juxt", left, right, right.col)

    def num(self, tok):
        value = Fraction(tok.value) if "." in tok.value else int(tok.value)
        return Num(value, tok.column)

    def sym1(self, tok):
        return Sym(tok.value, col=tok.column)

    def top(self, tok):
        return _Top(tok.column)

    def base(self, *toks):
        accent = toks[0].value if len(toks) == 2 else None
        return toks[-1].value, accent, toks[0].column, ()

    def accented(self, accent, plain, *marks):  # \widetilde{C_t} is \tilde{C}_t
        return plain.value, accent.value, accent.column, marks

    def pair(self, a, b):
        return BinOp(",", a, b, b.col)

    def sub(self, x):
        return ("sub", x)

    def sup(self, x):
        return ("sup", x)

    def prime(self, tok):
        return ("prime", tok)

    def range(self, index, eq, lower):  # noqa: A003 (the grammar's alias)
        return ("range", index, lower)

    def _scripts(self, marks) -> tuple[Node | None, Node | None, int]:
        found: dict[str, Node] = {}
        primes = 0
        for kind, x in marks:
            if kind == "prime":
                primes += 1
                continue
            if kind in found:
                raise _err(x, f"double {'subscript' if kind == 'sub' else 'superscript'}")
            found[kind] = x
        return found.get("sub"), found.get("sup"), primes

    def symbol(self, base, *marks):
        name, accent, col, inner = base
        sub, sup, primes = self._scripts((*inner, *marks))
        transposed, sup = _split_top(sup)
        sym = Sym(name + "'" * primes, accent, sub, sup, col)
        return Transpose(sym, col) if transposed else sym

    def delta_sym(self, tok, *marks):
        return self.symbol(("delta", None, tok.column, ()), *marks)

    def adjoint(self, tok, of):
        return Adjoint(of, tok.column)

    def maybe_call(self, sym, arg):
        # a plain name (subscript and primes allowed) directly followed by "(" applies, also
        # with a power 2, 3, ... (g^2(a)); with a time superscript (h^t, h^1), accent or
        # transpose it is a product.  The caller reads a Call of a variable as that product.
        if isinstance(sym, Sym) and sym.accent is None:
            sup = sym.sup
            power = sup.value if isinstance(sup, Num) and isinstance(sup.value, int) else 0
            if sup is None or power >= 2:
                name = sym.name.rstrip("'")
                return Call(name, len(sym.name) - len(name), (arg,), sym.sub, power or 1, sym.col)
        return BinOp("juxt", sym, arg, arg.col)

    def maybe_call_sup(self, sym, arg, sup):
        # o^t(x)^2 can only be a product; g(x)^2 is (g(x))^2 or g (x)^2 by the notation
        if isinstance(self.maybe_call(sym, arg), Call):
            raise _err(sup, f"a superscript after '{sym}(...)' is ambiguous: write "
                            f"'({sym}(...))^{{{sup}}}' for the function's value, "
                            f"'{sym}\\,(...)^{{{sup}}}' for a product")
        return BinOp("juxt", sym, self.group_sup(arg, sup), arg.col)

    def call2(self, sym, a, b):  # a function of two vectors, a loss: \mathcal{L}_{CE}(y, z)
        if not (isinstance(sym, Sym) and sym.accent is None and sym.sup is None):
            raise _err(sym, f"expected a function name before '(' with two arguments, "
                            f"found '{sym}'")
        name = sym.name.rstrip("'")
        return Call(name, len(sym.name) - len(name), (a, b), sym.sub, 1, sym.col)

    def func(self, tok, *rest):
        *marks, arg = rest
        sub, sup, primes = self._scripts(marks)
        if isinstance(sup, _Top):  # a superscript of a function applies to its value
            return Transpose(Call(tok.value, primes, (arg,), sub, 1, tok.column), tok.column)
        power = 1 if sup is None else _exponent(sup, f"'\\{tok.value}'", positive=True)
        return Call(tok.value, primes, (arg,), sub, power, tok.column)

    def func_sup(self, tok, *rest):  # \tanh(c)^2 is \tanh^2(c), not \tanh((c)^2)
        *marks, arg, sup = rest
        if isinstance(sup, Sym) and sup == Sym(sup.name) and len(sup.name) == 1 \
                and sup.name.islower():  # \sigma(a)^j: unit j (Chung et al. 2014)
            return Index(self.func(tok, *marks, arg), sup, sup.col)
        return self.func(tok, *marks, ("sup", sup), arg)

    def func_sub(self, tok, *rest):
        *marks, arg, index = rest
        return Index(self.func(tok, *marks, arg), index, tok.column)

    def index(self, x, index):
        return Index(x, index, index.col)  # the column of j: the message is about it

    def concat(self, *parts):
        return Call("concat", 0, parts, col=parts[0].col)

    def outer(self, a, b):
        return Call("outer", 0, (a, b), col=a.col)

    def group_sup(self, x, sup):
        if isinstance(sup, _Top) or sup == Sym("T"):  # (h^{(t)})^T: a transpose, never a power T
            return Transpose(x, x.col)
        return Pow(x, Num(_exponent(sup, "a parenthesised group"), sup.col), x.col)

    def sum(self, tok, *rest):
        *limits, body = rest
        index = lower = upper = None
        for lim in limits:
            if lim[0] == "sup" and upper is None:
                upper = lim[1]
            elif lim[0] == "sub" and index is None:
                index = lim[1]
            elif lim[0] == "range" and index is None:
                index, lower = lim[1], lim[2]
            else:
                raise _err(tok, "'\\sum' has two lower or two upper limits")
        return Sum(index, lower, upper, body, tok.column)

    def frac(self, tok, num, den):
        # \frac{dL}{dh_t}: "d" times the loss over "d" times a symbol
        if all(isinstance(x, BinOp) and x.op == "juxt" and x.left == Sym("d")
               for x in (num, den)) and _is_loss(num.right) and isinstance(den.right, Sym):
            return Adjoint(den.right, tok.column)
        return BinOp("/", num, den, tok.column)

    def partial_frac(self, tok, p1, loss, p2, of):
        return _loss_gradient(loss, of, "\\partial", tok.column)

    def partial_slash(self, p1, loss, slash, p2, of):
        return _loss_gradient(loss, of, "\\partial", p1.column)

    def nabla(self, tok, of, loss):
        if not isinstance(of, Sym):
            raise _err(of, f"expected one symbol as the subscript of '\\{tok.value}', found "
                           f"'{of}'")
        return _loss_gradient(loss, of, f"\\{tok.value}_{{...}}", tok.column)


class _TokenList(Lexer):
    """lark calls this with what parse() got: our already-made token list."""

    def __init__(self, lexer_conf) -> None:
        pass

    def lex(self, data: list[Token]) -> Iterator[Token]:  # type: ignore[override]
        return iter(data)


_PARSER = Lark(GRAMMAR, parser="lalr", lexer=_TokenList, transformer=_Build())

# ---------------------------------------------------------------------------- error messages
_TERM_STARTS = {"LETTER", "NAME", "WORD", "NUMBER", "FUNC", "DELTA", "ACCENT", "TOP", "SUM",
                "FRAC", "PARTIAL", "NABLA", "_LPAR", "_TLPAR", "_LANGLE"}
_FOLLOWERS = [("_RPAR", "')'"), ("_RBRACE", "'}'"), ("_RANGLE", "'\\rangle'"), ("_COMMA", "','"),
              ("EQ", "'='"), ("_SUB", "'_'"), ("_LBRACE", "'{'"), ("PARTIAL", "'\\partial'"),
              ("SLASH", "'/'"), ("$END", "end of input")]


def _expected(expected: set[str], before: list[Token]) -> str:
    """Say what could come next, in words; ``before``: the tokens read so far."""
    prev = before[-1] if before else None
    if prev is not None and prev.type in ("_SUB", "_SUP"):
        return "a subscript" if prev.type == "_SUB" else "a superscript"
    starts = expected & _TERM_STARTS
    if starts and "PLUS" not in expected:
        return "a symbol" if starts <= {"LETTER", "NAME", "WORD", "ACCENT"} else "a term"
    if "PLUS" in expected:  # after a complete term; LALR lookaheads are too generous here
        opened: list[Token] = []
        for t in before:
            if t.type in ("_LPAR", "_TLPAR", "_LBRACE", "_LANGLE"):
                opened.append(t)
            elif t.type in ("_RPAR", "_RBRACE", "_RANGLE"):
                opened.pop()
        words = ["an operator"]
        if opened:
            words.append(f"'{_OPENERS[opened[-1].value]}'")
        else:
            words += ["'='"] * (not any(t.type == "EQ" for t in before)) + ["end of input"]
    else:
        words = [w for t, w in _FOLLOWERS if t in expected] or sorted(expected)
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " or " + words[-1]


def _syntax_error(text: str, toks: list[Token], err: UnexpectedInput) -> FormulaSyntaxError:
    bad: Token | None = getattr(err, "token", None)
    index = next((i for i, t in enumerate(toks) if t is bad), len(toks))
    before = toks[:index]
    if index == len(toks):  # lark's own $END token
        col, found = toks[-1].end_pos + 1, "end of input"
    else:
        col, found = bad.column, f"'{text[bad.start_pos:bad.end_pos]}'"
    where = f" after '{text[before[-1].start_pos:before[-1].end_pos]}'" if before \
        else " at the start"
    expected = _expected(set(getattr(err, "expected", ()) or ()), before)
    return FormulaSyntaxError(col, f"unexpected {found}, expected {expected}{where}")


def _children(node: Node) -> Iterator[Node]:
    for f in fields(node):
        value = getattr(node, f.name)
        for v in value if isinstance(value, tuple) else (value,):
            if isinstance(v, Node):
                yield v


def _nodes(node: Node) -> Iterator[Node]:
    """Every node, without recursion."""
    stack = [node]
    while stack:
        node = stack.pop()
        yield node
        stack.extend(_children(node))


def _check_depth(tree: Node) -> None:
    """FormulaSyntaxError when the tree is deeper than LIMITS["depth"] (measured without
    recursion, so that what reads the tree later cannot run out of stack)."""
    stack = [(tree, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > LIMITS["depth"]:
            raise _err(node, f"the formula is nested more than {LIMITS['depth']} levels deep "
                             "(functions in functions, or that many terms in one chain)")
        stack.extend((child, depth + 1) for child in _children(node))


def parse_formula(text: str, words: frozenset[str] = frozenset()) -> Equation | Node:
    """``lhs = rhs`` -> ``Equation``; an expression -> its node.  Raises FormulaSyntaxError.
    ``words``: names written without a font that are one symbol (a notation's ``net``), when a
    whole run of letters outside scripts is one of them."""
    toks = _tokenize(text, words)
    try:
        tree = _PARSER.parse(toks)  # type: ignore[arg-type]
    except UnexpectedInput as err:
        raise _syntax_error(text, toks, err) from None
    _check_depth(tree)
    stray = next((n for n in _nodes(tree) if isinstance(n, _Top)), None)
    if stray is not None:
        raise _err(stray, "'\\top' is only allowed as a superscript")
    return tree


# ---------------------------------------------------------------------------- printing
_PREC = {"+": 1, "-": 1, ",": 0}  # every product kind and juxtaposition: 2
_OP_TEXT = {"juxt": " ", "cdot": r" \cdot ", "odot": r" \odot ", "circ": r" \circ ",
            "times": r" \times ", "otimes": r" \otimes ",
            "*": " * ", "/": " / ", "+": " + ", "-": " - ", ",": ", "}
_NAME_CMDS = set(_GREEK) | {"delta", "ell"} | set(_FUNCS)


def _prec(node: Node, tail: bool) -> float:
    if isinstance(node, BinOp):
        return _PREC.get(node.op, 2)
    if isinstance(node, Neg) or (isinstance(node, Num) and node.value < 0):
        return 1
    if isinstance(node, Sum) and not tail:
        return 1.5  # its body is greedy: anything after it at product level would join it
    return 3


def _wrap(node: Node, below: float, tail: bool) -> str:
    return f"({_latex(node)})" if _prec(node, tail) < below else _latex(node, tail)


def _name(name: str) -> str:
    base = name.rstrip("'")
    primes = name[len(base):]
    if base in _NAME_CMDS:
        return f"\\{base}{primes}"
    return (base if len(base) == 1 else f"\\mathrm{{{base}}}") + primes


def _scripts(sub: Node | None, sup: Node | None) -> str:
    return (f"_{{{_latex(sub)}}}" if sub is not None else "") + \
           (f"^{{{_latex(sup)}}}" if sup is not None else "")


def _num(v: int | Fraction) -> str:
    if isinstance(v, Fraction) and v.denominator != 1:
        q = v.denominator
        while q % 2 == 0 or q % 5 == 0:
            q //= 2 if q % 2 == 0 else 5
        if q != 1:  # not a finite decimal
            return f"\\frac{{{v.numerator}}}{{{v.denominator}}}"
        return str(Decimal(v.numerator) / Decimal(v.denominator))
    return str(int(v))


def _latex(node: Node, tail: bool = True) -> str:
    """LaTeX that parses back to an equal tree; ``tail``: nothing follows at product level."""
    if isinstance(node, Equation):
        return f"{_latex(node.lhs)} = {_latex(node.rhs)}"
    if isinstance(node, Num):
        return _num(node.value)
    if isinstance(node, Sym):
        base = node.name.rstrip("'")
        name = _name(node.name) if not node.accent else \
            f"\\{node.accent}{{{_name(base)}}}" + node.name[len(base):]
        return name + _scripts(node.sub, node.sup)
    if isinstance(node, Call):
        if node.name == "outer" and len(node.args) == 2:
            return rf"\langle {_latex(node.args[0])}, {_latex(node.args[1])}\rangle"
        if node.name == "concat":
            return "[" + ", ".join(_latex(a) for a in node.args) + "]"
        name = _name(node.name) if node.name in _NAME_CMDS or len(node.name) == 1 \
            else f"\\operatorname{{{node.name}}}"
        args = ", ".join(_latex(a) for a in node.args)
        power = f"^{{{node.power}}}" if node.power != 1 else ""
        return f"{name}{_scripts(node.sub, None)}{chr(39) * node.primes}{power}({args})"
    if isinstance(node, Adjoint):
        return f"\\delta {_wrap(node.of, 3, tail)}"
    if isinstance(node, StepLoss):
        return f"\\frac{{\\partial {_latex(node.loss)}}}{{\\partial {_latex(node.of)}}}"
    if isinstance(node, Transpose):
        x = node.x
        if isinstance(x, Sym):  # h^{t \top}: one superscript carries both
            sup = "\\top" if x.sup is None else f"{_wrap(x.sup, 3, True)} \\top"
            return _latex(Sym(x.name, x.accent, x.sub)) + f"^{{{sup}}}"
        return f"({_latex(x)})^{{\\top}}"
    if isinstance(node, Pow):
        return f"({_latex(node.base)})^{{{_num(node.exp.value)}}}"
    if isinstance(node, Index):
        return f"({_latex(node.x)})_{{{_latex(node.index)}}}"
    if isinstance(node, Neg):
        return f"-{_wrap(node.x, 1.5, tail)}"
    if isinstance(node, BinOp):
        p = _PREC.get(node.op, 2)
        right_tail = tail or p == 1  # "+" and "-" end a product, so a \sum may run to them
        return (_wrap(node.left, p, p == 1) + _OP_TEXT[node.op]
                + _wrap(node.right, p + 0.5, right_tail))
    if isinstance(node, Sum):
        lim = ""
        if node.index is not None:
            low = "" if node.lower is None else f"={_latex(node.lower)}"
            lim = f"_{{{_latex(node.index)}{low}}}"
        if node.upper is not None:
            lim += f"^{{{_latex(node.upper)}}}"
        return f"\\sum{lim} {_wrap(node.body, 1.5, True)}"
    if isinstance(node, _Top):
        return "\\top"
    raise TypeError(f"not a formula node: {node!r}")
