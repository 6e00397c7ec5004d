"""A hypothesis strategy for random valid cells, written as step-function source for the
front end (``@cell``): 1-3 state vectors, 2-3 size names, 2-8 equations drawn from every
operation a step function may use (every built-in activation, exp, log, softmax, matrix
products, elementwise + - *, division, powers, numbers), and sometimes a per-step loss
(cross-entropy of a softmax, or a squared error) on a target input.

``cell_sources()`` draws the source text of a module with one cell ``drawn``; ``load(source)``
writes it to a fresh temporary file and reads it with ``derive.cells.load_cell``, as the
command line would.
"""
from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from hypothesis import strategies as st

from derive import Cell
from derive.cells import load_cell

ACTIVATIONS = ("sigmoid", "tanh", "relu", "leaky_relu", "softplus", "elu", "softsign")
HIDDEN_SIZES = ("H", "P", "K")
STATE_NAMES = ("h", "c", "m")
HEADER = ("from bptt import (cell, cross_entropy, elu, exp, leaky_relu, log, relu, sigmoid, "
          "softmax,\n                  softplus, softsign, squared_error, tanh)\n\n\n")


class _Writer:
    """Writes one random step function; tracks what is readable, with its size."""

    def __init__(self, draw, sizes: list[str]) -> None:
        self.draw, self.sizes = draw, sizes
        self.readable: dict[str, str] = {"x": "I"}   # name -> size name
        self.params: dict[str, tuple[str, ...]] = {}
        self.read: set[str] = set()

    def param(self, kind: str, shape: tuple[str, ...]) -> str:
        name = f"{kind}{len(self.params) + 1}"
        self.params[name] = shape
        return name

    def name(self, size: str) -> str | None:
        names = sorted(n for n, s in self.readable.items() if s == size)
        if not names:
            return None
        name = self.draw(st.sampled_from(names))
        self.read.add(name)
        return name

    def product(self, size: str, depth: int) -> str:
        """W @ v, v of any readable size (or an expression of it)."""
        source = self.draw(st.sampled_from(sorted(set(self.readable.values()))))
        W = self.param("W", (size, source))
        v = self.expr(source, depth - 1) if depth > 0 and self.draw(st.booleans()) else (
            self.name(source))
        # in parentheses: @ binds as tightly as *, so a * W @ v would be (a * W) @ v
        return f"({W} @ {v})" if v.isidentifier() else f"({W} @ ({v}))"

    def leaf(self, size: str) -> str:
        choice = self.draw(st.sampled_from(["name", "name", "bias", "product"]))
        if choice == "name" and (name := self.name(size)) is not None:
            return name
        if choice == "bias":
            return self.param("b", (size,))
        return self.product(size, 0)

    def expr(self, size: str, depth: int) -> str:
        if depth <= 0:
            return self.leaf(size)
        kind = self.draw(st.sampled_from(
            ["leaf", "activation", "activation", "exp", "log", "softmax", "sum", "difference",
             "product", "hadamard", "division", "power", "number", "matrix"]))
        sub = lambda: self.expr(size, depth - 1)  # noqa: E731
        if kind == "activation":
            return f"{self.draw(st.sampled_from(ACTIVATIONS))}({sub()})"
        if kind == "exp":
            return f"exp({sub()})"
        if kind == "log":  # of something positive
            inner = self.draw(st.sampled_from(["sigmoid", "softplus", "softmax"]))
            return f"log({inner}({sub()}))"
        if kind == "softmax":
            return f"softmax({sub()})"
        if kind == "sum":
            return f"({sub()} + {sub()})"
        if kind == "difference":
            return f"({sub()} - {sub()})"
        if kind == "hadamard":
            return f"{sub()} * {sub()}"
        if kind == "division":  # by something that is never 0
            below = self.draw(st.sampled_from(["(1 + {d} * {d})", "(2 + tanh({d}))",
                                               "(1 + exp({d}))", "2"]))
            return f"{sub()} / {below.format(d=sub()) if '{d}' in below else below}"
        if kind == "power":
            return f"({sub()}) ** {self.draw(st.sampled_from([2, 3]))}"
        if kind == "number":
            n = self.draw(st.sampled_from(["2", "3", "0.5", "-1"]))
            form = self.draw(st.sampled_from(["{n} * {e}", "({e} + {n})", "({n} - {e})"]))
            return form.format(n=n, e=sub())
        if kind == "matrix":
            return self.product(size, depth)
        return self.leaf(size)


@st.composite
def cell_sources(draw) -> str:
    """The source of a module defining one random valid cell named ``drawn``."""
    sizes = draw(st.lists(st.sampled_from(HIDDEN_SIZES), min_size=1, max_size=2, unique=True))
    state = {s: draw(st.sampled_from(sizes)) for s in
             STATE_NAMES[:draw(st.integers(1, len(STATE_NAMES)))]}
    loss = draw(st.sampled_from([None, None, "cross_entropy", "squared_error"]))
    n_equations = draw(st.integers(max(2, len(state) + (2 if loss else 0)), 8))
    n_quantities = n_equations - len(state) - (2 if loss else 0)
    order = draw(st.permutations([*state, *(f"q{k}" for k in range(1, n_quantities + 1))]))
    w = _Writer(draw, sizes)
    w.readable |= state  # the state is readable from the start: its value at t-1
    depth = draw(st.integers(1, 3))
    lines = []
    for k, name in enumerate(order):
        size = state.get(name) or draw(st.sampled_from(sizes))
        rhs = w.expr(size, depth)
        if k == 0 and "x" not in w.read:  # every cell reads its input
            rhs = f"{rhs} + ({w.param('W', (size, 'I'))} @ x)"
            w.read.add("x")
        if name in state and name not in w.read:  # a state variable reads its previous value
            rhs = f"{rhs} + {w.leaf(size)} * {name}"
            w.read.add(name)
        lines.append(f"    {name} = {rhs}")
        w.readable[name] = size
    output = order[-1] if order[-1] in state else draw(st.sampled_from(sorted(state)))
    args = ["x", *state]
    annotations = {s: size for s, size in state.items()}
    if loss:
        size = draw(st.sampled_from(sizes))
        y = w.expr(size, depth - 1)
        lines.append(f"    y = {'softmax(' + y + ')' if loss == 'cross_entropy' else y}")
        lines.append(f"    loss = {loss}(y, z)")
        args.insert(1, "z")
        annotations["z"] = size
        output = "y"
    args += list(w.params)
    annotations |= w.params
    unread = [s for s in state if s not in w.read]
    assert not unread, unread

    def annotated(a):
        shape = annotations.get(a)
        if shape is None:
            return a
        if isinstance(shape, str):
            return f'{a}: "{shape}"'
        return f"{a}: {tuple(shape)!r}" if len(shape) > 1 else f'{a}: "{shape[0]}"'

    signature = ", ".join(annotated(a) for a in args)
    return (f"{HEADER}@cell\ndef drawn({signature}):\n" + "\n".join(lines)
            + f"\n    return {output}\n")


def load(source: str) -> Cell:
    """The cell of a drawn source, read from a fresh file by the front end (the module is
    not kept: the next draw may reuse the temporary path)."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "drawn.py"
        path.write_text(source)
        before = set(sys.modules)
        try:
            return load_cell(f"{path}:drawn")
        finally:
            for name in set(sys.modules) - before:
                del sys.modules[name]
