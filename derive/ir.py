"""The IR: a recurrent cell as named per-time-step SymPy equations.

Every stage of the toolkit (derivation, printers, code generation, verification) reads and
writes these objects, so they are kept small:

* a time-varying vector quantity ``q`` is an ``IndexedBase``; ``q[t]`` is its value at step
  t and ``q[t - 1]`` the value the cell reads from the previous step (which makes ``q`` state);
* a matrix parameter is a :class:`Weight`; ``W @ v`` builds ``MatVec(W, v)``, the only
  operation that mixes units. Everything else is elementwise, so a SymPy product of vectors is
  a Hadamard product and SymPy's scalar calculus applies unit by unit;
* vector parameters (biases, peepholes) are plain symbols.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import sympy as sp

t = sp.Symbol("t", integer=True)  #: the time step of the per-step equations
T = sp.Symbol("T", integer=True)  #: the last time step
Delta = sp.IndexedBase("Delta")  #: dL/dy^t arriving from the layer above


class CellError(ValueError):
    """A cell that cannot be built or used: unknown name, malformed equations, bad shapes."""


# --- vector-level operations -------------------------------------------------------------

class Weight(sp.Symbol):
    """A matrix parameter; ``W @ v`` is the matrix-vector product ``MatVec(W, v)``."""

    def __matmul__(self, vector: sp.Expr) -> sp.Expr:
        return MatVec(self, sp.sympify(vector))


class MatVec(sp.Function):
    """``W v``: the matrix-vector product (args: Weight, vector expression)."""
    nargs = 2


class MatVecT(sp.Function):
    """``W^T g``: the transposed product that carries adjoints backwards (derivation only)."""
    nargs = 2


class Outer(sp.Function):
    """``g v^T``: the outer product that gives a weight's gradient (derivation only)."""
    nargs = 2


# --- operations that mix units: softmax, the per-step losses, sums over units ----------------

class UnitSum(sp.Function):
    """``1^T v``: the sum of a vector over its units, a scalar (broadcast where a vector is
    expected). Linear: numbers and sums are pulled out, so ``UnitSum(-z) = -UnitSum(z)``."""
    nargs = 1

    @classmethod
    def eval(cls, v):
        if isinstance(v, sp.Add):
            return sp.Add(*(cls(a) for a in v.args))
        coeff, rest = v.as_coeff_Mul()
        if coeff != 1:
            return coeff * cls(rest)
        return None


class Softmax(sp.Function):
    """``softmax(a) = exp(a) / 1^T exp(a)``: a vector of the same size, every unit depends on
    every unit of ``a``."""
    nargs = 1


class LossBase(sp.Function):
    """A per-step loss ``loss(y, z)`` of a prediction y and a target input z: a scalar. A cell
    whose equations compute one is trained on L = sum over t of it."""
    nargs = 2
    value: Callable[[sp.Expr, sp.Expr], sp.Expr]  #: the loss written with UnitSum
    grad: Callable[[sp.Expr, sp.Expr], sp.Expr]   #: dloss/dy, a vector
    #: the sums over units that the targets of this loss satisfy, as assumptions
    assumes: Callable[[sp.Expr], dict[sp.Expr, sp.Expr]] = staticmethod(lambda z: {})


class cross_entropy(LossBase):
    """``-1^T (z log y)``; its targets are distributions (sum 1), which makes the softmax
    logits' adjoint y - z."""
    value = staticmethod(lambda y, z: -UnitSum(z * sp.log(y)))
    grad = staticmethod(lambda y, z: -z / y)
    assumes = staticmethod(lambda z: {UnitSum(z): sp.S.One})


class squared_error(LossBase):
    """``(1/2) 1^T (y - z)^2``."""
    value = staticmethod(lambda y, z: UnitSum((y - z) ** 2) / 2)
    grad = staticmethod(lambda y, z: y - z)


# --- elementwise activations ----------------------------------------------------------------

# (SymPy's printers dispatch on a Function subclass's own name or on a base named *Base)
class ActivationBase(sp.Function):
    """An elementwise activation; its derivative is the unevaluated ``ACTIVATIONS[f].prime``."""
    nargs = 1

    def fdiff(self, argindex: int = 1) -> sp.Expr:
        return ACTIVATIONS[self.func].prime(self.args[0])


class PrimeBase(sp.Function):
    """The derivative f'(a) of an activation, kept unevaluated for textbook printing."""
    nargs = 1


Activation = ActivationBase


@dataclass(frozen=True)
class ActivationRule:
    prime: type[sp.Function]  #: the unevaluated derivative, printed f'(a)
    explicit: Callable[[sp.Expr], sp.Expr]  #: the closed form, for exact checks
    through_output: Callable[[sp.Expr], sp.Expr] | None  #: f'(a) written with y = f(a)
    numpy: str  #: NumPy source of f(a), with ``{a}`` for the argument
    numpy_prime: str  #: NumPy source of f'(a)
    latex: str  #: the function's name in LaTeX
    explicit_prime: sp.Lambda  #: the closed form of the derivative (of a real argument)


#: One row per activation, filled by :func:`activation`; adding one is one call.
ACTIVATIONS: dict[type[Activation], ActivationRule] = {}
PRIMES: dict[type[sp.Function], type[Activation]] = {}


def activation(name: str, explicit: Callable[[sp.Expr], sp.Expr], numpy: str,
               numpy_prime: str, latex: str | None = None,
               through_output: Callable[[sp.Expr], sp.Expr] | None = None) -> type[Activation]:
    """Add an elementwise activation to every stage and return it, for use in cells.

    ``explicit`` is its closed form in SymPy (its derivative is taken from it), ``numpy`` and
    ``numpy_prime`` its value and derivative as NumPy source with ``{a}`` for the argument
    (for generated kernels), ``through_output`` its derivative written with its output y
    (``lambda y: 1 - y**2`` for tanh) where one exists.

    >>> swish = activation("swish", lambda a: a / (1 + sp.exp(-a)),
    ...                    numpy="{a} / (1 + np.exp(-{a}))",
    ...                    numpy_prime="(1 + np.exp(-{a}) * (1 + {a})) / (1 + np.exp(-{a}))**2")
    >>> sp.diff(swish(sp.Symbol("a")), sp.Symbol("a"))
    swish_prime(a)
    >>> del PRIMES[ACTIVATIONS.pop(swish).prime]  # the table is global: this example leaves it
    """
    if not name.isidentifier():
        raise CellError(f"activation name {name!r} is not an identifier")
    f = type(name, (ActivationBase,), {"__module__": __name__})
    prime = type(f"{name}_prime", (PrimeBase,), {"__module__": __name__})
    a = sp.Dummy("a", real=True)
    ACTIVATIONS[f] = ActivationRule(prime, explicit, through_output, numpy, numpy_prime,
                                    latex or rf"\operatorname{{{name}}}",
                                    sp.Lambda(a, sp.diff(explicit(a), a)))
    PRIMES[prime] = f
    return f


_SIGMOID = "(0.5 * np.tanh(0.5 * {a}) + 0.5)"  # no overflow for any a
sigmoid = activation("sigmoid", lambda a: 1 / (1 + sp.exp(-a)), _SIGMOID,
                     f"({_SIGMOID} * (1 - {_SIGMOID}))", r"\sigma", lambda y: y * (1 - y))
tanh = activation("tanh", sp.tanh, "np.tanh({a})", "(1 - np.tanh({a})**2)", r"\tanh",
                  lambda y: 1 - y**2)
relu = activation("relu", lambda a: sp.Max(a, 0), "np.maximum({a}, 0)",
                  "({a} > 0).astype({a}.dtype)", r"\operatorname{relu}")
leaky_relu = activation("leaky_relu", lambda a: sp.Max(a, 0) + sp.Min(a, 0) / 100,
                        "np.where({a} > 0, {a}, 0.01 * {a})", "np.where({a} > 0, 1.0, 0.01)",
                        r"\operatorname{lrelu}")
softplus = activation("softplus", lambda a: sp.log(1 + sp.exp(a)), "np.logaddexp(0, {a})",
                      _SIGMOID.format(a="{a}"), r"\operatorname{softplus}")
elu = activation("elu", lambda a: sp.Piecewise((a, a > 0), (sp.exp(a) - 1, True)),
                 "np.where({a} > 0, {a}, np.expm1(np.minimum({a}, 0)))",
                 "np.where({a} > 0, 1.0, np.exp(np.minimum({a}, 0)))", r"\operatorname{elu}")
softsign = activation("softsign", lambda a: a / (1 + sp.Abs(a)), "({a} / (1 + np.abs({a})))",
                      "(1 / (1 + np.abs({a}))**2)", r"\operatorname{softsign}")
sigmoid_prime, tanh_prime = ACTIVATIONS[sigmoid].prime, ACTIVATIONS[tanh].prime
LOSSES = (cross_entropy, squared_error)
#: exp and log are SymPy's own functions, elementwise like the activations
exp, log = sp.exp, sp.log


def identity(a: sp.Expr) -> sp.Expr:
    """The identity activation: ``identity(a)`` is ``a``."""
    return a


def explicit(expr: sp.Expr) -> sp.Expr:
    """Replace activations, their derivatives, softmax and losses by closed forms (for exact
    evaluation; UnitSum is left for the evaluator, which knows the sizes)."""
    for f, rule in ACTIVATIONS.items():
        a = sp.Dummy("a")
        expr = expr.replace(f, sp.Lambda(a, rule.explicit(a)))
        expr = expr.replace(rule.prime, rule.explicit_prime)
    expr = expr.replace(Softmax, lambda a: sp.exp(a) / UnitSum(sp.exp(a)))
    for loss in LOSSES:
        expr = expr.replace(loss, loss.value)
    return expr


# --- equations and cells --------------------------------------------------------------------

def time_offset(q: sp.Indexed) -> int:
    """The k in ``q[t + k]`` (only for per-step indices, not for unrolled ones like q[0])."""
    return int(q.indices[0] - t)


def shift(expr: sp.Expr, k: int) -> sp.Expr:
    """The same expression k steps later."""
    return expr.subs(t, t + k) if k else expr


def base_name(q: sp.Indexed | sp.Symbol) -> str:
    return str(q.base) if isinstance(q, sp.Indexed) else str(q)


@dataclass(frozen=True)
class Equation:
    """``lhs = rhs``; lhs is ``q[t]``, an adjoint ``delta_q[t]``/``delta_q[0]`` or ``delta_W``."""
    lhs: sp.Expr
    rhs: sp.Expr

    @property
    def name(self) -> str:
        return base_name(self.lhs)

    def reads(self) -> set[sp.Indexed]:
        return self.rhs.atoms(sp.Indexed)

    def _sympy_(self) -> sp.Eq:
        return sp.Eq(self.lhs, self.rhs, evaluate=False)


@dataclass(frozen=True)
class Param:
    name: str
    shape: tuple[str, ...]  #: in size names: ("H", "I") for a matrix (rows, cols), ("H",) a vector
    symbol: sp.Symbol = field(compare=False)


SCALAR = "1"  #: the size of a per-step loss
#: names that the toolkit's own symbols use; a cell may not define them
RESERVED = {"t", "T", "Delta"}
#: the operations every stage supports; anything else in a cell is refused when it is built
ELEMENTWISE = (sp.Add, sp.Mul, sp.Pow, sp.exp, sp.log, ActivationBase)
VECTOR_OPS = (MatVec, Softmax, LossBase)


def check_name(name: str, what: str) -> None:
    """Refuse names that are not identifiers or clash with the toolkit's own symbols."""
    if not isinstance(name, str) or not name.isidentifier() or name.startswith("_"):
        raise CellError(f"{what} name {name!r} must be a Python identifier not starting with _ "
                        "(it is printed as LaTeX and as code)")
    if name in RESERVED or name.startswith("delta_"):
        raise CellError(f"{what} name {name!r} clashes with the toolkit's own symbols "
                        "(t, T, Delta, delta_*): choose another name")


def expr_size(expr: sp.Expr, size_of: Callable[[str], str | None],
              params: dict[str, Param]) -> str | None:
    """The size name of a vector expression (None for a number, or where unknown yet);
    CellError where two operands of an elementwise operation differ in size."""
    if isinstance(expr, sp.Indexed):
        return size_of(base_name(expr))
    if isinstance(expr, Weight):
        raise CellError(f"matrix {expr} is used elementwise; a matrix only multiplies a "
                        f"vector, as {expr} @ v")
    if isinstance(expr, sp.Symbol):
        return params[str(expr)].shape[0] if str(expr) in params else None
    if isinstance(expr, MatVec):
        W, v = expr.args
        if not isinstance(W, Weight) or str(W) not in params:
            raise CellError(f"{expr}: the left operand of @ must be a declared matrix parameter")
        rows, cols = params[str(W)].shape
        got = expr_size(v, size_of, params)
        if got is not None and got != cols:
            raise CellError(f"size mismatch in {W} @ ({v}): {W} has {cols} columns, the vector "
                            f"has size {got}")
        return rows
    if isinstance(expr, LossBase):
        y, z = (expr_size(a, size_of, params) for a in expr.args)
        if y is not None and z is not None and y != z:
            raise CellError(f"size mismatch in {expr.func}: prediction of size {y}, target of "
                            f"size {z}")
        return SCALAR
    if isinstance(expr, UnitSum):
        expr_size(expr.args[0], size_of, params)
        return None
    if isinstance(expr, sp.Pow) and not expr.exp.is_number:
        raise CellError(f"{expr}: an exponent must be a number")
    sizes = {}
    for a in expr.args:
        n = expr_size(a, size_of, params)
        if n is not None:
            sizes.setdefault(n, a)
    if len(sizes) > 1:
        (n1, a1), (n2, a2) = list(sizes.items())[:2]
        raise CellError(f"size mismatch: {a1} has size {n1}, {a2} has size {n2}")
    return next(iter(sizes), None)


def check_operations(expr: sp.Expr) -> None:
    """Refuse SymPy operations that some stage (derivation, printers, kernels) cannot handle."""
    for node in sp.preorder_traversal(expr):
        if isinstance(node, (sp.Indexed, sp.Symbol, sp.Number, sp.IndexedBase, sp.Idx)):
            continue
        if node.is_Number or isinstance(node, sp.NumberSymbol):
            raise CellError(f"the constant {node} is not supported: write it as a number")
        if not isinstance(node, ELEMENTWISE + VECTOR_OPS):
            raise CellError(f"operation {type(node).__name__} ({node}) is not supported; use "
                            "+ - * / **, @, numbers and the activations of bptt")


@dataclass(frozen=True)
class Cell:
    """A recurrent cell: forward equations for one time step, in evaluation order.

    ``sizes`` gives each input and quantity a size name (the input ``I``, the rest ``H`` unless
    declared otherwise, a loss ``1``); ``params`` gives each parameter its shape in size names.
    ``stacks`` groups per-gate parameters into the packed tensors of a library (PyTorch's
    ``weight_ih``) for code generation.
    """
    name: str
    source: str
    equations: tuple[Equation, ...]
    params: dict[str, Param]
    output: str
    inputs: tuple[str, ...] = ("x",)
    stacks: dict[str, tuple[str, ...]] = field(default_factory=dict)
    description: str = ""
    sizes: dict[str, str] = field(default_factory=dict)
    #: the step function the cell was read from (``@cell``), for rendering it with latexify
    function: Callable | None = field(default=None, compare=False, repr=False)
    #: the symbols of the source the cell was read from (a paper's .tex, derive/paper.py): a
    #: printers.Notation its sheets use by default
    notation: object = field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        def fail(msg):
            raise CellError(f"cell {self.name!r}: {msg}")
        for name in (*self.inputs, *self.quantities):
            try:
                check_name(name, "quantity")
            except CellError as e:
                fail(e)
        for name in self.params:
            if name in self.inputs or name in self.quantities:
                fail(f"{name} is both a parameter and a quantity")
        defined = set(self.inputs)
        for eq in self.equations:
            if not (isinstance(eq.lhs, sp.Indexed) and eq.lhs.indices == (t,)):
                fail(f"left side {eq.lhs} must be q[t]")
            if eq.name in defined:
                fail(f"{eq.name} is defined twice")
            bare = eq.rhs.xreplace({q: sp.Dummy() for q in eq.reads()}).atoms(sp.IndexedBase)
            if bare:
                q = sorted(map(str, bare))[0]
                fail(f"equation {eq.name} reads {q} without a time index: write {q}[t] "
                     f"(this step) or {q}[t-1] (the previous step)")
            for q in eq.reads():
                if q.base == Delta or not q.indices[0].has(t):
                    fail(f"equation {eq.name} reads {q}: a quantity is read at t or t-1")
                k = time_offset(q)
                if k not in (0, -1):
                    fail(f"equation {eq.name} reads {q}; only q[t] and q[t-1] are allowed")
                known = defined | ({e.name for e in self.equations} if k == -1 else set())
                if base_name(q) not in known:
                    fail(f"equation {eq.name} reads {q} before it is defined")
            labels = {q.base.label for q in eq.reads()}
            unknown = {str(s) for s in eq.rhs.atoms(sp.Symbol) - labels - {t}} - set(self.params)
            if unknown:
                fail(f"equation {eq.name} uses undeclared parameter(s) "
                     f"{', '.join(sorted(unknown))}")
            try:
                check_operations(eq.rhs)
            except CellError as e:
                fail(f"equation {eq.name}: {e}")
            defined.add(eq.name)
        if self.output not in defined:
            fail(f"output {self.output} is not defined")
        object.__setattr__(self, "sizes", self._infer_sizes(fail))
        self.loss  # a cell computes at most one loss

    def _infer_sizes(self, fail) -> dict[str, str]:
        """Every quantity's size: declared, else from its equation (forward references to a
        state read at t-1 are resolved by iterating); then every equation is checked."""
        sizes = {name: self.sizes.get(name, "I" if i == 0 else None)
                 for i, name in enumerate(self.inputs)}
        sizes |= {name: self.sizes[name] for name in self.quantities if name in self.sizes}
        for _ in range(len(self.equations) + 1):
            for eq in self.equations:
                try:
                    n = expr_size(eq.rhs, sizes.get, self.params)
                except CellError:
                    continue  # reported below, once every size is known
                if n is not None and sizes.get(eq.name) is None:
                    sizes[eq.name] = n
        for name in (*self.inputs, *self.quantities):
            sizes[name] = sizes.get(name) or "H"
        for eq in self.equations:
            try:
                n = expr_size(eq.rhs, sizes.get, self.params)
            except CellError as e:
                fail(f"equation {eq.name}: {e}")
            if n is not None and n != sizes[eq.name]:
                fail(f"equation {eq.name}: {eq.name} has size {sizes[eq.name]}, its right side "
                     f"has size {n}")
        return sizes

    @property
    def quantities(self) -> tuple[str, ...]:
        return tuple(eq.name for eq in self.equations)

    @property
    def state(self) -> tuple[str, ...]:
        """The state variables: the quantities some equation reads at t-1 (output first)."""
        read_prev = {base_name(q) for eq in self.equations for q in eq.reads()
                     if time_offset(q) == -1}
        order = sorted(self.quantities, key=lambda q: q != self.output)
        return tuple(q for q in order if q in read_prev)

    @property
    def loss(self) -> str | None:
        """The quantity the cell is trained on (L = sum over t of it), if it computes a loss:
        the one quantity that contains a loss function and that no equation reads."""
        with_loss = {eq.name for eq in self.equations if eq.rhs.has(LossBase)}
        read = {base_name(q) for eq in self.equations for q in eq.reads()}
        top = sorted(with_loss - read)
        if len(top) > 1:
            raise CellError(f"cell {self.name!r} computes several losses ({', '.join(top)}); "
                            "add them into one quantity")
        return top[0] if top else None

    @property
    def targets(self) -> tuple[str, ...]:
        """The inputs that are targets of a loss (no gradient flows into them)."""
        used = {base_name(f.args[1]) for eq in self.equations for f in eq.rhs.atoms(LossBase)
                if isinstance(f.args[1], sp.Indexed)}
        return tuple(x for x in self.inputs if x in used)

    def equation(self, name: str) -> Equation:
        for eq in self.equations:
            if eq.name == name:
                return eq
        raise CellError(f"cell {self.name!r} has no quantity {name!r}")

    def readers(self, name: str, offset: int) -> tuple[Equation, ...]:
        """The equations that read ``name[t + offset]``."""
        return tuple(eq for eq in self.equations
                     if any(base_name(q) == name and time_offset(q) == offset
                            for q in eq.reads()))

    def size(self, name: str) -> str:
        """The size name of an input or quantity ("I", "H", "P", ... or "1" for a loss)."""
        return self.sizes.get(name) or ("I" if name in self.inputs else "H")

    @property
    def size_names(self) -> tuple[str, ...]:
        """Every size name the cell uses, the input's first (the scalar "1" excluded)."""
        names = [self.size(n) for n in (*self.inputs, *self.quantities)]
        names += [d for p in self.params.values() for d in p.shape]
        return tuple(n for n in dict.fromkeys(names) if n != SCALAR)

    def _repr_latex_(self) -> str:
        from .printers import forward_latex
        return forward_latex(self)


class CellBuilder:
    """Builds a :class:`Cell` equation by equation; the front end (``@cell``, derive/frontend.py)
    builds the same IR from a Python step function."""

    def __init__(self, name: str, source: str, description: str = "",
                 input_size: str = "I") -> None:
        self.name, self.source, self.description = name, source, description
        self.params: dict[str, Param] = {}
        self.equations: list[Equation] = []
        self.inputs: list[str] = ["x"]
        self.sizes: dict[str, str] = {"x": input_size}
        self.x = sp.IndexedBase("x")

    def _declare(self, name: str, shape: tuple[str, ...], symbol: sp.Symbol) -> None:
        check_name(name, "parameter")
        if name in self.params:
            raise CellError(f"cell {self.name!r}: parameter {name} is declared twice")
        if name in self.sizes:
            raise CellError(f"cell {self.name!r}: parameter {name} has the name of a quantity")
        for size in shape:
            check_name(size, "size") if size != SCALAR else None
        self.params[name] = Param(name, shape, symbol)

    def weight(self, name: str, cols: str = "H", rows: str = "H") -> Weight:
        """A matrix parameter of shape (rows, cols) in size names (default (H, cols))."""
        w = Weight(name)
        self._declare(name, (rows, cols), w)
        return w

    def vector(self, name: str, size: str = "H") -> sp.Symbol:
        """A vector parameter (a bias, a peephole), used elementwise."""
        v = sp.Symbol(name)
        self._declare(name, (size,), v)
        return v

    def input(self, name: str, size: str = "I") -> sp.IndexedBase:
        """A further input read at t (a second sequence, or the target of a loss)."""
        check_name(name, "input")
        if name in self.sizes or name in self.params:
            raise CellError(f"cell {self.name!r}: {name} is already declared")
        self.inputs.append(name)
        self.sizes[name] = size
        return sp.IndexedBase(name)

    def let(self, name: str, rhs: sp.Expr, size: str | None = None) -> sp.IndexedBase:
        """Define ``name[t] = rhs``; returns the quantity, to be indexed at t or t-1."""
        q = self.quantity(name, size)
        self.equations.append(Equation(q[t], sp.sympify(rhs)))
        return q

    def quantity(self, name: str, size: str | None = None) -> sp.IndexedBase:
        """A quantity (defined by :meth:`let`, perhaps later, for reading it at t-1 before its
        equation); ``size`` declares its size name, else it is inferred."""
        check_name(name, "quantity")
        if size is not None:
            self.sizes[name] = size
        return sp.IndexedBase(name)

    def build(self, output: str, stacks: dict[str, tuple[str, ...]] | None = None) -> Cell:
        return Cell(self.name, self.source, tuple(self.equations), dict(self.params), output,
                    tuple(self.inputs), dict(stacks or {}), self.description, dict(self.sizes))
