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
    # Markdown prose names the file as code; \texttt is for the LaTeX sheet only
    assert "Symbols as in `pytorch-gru.md`" in sheet and r"\texttt" not in sheet


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


def test_compare_checks_a_papers_backward_formulas_in_its_notation(capsys):
    """The paper's forward equations and its backward formulas, read in one notation."""
    gru = str(PAPERS / "pytorch-gru.md")
    holds = r"\delta r_t = \delta n_t \odot (1 - n_t^2) \odot (W_{hn} h_{t-1} + b_{hn})"
    wrong = r"\delta r_t = \delta n_t \odot (1 - n_t^2) \odot W_{hn} h_{t-1}"  # no b_{hn}
    assert main(["compare", gru, "--notation", "pytorch", "--formula", holds]) == 0
    assert main(["compare", gru, "--notation", "pytorch", "--formula", wrong]) == 1
    assert "differs" in capsys.readouterr().out


def test_compare_takes_a_cell_file(tmp_path, capsys):
    mine = tmp_path / "mine.py"
    mine.write_text("from bptt import cell, tanh\n\n@cell\ndef elman(x, h, W, U, b):\n"
                    "    h = tanh(W @ x + U @ h + b)\n    return h\n")
    holds = r"\delta h^t = \Delta^t + U^T(\delta h^{t+1} \odot (1 - (h^{t+1})^2))"
    assert main(["compare", str(mine), "--formula", holds]) == 0
    assert main(["compare", str(mine), "--formula", holds.replace("U^T", "U")]) == 1


def test_cho_has_no_biases_unless_the_constant_unit_is_asked_for(tmp_path, capsys):
    """Cho et al. write no biases: the cell has none. --constant-unit (or a profile file's
    constant_unit) adds one beside each product with the input, named after its weight."""
    cho = str(PAPERS / "cho-gru.tex")
    plain_cell = load_cell(cho, "cho")
    assert not any(n.startswith("b") for n in plain_cell.params)
    biased = load_cell(cho, "cho", constant_unit=True)
    assert {"b_ir", "b_iz", "b_in"} <= set(biased.params)
    assert biased.params["b_in"].shape == ("H",)
    assert r"W_{r} x^{t} + U_{r} h^{t-1} + b_{r}" in render(biased, "vector", "md")
    profile = tmp_path / "cho-unit.json"
    profile.write_text('{"base": "cho", "symbols": {}, "constant_unit": true}')
    assert set(load_cell(cho, str(profile)).params) == set(biased.params)
    formula = r"r = \sigma(W_r x + U_r h^{\langle t-1\rangle})"
    for unit in ([], ["--constant-unit"]):
        assert main(["compare", cho, "--notation", "cho", *unit, "--formula", formula]) == 0
        assert main(["verify", cho, "--notation", "cho", *unit, "--symbolic", "--steps",
                     "2"]) == 0
    # a paper that writes its biases has no constant unit
    assert main(["sheet", str(PAPERS / "pytorch-gru.md"), "--notation", "pytorch",
                 "--constant-unit"]) == 2
    assert "pytorch-gru.md:5: 'b_{i r}' is the bias the constant unit adds" in \
        capsys.readouterr().err
    assert main(["sheet", "lstm", "--constant-unit"]) == 2


WIKIPEDIA = ["--map", r"\sigma_g=sigmoid", "--map", r"\sigma_c=tanh", "--map", r"\sigma_h=tanh"]


@pytest.mark.parametrize("paper, options", [
    ("wikipedia-lstm.tex", WIKIPEDIA), ("greff-cifg.tex", ["--notation", "greff"]),
    ("greff-fgr.tex", ["--notation", "greff"]),
    ("cho-gru.tex", ["--notation", "cho"]), ("mgu-prose.md", [])])
def test_papers_in_other_styles_work(paper, options):
    """Wikipedia's subscripted letters, a Greff variant, Cho's angle brackets, Markdown prose."""
    assert main(["verify", str(PAPERS / paper), *options, "--symbolic", "--steps", "2"]) == 0


def test_the_sheet_prints_the_papers_function_letters():
    """Greff's g and h, Cho's \\phi, Wikipedia's \\sigma_g and \\sigma_h, by argument."""
    greff = render(load_cell(str(PAPERS / "greff-lstm.tex"), "greff"), "vector", "md")
    assert r"z^{t} = g\left(\bar{z}^{t}\right)" in greff and r"h\left(c^{t}\right)" in greff
    cho = render(load_cell(str(PAPERS / "cho-gru.tex"), "cho"), "vector", "md")
    assert r"\tilde{h}^{t} = \phi\left(W x^{t}" in cho
    maps = dict(m.split("=") for m in WIKIPEDIA[1::2])
    wiki = render(load_cell(str(PAPERS / "wikipedia-lstm.tex"), None, maps), "vector", "md")
    assert r"f_{t} = \sigma_{g}\left(W_{f} x_{t}" in wiki
    assert r"h_{t} = o_{t} \odot \sigma_{h}\left(c_{t}\right)" in wiki
    assert r"\tilde{c}_{t} = \sigma_{c}\left(W_{c} x_{t}" in wiki


@pytest.mark.parametrize("name, data, line, message", [
    ("wiki.tex", (PAPERS / "wikipedia-lstm.tex").read_bytes(), 6,  # sigma_g is sigmoid
     r"'\sigma_{c}' is not a known function; name its activation: --map '\sigma_{c}=tanh'"),
    ("rows.tex", b"h_t = \\tanh(x_t W_{xh} + h_{t-1} W_{hh} + b_h)\n", 1,
     "a row vector times the matrix 'W_{x h}'; read a row-vector paper with a profile file "
     "that says row_vectors = true, or write the column form (W x_t, W = W_{x h}^T)"),
    ("mixed.tex", b"h_t = \\tanh(W x_t + x_t W)\n", 1, "a row vector times the matrix 'W'"),
    ("d2l.md", (PAPERS / "d2l-gru-rows.md").read_bytes().replace(b"X", b"x"), 5,
     "a row vector times the matrix"),
    ("loss.tex", b"h_t = \\tanh(W x_t + U h_{t-1})\nL_t = -\\sum_k y_{t,k} \\log h_{t,k}\n", 2,
     "is a loss"),
    ("unknown.tex", b"\\begin{align*}\nh_t &= \\tanh(W x_t + V m_{t-1})\n\\end{align*}\n", 2,
     "no equation defines 'm'"),
])
def test_other_styles_fail_in_one_line(tmp_path, capsys, name, data, line, message):
    paper = tmp_path / name
    paper.write_bytes(data)
    assert main(["sheet", str(paper)]) == 2
    err = capsys.readouterr().err
    assert f"{name}:{line}: " in err and message in err, err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_no_equations_crlf_bom_and_softmax(tmp_path, capsys):
    empty = tmp_path / "empty.md"
    empty.write_text("# Notes\n\nThe model in words only.\n")
    assert main(["sheet", str(empty)]) == 2
    assert "empty.md: no equations found" in capsys.readouterr().err
    crlf = tmp_path / "crlf.tex"
    crlf.write_bytes(b"% Elman\r\n\\begin{align*}\r\na_t &= W x_t + U h_{t-1} + b \\\\\r\n"
                     b"h_t &= \\tanh(a_t)\r\n\\end{align*}\r\n")
    bom = tmp_path / "bom.tex"
    bom.write_bytes("\ufeffh_t = \\tanh(W x_t + U h_{t-1} + b)\n".encode())
    softmax = tmp_path / "softmax.tex"
    softmax.write_text("h_t = \\tanh(W_{xh} x_t + W_{hh} h_{t-1} + b_h)\n"
                       "\\hat y_t = \\mathrm{softmax}(W_{hy} h_t + b_y)\n")
    for paper in (crlf, bom, softmax):
        assert main(["verify", str(paper), "--steps", "2"]) == 0, paper
    assert load_cell(str(crlf)).state == ("h",)
    assert load_cell(str(softmax)).output == "yhat"


def test_row_vector_papers_read_with_a_row_vectors_profile(tmp_path):
    """x_t W_{xh} is the IR's W^T x_t: the parameter holds the paper's matrix transposed, the
    sheet prints the column form W_{xh}^\\top x_t and its backward W_{xh} g; d2l's capital H,
    a kernel's size name, gets another IR name."""
    rows = tmp_path / "rows.json"
    rows.write_text('{"base": "vector", "symbols": {}, "row_vectors": true}')
    elman = tmp_path / "elman.tex"
    elman.write_text("h_t = \\tanh(x_t W_{xh} + h_{t-1} W_{hh} + b_h)\n")
    cell = load_cell(str(elman), str(rows))
    assert cell.params["W_xh"].shape == ("H", "I")
    sheet = render(cell, "vector", "md")
    assert r"h_{t} = \tanh\left(W_{x h}^\top x_{t} + W_{h h}^\top h_{t-1} + b_{h}\right)" in sheet
    assert r"\delta x_{t} = W_{x h} \left(\delta h_{t}" in sheet and "printed as columns" in sheet
    # compare reads the paper's own row-vector formulas against it
    backward = r"\delta h_t = \Delta_t + (\delta h_{t+1} \odot (1 - h_{t+1}^2)) W_{hh}^T"
    for formula, code in ((backward, 0), (backward.replace("^T", ""), 1)):
        assert main(["compare", str(elman), "--notation", str(rows), "--formula", formula]) == code
    d2l = str(PAPERS / "d2l-gru-rows.md")
    assert main(["verify", d2l, "--notation", str(rows), "--map", "X=x", "--steps", "2"]) == 0
    assert load_cell(d2l, str(rows), {"X": "x"}).state == ("Hq",)
