"""The step-function front end: a cell written as a plain Python function, read, never run.

>>> from derive.frontend import cell
>>> from derive.ir import sigmoid, tanh
>>> @cell(source="Zhou et al. 2016", description="minimal gated unit")
... def mgu(x, h, W_f, U_f, b_f, W_h, U_h, b_h):
...     f = sigmoid(W_f @ x + U_f @ h + b_f)
...     h_tilde = tanh(W_h @ x + U_h @ (f * h) + b_h)
...     h = (1 - f) * h + f * h_tilde
...     return h
>>> mgu.name, mgu.state, mgu.params["U_h"].shape
('mgu', ('h',), ('H', 'H'))

Each assignment is one named equation. The roles come from the code: the inputs are named (by
default the first argument); an argument the body assigns is state, read at t-1 until it is
assigned and at t after; every other argument is a parameter, a matrix when it is the left
operand of ``@``. Sizes are ``I`` for the input and ``H`` for the rest unless annotated
(``h: "P"``, ``W: ("P", "H")``); unannotated parameters take their sizes from their use. Every
mistake is a :class:`~derive.ir.CellError` naming the file and line.
"""
from __future__ import annotations

import ast
import difflib
import inspect
import textwrap
from dataclasses import dataclass
from typing import Callable

import sympy as sp

from .ir import (ACTIVATIONS, LOSSES, SCALAR, Cell, CellError, Equation, Param, Softmax, Weight,
                 check_name, t)

# The functions a step function may call: name -> (number of arguments, SymPy builder).
# Activations are read from the table at call time, so one added later works at once.
BUILTIN_FUNCTIONS: dict[str, tuple[int, Callable]] = {
    "exp": (1, sp.exp), "log": (1, sp.log), "softmax": (1, Softmax),
    "identity": (1, lambda a: a),
    **{loss.__name__: (2, loss) for loss in LOSSES},
}


def functions() -> dict[str, tuple[int, Callable]]:
    return {f.__name__: (1, f) for f in ACTIVATIONS} | BUILTIN_FUNCTIONS


# what the constructs the front end refuses are, for the messages
CONSTRUCTS = {ast.For: "a for loop", ast.While: "a while loop", ast.If: "an if statement",
              ast.IfExp: "a conditional expression", ast.With: "a with statement",
              ast.Try: "a try statement", ast.FunctionDef: "a nested function",
              ast.Lambda: "a lambda", ast.Import: "an import", ast.ImportFrom: "an import",
              ast.AugAssign: "an augmented assignment (write h = h + ...)",
              ast.AnnAssign: "an annotated assignment", ast.Compare: "a comparison",
              ast.BoolOp: "and/or", ast.ListComp: "a list comprehension",
              ast.GeneratorExp: "a generator", ast.List: "a list", ast.Tuple: "a tuple",
              ast.Dict: "a dict", ast.Attribute: "an attribute", ast.Subscript: "indexing",
              ast.Starred: "a starred expression", ast.JoinedStr: "an f-string"}
OPERATORS = {ast.Add: sp.Add, ast.Sub: lambda a, b: a - b, ast.Mult: sp.Mul,
             ast.Div: lambda a, b: a / b, ast.Pow: sp.Pow}


class Sizes:
    """Size names to infer: a union-find of size variables, some bound to a name."""

    def __init__(self) -> None:
        self.parent: list[int] = []
        self.name: dict[int, str] = {}

    def new(self, name: str | None = None) -> int:
        self.parent.append(len(self.parent))
        if name is not None:
            self.name[len(self.parent) - 1] = name
        return len(self.parent) - 1

    def find(self, v: int) -> int:
        while self.parent[v] != v:
            self.parent[v] = self.parent[self.parent[v]]
            v = self.parent[v]
        return v

    def unify(self, a: int, b: int) -> tuple[str, str] | None:
        """Make a and b the same size; the two names where they already differ."""
        a, b = self.find(a), self.find(b)
        if a == b:
            return None
        na, nb = self.name.get(a), self.name.get(b)
        if na and nb and na != nb:
            return na, nb
        self.parent[b] = a
        if nb:
            self.name[a] = nb
        return None

    def resolve(self, v: int, default: str = "H") -> str:
        """The size name of v; an unconstrained one becomes ``default`` from now on."""
        return self.name.setdefault(self.find(v), default)


@dataclass
class Value:
    expr: sp.Expr
    size: int | None  # None: a number, broadcast


class StepFunctionReader:
    """Reads one step function's source into the IR (see the module docstring)."""

    def __init__(self, fn: Callable, inputs: tuple[str, ...] | None) -> None:
        self.fn = fn
        try:
            source = textwrap.dedent(inspect.getsource(fn))
        except (OSError, TypeError) as e:
            raise CellError(f"cannot read the source of {getattr(fn, '__name__', fn)!r}: {e} "
                            "(a cell must be a def in a .py file)") from None
        self.file = inspect.getsourcefile(fn) or "<unknown>"
        self.first_line = fn.__code__.co_firstlineno
        tree = ast.parse(source)
        self.node = next(n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef))
        self.sizes = Sizes()
        self.read_signature(inputs)

    # --- errors --------------------------------------------------------------------------
    def error(self, node: ast.AST | None, message: str) -> CellError:
        line = self.first_line + getattr(node or self.node, "lineno", 1) - 1
        return CellError(f"{self.file}:{line}: {message}")

    def text(self, node: ast.AST) -> str:
        s = ast.unparse(node)
        return s if len(s) <= 60 else s[:57] + "..."

    # --- the signature: roles and declared sizes -----------------------------------------
    def read_signature(self, inputs: tuple[str, ...] | None) -> None:
        a = self.node.args
        if a.vararg or a.kwarg or a.kwonlyargs or a.defaults:
            raise self.error(self.node, "a step function takes plain arguments only (no "
                             "*args, **kwargs, keyword-only arguments or defaults)")
        args = [*a.posonlyargs, *a.args]
        if not args:
            raise self.error(self.node, "a step function takes the input, the state and the "
                             "parameters as arguments")
        self.args = [x.arg for x in args]
        self.annotations = {x.arg: self.annotation(x) for x in args if x.annotation}
        body = self.statements()
        assigned = {s.targets[0].id for s in body if isinstance(s, ast.Assign)}
        matmul_left, loss_targets = set(), set()
        for node in ast.walk(self.node):
            if isinstance(node, ast.BinOp) and isinstance(node.op, ast.MatMult) and isinstance(
                    node.left, ast.Name):
                matmul_left.add(node.left.id)
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
                    and node.func.id in {loss.__name__ for loss in LOSSES} and len(node.args) == 2
                    and isinstance(node.args[1], ast.Name)):
                loss_targets.add(node.args[1].id)
        if inputs is None:
            inputs = (self.args[0], *(n for n in self.args[1:]
                                      if n in loss_targets and n not in assigned))
        for name in inputs:
            if name not in self.args:
                raise self.error(self.node, f"input {name!r} is not an argument of "
                                 f"{self.node.name}")
            if name in assigned:
                raise self.error(self.node, f"{name} is an input and cannot be assigned")
        self.inputs = tuple(inputs)
        self.state = [n for n in self.args if n in assigned and n not in self.inputs]
        self.params = [n for n in self.args if n not in self.inputs and n not in self.state]
        self.matrices = {n for n in self.params if n in matmul_left}
        for name in self.args:
            try:
                check_name(name, "argument")
            except CellError as e:
                raise self.error(self.node, str(e)) from None
        self.var: dict[str, int | tuple[int, int]] = {}
        for name in self.args:
            declared = self.annotations.get(name)
            if name in self.matrices:
                if declared is not None and len(declared) != 2:
                    raise self.error(self.node, f"{name} is a matrix (the left operand of @): "
                                     f'annotate it with (rows, cols), e.g. ("H", "I")')
                rows, cols = declared or (None, None)
                self.var[name] = (self.sizes.new(rows), self.sizes.new(cols))
                continue
            if declared is not None and len(declared) != 1:
                raise self.error(self.node, f"{name} is a vector (never the left operand of @):"
                                 ' annotate it with one size name, e.g. "H"')
            default = ("I" if name == self.inputs[0] else None) if name in self.inputs else (
                "H" if name in self.state else None)
            self.var[name] = self.sizes.new(declared[0] if declared else default)

    def annotation(self, arg: ast.arg) -> tuple[str, ...]:
        node = arg.annotation
        items = node.elts if isinstance(node, ast.Tuple) else [node]
        if not all(isinstance(i, ast.Constant) and isinstance(i.value, str) for i in items) or (
                len(items) not in (1, 2)):
            raise self.error(node, f"annotation of {arg.arg}: write a size name in quotes "
                             '("P") for a vector or a pair ("P", "H") for a matrix')
        for i in items:
            if not i.value.isidentifier():
                raise self.error(node, f"annotation of {arg.arg}: size name {i.value!r} is not "
                                 "an identifier")
        return tuple(i.value for i in items)

    def statements(self) -> list[ast.stmt]:
        body = list(self.node.body)
        if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
            body = body[1:]  # the docstring
        for s in body:
            if isinstance(s, ast.Assign):
                if len(s.targets) != 1 or not isinstance(s.targets[0], ast.Name):
                    raise self.error(s, f"{self.text(s)}: assign one name per line (no "
                                     "unpacking, no chained or indexed assignment)")
            elif not isinstance(s, ast.Return):
                what = CONSTRUCTS.get(type(s), type(s).__name__)
                raise self.error(s, f"{what} is not allowed in a step function: its body is "
                                 "assignments of formulas, one per quantity, then return")
        return body

    # --- the body ------------------------------------------------------------------------
    def read(self) -> tuple[list[Equation], dict[str, str], str | None]:
        self.now: dict[str, int] = {}  # name -> line of its assignment so far
        self.later = {s.targets[0].id: s.lineno for s in self.statements()
                      if isinstance(s, ast.Assign)}
        self.used: set[str] = set()
        self.read_before: set[str] = set()  # state arguments read at t-1
        equations, output = [], None
        body = self.statements()
        for k, s in enumerate(body):
            if isinstance(s, ast.Return):
                if k != len(body) - 1:
                    raise self.error(s, "return must be the last statement")
                if not isinstance(s.value, ast.Name):
                    what = "nothing" if s.value is None else self.text(s.value)
                    raise self.error(s, f"return {what}: return the output quantity by name "
                                     "(assign it first: y = ...; return y)")
                if s.value.id not in self.now:
                    raise self.error(s, f"return {s.value.id}: the output must be a quantity "
                                     "the body computes")
                output = s.value.id
                continue
            name = s.targets[0].id
            if name in self.now:
                raise self.error(s, f"{name} is assigned twice (lines {self.line(self.now[name])} "
                                 f"and {self.line(s.lineno)}): each quantity is one equation; "
                                 "give the second one a new name")
            if name in self.params or name in self.inputs:
                role = "a parameter" if name in self.params else "an input"
                raise self.error(s, f"{name} is {role} and cannot be assigned")
            try:
                check_name(name, "quantity")
            except CellError as e:
                raise self.error(s, str(e)) from None
            value = self.expression(s.value)
            if value.size is None:
                raise self.error(s, f"{name} = {self.text(s.value)} is a constant; a quantity "
                                 "must depend on the input, the state or the parameters")
            if name in self.var:  # a state argument: its new value has its declared size
                self.unify(self.var[name], value.size, s.value, name, s.value)
            else:
                self.var[name] = value.size
            self.now[name] = s.lineno
            equations.append(Equation(sp.IndexedBase(name)[t], value.expr))
        self.check_roles()
        sizes = {n: self.sizes.resolve(self.var[n]) for n in [*self.inputs, *self.now]}
        return equations, sizes, output

    def line(self, lineno: int) -> int:
        return self.first_line + lineno - 1

    def check_roles(self) -> None:
        if not self.state:
            hint = ""
            for q in self.now:
                close = difflib.get_close_matches(q, self.params, n=1)
                if close:
                    hint = f"; did you mean {close[0]} = ... instead of {q} = ...?"
                    break
            raise self.error(self.node, "the cell has no state: no argument is assigned a new "
                             "value in the body (a state argument h is read at t-1 and "
                             f"assigned its value at t){hint}")
        unused = [n for n in self.args if n not in self.used]
        if unused:
            raise self.error(self.node, f"argument {unused[0]} is never used")
        for name in self.state:
            if name not in self.read_before:
                raise self.error(self.node, f"argument {name} is assigned but its previous "
                                 "value is never read, so it is not state: make it a plain "
                                 "quantity (remove it from the arguments)")

    def unify(self, a: int, b: int, node: ast.AST, left: object, right: object) -> None:
        clash = self.sizes.unify(a, b)
        if clash:
            raise self.error(node, f"size mismatch in {self.text(node)}: {self.show(left)} has "
                             f"size {clash[0]}, {self.show(right)} has size {clash[1]}")

    def show(self, what: object) -> str:
        return self.text(what) if isinstance(what, ast.AST) else str(what)

    def name_value(self, node: ast.Name) -> Value:
        name = node.id
        self.used.add(name)
        if name in self.now or name in self.state or name in self.inputs:
            q = sp.IndexedBase(name)
            before = name in self.state and name not in self.now
            if before:
                self.read_before.add(name)
            return Value(q[t - 1] if before else q[t], self.var[name])
        if name in self.params:
            if name in self.matrices:
                raise self.error(node, f"{name} is a matrix (the left operand of @ elsewhere) "
                                 "and is used elementwise here")
            return Value(sp.Symbol(name), self.var[name])
        if name in functions():
            raise self.error(node, f"{name} is a function: call it, {name}(...)")
        if name in self.later:
            raise self.error(node, f"{name} is read before it is assigned (line "
                             f"{self.line(self.later[name])}); only arguments carry values "
                             "from the previous step: make it an argument to have it as state")
        close = difflib.get_close_matches(name, [*self.args, *self.now], n=1)
        hint = f"; did you mean {close[0]}?" if close else ""
        raise self.error(node, f"unknown name {name}: not an argument of {self.node.name} and "
                         f"not assigned before{hint}")

    def expression(self, node: ast.expr) -> Value:
        if isinstance(node, ast.Name):
            return self.name_value(node)
        if isinstance(node, ast.Constant):
            if isinstance(node.value, bool) or not isinstance(node.value, (int, float)):
                raise self.error(node, f"constant {node.value!r}: only numbers are allowed")
            return Value(sp.Integer(node.value) if isinstance(node.value, int)
                         else sp.Float(node.value), None)
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
            v = self.expression(node.operand)
            return Value(-v.expr if isinstance(node.op, ast.USub) else v.expr, v.size)
        if isinstance(node, ast.BinOp):
            return self.binary(node)
        if isinstance(node, ast.Call):
            return self.call(node)
        if isinstance(node, ast.Subscript) and isinstance(node.value, ast.Name):
            q = node.value.id
            raise self.error(node, f"{self.text(node)}: write {q} without an index; a step "
                             f"function reads the previous value of a state argument until it "
                             "assigns it, and the current value after")
        if isinstance(node, ast.Attribute):
            hint = (f"; write {node.attr}(...) (from bptt import {node.attr})"
                    if node.attr in functions() else "")
            raise self.error(node, f"{self.text(node)}: attributes are not allowed in a step "
                             f"function{hint}")
        what = CONSTRUCTS.get(type(node), type(node).__name__)
        raise self.error(node, f"{what} ({self.text(node)}) is not allowed in a step function")

    def binary(self, node: ast.BinOp) -> Value:
        if isinstance(node.op, ast.MatMult):
            return self.matmul(node)
        if type(node.op) not in OPERATORS:
            hint = "; use ** for a power" if isinstance(node.op, ast.BitXor) else ""
            raise self.error(node, f"operator {type(node.op).__name__} in {self.text(node)} is "
                             f"not allowed; use + - * / ** and @{hint}")
        left, right = self.expression(node.left), self.expression(node.right)
        if isinstance(node.op, ast.Pow) and right.size is not None:
            raise self.error(node, f"{self.text(node)}: an exponent must be a number")
        expr = OPERATORS[type(node.op)](left.expr, right.expr)
        return Value(expr, self.combine(node, [(node.left, left), (node.right, right)]))

    def combine(self, node: ast.AST, operands: list[tuple[ast.AST, Value]]) -> int | None:
        """The common size of elementwise operands (numbers broadcast)."""
        sized = [(n, v) for n, v in operands if v.size is not None]
        for (n0, v0), (n1, v1) in zip(sized, sized[1:]):
            self.unify(v0.size, v1.size, node, n0, n1)
        return sized[0][1].size if sized else None

    def matmul(self, node: ast.BinOp) -> Value:
        left = node.left
        if not (isinstance(left, ast.Name) and left.id in self.matrices):
            if isinstance(left, ast.Name) and isinstance(node.right, ast.Name) and (
                    node.right.id in self.params):
                raise self.error(node, f"{self.text(node)}: a matrix multiplies a column vector "
                                 f"from the left: write {node.right.id} @ {left.id}")
            raise self.error(node, f"{self.text(node)}: the left operand of @ must be a weight "
                             "matrix (a parameter)")
        self.used.add(left.id)
        rows, cols = self.var[left.id]
        v = self.expression(node.right)
        if v.size is None:
            raise self.error(node, f"{self.text(node)}: a matrix multiplies a vector, not a "
                             "number")
        clash = self.sizes.unify(cols, v.size)
        if clash:
            raise self.error(node, f"size mismatch in {self.text(node)}: {left.id} has "
                             f"{clash[0]} columns, {self.text(node.right)} has size {clash[1]}")
        return Value(Weight(left.id) @ v.expr, rows)

    def call(self, node: ast.Call) -> Value:
        func = node.func
        if not isinstance(func, ast.Name):
            attr = func.attr if isinstance(func, ast.Attribute) else None
            hint = f"; write {attr}(...) (from bptt import {attr})" if attr in functions() else ""
            raise self.error(node, f"{self.text(func)}(...): a step function calls bptt's "
                             f"functions by name{hint}")
        table = functions()
        if func.id not in table:
            names = ", ".join(sorted(table))
            raise self.error(node, f"{func.id}(...) is not one of bptt's functions ({names}); "
                             "write the formula inline, or add an activation with "
                             "bptt.activation(...)")
        bound = self.fn.__globals__.get(func.id)
        if bound is not None and bound is not table[func.id][1] and not (
                func.id == "identity" and getattr(bound, "__module__", "").startswith("derive")):
            module = getattr(bound, "__module__", None) or type(bound).__name__
            raise self.error(node, f"{func.id} here is {module}'s; import it from bptt "
                             f"(from bptt import {func.id})")
        arity, build = table[func.id]
        if node.keywords or len(node.args) != arity:
            raise self.error(node, f"{func.id} takes {arity} positional argument"
                             f"{'s' if arity > 1 else ''}")
        values = [self.expression(a) for a in node.args]
        if any(v.size is None for v in values):
            raise self.error(node, f"{self.text(node)}: the argument of {func.id} must be a "
                             "vector, not a number")
        size = self.combine(node, list(zip(node.args, values)))
        if arity == 2:  # a loss: a scalar
            size = self.sizes.new(SCALAR)
        return Value(build(*(v.expr for v in values)), size)


def read_step_function(fn: Callable, *, name: str | None = None, source: str = "",
                       description: str = "", inputs: tuple[str, ...] | list[str] | str | None
                       = None, output: str | None = None,
                       stacks: dict[str, tuple[str, ...]] | None = None) -> Cell:
    """The :class:`Cell` of a step function (what ``@cell(...)`` returns)."""
    if isinstance(inputs, str):
        inputs = (inputs,)
    reader = StepFunctionReader(fn, tuple(inputs) if inputs is not None else None)
    equations, sizes, returned = reader.read()
    output = output or returned
    if output is None:
        raise reader.error(None, "end the step function with return <output quantity>, or "
                           "name it: @cell(output=...)")
    params = {}
    for p in reader.params:
        if p in reader.matrices:
            rows, cols = (reader.sizes.resolve(v) for v in reader.var[p])
            params[p] = Param(p, (rows, cols), Weight(p))
        else:
            params[p] = Param(p, (reader.sizes.resolve(reader.var[p]),), sp.Symbol(p))
    try:
        return Cell(name or fn.__name__.replace("_", "-"), source, tuple(equations), params,
                    output, reader.inputs, dict(stacks or {}), description, sizes,
                    function=fn)
    except CellError as e:
        raise reader.error(None, str(e)) from None


def cell(fn: Callable | None = None, **options) -> Cell | Callable[[Callable], Cell]:
    """Decorator: ``@cell`` or ``@cell(source=..., description=..., name=..., inputs=...,
    output=...)`` turns a step function into a :class:`~derive.ir.Cell`."""
    if fn is not None:
        return read_step_function(fn, **options)
    return lambda f: read_step_function(f, **options)
