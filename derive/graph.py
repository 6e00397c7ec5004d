"""Pictures of a cell unrolled over T steps (Graphviz), read from the IR and the derivation.

* :func:`forward_graph`: a box per step with the step's quantities, an arrow for every value an
  equation reads (labelled with the matrices and vectors it is multiplied by), the state edges
  t -> t+1 drawn thick and coloured, the initial state in a box of its own, and the parameters
  listed once, as shared by every step.
* :func:`backward_graph`: the adjoints of the derived recurrences at every step; every arrow is
  one term of a recurrence (labelled with the term), the terms that arrive from step t+1 are
  highlighted, and the boundary delta^{T+1} = 0 is drawn as its own box.

Nothing is special-cased per cell: nodes are ``cell.equations`` and ``Backward.adjoints``, edges
are what their right sides read. Labels are the sheets' LaTeX in the chosen notation, turned
into Graphviz HTML labels by :mod:`derive.labels`. Writing DOT needs only the Python package
``graphviz``; SVG, PNG and PDF need Graphviz's ``dot`` program.

    >>> from derive import get_cell
    >>> dot = forward_graph(get_cell("rnn"), steps=2)
    >>> '"h@1" -> "h@1in2"' in dot.source     # the state edge: h^1 handed to step 2
    True
"""
from __future__ import annotations

from dataclasses import dataclass

import sympy as sp

from .derivation import Backward, adjoint, derive
from .ir import Cell, CellError, Delta, MatVec, Weight, base_name, t
from .labels import latex_to_html
from .printers import TextbookLatexPrinter, get_notation
from .trace import adjoint_terms


@dataclass(frozen=True)
class Style:
    """Colours and line styles, one row per kind of node or edge."""
    node: dict
    edge: dict


#: how each kind of node is drawn
NODES = {
    "input": dict(shape="box", style="rounded,filled", fillcolor="#e8e8e8", color="#888888"),
    "quantity": dict(shape="ellipse", style="filled", fillcolor="#ffffff", color="#555555"),
    "state": dict(shape="ellipse", style="filled,bold", fillcolor="#dbe9ff", color="#1f5fbf"),
    "output": dict(shape="ellipse", style="filled,bold", fillcolor="#dbe9ff", color="#1f5fbf",
                   peripheries="2"),
    "above": dict(shape="box", style="rounded,filled", fillcolor="#e6f4e6", color="#2e7d32"),
    "handed": dict(shape="ellipse", style="filled,dashed", fillcolor="#dbe9ff", color="#1f5fbf"),
    "from next": dict(shape="ellipse", style="filled,dashed", fillcolor="#fde0e0",
                      color="#c62828"),
    "boundary": dict(shape="box", style="dashed,filled", fillcolor="#fff3e0", color="#e65100"),
    "params": dict(shape="plaintext"),
}
#: how each kind of edge is drawn
EDGES = {
    "same step": dict(color="#777777", fontcolor="#555555"),
    "state": dict(color="#1f5fbf", fontcolor="#1f5fbf", penwidth="2.5", constraint="false"),
    "from t+1": dict(color="#c62828", fontcolor="#c62828", penwidth="2.5", constraint="false"),
    "term from t+1": dict(color="#c62828", fontcolor="#c62828"),
    "above": dict(color="#2e7d32", fontcolor="#2e7d32"),
    "boundary": dict(color="#e65100", fontcolor="#e65100", style="dashed"),
}
GRAPH = dict(rankdir="TB", newrank="true", nodesep="0.25", ranksep="0.35",
             fontname="DejaVu Sans", fontsize="12", labelloc="t")
FONT = dict(fontname="DejaVu Sans", fontsize="11")


def _graphviz():
    try:
        import graphviz
    except ImportError:  # pragma: no cover - graphviz is a declared dependency
        raise CellError("bptt graph needs the Python package graphviz: pip install graphviz")
    return graphviz


class _Labels:
    def __init__(self, cell: Cell, notation: str) -> None:
        self.printer = TextbookLatexPrinter(get_notation(notation, cell), cell)
        self.notation = self.printer.notation

    def __call__(self, expr: sp.Expr, step: int | None = None, lhs: sp.Expr | None = None) -> str:
        lhs = sp.S.Zero if lhs is None else lhs
        self.printer.lhs = lhs.subs(t, step) if step is not None else lhs
        expr = expr.subs(t, step) if step is not None else expr
        return "<" + latex_to_html(self.printer.doprint(self.printer.display(expr))) + ">"

    def named(self, name: str) -> bool:
        return name not in self.notation.inline


def _node(name: str, step: int | str) -> str:
    return f"{name}@{step}"


def _multipliers(cell: Cell, rhs: sp.Expr, read: sp.Indexed) -> list[sp.Symbol]:
    """The parameters a read value is multiplied by in an equation: the weight of each matrix
    product it is in, and the vector parameters of the elementwise terms it is in."""
    found = [m.args[0] for m in rhs.atoms(MatVec) if m.args[1].has(read)]
    plain = rhs.replace(lambda e: isinstance(e, MatVec), lambda e: sp.S.Zero)
    for term in sp.Add.make_args(sp.expand(plain)):
        if term.has(read):
            found += [s for s in term.atoms(sp.Symbol)
                      if str(s) in cell.params and not isinstance(s, Weight)]
    return sorted(set(found), key=lambda s: list(cell.params).index(str(s)))


def _params_table(cell: Cell, label: _Labels) -> str:
    names = [label(p.symbol)[1:-1] for p in cell.params.values()]
    rows = "".join(f"<TR><TD ALIGN='LEFT'>{', '.join(names[k:k + 6])}</TD></TR>"
                   for k in range(0, len(names), 6))
    return ("<<TABLE BORDER='1' CELLBORDER='0' CELLSPACING='2' COLOR='#999999' BGCOLOR='#fafafa'>"
            "<TR><TD><B>parameters, shared by every step</B></TD></TR>" + rows + "</TABLE>>")


def _cluster(graph, name: str, title: str, **attrs):
    look = dict(style="rounded", color="#bbbbbb", fontname="DejaVu Sans", fontsize="12")
    return graph.subgraph(name=f"cluster_{name}", graph_attr={**look, "label": title, **attrs})


def _in_order(dot, nodes: list[str]) -> None:
    """Keep the steps left to right: one node of each step on one rank, joined invisibly."""
    with dot.subgraph() as row:
        row.attr(rank="same")
        for node in nodes:
            row.node(node)
    for a, b in zip(nodes, nodes[1:]):
        dot.edge(a, b, style="invis")


#: the forward boxes side by side up to this many state variables, one below the other above
FORWARD_COLUMNS_UP_TO = 2


def _layout(layout: str, columns: bool) -> str:
    if layout == "auto":
        return "columns" if columns else "rows"
    if layout not in ("columns", "rows"):
        raise CellError(f"unknown graph layout {layout!r}; layouts: auto, columns, rows")
    return layout


def forward_graph(cell: Cell, steps: int = 3, notation: str = "vector", layout: str = "auto"):
    """The forward pass unrolled over ``steps`` steps, as a ``graphviz.Digraph``.

    Each step's box starts with what the step reads: its input and the state the previous step
    handed over (for step 1, the initial state); a thick blue arrow joins each state value to
    its copy in the next step's box. ``layout``: ``columns`` (t = 1 on the left), ``rows``
    (t = 1 on top, the state handed downwards) or ``auto`` (columns for cells with at most
    :data:`FORWARD_COLUMNS_UP_TO` state variables)."""
    graphviz = _graphviz()
    layout = _layout(layout, len(cell.state) <= FORWARD_COLUMNS_UP_TO)
    label = _Labels(cell, notation)
    dot = graphviz.Digraph(cell.name, graph_attr=dict(
        GRAPH, label=f"{cell.name}: forward pass, T = {steps} steps (blue: the state)"),
        node_attr=FONT, edge_attr=FONT)
    dot.node("params", _params_table(cell, label), **NODES["params"])
    state = [s for s in cell.state if label.named(s)]
    for step in range(1, steps + 1):
        with _cluster(dot, f"step{step}", f"step t = {step}") as box:
            for name in cell.inputs:
                box.node(_node(name, step), label(sp.IndexedBase(name)[t], step), **NODES["input"])
            for s in state:  # the state this step reads, as handed over by the previous one
                box.node(_node(s, f"{step - 1}in{step}"), label(sp.IndexedBase(s)[t], step - 1),
                         **NODES["handed" if step > 1 else "state"])
            for eq in cell.equations:
                if not label.named(eq.name):
                    continue
                kind = "output" if eq.name == cell.output else "state" if eq.name in state \
                    else "quantity"
                box.node(_node(eq.name, step), label(eq.lhs, step), **NODES[kind])
    def top(step: int) -> list[str]:
        """The first row of a step's box: the state handed over, the inputs."""
        return [_node(s, f"{step - 1}in{step}") for s in state] + [
            _node(x, step) for x in cell.inputs]
    if layout == "columns":  # every box's first row in one row, step by step (with the inputs
        # alone, Graphviz may swap the boxes of a cell with many state variables)
        _in_order(dot, [node for step in range(1, steps + 1) for node in top(step)])
    else:  # one box below the other: each box's first row below every node of the box above
        for step in range(1, steps + 1):
            with dot.subgraph() as row:
                row.attr(rank="same")
                for node in top(step):
                    row.node(node)
            for eq in cell.equations if step > 1 else ():
                if label.named(eq.name):
                    dot.edge(_node(eq.name, step - 1), top(step)[0], style="invis")
    handing = dict(EDGES["state"], constraint="true" if layout == "rows" else "false")
    dot.edge("params", _node(cell.inputs[0], 1), style="invis")  # the table above step 1
    for step in range(1, steps + 1):
        for s in state:
            if step > 1:
                dot.edge(_node(s, step - 1), _node(s, f"{step - 1}in{step}"), **handing)
        for eq in cell.equations:
            if not label.named(eq.name):
                continue
            rhs = label.printer.display(eq.rhs)
            for read in sorted(rhs.atoms(sp.Indexed), key=str):
                k = int(read.indices[0] - t)
                weights = _multipliers(cell, rhs, read)
                text = label(sp.Add(*weights)) if len(weights) == 1 else (
                    "<" + ", ".join(label(w)[1:-1] for w in weights) + ">" if weights else "")
                source = _node(base_name(read), step if k == 0 else f"{step - 1}in{step}")
                dot.edge(source, _node(eq.name, step), label=text, **EDGES["same step"])
    return dot


#: the backward boxes side by side up to this many adjoint equations, one below the other above
COLUMNS_UP_TO = 3


def backward_graph(cell: Cell, steps: int = 3, notation: str = "vector",
                   backward: Backward | None = None, layout: str = "auto"):
    """The derived backward pass unrolled over ``steps`` steps: one arrow per term.

    Each step's box starts with what its recurrences read from step t+1: copies of those
    adjoints, joined by a thick red arrow to where step t+1 computed them; at t = T they are
    the boundary, 0. The box t = 0 holds the gradient of the initial state. ``layout``:
    ``columns`` (boxes side by side, t = T on the left), ``rows`` (t = T on top) or ``auto``
    (columns for small cells)."""
    graphviz = _graphviz()
    backward = backward or derive(cell)
    layout = _layout(layout, len(backward.adjoints) <= COLUMNS_UP_TO)
    handing = dict(EDGES["from t+1"], constraint="true" if layout == "rows" else "false")
    label = _Labels(cell, notation)
    dot = graphviz.Digraph(f"{cell.name}-backward", graph_attr=dict(
        GRAPH, label=f"{cell.name}: backward pass, t = {steps} down to 1 (red: terms from "
                     f"step t+1; orange: the boundary, 0 at T+1 = {steps + 1}"
                     + (f"; green: L = sum over t of {cell.loss}^t" if cell.loss else "") + ")"),
        node_attr=FONT, edge_attr=FONT)
    state = {str(adjoint(s)) for s in cell.state}

    def read_next(equations) -> list[str]:
        names = [base_name(read) for eq in equations for _, read in adjoint_terms(eq.rhs)
                 if read is not None and read.base != Delta
                 and read.indices[0] != eq.lhs.indices[0]]
        return list(dict.fromkeys(names))

    def seed(step: int) -> str:
        if not cell.loss:
            return label(Delta[t], step)
        loss = label(sp.IndexedBase(cell.loss)[t], step)[1:-1]
        return f"<∂L/∂{loss} = 1>"

    def handed(name: str, step: int) -> str:
        return _node(name, f"{step + 1}in{step}")

    for step in range(steps, -1, -1):
        equations = backward.adjoints if step else backward.initial
        title = (f"step t = {step}" if step else "t = 0: the gradient of the initial state")
        with _cluster(dot, f"step{step}", title) as box:
            for name in read_next(equations):
                if step == steps:
                    box.node(handed(name, step), "<" + label(
                        sp.IndexedBase(name)[t], step + 1)[1:-1] + " = 0>", **NODES["boundary"])
                else:
                    box.node(handed(name, step), label(sp.IndexedBase(name)[t], step + 1),
                             **NODES["from next"])
            if step:  # where the gradient enters: from the layer above, or the cell's loss
                box.node(_node(str(Delta), step), seed(step), **NODES["above"])
            for eq in equations:
                kind = "state" if eq.name in state else "quantity"
                box.node(_node(eq.name, step), label(eq.lhs, step if step else None),
                         **NODES[kind])
        for name in read_next(equations):
            if step < steps:
                dot.edge(_node(name, step + 1), handed(name, step), **handing)
        for eq in equations:
            for term, read in adjoint_terms(eq.rhs):
                if read is None or read.base == Delta:
                    source, kind = _node(str(Delta), step), "above"
                elif read.indices[0] == eq.lhs.indices[0]:
                    source, kind = _node(base_name(read), step), "same step"
                else:
                    source = handed(base_name(read), step)
                    kind = "boundary" if step == steps else "term from t+1"
                dot.edge(source, _node(eq.name, step),
                         label=label(term, step if step else None, eq.lhs), **EDGES[kind])
    def top(step: int) -> list[str]:
        """The first row of a step's box: what it reads from step t+1, and the gradient in."""
        equations = backward.adjoints if step else backward.initial
        return [handed(name, step) for name in read_next(equations)] + (
            [_node(str(Delta), step)] if step else [])
    if layout == "columns":  # every box's first row in one row, t = T first (else Graphviz
        # may reorder the boxes)
        _in_order(dot, [node for step in range(steps, -1, -1) for node in top(step)])
    else:  # one box below the other: each box's first row below every node of the box above
        for step in range(steps, -1, -1):
            top_row = top(step)
            with dot.subgraph() as row:
                row.attr(rank="same")
                for node in top_row:
                    row.node(node)
            for eq in backward.adjoints if step < steps else ():
                dot.edge(_node(eq.name, step + 1), top_row[0], style="invis")
                if step and eq.name in state:  # each state's adjoint below its value at t+1:
                    # the boxes stay one below the other instead of drifting to the right
                    dot.edge(_node(eq.name, step + 1), _node(eq.name, step), style="invis",
                             weight="10")
    return dot


GRAPH_FORMATS = ("svg", "png", "pdf", "dot")


def graph_bytes(dot, fmt: str) -> bytes:
    """The graph in ``fmt`` (``dot`` needs no Graphviz program; the others need ``dot``)."""
    if fmt not in GRAPH_FORMATS:
        raise CellError(f"unknown graph format {fmt!r}; formats: {', '.join(GRAPH_FORMATS)}")
    if fmt == "dot":
        return dot.source.encode()
    graphviz = _graphviz()
    try:
        return dot.pipe(format=fmt)
    except graphviz.ExecutableNotFound:
        raise CellError(f"{fmt} output needs Graphviz's dot program: install the Debian package "
                        "graphviz (apt-get install graphviz), or write .dot") from None
