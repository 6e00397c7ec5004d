r"""A paper's forward equations as a cell: ``bptt sheet paper.tex --notation pytorch``.

A ``.tex`` or ``.md`` file holds the forward equations of one time step as a paper prints them:
one per line, or inside ``align``/``align*``/``equation``/``$$ ... $$`` blocks (``\\`` ends an
equation, ``&`` aligns, ``\quad`` separates two on one line); ``%`` starts a comment; a
UTF-8 BOM and Windows line endings are fine. Rules (tables below, no guessing):

* a symbol on a left side is a quantity of step t; one read at t-1 is state;
* the input is the symbol the notation maps to ``x`` (default ``x``), read at t;
* every other symbol without a time index is a parameter: a matrix where it multiplies a
  vector from the left (``W_{ii} x_t``), a vector otherwise (``b_{ii}``, ``p_i \odot c^{t-1}``);
* row vectors (``x_t W_{xh}``, d2l.ai) are read when the notation says so (a profile file's
  ``row_vectors = true``): the IR's matrix is the paper's transposed (``W^T x``), and sheets
  print that column form (``W_{xh}^\top x_t``, backward ``W_{xh} g``) with a note; otherwise
  a vector times a capital parameter is an error asking for it;
* function letters are the reader's (``\sigma``, ``\tanh``, ``softmax``) and the
  notation's (Greff's ``g``, ``h``); ``--map '\phi=tanh'`` adds one, ``--map '\sigma_c=tanh'``
  a subscripted one (Wikipedia's ``\sigma_c`` is tanh: never read as ``\sigma``), ``--map
  '\tilde h=n'`` renames a symbol. Sheets print the paper's letters (by argument: Greff's
  ``g(\bar z)`` and ``h(c)`` are both tanh); the time is printed as the notation's printer
  does (a subscript where the paper writes ``h_t``, else ``h^{t}``: ``\langle t\rangle`` is
  read, not printed);
* a loss line (``L_t = ...``) is an error: the cell is trained on its output's gradient;
* sizes are inferred as the step-function reader infers them (:class:`derive.frontend.Sizes`):
  the input's is ``I``, the state's ``H``;
* the output is the quantity of the last equation.
* biases are what the paper writes: one in Cho's notation (which omits them) has none. With
  a constant unit (``--constant-unit``, a profile file's ``constant_unit``), the input carries
  a unit of 1 whose weights are biases: one is added beside each product with the input,
  named after its weight (``W_r x`` -> ``W_r x + b_r``; IR ``W_ir`` -> ``b_ir``); a paper that
  writes that bias itself is an error (it has its biases);
* Graves' per-unit sums (``--notation graves``) name their matrices from his tables; ``\sum_c``
  (one cell per block) is the peephole, elementwise; his notation always has the constant
  unit (his tables name its weights): the biases are added beside the input's sum as
  ``\beta``.

A symbol with a time index that no equation defines, a left side at another step, a quantity
read at t+1 and equations that read each other at step t are errors naming ``file:line`` that
ask for what is missing. The cell's IR names come from the paper's symbols (``W_{ii}`` ->
``W_ii``, ``\bar z`` -> ``zbar``; a kernel size name ``H``, ``I``, ``T``, ``B`` -> ``Hq``...),
and it carries the paper's own symbols as its notation, so
its sheet prints the derived backward pass in the paper's notation.

The LaTeX reader lives in verify/formula.py; it is imported lazily, in :func:`read_paper`
only, so that derive/ does not import verify/ for every cell (verify imports derive).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import sympy as sp

from .frontend import Sizes
from .ir import (ACTIVATIONS, RESERVED, Cell, CellError, Equation, MatVec, Param, Softmax,
                 Weight, t)

SUFFIXES = (".tex", ".md")
BLOCKS = re.compile(r"\\begin\{(align\*?|equation\*?|eqnarray\*?|gather\*?)\}(.*?)\\end\{\1\}"
                    r"|\$\$(.*?)\$\$|\\\[(.*?)\\\]", re.S)
#: dropped from an equation's text before it is read
NOISE = re.compile(r"\\(label|tag)\{[^}]*\}|\\nonumber|\\notag|&"
                   r"|\\begin\{(array|aligned|split)\}(\{[^}]*\})?|\\end\{(array|aligned|split)\}")
LEADING = re.compile(r"\s+|" + NOISE.pattern)
SEPARATORS = re.compile(r",?\s*\\q?quad\s*|\\\\")
ELEMENTWISE_PRODUCTS = {"odot", "circ"}       # never a matrix product
PRODUCTS = {"juxt", "cdot", "times", "*"}     # a matrix before a vector is a matrix product
SIZE_NAMES = {"H", "I", "T", "B"}  # sizes of the generated kernels: no IR name of a symbol
VECTOR_FUNCTIONS = {"softmax": Softmax}    # functions of a whole vector, not activations
#: a loss's left side (L_t, \mathcal{L}, J, \ell_t): not a forward equation of the cell
LOSS = re.compile(r"(L|J|\\ell|\\mathcal\s*\{?\s*L\s*\}?)\s*(_|\^|=)")
OPERATORS = {"+": sp.Add, "-": lambda a, b: a - b, "/": lambda a, b: a / b}


def is_paper(spec: str) -> bool:
    return spec.lower().endswith(SUFFIXES)


@dataclass
class _Value:
    expr: sp.Expr | None
    size: int | None          # None: a number
    matrix: str | None = None  # a matrix waiting for its vector
    factor: sp.Expr = sp.S.One


def equation_lines(text: str) -> list[tuple[int, str]]:
    """(line, LaTeX) of every equation in a file's text: the pieces of its display blocks, or
    (a file without blocks) of its lines that have an ``=``."""
    text = re.sub(r"(?<!\\)%.*", "", text)  # comments, keeping the line count
    blocks = [(m.start(m.lastindex), m.group(m.lastindex)) for m in BLOCKS.finditer(text)]
    if not blocks:  # one equation per line
        starts = [m.end() for m in re.finditer("\n", text)]
        blocks = [(at, line) for at, line in zip([0, *starts], text.split("\n")) if "=" in line]
    out = []
    for start, body in blocks:
        pos = 0
        for piece in SEPARATORS.split(body):
            at = body.index(piece, pos)
            pos = at + len(piece)
            eq = " ".join(NOISE.sub(" ", piece).split()).strip(",.;$ ")
            if eq:
                lead = 0  # the line of the equation, not of a \begin{array} before it
                while m := LEADING.match(piece, lead):
                    lead = m.end()
                out.append((text.count("\n", 0, start + at + lead) + 1, eq))
    return out


class PaperReader:
    """Reads the equations of one file into a :class:`Cell` (see the module docstring)."""

    def __init__(self, path: str, notation: str | None, mapping: dict[str, str],
                 constant_unit: bool = False) -> None:
        from verify import formula  # lazily: see the module docstring
        self.f, self.path = formula, path
        self.notation = notation or "vector"
        self.functions, self.names, self.profile, self.rows, unit = _reading_notation(
            self.notation, mapping, formula)
        self.constant_unit = constant_unit or unit
        self.unit_biases: set[str] = set()  # the biases the constant unit added
        self.letters: dict[tuple, set[str]] = {}  # (activation, argument) -> letters written
        self.transposed: set[str] = set()  # row vectors: the matrices the IR holds transposed
        self.units = self.profile.units if self.profile is not None else None
        self.input_key = next((k for k, v in self.names.items() if v == "x"), "x")

    def fail(self, line: int, message: str) -> CellError:
        return CellError(f"{self.path}:{line}: {message}")

    # --- symbols -------------------------------------------------------------------------
    def split(self, sym) -> tuple[str, int | None]:
        """(key without time, time offset or None) of a Sym: the time is the superscript, or
        the subscript when it alone is a time."""
        f = self.f
        if sym.sup is not None and _offset(sym.sup) is not None:
            return str(f.Sym(sym.name, sym.accent, sym.sub)), _offset(sym.sup)
        if sym.sup is None and sym.sub is not None and _offset(sym.sub) is not None:
            return str(f.Sym(sym.name, sym.accent)), _offset(sym.sub)
        if sym.sup is not None:
            raise self.fail(self.line, f"'{sym}': expected a time index (t, t-1) as the "
                            "superscript")
        return str(sym), None

    def name(self, key: str) -> str:
        """The IR name of a symbol: the notation's (a --map), else made from its LaTeX."""
        if key in self.names:
            return self.names[key]
        if key in SIZE_NAMES:  # d2l's H_t: the kernels' size names are taken
            return key + "q"
        name = re.sub(r"\\?bar\{(\w+)\}|\\?(tilde|hat)\{(\w+)\}",
                      lambda m: f"{m[1]}bar" if m[1] else f"{m[3]}{m[2]}", key)
        name = re.sub(r"[\\{}\s]", "", name)
        if not name.isidentifier() or name in RESERVED or name.startswith(("delta", "_")):
            raise self.fail(self.line, f"symbol '{key}' gives no name for the cell; name it: "
                            f"--map '{key}=NAME'")
        return name

    # --- reading -------------------------------------------------------------------------
    def read(self, text: str) -> Cell:
        f = self.f
        equations, trees = [], {}
        for line, latex in equation_lines(text):
            self.line = line
            if LOSS.match(latex):
                raise self.fail(line, f"'{f.one_line(latex)}' is a loss: a cell is its forward "
                                "equations, trained on the gradient of its output; leave the "
                                "loss out")
            try:
                tree = f.parse_formula(latex)
            except f.FormulaSyntaxError as e:
                raise self.fail(line, f"{e}") from None
            if not isinstance(tree, f.Equation) or not isinstance(tree.lhs, f.Sym):
                raise self.fail(line, f"expected an equation 'quantity = right side', found "
                                f"'{f.one_line(latex)}'")
            key, time = self.split(tree.lhs)
            if time not in (0, None):
                raise self.fail(line, f"left side '{tree.lhs}': a forward equation defines a "
                                "quantity at step t")
            equations.append((line, key, tree.rhs))
            trees[key] = tree.lhs
        if not equations:
            raise CellError(f"{self.path}: no equations found (one per line, or in align, "
                            "equation or $$ blocks)")
        self.defined: dict[str, int] = {}
        for line, key, _ in equations:
            if key in self.defined:
                raise self.fail(line, f"'{key}' is defined twice (lines {self.defined[key]} "
                                f"and {line})")
            if key == self.input_key:
                raise self.fail(line, f"'{key}' is the input and cannot be defined")
            self.defined[key] = line
        self.matrices = {self.name(k) for line, _, rhs in equations
                         for k in self._matrix_keys(rhs, line)}
        self.sizes, self.params = Sizes(), {}
        self.var = {self.name(self.input_key): self.sizes.new("I")}
        self.var |= {self.name(k): self.sizes.new() for k in self.defined}
        read = []
        for line, key, rhs in equations:
            self.line, self.reads, self.lhs = line, set(), trees[key]
            value = self.vector(rhs)
            if value.size is None:
                raise self.fail(line, f"'{key}' is a constant")
            self.unify(self.var[self.name(key)], value.size, key, rhs)
            read.append((line, key, value.expr, self.reads))
        return self.build(read, text)

    def _matrix_keys(self, node, line: int) -> set[str]:
        """Parameters that multiply a vector from the left somewhere (``W x``, ``U(r h)``)."""
        f, out = self.f, set()
        for n in f._nodes(node):
            left = None
            if isinstance(n, f.BinOp) and n.op in PRODUCTS:
                left = n.left
                while isinstance(left, f.BinOp) and left.op in PRODUCTS:
                    left = left.right  # 2 W x: the factor nearest the vector
                if self.rows and isinstance(n.right, f.Sym) and n.right.sup is None:
                    key, time = self.split(n.right)  # x_t W: row vectors
                    if time is None and key not in self.defined and key != self.input_key:
                        out.add(key)
            elif isinstance(n, f.Call) and _matrix_letter(n.name, self.functions):
                left = f.Sym(n.name, sub=n.sub)
            if isinstance(left, f.Sym) and left.sup is None:
                self.line = line
                key, time = self.split(left)
                if time is None and key not in self.defined and key != self.input_key:
                    out.add(key)
        return out

    def unify(self, a: int, b: int, left: object, right: object) -> None:
        clash = self.sizes.unify(a, b)
        if clash:
            raise self.fail(self.line, f"size mismatch: '{left}' has size {clash[0]}, "
                            f"'{right}' has size {clash[1]}")

    def vector(self, node) -> _Value:
        v = self.value(node)
        if v.matrix is not None:
            raise self.fail(self.line, f"matrix '{node}' must be followed by the vector it "
                            "multiplies")
        return v

    def symbol(self, sym) -> _Value:
        key, time = self.split(sym)
        name = self.name(key)
        if key in self.defined or key == self.input_key or name in self.var and \
                name not in self.params:
            time = 0 if time is None else time
            if key == self.input_key and time != 0:
                raise self.fail(self.line, f"the input '{sym}' is read at step t only")
            if time not in (0, -1):
                raise self.fail(self.line, f"'{sym}': a step reads quantities at t or t-1")
            self.reads.add((name, time))
            return _Value(sp.IndexedBase(name)[t + time], self.var[name])
        if time is not None:
            raise self.fail(self.line, f"'{sym}' has a time index but no equation defines "
                            f"'{key}' and it is not the input '{self.input_key}': add its "
                            f"equation, or say what it is with --map '{key}=NAME' (the input: "
                            f"--map '{key}=x')")
        if name in self.unit_biases:
            raise self.fail(self.line, f"'{sym}' is the bias the constant unit adds: the paper "
                            "has its biases, leave out --constant-unit")
        if name not in self.params:
            if name in self.matrices:
                rows, cols = self.sizes.new(), self.sizes.new()
                self.params[name] = (key, (rows, cols))
            else:
                self.params[name] = (key, self.sizes.new())
            self.var.setdefault(name, None)
        if name in self.matrices:
            return _Value(None, None, matrix=name)
        return _Value(sp.Symbol(name), self.params[name][1])

    def value(self, node) -> _Value:
        f = self.f
        if isinstance(node, f.Num):
            return _Value(sp.Rational(str(node.value)), None)
        if isinstance(node, f.Sym):
            return self.symbol(node)
        if isinstance(node, f.Neg):
            v = self.vector(node.x)
            return _Value(-v.expr, v.size)
        if isinstance(node, f.Pow):
            v = self.vector(node.base)
            return _Value(v.expr ** int(node.exp.value), v.size)
        if isinstance(node, f.Call):
            return self.call(node)
        if isinstance(node, f.BinOp):
            if node.op in ("+", "-", "/") or node.op in ELEMENTWISE_PRODUCTS:
                a, b = self.vector(node.left), self.vector(node.right)
                return _Value(OPERATORS.get(node.op, sp.Mul)(a.expr, b.expr),
                              self.combine(a, b, node))
            if node.op in PRODUCTS:
                return self.product(self.value(node.left), self.value(node.right), node)
        if isinstance(node, f.Sum):
            return self.unit_sum(node)
        raise self.fail(self.line, f"'{f.one_line(str(node))}' is not read in a forward "
                        "equation (quantities, parameters, numbers, + - / \\odot, matrix "
                        "products and activations)")

    def unit_sum(self, node) -> _Value:
        """Graves' ``\\sum_j w_{ja} v_j``: the matrix from units j to units a times v; over a
        label with one unit per block (``\\sum_c w_{c\\iota} s_c``) the peephole, elementwise.
        Names from the notation's unit tables; with biases folded into the weights (Graves), the
        sum over the input adds the bias of the unit it feeds (``\\beta_\\iota``)."""
        f, units = self.f, self.units
        index = node.index
        if units is None or not (isinstance(index, f.Sym) and index == f.Sym(index.name)):
            raise self.fail(self.line, f"'{f.one_line(str(node))}': a sum over units is read in "
                            "a per-unit notation (--notation graves); in a vector notation write "
                            "W_i x^t")
        factors, stack = [], [node.body]
        while stack:
            n = stack.pop()
            if isinstance(n, f.BinOp) and n.op in PRODUCTS:
                stack += [n.right, n.left]
            else:
                factors.append(n)
        weights = [w for w in factors if isinstance(w, f.Sym) and w.name == units.weight
                   and _labels(w, f) and _labels(w, f)[0] == index.name]
        if len(weights) != 1:
            raise self.fail(self.line, f"the sum over {index.name} needs one weight "
                            f"{units.weight}_{{{index.name}.}} from unit {index.name}, found "
                            f"{len(weights)}")
        pair = _labels(weights[0], f)
        rest = [self.vector(n) for n in factors if n is not weights[0]]
        if not rest:
            raise self.fail(self.line, f"the sum over {index.name} has no vector")
        v = _Value(sp.Mul(*(r.expr for r in rest)), rest[0].size)
        for r in rest[1:]:
            self.unify(v.size, r.size, weights[0], node)
        diagonal = pair[0] in units.single
        table = units.diagonal if diagonal else units.matrices
        key = str(weights[0])
        name = table.get(pair) or self.name(key)
        self.names.setdefault(key, name)
        if diagonal:
            self.params.setdefault(name, (key, self.sizes.new()))
            p = _Value(sp.Symbol(name), self.params[name][1])
            return _Value(p.expr * v.expr, self.combine(p, v, node))
        self.matrices.add(name)
        self.params.setdefault(name, (key, (self.sizes.new(), self.sizes.new())))
        out = self.product(_Value(None, None, name), v, node)
        if self.profile.implicit_bias and v.expr == sp.IndexedBase(self.name(self.input_key))[t]:
            bias = f.Sym("beta", sub=self.lhs.sub)  # the weight from the constant unit
            out = _Value(out.expr + self.symbol(bias).expr, out.size)
            self.unify(out.size, self.params[self.name(str(bias))][1], bias, node)
        return out

    def product(self, a: _Value, b: _Value, node) -> _Value:
        if a.matrix is not None and b.matrix is None:
            if b.size is None:
                raise self.fail(self.line, f"'{node}': a matrix multiplies a vector")
            rows, cols = self.params[a.matrix][1]
            self.unify(cols, b.size, a.matrix, getattr(node, "right", node))
            out = _Value(a.factor * MatVec(Weight(a.matrix), b.expr), rows)
            if self.constant_unit and self.units is None and b.expr == sp.IndexedBase(self.name(self.input_key))[t]:
                out.expr += self.unit_bias(a.matrix, rows)
            return out
        if b.matrix is not None and a.matrix is None and a.size is not None:  # x_t W
            if not self.rows:
                raise self.row_vectors(b.matrix, node)
            rows, cols = self.params[b.matrix][1]  # the IR's W is the paper's transposed
            self.unify(cols, a.size, b.matrix, getattr(node, "left", node))
            self.transposed.add(b.matrix)
            return _Value(b.factor * MatVec(Weight(b.matrix), a.expr), rows)
        if b.matrix is not None and a.matrix is None:  # 2 W x: the factor waits
            return _Value(None, None, b.matrix, a.expr * b.factor)
        if a.matrix is not None:
            raise self.fail(self.line, f"'{node}' multiplies two matrices")
        if a.size is not None and isinstance(b.expr, sp.Symbol) and b.expr.name in self.params \
                and self.params[b.expr.name][0][:1].isupper():  # x_t W: a row-vector paper
            raise self.row_vectors(b.expr.name, node)
        return _Value(a.expr * b.expr, self.combine(a, b, node))

    def unit_bias(self, matrix: str, rows: int) -> sp.Symbol:
        """The bias the constant unit adds beside ``W_r x``: ``b_r`` (IR name: W_ir -> b_ir)."""
        weight = self.params[matrix][0]
        key = "b" + weight[1:] if re.match(r"[A-Za-z](_|$)", weight) else f"b_{{{weight}}}"
        name = "b" + matrix[1:] if matrix.startswith("W") else f"b_{matrix}"
        if name in self.params and name not in self.unit_biases or name in self.var and \
                name not in self.params:
            raise self.fail(self.line, f"the constant unit's bias beside '{weight}' is '{key}', "
                            "which the paper already writes: the paper has its biases, leave "
                            "out --constant-unit")
        self.unit_biases.add(name)
        self.params.setdefault(name, (key, rows))
        self.var.setdefault(name, None)
        return sp.Symbol(name)

    def row_vectors(self, name: str, node) -> CellError:
        key = self.params[name][0]
        return self.fail(self.line, f"'{self.f.one_line(str(node))}': a row vector times the "
                         f"matrix '{key}'; read a row-vector paper with a profile file that says "
                         f"row_vectors = true, or write the column form (W x_t, W = {key}^T)")

    def combine(self, a: _Value, b: _Value, node) -> int | None:
        if a.size is not None and b.size is not None:
            self.unify(a.size, b.size, getattr(node, "left", node), getattr(node, "right", node))
        return a.size if a.size is not None else b.size

    def call(self, node) -> _Value:
        letter = _letter(node.name, None if node.sub is None else str(node.sub))
        if letter in VECTOR_FUNCTIONS and len(node.args) == 1 and not node.primes:
            v = self.vector(node.args[0])
            return _Value(VECTOR_FUNCTIONS[letter](v.expr), v.size)
        activation = self.functions.get(letter)
        if activation is None and _matrix_letter(node.name, self.functions):  # U(r h): a matrix
            return self.product(self.symbol(self.f.Sym(node.name, sub=node.sub)),
                                self.vector(node.args[0]), node)
        if activation is None:  # sigma_c too: Wikipedia's is tanh, so it is never guessed
            raise self.fail(self.line, f"'{self.f.one_line(str(node))}': "
                            f"'{_latex_letter(letter)}' is not a known function; name its "
                            f"activation: --map '{_latex_letter(letter)}=tanh' (or sigmoid, "
                            "relu, ...)")
        if node.primes or len(node.args) != 1:
            raise self.fail(self.line, f"'{node}': a forward equation applies an activation "
                            "to one argument")
        v = self.vector(node.args[0])
        if v.size is None:
            raise self.fail(self.line, f"'{node}': an activation of a number")
        fn = next(a for a in ACTIVATIONS if a.__name__ == activation)
        # the sheet prints the paper's letter: by argument (Greff's g(zbar), h(c) are both tanh)
        argument = v.expr.base.name if isinstance(v.expr, sp.Indexed) else None
        self.letters.setdefault((fn, argument), set()).add(letter)
        return _Value(fn(v.expr) ** node.power, v.size)

    # --- the cell ------------------------------------------------------------------------
    def build(self, read: list, text: str) -> Cell:
        from .printers import Notation
        equations = tuple(Equation(sp.IndexedBase(self.name(k))[t], e)
                          for _, k, e, _ in self.order(read))
        params = {}
        for name, (key, var) in self.params.items():
            if isinstance(var, tuple):
                params[name] = Param(name, tuple(self.sizes.resolve(v) for v in var),
                                     Weight(name))
            else:
                params[name] = Param(name, (self.sizes.resolve(var),), sp.Symbol(name))
        x = self.name(self.input_key)
        sizes = {n: self.sizes.resolve(v) for n, v in self.var.items() if v is not None
                 and n not in self.params}
        symbols = {self.name(k): k for k in (*self.defined, self.input_key)}
        symbols |= {n: key for n, (key, _) in self.params.items()}
        # a row-vector paper's x_t W is the IR's W^T x_t: sheets print it in column form
        symbols |= {n: symbols[n] + r"^\top" for n in self.transposed}
        subscript = len(re.findall(r"_\{?t\b", text)) > len(re.findall(r"\^\{?t\b", text))
        rows = "; its row vectors are printed as columns ($x W$ as $W^\\top x$)" \
            if self.transposed else ""
        own = Notation(self.notation, f"Symbols as in {_tex_path(self.path)}{rows}",
                       symbols=symbols,
                       functions=self.function_letters(), time_subscript=subscript)
        try:  # the output: the quantity of the paper's last equation
            return Cell(Path(self.path).stem, self.path, equations, params,
                        self.name(read[-1][1]), (x,), {},
                        f"the forward equations of {Path(self.path).name}", sizes, notation=own)
        except CellError as e:
            raise CellError(f"{self.path}: {e}") from None

    def function_letters(self) -> dict[tuple, str]:
        """The printer's (activation, argument) -> letter table: the paper's letter for each
        argument it writes; for other arguments (derived ones too) the activation's one letter
        where the paper writes only one."""
        out = {key: next(iter(letters)) for key, letters in self.letters.items()
               if key[1] is not None and len(letters) == 1}
        for fn in {fn for fn, _ in self.letters}:  # the letter of its expressions, else its one
            letters = self.letters.get((fn, None)) or \
                set().union(*(v for (f, _), v in self.letters.items() if f is fn))
            if len(letters) == 1:
                out[(fn, None)] = next(iter(letters))
        from verify.notations import _default_functions
        # the reader's own plain names (\sigma, \tanh, relu) print as the activation does
        return {key: _latex_letter(letter) for key, letter in out.items()
                if letter not in _default_functions() or "_{" in letter}

    def order(self, read: list) -> list:
        """The equations in an order where each reads at t only what is computed before it
        (the paper's order where it allows)."""
        done: set[str] = set()
        out, left = [], list(read)
        while left:
            for item in left:
                needs = {n for n, k in item[3] if k == 0} - {self.name(self.input_key)}
                if needs <= done | {self.name(item[1])}:
                    break
            else:
                line, key = left[0][0], left[0][1]
                raise self.fail(line, f"the equations read each other at step t ('{key}' "
                                "and the quantities it reads): one of them must read t-1")
            if (self.name(item[1]), 0) in item[3]:
                raise self.fail(item[0], f"'{item[1]}' reads itself at step t")
            left.remove(item)
            done.add(self.name(item[1]))
            out.append(item)
        return out


def _matrix_letter(name: str, functions: dict[str, str]) -> bool:
    r"""Only a capital Latin letter applied to a group is a matrix (Cho's ``U(r \odot h)``);
    another unknown name before ``(`` is a function the notation must name."""
    return name not in functions and len(name) == 1 and "A" <= name <= "Z"


def _letter(name: str, sub: str | None) -> str:
    """A function letter's key: ``sigma``, ``g``, ``sigma_{c}`` (Wikipedia's subscripted ones)."""
    return name if sub is None else f"{name}_{{{sub}}}"


def _latex_letter(letter: str) -> str:
    """``sigma_{c}`` -> ``\\sigma_{c}``, ``g`` -> ``g``."""
    name, _, sub = letter.partition("_")
    return (name if len(name) == 1 else "\\" + name) + (f"_{sub}" if sub else "")


def _labels(w, f) -> tuple[str, str] | None:
    """(from, to) unit labels of a per-unit weight ``w_{i\\iota}`` (primes dropped)."""
    sub = w.sub
    if w.sup is None and isinstance(sub, f.BinOp) and sub.op == "juxt" and all(
            isinstance(s, f.Sym) and s == f.Sym(s.name) for s in (sub.left, sub.right)):
        return sub.left.name.rstrip("'"), sub.right.name.rstrip("'")
    return None


def _offset(node) -> int | None:
    """t -> 0, t-1 -> -1, t+1 -> 1; anything else None."""
    from verify import formula as f
    if isinstance(node, f.Sym) and node == f.Sym("t"):
        return 0
    if isinstance(node, f.BinOp) and node.op in "+-" and node.left == f.Sym("t") and \
            isinstance(node.right, f.Num) and float(node.right.value).is_integer():
        k = int(node.right.value)
        return k if node.op == "+" else -k
    return None


def _tex_path(path: str) -> str:
    return r"\texttt{" + re.sub(r"([_%&#$])", r"\\\1", Path(path).name) + "}"


def _reading_notation(notation: str, mapping: dict[str, str], formula) -> tuple:
    """(function letter -> activation, symbol key -> IR name, its profile, row vectors, constant
    unit) of a notation for reading a paper: a built-in profile's or a profile file's (its
    ``row_vectors``, ``constant_unit``), and the --map entries on top."""
    from verify.notations import PROFILES, _default_functions, load_profile
    rows = unit = False
    if notation in PROFILES:
        profile = PROFILES[notation][0]  # graves: its LSTM tables (units, names)
        symbols, functions = dict(profile.symbols), dict(profile.functions)
    else:
        base, symbols, options = load_profile(notation)
        rows, unit = options.get("row_vectors", False), options.get("constant_unit", False)
        profile = PROFILES.get(base, PROFILES["vector"])[0]
        symbols = {**profile.symbols, **symbols}  # the file's on top of its base's
        functions = dict(profile.functions)
    functions = _default_functions() | functions
    names = {}
    for symbol, name in {**symbols, **mapping}.items():
        if name in functions.values() or name in _default_functions():
            functions[_function_key(symbol)] = name  # not parsed: '\sigma_c' alone is no formula
            continue
        try:
            node = formula.parse_formula(symbol)
        except ValueError as e:
            raise CellError(f"--map '{symbol}={name}': {e}") from None
        if not name.isidentifier() or name.startswith("delta_"):
            continue  # an adjoint or an expression: not a forward symbol
        elif isinstance(node, formula.Sym):
            if node.sup is not None and _offset(node.sup) is not None:
                node = formula.Sym(node.name, node.accent, node.sub)
            names[str(node)] = name
        else:
            raise CellError(f"--map '{symbol}={name}': '{symbol}' is not one symbol")
    return functions, names, profile, rows, unit


def _function_key(symbol: str) -> str:
    """The key of a --map function letter: ``\\phi`` -> ``phi``, ``\\sigma_c`` -> ``sigma_{c}``."""
    m = re.fullmatch(r"\\?([A-Za-z]+)\s*(?:_\s*\{?\s*(\w+)\s*\}?)?", symbol.strip())
    if m is None:
        raise CellError(f"--map '{symbol}': a function letter is a name with at most a "
                        "subscript (\\phi, g, \\sigma_c)")
    return _letter(m[1], m[2])


def read_paper(path: str, notation: str | None = None,
               mapping: dict[str, str] | None = None, constant_unit: bool = False) -> Cell:
    """The cell of a paper's forward equations (``.tex``/``.md``), read in ``notation``;
    ``constant_unit``: add a bias beside each product with the input (see the docstring)."""
    from verify.notations import NotationError, read_text_file
    try:
        text = read_text_file(path, "paper")
    except NotationError as e:
        raise CellError(str(e)) from None
    text = text.removeprefix("\ufeff")  # a BOM some Windows editors write
    return PaperReader(path, notation, dict(mapping or {}), constant_unit).read(text)
