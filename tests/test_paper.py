"""A paper's forward equations as a cell (issue 10 section 4): the PyTorch docs' LSTM and GRU
and Greff et al. 2017's LSTM, read from tests/papers/, derive the built-in cells' backward
passes (tests/paper_oracle.py); the CLI reads them in every command; bad files are one line."""
import importlib.util
from pathlib import Path

import pytest

from bptt import main
from derive.cells import get_cell, load_cell
from derive.ir import CellError
from derive.paper import equation_lines
from derive.sheets import render
from paper_oracle import differences
from verify.numeric import check_numeric

PAPERS = Path(__file__).parent / "papers"


@pytest.mark.parametrize("paper, notation, builtin", [
    ("pytorch-lstm.tex", "pytorch", "lstm"), ("pytorch-gru.md", "pytorch", "gru"),
    ("greff-lstm.tex", "greff", "graves-lstm"), ("graves-lstm.tex", "graves", "graves-lstm")])
def test_papers_derive_the_builtin_backward_pass(paper, notation, builtin):
    cell = load_cell(str(PAPERS / paper), notation)
    reference = get_cell(builtin)
    assert set(cell.params) == set(reference.params) and cell.state == reference.state
    assert all(cell.params[p].shape == reference.params[p].shape for p in cell.params)
    assert differences(cell, reference) == []


def test_the_oracle_tells_a_wrong_paper(tmp_path):
    wrong = tmp_path / "wrong.tex"  # the cell output reads the previous cell state
    wrong.write_text((PAPERS / "pytorch-lstm.tex").read_text().replace(
        r"\tanh(c_t)", r"\tanh(c_{t-1})"))
    assert "delta_c[t]" in differences(load_cell(str(wrong), "pytorch"), get_cell("lstm"))


def test_graves_per_unit_sums(capsys):
    """Graves' sums over units name the matrices from his tables; the biases he folds into the
    weights (a constant unit) are the beta his notation writes; read in a vector notation the
    sums are an error."""
    cell = load_cell(str(PAPERS / "graves-lstm.tex"), "graves")
    assert {"b_i", "b_z", "p_i", "R_o"} <= set(cell.params) and cell.params["p_o"].shape == ("H",)
    sheet = render(cell, "vector", "md")
    assert r"w_{c \omega} \odot \delta a_{\omega}^{t}" in sheet
    assert main(["sheet", str(PAPERS / "graves-lstm.tex")]) == 2
    err = capsys.readouterr().err
    assert "graves-lstm.tex:3:" in err and "--notation graves" in err and "Traceback" not in err


def test_sheet_prints_the_papers_own_symbols():
    sheet = render(load_cell(str(PAPERS / "pytorch-gru.md"), "pytorch"), "vector", "md")
    assert r"\delta h_{t} = \Delta^{t}" in sheet and r"W_{h n}^\top" in sheet
    greff = render(load_cell(str(PAPERS / "greff-lstm.tex"), "greff"), "vector", "md")
    assert r"\bar{z}^{t} = W_{z} x^{t} + R_{z} y^{t-1} + b_{z}" in greff
    assert r"\delta \bar{o}^{t}" in greff


def test_cli_verify_and_codegen(tmp_path, capsys):
    paper = str(PAPERS / "pytorch-lstm.tex")
    assert main(["verify", paper, "--notation", "pytorch", "--symbolic", "--steps", "2"]) == 0
    assert main(["verify", str(PAPERS / "pytorch-gru.md"), "--notation", "pytorch",
                 "--steps", "2"]) == 0  # both checks
    out = tmp_path / "k.py"
    assert main(["codegen", paper, "--notation", "pytorch", "-o", str(out)]) == 0
    spec = importlib.util.spec_from_file_location("paper_kernel", out)
    kernel = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(kernel)
    report = check_numeric(load_cell(paper, "pytorch"), kernel)
    assert report.ok, report.format()
    for command in (["explain", paper], ["trace", paper, "--steps", "2"],
                    ["graph", paper, "-o", str(tmp_path / "g.dot")]):
        assert main(command + ["--notation", "pytorch"]) == 0, command
    capsys.readouterr()
    assert main(["cells", str(PAPERS / "pytorch-lstm.tex")]) == 0
    assert "state: h: H, c: H" in capsys.readouterr().out
    # Greff's g and h are tanh in his notation, unknown letters in the default one
    assert main(["sheet", str(PAPERS / "greff-lstm.tex")]) == 2
    assert "greff-lstm.tex:3: 'g(\\bar{z}^{t})': 'g' is not a known function; name its " \
        "activation: --map 'g=tanh'" in capsys.readouterr().err


@pytest.mark.parametrize("text, line, message", [
    ("h_t = \\tanh(W x_t + U u_{t-1})\n", 1, "no equation defines 'u'"),
    ("% a comment\n\\begin{align}\nh_t &= \\tanh(W x_t + U h_{t-1}) \\\\\n"
     "h_t &= \\tanh(h_t)\n\\end{align}\n", 4, "defined twice"),
    ("a_t = \\tanh(W x_t + b_t)\nb_t = \\tanh(U a_t + h_{t-1})\nh_t = a_t\n", 1,
     "read each other"),
    ("h_t = \\tanh(W x_t + U h_{t+1})\n", 1, "at t or t-1"),
    ("h_{t-1} = \\tanh(W x_t)\n", 1, "at step t"),
    ("h_t = \\tanh(W x_t + (U h_{t-1}\n", 1, "column"),
    ("h_t = \\tanh(W x_t + U h_{t-1}) \\odot W\n", 1, "must be followed by the vector"),
    ("h_t = \\phi(W x_t + U h_{t-1})\n", 1, "--map '\\phi=tanh'"),
    ("h_t = \\tanh(W x_t + U h_{t-1} + W)\n", 1, "must be followed by the vector"),
])
def test_bad_papers_are_one_line_with_file_and_line(tmp_path, capsys, text, line, message):
    paper = tmp_path / "paper.tex"
    paper.write_text(text)
    assert main(["sheet", str(paper)]) == 2
    err = capsys.readouterr().err
    assert f"paper.tex:{line}:" in err and message in err, err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_maps_name_the_input_rename_and_add_functions(tmp_path):
    paper = tmp_path / "mine.tex"
    paper.write_text("$$ \\tilde h_t = \\phi(W u_t + U h_{t-1}) $$\n"
                     "$$ h_t = \\tilde h_t $$\n")
    with pytest.raises(CellError, match=r"mine.tex:1: .*--map '\\phi=tanh'"):
        load_cell(str(paper))
    with pytest.raises(CellError, match=r"mine.tex:1: .*--map 'u=x'"):
        load_cell(str(paper), None, {r"\phi": "tanh"})
    cell = load_cell(str(paper), None, {"u": "x", r"\phi": "tanh", r"\tilde h": "cand"})
    assert cell.quantities == ("cand", "h") and cell.inputs == ("x",)
    assert cell.params["W"].shape == ("H", "I") and cell.params["U"].shape == ("H", "H")
    with pytest.raises(CellError, match="--map applies to a paper"):
        load_cell("lstm", None, {"u": "x"})


def test_equation_lines_blocks_and_lines():
    text = "intro\n\\begin{align*}\na &= b, \\quad c = d \\\\\ne &= f \\label{x}\n\\end{align*}\n"
    assert equation_lines(text) == [(3, "a = b"), (3, "c = d"), (4, "e = f")]
    assert equation_lines("a = b\n\nprose\nc = d % note\n") == [(1, "a = b"), (4, "c = d")]


def test_the_user_guides_paper_is_pytorchs_lstm(tmp_path):
    import re
    guide = (Path(__file__).parents[1] / "docs" / "user-guide.md").read_text()
    paper = tmp_path / "lstm.tex"
    paper.write_text(re.search(r"```latex\n(% lstm.tex.*?)```", guide, re.S)[1])
    assert differences(load_cell(str(paper), "pytorch"), get_cell("lstm")) == []
