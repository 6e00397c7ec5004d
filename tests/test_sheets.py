"""Sheets and printers for every operation the front end accepts: each cell prints in every
format and notation it has, the PDF compiles, and the textbook forms are exact strings."""
import shutil

import pytest
import sympy as sp

import bptt
from bptt import cross_entropy, softmax, squared_error
from derive import CellBuilder, derive, t
from derive.ir import ACTIVATIONS, UnitSum
from derive.printers import latex, plain, vector_symbol
from derive.sheets import render, sections, step_function_latex
from front_cells import ZOO, activations, divide, elman, lstmp, regression, two_inputs


@pytest.mark.parametrize("fmt", ["tex", "md"])
@pytest.mark.parametrize("c", ZOO, ids=lambda c: c.name)
def test_every_front_end_cell_prints(c, fmt):
    text = render(c, "vector", fmt, unrolled=2, code=step_function_latex(c))
    n_sections = len(sections(c, unrolled=2))
    assert text.count(r"\subsection*{" if fmt == "tex" else "\n## ") == n_sections + 1
    assert "Softmax" not in text and "cross}_" not in text and "UnitSum" not in text


@pytest.mark.parametrize("c", ZOO, ids=lambda c: c.name)
def test_every_front_end_cell_compiles_to_pdf(c):
    if shutil.which("pdflatex") is None:
        pytest.skip("pdflatex is not installed")
    data = render(c, "vector", "pdf", unrolled=2, code=step_function_latex(c))
    assert data.startswith(b"%PDF")


@pytest.mark.parametrize("name, tex", [
    ("ibar", r"\bar{i}"), ("nbar_h", r"\bar{n}_{h}"), ("W_ih", "W_{ih}"), ("W_r", "W_{r}"),
    ("h_tilde", r"\tilde{h}"), ("htilde", r"\tilde{h}"), ("y_hat", r"\hat{y}"),
    ("h_tilde_r", r"\tilde{h}_{r}"), ("loss", r"\mathrm{loss}"), ("cand", r"\mathrm{cand}"),
    ("alpha", r"\alpha"), ("Delta", r"\Delta"), ("bar", r"\mathrm{bar}"), ("h", "h")])
def test_names_print_cleanly(name, tex):
    assert vector_symbol(name) == tex


def test_division_prints_as_fractions():
    eq = divide.equation("h")
    assert latex(eq, cell=divide) == (
        r"h^{t} &= \frac{a^{t}}{1 + \left(a^{t}\right)^{2}} + \frac{h^{t-1}}{2 + e^{a^{t}}}")
    delta_a = derive(divide).adjoint_of("a").rhs
    assert latex(delta_a, cell=divide) == (
        r"\delta h^{t} \odot \left(\frac{1}{1 + \left(a^{t}\right)^{2}} - 2 \frac{\left(a^{t}"
        r"\right)^{2}}{\left(1 + \left(a^{t}\right)^{2}\right)^{2}} - \frac{h^{t-1} \odot "
        r"e^{a^{t}}}{\left(2 + e^{a^{t}}\right)^{2}}\right)")


def test_softmax_losses_and_sums_over_units_in_textbook_latex():
    y, a, z = (sp.IndexedBase(n)[t] for n in "yaz")
    assert latex(softmax(a)) == r"\operatorname{softmax}\left(a^{t}\right)"
    assert latex(cross_entropy(y, z)) == r"\mathcal{L}_{\mathrm{CE}}\left(y^{t}, z^{t}\right)"
    assert latex(squared_error(y, z)) == r"\mathcal{L}_{\mathrm{SE}}\left(y^{t}, z^{t}\right)"
    assert latex(UnitSum(z)) == r"\mathbf{1}^\top z^{t}"
    assert latex(UnitSum(y * z)) == r"\mathbf{1}^\top \left(y^{t} \odot z^{t}\right)"
    assert plain(cross_entropy(y, z)) == "cross_entropy(y[t], z[t])"


@pytest.mark.parametrize("f", sorted(ACTIVATIONS, key=lambda f: f.__name__),
                         ids=lambda f: f.__name__)
def test_every_activation_prints_with_its_table_name(f):
    c = CellBuilder("one", "test")
    h = c.quantity("h")
    c.let("h", f(c.weight("W", "I") @ c.x[t] + c.weight("U") @ h[t - 1]))
    one = c.build("h")
    name = ACTIVATIONS[f].latex
    assert latex(one.equation("h"), cell=one).startswith(rf"h^{{t}} &= {name}\left(W x^{{t}}")
    backward = derive(one)
    assert rf"{name}'\left(" in latex(backward.adjoint_of("x").rhs, cell=one)


def test_loss_sheet_has_no_delta_names_its_assumption_and_the_textbook_result():
    tex = render(elman)
    forward = tex.split(r"\subsection*{Forward pass}")[1].split(r"\begin{align}")[0]
    assert r"$L = \sum_{t=1}^{T} \mathrm{loss}^{t}$, so no gradient arrives from above" in forward
    assert r"$\mathcal{L}_{\mathrm{CE}}(y, z) = -\sum_j z_j \log y_j$" in forward
    assert r"the targets are distributions (their units sum to one): " \
           r"$\mathbf{1}^\top z^{t} = 1$" in forward
    assert r"$\delta a^{t} = y^{t} - z^{t}$" in forward
    assert r"\delta a^{t} &= y^{t} - z^{t}" in tex
    assert r"\mathrm{loss}^{t} &= \mathcal{L}_{\mathrm{CE}}\left(y^{t}, z^{t}\right)" in tex
    assert r"\Delta" not in tex and r"\delta z" not in tex


def test_squared_error_sheet_gives_prediction_minus_target_without_assumptions():
    tex = render(regression)
    assert r"\delta y^{t} &= y^{t} - z^{t}" in tex
    assert "distributions" not in tex and r"\Delta" not in tex
    assert r"$z^{t}, y^{t} \in \mathbb{R}^{K}$; $h^{t} \in \mathbb{R}^{H}$" in tex


def test_sizes_in_the_forward_section():
    tex = render(lstmp)
    assert (r"Sizes: $x^{t} \in \mathbb{R}^{I}$; $i^{t}, f^{t}, g^{t}, o^{t}, c^{t} \in "
            r"\mathbb{R}^{H}$; $h^{t} \in \mathbb{R}^{P}$.") in tex
    assert r"$U_{i}, U_{f}, U_{g}, U_{o} \in \mathbb{R}^{H \times P}$" in tex
    assert r"$W_{r} \in \mathbb{R}^{P \times H}$" in tex
    assert r"$\Delta^t = \partial L/\partial h^{t}$ is the gradient from the layer above" in tex
    assert r"$u^{t} \in \mathbb{R}^{J}$" in render(two_inputs)


def test_graves_sheet_keeps_its_own_words(capsys):
    assert bptt.main(["sheet", "graves-lstm", "--notation", "graves"]) == 0
    tex = capsys.readouterr().out
    assert r"$s_{c}^{t}" in tex and "Parameters:" not in tex  # scalar weights, no shapes


def test_with_code_renders_the_users_own_step_function(capsys):
    code = step_function_latex(activations)
    assert code.startswith("% activations: the step function (latexify-py)\n\\[ ")
    assert r"\tilde{h} = " in code and r"\mathrm{h\_tilde}" not in code
    mgu_code = step_function_latex(lstmp)
    # latexify alone prints W_r @ (o * tanh(c)) as W_r o tanh c: the parentheses are kept
    assert r"W_{r} \cdot \mathopen{}\left( o \cdot \tanh c \mathclose{}\right)" in mgu_code
    assert r"W_{i} \cdot x + U_{i} \cdot h + b_{i}" in mgu_code  # no parentheses where none
    md = render(lstmp, fmt="md", code=mgu_code)
    assert "## The step function, read as math" in md and r"\[" not in md.split("## The")[1]


def test_with_code_on_the_command_line(tmp_path, capsys):
    path = tmp_path / "cells.py"
    path.write_text("from bptt import cell, tanh\n\n@cell\ndef mine(x, h, W, U):\n"
                    "    h_tilde = tanh(W @ x + U @ h)\n    h = h_tilde * h\n    return h\n")
    assert bptt.main(["sheet", f"{path}:mine", "--with-code"]) == 0
    tex = capsys.readouterr().out
    assert r"\subsection*{The step function, read as math}" in tex
    assert r"\tilde{h} = \tanh \mathopen{}\left( W x + U h \mathclose{}\right)" in tex


def test_explain_a_loss_cell_and_a_cell_with_several_sizes():
    text = bptt.explain(elman)
    assert ("The loss: L = sum over t = 1..T of loss^t, computed by the cell itself (loss^t = "
            in text)
    assert "no gradient arrives from above. Assumed: UnitSum(z[t]) = 1" in text
    assert "Δ" not in text and "Delta" not in text
    assert "Sizes: x, z, y, loss" not in text and "Sizes: x: I;" in text
    text = bptt.explain(lstmp)
    assert "Sizes: x: I; i, f, g, o, c: H; h: P." in text
    assert "Δ^t = ∂L/∂h^t" in text
    assert "δc^(t+1) ⊙ f^(t+1): from step t+1: through c^(t+1)" in text


def test_powers_of_vector_operations():
    # (W h)^2 sent SymPy's printer into _print_MatVec(exp=...): found by the property test
    from derive.ir import Weight
    h = sp.IndexedBase("h")[t]
    assert latex((Weight("W") @ h) ** 2) == r"\left(W h^{t}\right)^{2}"
    assert latex(softmax(h) ** 3) == r"\left(\operatorname{softmax}\left(h^{t}\right)\right)^{3}"
    assert latex(UnitSum(h) ** 2) == r"\left(\mathbf{1}^\top h^{t}\right)^{2}"
    assert latex(1 / (Weight("W") @ h)) == r"\frac{1}{W h^{t}}"
