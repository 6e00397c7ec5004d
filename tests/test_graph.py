"""bptt graph: the unrolled forward and backward graphs, read back from their DOT source and
compared with the cell's equations and the derived recurrences (every read an edge, every term
an arrow, the terms from t+1 and the boundary marked)."""
import re
import shutil

import pytest
import sympy as sp

from bptt import main
from derive import cell_names, derive, get_cell, t
from derive.graph import backward_graph, forward_graph
from derive.ir import Delta, base_name
from derive.trace import adjoint_terms

from user_cells import USER_CELLS

CELLS = sorted({get_cell(name).name for name in cell_names()}) + list(USER_CELLS)


def cell_by_name(name: str):
    return USER_CELLS[name]() if name in USER_CELLS else get_cell(name)
EDGE = re.compile(r'^\s*"?([^"\s]+)"? -> "?([^"\s]+)"? \[(.*)\]$', re.M)


def edges(dot):
    return [(a, b, attrs) for a, b, attrs in EDGE.findall(dot.source)
            if "invis" not in attrs]


@pytest.mark.parametrize("name", CELLS)
@pytest.mark.parametrize("steps", [1, 3])
def test_forward_graph_has_every_read_and_the_state_edges(name, steps):
    cell = cell_by_name(name)
    found = edges(forward_graph(cell, steps))
    expected = []
    for k in range(1, steps + 1):
        for eq in cell.equations:
            for read in eq.rhs.atoms(sp.Indexed):
                at = int(read.indices[0] - t)
                source = f"{base_name(read)}@{k}" if at == 0 else f"{base_name(read)}@{k - 1}in{k}"
                expected.append((source, f"{eq.name}@{k}"))
        if k > 1:
            expected += [(f"{s}@{k - 1}", f"{s}@{k - 1}in{k}") for s in cell.state]
    assert sorted((a, b) for a, b, _ in found) == sorted(expected)
    state_edges = [e for e in found if "penwidth=2.5" in e[2]]
    assert len(state_edges) == len(cell.state) * (steps - 1)
    source = forward_graph(cell, steps).source
    assert source.count("parameters, shared by every step") == 1
    for k in range(1, steps + 1):
        assert f"label=\"step t = {k}\"" in source


@pytest.mark.parametrize("name", CELLS)
def test_backward_graph_has_one_arrow_per_term(name):
    cell, steps = cell_by_name(name), 3
    backward = derive(cell)
    found = edges(backward_graph(cell, steps))
    terms = [e for e in found if "label=" in e[2]]
    per_step = sum(len(adjoint_terms(eq.rhs)) for eq in backward.adjoints)
    assert len(terms) == steps * per_step + sum(len(adjoint_terms(eq.rhs))
                                               for eq in backward.initial)
    from_next = {base_name(r) for eq in backward.adjoints for _, r in adjoint_terms(eq.rhs)
                 if r is not None and r.base != Delta and r.indices[0] == t + 1}
    handed = [e for e in found if "penwidth=2.5" in e[2]]     # step t+1 -> its copy in step t
    assert len(handed) == (steps - 1) * len(from_next) + len(
        {base_name(r) for eq in backward.initial for _, r in adjoint_terms(eq.rhs)})
    boundary = [e for e in found if e[0].endswith(f"in{steps}") and "dashed" in e[2]]
    assert {e[0].split("@")[0] for e in boundary} == from_next
    terms_from_next = [e for e in terms if "in" in e[0].split("@")[1]]
    assert terms_from_next and all(
        ("#e65100" if e[0].endswith(f"@{steps + 1}in{steps}") else "#c62828") in e[2]
        for e in terms_from_next)
    assert "= 0>" in backward_graph(cell, steps).source


def test_forward_layouts_draw_the_same_edges():
    cell = get_cell("greff-fgr")
    rows, columns = (edges(forward_graph(cell, 3, layout=k)) for k in ("rows", "columns"))
    assert sorted(e[:2] for e in rows) == sorted(e[:2] for e in columns)
    assert forward_graph(cell, 3).source == forward_graph(cell, 3, layout="rows").source
    assert forward_graph(get_cell("lstm"), 3).source == forward_graph(
        get_cell("lstm"), 3, layout="columns").source


def test_layouts_draw_the_same_edges():
    cell = get_cell("lstm")
    rows, columns = (edges(backward_graph(cell, 3, layout=k)) for k in ("rows", "columns"))
    assert sorted(e[:2] for e in rows) == sorted(e[:2] for e in columns)
    assert 'constraint=false' in backward_graph(cell, 3, layout="columns").source


def test_graves_notation_labels():
    source = backward_graph(get_cell("graves-lstm"), 2, notation="graves").source
    assert "ε<SUB>s</SUB><SUP>1</SUP>" in source           # Graves' eps_s^t
    assert "b<SUB>φ</SUB><SUP>2</SUP> ε<SUB>s</SUB><SUP>2</SUP>" in source  # b_phi^{t+1} eps_s^{t+1}


def test_dot_needs_no_graphviz_program(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    out = tmp_path / "g.dot"
    assert main(["graph", "gru", "--backward", "-o", str(out)]) == 0
    assert out.read_text().startswith("digraph")


def test_svg_without_graphviz_is_one_line(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("PATH", str(tmp_path))
    assert main(["graph", "rnn", "-o", str(tmp_path / "g.svg")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "apt-get install graphviz" in err
    assert not (tmp_path / "g.svg").exists()


needs_dot = pytest.mark.skipif(shutil.which("dot") is None,
                               reason="Graphviz's dot is not installed (apt-get install graphviz)")


@needs_dot
@pytest.mark.parametrize("name", cell_names())
def test_graph_command_svg_for_every_cell(name, tmp_path):
    for backward in ([], ["--backward"]):
        out = tmp_path / f"{name}.svg"
        assert main(["graph", name, *backward, "-o", str(out)]) == 0
        svg = out.read_text()
        assert svg.lstrip().startswith("<?xml") and "</svg>" in svg


@needs_dot
@pytest.mark.parametrize("name", list(USER_CELLS))
def test_user_cell_svg(name):
    from derive.graph import graph_bytes
    for draw in (forward_graph, backward_graph):
        assert b"</svg>" in graph_bytes(draw(cell_by_name(name)), "svg")


@needs_dot
def test_png_and_pdf(tmp_path):
    assert main(["graph", "rnn", "--backward", "--steps", "2", "-o", str(tmp_path / "g.png")]) == 0
    assert (tmp_path / "g.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert main(["graph", "rnn", "-o", str(tmp_path / "g.pdf")]) == 0
    assert (tmp_path / "g.pdf").read_bytes()[:5] == b"%PDF-"


@pytest.mark.parametrize("argv", [["graph", "rnn", "-o", "g.txt"],
                                  ["graph", "rnn", "--steps", "0", "-o", "g.dot"],
                                  ["graph", "gru", "--notation", "graves", "-o", "g.dot"],
                                  ["graph", "nope", "-o", "g.dot"],
                                  ["graph", "rnn", "--backward", "--layout", "x", "-o", "g.dot"]])
def test_graph_bad_input(argv, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    assert capsys.readouterr().err.count("\n") == 1
    assert not list(tmp_path.iterdir())


def box_positions(svg: str, axis: int) -> list[int]:
    """The steps of the boxes (clusters) in the order Graphviz drew them along x (0) or y (1)."""
    found = re.findall(r'<title>cluster_step(\d+)</title>\s*<path[^>]*d="M([\d.\-]+),([\d.\-]+)',
                       svg)
    return [int(step) for step, *xy in sorted(found, key=lambda f: float(f[1 + axis]))]


@pytest.mark.skipif(shutil.which("dot") is None, reason="needs Graphviz's dot")
@pytest.mark.parametrize("name", CELLS)
def test_the_boxes_are_drawn_in_time_order(name):
    """Forward: t = 1 .. T left to right; backward: t = T .. 0 left to right (columns) or top
    to bottom (rows), whatever the crossings Graphviz minimises."""
    from derive.graph import graph_bytes
    cell, steps = cell_by_name(name), 3
    for layout, axis in (("columns", 0), ("rows", 1)):
        svg = graph_bytes(forward_graph(cell, steps, layout=layout), "svg").decode()
        assert box_positions(svg, axis) == [1, 2, 3], layout
    for layout, axis in (("columns", 0), ("rows", 1)):
        svg = graph_bytes(backward_graph(cell, steps, layout=layout), "svg").decode()
        assert box_positions(svg, axis) == [3, 2, 1, 0], layout


def test_a_loss_cell_graph_starts_from_its_loss():
    cell = get_cell("elman-softmax")
    source = backward_graph(cell, 2).source
    assert "∂L/∂loss<SUP>1</SUP> = 1" in source and "Δ" not in source
    assert "L = sum over t of loss^t" in source
