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


# --- elementwise activations ----------------------------------------------------------------

class Activation(sp.Function):
    """An elementwise activation; its derivative is the unevaluated ``ACTIVATIONS[f].prime``."""
    nargs = 1

    def fdiff(self, argindex: int = 1) -> sp.Expr:
        return ACTIVATIONS[self.func].prime(self.args[0])


class sigmoid(Activation):
    pass


class tanh(Activation):
    pass


class sigmoid_prime(sp.Function):
    nargs = 1


class tanh_prime(sp.Function):
    nargs = 1


@dataclass(frozen=True)
class ActivationRule:
    prime: type[sp.Function]  #: the unevaluated derivative, printed f'(a)
    explicit: Callable[[sp.Expr], sp.Expr]  #: the closed form, for exact checks
    through_output: Callable[[sp.Expr], sp.Expr]  #: f'(a) written with y = f(a)


# One row per activation; adding an activation is adding a row (and its two classes above).
ACTIVATIONS: dict[type[Activation], ActivationRule] = {
    sigmoid: ActivationRule(sigmoid_prime, lambda a: 1 / (1 + sp.exp(-a)), lambda y: y * (1 - y)),
    tanh: ActivationRule(tanh_prime, sp.tanh, lambda y: 1 - y**2),
}
PRIMES: dict[type[sp.Function], type[Activation]] = {r.prime: f for f, r in ACTIVATIONS.items()}


def explicit(expr: sp.Expr) -> sp.Expr:
    """Replace activations and their derivatives by closed forms (for exact evaluation)."""
    for f, rule in ACTIVATIONS.items():
        a = sp.Dummy("a")
        expr = expr.replace(f, sp.Lambda(a, rule.explicit(a)))
        expr = expr.replace(rule.prime, sp.Lambda(a, sp.diff(rule.explicit(a), a)))
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
    shape: tuple[str, ...]  #: in size names: ("H", "I"), ("H", "H") or ("H",)
    symbol: sp.Symbol = field(compare=False)


@dataclass(frozen=True)
class Cell:
    """A recurrent cell: forward equations for one time step, in evaluation order.

    Quantities are vectors of size H except the input ``x`` (size I). ``stacks`` groups
    per-gate parameters into the packed tensors of a library (PyTorch's ``weight_ih``) for
    code generation; ``notation`` names the printer profiles that know this cell.
    """
    name: str
    source: str
    equations: tuple[Equation, ...]
    params: dict[str, Param]
    output: str
    inputs: tuple[str, ...] = ("x",)
    stacks: dict[str, tuple[str, ...]] = field(default_factory=dict)
    description: str = ""

    def __post_init__(self) -> None:
        defined = set(self.inputs)
        for eq in self.equations:
            if not (isinstance(eq.lhs, sp.Indexed) and eq.lhs.indices == (t,)):
                raise CellError(f"cell {self.name!r}: left side {eq.lhs} must be q[t]")
            if eq.name in defined:
                raise CellError(f"cell {self.name!r}: {eq.name} is defined twice")
            for q in eq.reads():
                k = time_offset(q)
                if k not in (0, -1):
                    raise CellError(f"cell {self.name!r}: equation {eq.name} reads {q}; "
                                    "only q[t] and q[t-1] are allowed")
                known = defined | ({e.name for e in self.equations} if k == -1 else set())
                if base_name(q) not in known:
                    raise CellError(f"cell {self.name!r}: equation {eq.name} reads {q} "
                                    "before it is defined")
            labels = {q.base.label for q in eq.reads()}
            unknown = {str(s) for s in eq.rhs.atoms(sp.Symbol) - labels - {t}} - set(self.params)
            if unknown:
                raise CellError(f"cell {self.name!r}: equation {eq.name} uses undeclared "
                                f"parameter(s) {', '.join(sorted(unknown))}")
            defined.add(eq.name)
        if self.output not in defined:
            raise CellError(f"cell {self.name!r}: output {self.output} is not defined")

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
        return "I" if name in self.inputs else "H"

    def _repr_latex_(self) -> str:
        from .printers import forward_latex
        return forward_latex(self)


class CellBuilder:
    """Builds a :class:`Cell` equation by equation; see ``derive/cells.py`` for examples."""

    def __init__(self, name: str, source: str, description: str = "") -> None:
        self.name, self.source, self.description = name, source, description
        self.params: dict[str, Param] = {}
        self.equations: list[Equation] = []
        self.x = sp.IndexedBase("x")

    def weight(self, name: str, cols: str = "H") -> Weight:
        """A matrix parameter of shape (H, cols); cols is "I" (input) or "H" (recurrent)."""
        w = Weight(name)
        self.params[name] = Param(name, ("H", cols), w)
        return w

    def vector(self, name: str) -> sp.Symbol:
        """A vector parameter of size H (a bias, a peephole), used elementwise."""
        v = sp.Symbol(name)
        self.params[name] = Param(name, ("H",), v)
        return v

    def let(self, name: str, rhs: sp.Expr) -> sp.IndexedBase:
        """Define ``name[t] = rhs``; returns the quantity, to be indexed at t or t-1."""
        q = sp.IndexedBase(name)
        self.equations.append(Equation(q[t], sp.sympify(rhs)))
        return q

    def quantity(self, name: str) -> sp.IndexedBase:
        """A quantity defined later, for reading it at t-1 before its equation."""
        return sp.IndexedBase(name)

    def build(self, output: str, stacks: dict[str, tuple[str, ...]] | None = None) -> Cell:
        return Cell(self.name, self.source, tuple(self.equations), dict(self.params), output,
                    stacks=dict(stacks or {}), description=self.description)
