"""bptt explain: definitions, the readers of each state at t+1, every term of its adjoint with
its path, the boundary; in Graves' notation and for a user's cell."""
import re

import pytest

from bptt import main
from derive import cell_names, derive, get_cell
from derive.explain import explain
from derive.trace import adjoint_terms
from user_cells import mgu


def test_graves_eps_s_has_its_five_terms_named():
    text = explain(get_cell("graves-lstm"), "graves")
    block = text[text.index("s_c^t: a state variable."):]
    assert "ε_s^t = w_cω δ_ω^t + b_ω^t h'(s_c^t) ε_c^t + b_φ^(t+1) ε_s^(t+1)" in block
    numbered = re.findall(r"^\s+(\d)\. (.*?): from (.*)$", block, re.M)
    assert [n for n, _, _ in numbered] == ["1", "2", "3", "4", "5"]
    paths = {term: path for _, term, path in numbered}
    assert paths["b_φ^(t+1) ε_s^(t+1)"].startswith("step t+1: through s_c^(t+1), which reads s_c^t")
    assert paths["w_cω δ_ω^t"].startswith("step t: through a_ω^t")
    assert paths["w_cι δ_ι^(t+1)"].startswith("step t+1: through a_ι^(t+1)")
    assert "3 of these terms read adjoints of step t+1" in block
    assert "ε_s^(t+1) = 0" in block


def test_definitions_and_boundary():
    text = explain(get_cell("rnn"))
    assert "δq^t = ∂L/∂q^t" in text and "Δ^t = ∂L/∂h^t" in text
    assert "read by step t+1's equations, where it is written h^(t-1):" in text
    assert "h̄^(t+1) = W_ih x^(t+1) + W_hh h^t + b_ih + b_hh" in text
    assert "the chain rule adds one term per path" in text
    assert "boundary, δh^(t+1) = 0" in text


def test_user_cell_every_term_and_reader_listed():
    cell = mgu()
    text = explain(cell)
    eq = derive(cell).adjoint_of("h")
    terms = adjoint_terms(eq.rhs)
    assert f"h^t changes L along {len(terms)} paths" in text
    # every equation that reads h at t-1 is listed among step t+1's readers
    readers = [e.name for e in cell.readers("h", -1)]
    assert readers == ["fbar", "cand", "h"]
    for q in ("f̄^(t+1) =", "cand^(t+1) =", "h^(t+1) ="):
        assert q in text
    assert len(re.findall(r"^\s+\d\. ", text, re.M)) == len(terms)


def test_two_state_user_cell():
    from user_cells import two_states
    cell = two_states()
    assert cell.state == ("h", "m")
    text = explain(cell)
    block = text[text.index("m^t: a state variable."):]
    assert "read by step t's own equations:" in block and "h^t = " in block
    assert "a^(t+1) = " in block and "m^(t+1) = " in block


def test_markdown_and_command(capsys):
    assert main(["explain", "graves-lstm", "--notation", "graves", "--format", "md"]) == 0
    out = capsys.readouterr().out
    assert r"    $$\epsilon_{s}^{t} = w_{c\omega} \delta_{\omega}^{t} + " in out
    assert r"**$s_{c}^{t}$: a state variable.**" in out
    assert main(["explain", "gru", "--format", "html"]) == 2


@pytest.mark.parametrize("name", cell_names())
def test_every_built_in_cell_is_explained_term_by_term(name):
    """Every state variable gets its section, every term of its derived adjoint is listed once
    with a path, and the loss is said as the cell defines it."""
    cell = get_cell(name)
    text = explain(cell)
    backward = derive(cell)
    sections = re.split(r"^(?=\S.*: (?:the output and )?a state variable\.$)", text, flags=re.M)[1:]
    assert len(sections) == len(cell.state)
    for state, block in zip(cell.state, sections):
        terms = adjoint_terms(backward.adjoint_of(state).rhs)
        assert f"changes L along {len(terms)} path" in block
        assert len(re.findall(r"^\s+\d+\. .*: from ", block, re.M)) == len(terms)
    if cell.loss:
        assert f"L = sum over t = 1..T of {cell.loss}^t" in text and "Δ^t" not in text
        assert all(a in text for a in backward.assumptions)
    else:
        assert "Δ^t = ∂L/∂" in text
    assert main(["explain", name, "--format", "md"]) == 0
