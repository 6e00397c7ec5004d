r"""Tests for verify.compare: published equations hold, transcription errors are pinpointed.

Oracles: the published equations themselves (../shared/notes/textbooks.md), hand-derived
equations of a cell of our own, and PyTorch's autograd for the random runs every numeric verdict
rests on. Error formulas are the published ones with one error of each kind of textbooks.md
section 6 put in by hand.
"""
from __future__ import annotations

import doctest
import json
import re
from pathlib import Path

import mpmath
import numpy as np
import pytest
import sympy as sp

import bptt
from derive import CellBuilder, CellError, get_cell, sigmoid, t, tanh
from derive.cells import cell_names
from verify import catalog, compare as compare_module, notations
from verify.compare import STEPS, CompareError, Reference, Verdict, _Run, compare
from verify.formula import parse_formula

NOTES = Path(__file__).resolve().parents[2] / "shared" / "notes" / "textbooks.md"


def verdict(cell, formula, notation, mapping=None) -> Verdict:
    result, = compare(cell, [formula], notation, mapping)
    return result


# ---------------------------------------------------------------- the catalog
CATALOG = [(source, cell, entry) for source in catalog.SOURCES.values()
           for cell, entries in source.equations.items() for entry in entries]
# The cells follow PyTorch (reset after the recurrent product, h = (1-z) n + z h^{t-1}):
# Cho's candidate and Chung's update differ from them by convention (textbooks.md section 4).
CONVENTION = {r"\tilde h^{\langle t\rangle}=\phi(Wx+U(r\odot h^{\langle t-1\rangle}))": "Cho",
              r"h=(1-z) h^{t-1}+z\tilde h": "Chung"}


@pytest.mark.parametrize("source,cell,entry", CATALOG,
                         ids=[f"{s.name}-{c}-{e.latex[:40]}" for s, c, e in CATALOG])
def test_every_catalog_equation_holds_for_its_cell(source, cell, entry):
    result = verdict(cell, entry.latex, source.notation)
    if entry.latex in CONVENTION:
        assert (result.kind, result.holds) == ("convention", False)
        assert CONVENTION[entry.latex] in result.explanation
    else:
        assert (result.kind, result.holds) == ("holds", True), result.explanation


def _published_equations() -> list[str]:
    """Every equation of the display lines of textbooks.md, one per equation."""
    text = NOTES.read_text(encoding="utf-8")
    pieces = []
    for line in re.findall(r"^\$\$(.*)\$\$$", text, re.MULTILINE):
        pieces += [p.strip().rstrip(",").strip() for p in re.split(r"\\q?quad", line)]
    return [p for p in pieces if p]


@pytest.mark.skipif(not NOTES.exists(), reason="../shared/notes/textbooks.md is not here")
def test_catalog_has_every_displayed_equation_of_the_notes():
    published = _published_equations()
    assert len(published) == 52  # Graves 5 + 9 + 6, Greff 10 + 7, PyTorch 1 + 6 + 4, Cho 4
    entries = {parse_formula(e.latex) for *_, e in CATALOG}
    missing = [p for p in published if parse_formula(p) not in entries]
    assert not missing


def test_greff_gradients_cover_every_gate_and_peephole():
    latex = [e.latex for e in catalog.get_source("greff2017").entries("graves-lstm")]
    for g in "zifo":
        for name in (f"W_{g}", f"R_{g}", f"b_{g}"):
            assert any(x.startswith(rf"\delta {name}=") for x in latex), name
    for p in ("p_i", "p_f", "p_o"):
        assert any(x.startswith(rf"\delta {p}=") for x in latex), p


def test_graves_weight_gradient_is_checked_for_every_parameter():
    result = verdict("graves-lstm", catalog.GRAVES_2012.entries("rnn")[-1].latex, "graves")
    assert result.holds
    for p in get_cell("graves-lstm").params:
        assert p in result.explanation


# ---------------------------------------------------------------- typographic variants
VARIANTS = [
    # terms reordered
    ("graves-lstm", "greff", r"\delta c^t=\delta c^{t+1}\odot f^{t+1}+p_f\odot\delta\bar f^{t+1}"
     r"+\delta y^t\odot o^t\odot h'(c^t)+p_i\odot\delta\bar i^{t+1}+p_o\odot\delta\bar o^t"),
    ("graves-lstm", "graves", r"\epsilon_c^t=\sum_g w_{cg}\delta_g^{t+1}+\sum_k w_{ck}\delta_k^t"),
    ("rnn", "graves", r"\delta_h^t=\theta'(a_h^t)\left(\sum_{h'}\delta_{h'}^{t+1}w_{hh'}"
     r"+\sum_k\delta_k^t w_{hk}\right)"),
    # \left( \right), \, spacing, \sum_c without limits
    ("graves-lstm", "graves", r"\delta_\omega^t=f'\left(a_\omega^t\right)\sum_c h(s_c^t)\,"
     r"\epsilon_c^t"),
    # ^\top, ^T, ^\intercal, \mathbf
    ("graves-lstm", "greff", r"\delta y^t=\Delta^t+R_z^T\delta z^{t+1}+R_i^{\top}\delta\bar i^{t+1}"
     r"+\mathbf{R}_f^\intercal\delta f^{t+1}+R_o^\top\,\delta o^{t+1}"),
    # sigma' written through the gate's output, tanh' through tanh
    ("graves-lstm", "greff", r"\delta\bar o^t=\delta y^t\odot h(c^t)\odot o^t\odot(1-o^t)"),
    ("lstm", "pytorch", r"\frac{\partial L}{\partial c_t}=\frac{\partial L}{\partial h_t}\odot o_t"
     r"\odot(1-\tanh(c_t)\odot\tanh(c_t))+\nabla_{c_{t+1}}L\odot f_{t+1}"),
    # ... with powers: of a function's value, of a parenthesised group
    ("lstm", "pytorch", r"\nabla_{c_t} L = \nabla_{h_t} L \odot o_t \odot (1 - \tanh^2(c_t))"
     r" + \nabla_{c_{t+1}} L \odot f_{t+1}"),
    ("lstm", "pytorch", r"\nabla_{c_t} L = \nabla_{h_t} L \odot o_t \odot (1 - \tanh(c_t)^2)"
     r" + \nabla_{c_{t+1}} L \odot f_{t+1}"),
    ("graves-lstm", "greff", r"\delta\bar z^t=\delta c^t\odot i^t\odot(1-(z^t)^2)"),
    ("graves-lstm", "greff", r"\delta\bar z^t=\delta c^t\odot i^t\odot\left(1-\tanh^{2}(\bar z^t)"
     r"\right)"),
    ("graves-lstm", "greff", r"\delta\bar o^t=\delta y^t\odot h(c^t)\odot(o^t-(o^t)^2)"),
    ("graves-lstm", "graves", r"\delta_c^t = b_\iota^t (1 - g^2(a_c^t)) \epsilon_s^t"),
    ("graves-lstm", "graves", r"\epsilon_s^t=b_\omega^t(1-h^2(s_c^t))\epsilon_c^t"
     r"+b_\phi^{t+1}\epsilon_s^{t+1}+w_{c\iota}\delta_\iota^{t+1}+w_{c\phi}\delta_\phi^{t+1}"
     r"+w_{c\omega}\delta_\omega^t"),
    ("gru", "pytorch", r"h_t=(1-z_t)^{2}\odot n_t+z_t\odot h_{t-1}+(z_t-(z_t)^2)\odot n_t"),
    # another time origin, and the gradient with respect to the initial state
    ("graves-lstm", "greff", r"\delta c^{t-1}=\delta y^{t-1}\odot o^{t-1}\odot h'(c^{t-1})"
     r"+p_o\odot\delta\bar o^{t-1}+p_i\odot\delta\bar i^{t}+p_f\odot\delta\bar f^{t}"
     r"+\delta c^{t}\odot f^{t}"),
    ("graves-lstm", "greff", r"\delta y^0=R_z^\top\delta z^1+R_i^\top\delta i^1+R_f^\top\delta f^1"
     r"+R_o^\top\delta o^1"),
    # vector notation of the IR's own names, outer products written g v^T
    ("lstm", "vector", r"\delta h^t=\Delta^t+W_{hi}^\top\delta\bar i^{t+1}+W_{hf}^\top\delta\bar "
     r"f^{t+1}+W_{hg}^\top\delta\bar g^{t+1}+W_{ho}^\top\delta\bar o^{t+1}"),
    ("lstm", "vector", r"\delta W_{hi}=\sum_t\delta\bar i^t(h^{t-1})^\top"),
    ("gru", "pytorch", r"h_t=z_t\odot h_{t-1}+(1-z_t)\odot n_t"),
    ("gru", "pytorch", r"h_t=n_t+z_t\odot(h_{t-1}-n_t)"),
]


@pytest.mark.parametrize("cell,notation,formula", VARIANTS, ids=[v[2][:50] for v in VARIANTS])
def test_typographic_variant_holds_exactly(cell, notation, formula):
    result = verdict(cell, formula, notation)
    assert (result.kind, result.explanation) == ("holds", "exact")


def test_equal_through_the_tanh_sigma_identity_holds_exactly():
    # tanh(x) = 2 sigma(2x) - 1: equal in value, not as written; the proof rewrites tanh
    result = verdict("lstm", r"h_t=o_t\odot(2\sigma(2c_t)-1)", "pytorch")
    assert (result.kind, result.explanation) == ("holds", "exact")
    assert verdict("lstm", r"h_t=o_t\odot(2\sigma(c_t)-1)", "pytorch").kind == "differs"


def test_equal_in_value_but_not_proven_is_not_called_holds():
    # sigma(-a) = 1 - sigma(a) is true, but no rewrite of the proof knows it: the verdict is
    # "unproven" (exit 1), never "holds" on the strength of random points
    formula = r"i_t=1-\sigma(-W_{ii}x_t-b_{ii}-W_{hi}h_{t-1}-b_{hi})"
    result = verdict("lstm", formula, "pytorch")
    assert (result.kind, result.holds) == ("unproven", False)
    assert "not proven" in result.explanation


def test_a_power_of_a_variable_before_a_parenthesis_is_no_function_power():
    # f^2(x) is a power of f's value only where f is a function; PyTorch's f is the forget
    # gate, and the notation's time position decides what ^2 is: in pytorch (time as the
    # subscript) a power of f_t, in vector notation (time as the superscript) the step 2
    lstm = get_cell("lstm")
    f, c = sp.IndexedBase("f"), sp.IndexedBase("c")
    for notation, f2 in (("pytorch", f[t] ** 2), ("vector", f[2])):
        reading, = notations.read_formula(r"c_t=f^2(c_{t-1})",
                                          notations.get_profile(notation, lstm), lstm)
        assert reading.rhs == f2 * c[t - 1]


# ---------------------------------------------------------------- errors of textbooks.md section 6
GRAVES_EPS_S = (r"\epsilon_s^t=b_\omega^t h'(s_c^t)\epsilon_c^t+b_\phi^{t+1}\epsilon_s^{t+1}"
                r"+w_{c\iota}\delta_\iota^{t+1}+w_{c\phi}\delta_\phi^{t+1}"
                r"+w_{c\omega}\delta_\omega^{t+1}")  # Graves has \delta_\omega^t
GREFF_DC_NO_F = (r"\delta c^t=\delta y^t\odot o^t\odot h'(c^t)+p_o\odot\delta\bar o^t"
                 r"+p_i\odot\delta\bar i^{t+1}+p_f\odot\delta\bar f^{t+1}")
GRAVES_RNN = (r"\delta_h^t=\theta'(a_h^t)\Big(\sum_{k=1}^{K}\delta_k^t w_{hk}"
              r"+\sum_{h'=1}^{H}\delta_{h'}^{T1}w_{HH}\Big)")

ERRORS = [
    # a peephole term at the wrong time step, backward and forward
    ("graves-lstm", "graves", GRAVES_EPS_S,
     [r"term w_{c\omega}\delta_\omega^{t+1}: the derivation has \delta_{\omega}^{t}",
      "another time step"]),
    ("graves-lstm", "greff", r"\bar i^t=W_ix^t+R_iy^{t-1}+p_i\odot c^{t}+b_i",
     [r"term p_i\odot c^{t}: the derivation has c^{t-1}", "another time step"]),
    ("graves-lstm", "graves", r"a_\omega^t=\sum_{i=1}^{I}w_{i\omega}x_i^t+\sum_{h=1}^{H}w_{h\omega}"
     r"b_h^{t-1}+\sum_{c=1}^{C}w_{c\omega}s_c^{t-1}",
     [r"the derivation has s_{c}^{t} where the formula has s_{c}^{t-1}"]),
    # the recurrent term f^{t+1} dc^{t+1} missing from the state equation
    ("graves-lstm", "greff", GREFF_DC_NO_F, [r"missing term \delta c^{t+1} \odot f^{t+1}"]),
    ("lstm", "pytorch", r"\delta c^t=\delta h^t\odot o^t\odot(1-\tanh(c_t)\odot\tanh(c_t))",
     ["missing term", "f^{t+1}"]),
    # a factor missing, a factor extra, a factor for another (a derivative through the output)
    ("graves-lstm", "greff", r"\delta\bar z^t=\delta c^t\odot i^t\odot(1-z^t)",
     [r"term \delta c^t\odot i^t\odot(1-z^t): factor (1 - z^{t}) where the derivation has "
      r"\tanh'\left(\bar{z}^{t}\right) = 1 - \left(z^{t}\right)^{2}"]),
    ("lstm", "pytorch", r"\nabla_{c_t} L = \nabla_{h_t} L \odot o_t \odot (1 - \tanh(c_t))"
     r" + \nabla_{c_{t+1}} L \odot f_{t+1}",
     [r"term \nabla_{h_t} L \odot o_t \odot (1 - \tanh(c_t)): factor (1 - \tanh\left(c^{t}\right))"
      r" where the derivation has \tanh'\left(c^{t}\right) = 1 - \tanh^{2}\left(c^{t}\right)"]),
    ("graves-lstm", "graves", r"\delta_c^t = b_\iota^t (1 - g(a_c^t)) \epsilon_s^t",
     [r"factor (1 - g\left(a_{c}^{t}\right)) where the derivation has g'\left(a_{c}^{t}\right) = "
      r"1 - g^{2}\left(a_{c}^{t}\right)"]),
    ("graves-lstm", "greff", r"\delta\bar o^t=\delta y^t\odot\sigma'(\bar o^t)",
     [r"term \delta y^t\odot\sigma'(\bar o^t): factor \tanh\left(c^{t}\right) missing"]),
    ("graves-lstm", "greff", r"\delta\bar z^t=\delta c^t\odot i^t\odot o^t\odot g'(\bar z^t)",
     ["extra factor o^{t}"]),
    # sigma' applied to only one of two summands
    ("rnn", "graves", r"\delta_h^t=\theta'(a_h^t)\sum_{k=1}^{K}\delta_k^t w_{hk}"
     r"+\sum_{h'=1}^{H}\delta_{h'}^{t+1}w_{hh'}",
     [r"term \sum_{h'=1}^{H}\delta_{h'}^{t+1}w_{hh'}: factor \theta'\left(a_{h}^{t}\right) missing",
      "only one of the summands"]),
    # a transposed recurrent weight: R for R^T, w_{h'h} for w_{hh'}
    ("graves-lstm", "greff", r"\delta y^t=\Delta^t+R_z\delta z^{t+1}+R_i^\top\delta i^{t+1}"
     r"+R_f^\top\delta f^{t+1}+R_o^\top\delta o^{t+1}",
     [r"term R_z\delta z^{t+1}: transposed weight: the derivation has R_{z}^\top"]),
    ("rnn", "graves", GRAVES_RNN.replace("T1", "t+1").replace("HH", "h'h"),
     ["transposed weight", r"the derivation has \sum_{h'} w_{hh'} \delta_{h'}^{t+1}"]),
    # an off-by-one in a time index of a sum
    ("rnn", "graves", GRAVES_RNN.replace("T1", "t").replace("HH", "hh'"),
     [r"the derivation has \delta_{h}^{t+1} where the formula has \delta_{h}^{t}"]),
    ("graves-lstm", "greff", r"\delta R_z=\sum_t\langle\delta\bar z^t, y^t\rangle",
     [r"term \sum_t\langle\delta\bar z^t, y^t\rangle: the derivation has \delta \bar{z}^{t+1}"]),
    ("graves-lstm", "greff", r"\delta p_i=\sum_t c^t\odot\delta\bar i^t",
     [r"the derivation has \delta \bar{i}^{t+1} where the formula has \delta \bar{i}^{t}"]),
    # a symbol from the wrong gate
    ("graves-lstm", "greff", r"\delta\bar f^t=\delta c^t\odot c^{t-1}\odot\sigma'(\bar i^t)",
     [r"\bar{i}^{t} where the derivation has \bar{f}^{t}", "wrong gate"]),
    ("graves-lstm", "greff", r"\delta y^t=\Delta^t+R_z^\top\delta i^{t+1}+R_i^\top\delta i^{t+1}"
     r"+R_f^\top\delta f^{t+1}+R_o^\top\delta o^{t+1}",
     [r"term R_z^\top\delta i^{t+1}: \delta \bar{i}^{t+1} where the derivation has "
      r"\delta \bar{z}^{t+1}"]),
    ("lstm", "pytorch", r"c_t=f_t\odot c_{t-1}+i_t\odot o_t",
     ["term i_t\\odot o_t: o^{t} where the derivation has g^{t}", "wrong gate"]),
    # and a sign
    ("gru", "pytorch", r"h_t=(1-z_t)\odot n_t-z_t\odot h_{t-1}", ["wrong sign"]),
]


@pytest.mark.parametrize("cell,notation,formula,words", ERRORS, ids=[e[2][:50] for e in ERRORS])
def test_transcription_error_differs_and_is_named(cell, notation, formula, words):
    result = verdict(cell, formula, notation)
    assert (result.kind, result.holds) == ("differs", False)
    for w in words:
        assert w in result.explanation
    assert result.residual != 0


def test_residual_is_formula_minus_derivation_over_the_differing_terms():
    result = verdict("graves-lstm", GRAVES_EPS_S, "graves")
    p_o, d_omega = get_cell("graves-lstm").params["p_o"].symbol, Reference.of(
        get_cell("graves-lstm")).backward.adjoint_of("obar").lhs.base
    assert result.residual == p_o * d_omega[t + 1] - p_o * d_omega[t]


# ---------------------------------------------------------------- conventions
def test_cho_reset_placement_is_a_convention():
    result = verdict("gru", r"n_t=\tanh(W_{in}x_t+b_{in}+W_{hn}(r_t\odot h_{t-1})+b_{hn})",
                     "pytorch")
    assert (result.kind, result.holds) == ("convention", False)
    assert "reset gate applied before the recurrent matrix product" in result.explanation


def test_pytorch_reset_placement_read_against_cho_is_a_convention_too():
    # the table's rewrite in the other direction: W (r h) of Cho's cell becomes r (W h)
    result = verdict("gru-cho", r"\tilde h_t = \tanh(W x_t + r_t \odot (U h_{t-1}) + b)", "cho")
    assert (result.kind, result.holds) == ("convention", False)
    assert "reset gate applied after the recurrent matrix product" in result.explanation
    assert verdict("gru-cho", r"\tilde h_t = \tanh(W x_t + r_t \odot (U h_t) + b)",
                   "cho").kind == "differs"
    assert verdict("gru-cho", r"\tilde h_t = \tanh(W x_t + z_t \odot (U h_{t-1}) + b)",
                   "cho").kind == "differs"


def test_chung_update_is_a_convention():
    result = verdict("gru", r"h_t=(1-z_t)\odot h_{t-1}+z_t\odot n_t", "pytorch")
    assert result.kind == "convention" and "Chung" in result.explanation


def test_update_swap_is_a_convention_only_when_the_gate_is_nowhere_else():
    """ugrnn's gate is only in its update: 1 - g = sigma(-a) is a reparametrisation. MGU's f
    also gates the candidate's state: swapping it in the update alone is another cell."""
    assert verdict("ugrnn", r"h_t=(1-g_t)\odot h_{t-1}+g_t\odot c_t", "pytorch").kind == \
        "convention"
    mgu = verdict("mgu", r"h_t=f_t\odot h_{t-1}+(1-f_t)\odot \tilde h_t", "pytorch")
    assert (mgu.kind, mgu.holds) == ("differs", False)


def test_truncated_gradient_is_a_convention_but_one_missing_peephole_differs():
    truncated = verdict("graves-lstm", r"\delta c^t=\delta y^t\odot o^t\odot h'(c^t)"
                        r"+\delta c^{t+1}\odot f^{t+1}", "greff")
    assert truncated.kind == "convention" and "truncated gradient" in truncated.explanation
    assert verdict("graves-lstm", r"\delta y^t=\Delta^t", "greff").kind == "convention"
    one_missing = verdict("graves-lstm", r"\delta c^t=\delta y^t\odot o^t\odot h'(c^t)"
                          r"+p_o\odot\delta\bar o^t+p_i\odot\delta\bar i^{t+1}"
                          r"+\delta c^{t+1}\odot f^{t+1}", "greff")
    assert one_missing.kind == "differs"
    assert r"missing term p_{f} \odot \delta \bar{f}^{t+1}" in one_missing.explanation


def test_an_rnn_without_its_recurrence_is_not_a_truncation_but_an_error():
    result = verdict("rnn", r"\delta_h^t=\theta'(a_h^t)\sum_{k=1}^{K}\delta_k^t w_{hk}", "graves")
    assert result.kind == "differs" and "missing term" in result.explanation


# ---------------------------------------------------------------- a cell of our own
def leaky_cell():
    """h = f h^{t-1} + (1 - f) tanh(a), f = sigma(W_f x + b_f), a = W x + U h^{t-1}."""
    cb = CellBuilder("leaky", "tests", "a minimal gated cell")
    x, h = cb.x, cb.quantity("h")
    W_f, b_f, W, U = cb.weight("W_f", "I"), cb.vector("b_f"), cb.weight("W", "I"), cb.weight("U")
    f = cb.let("f", sigmoid(cb.let("fbar", W_f @ x[t] + b_f)[t]))
    a = cb.let("a", W @ x[t] + U @ h[t - 1])
    cb.let("h", f[t] * h[t - 1] + (1 - f[t]) * tanh(a[t]))
    return cb.build("h")


# Derived by hand: h^{t+1} reads h^t through f^{t+1} h^t and through a^{t+1} = ... + U h^t.
LEAKY = [
    r"h^t=f^t\odot h^{t-1}+(1-f^t)\odot\tanh(Wx^t+Uh^{t-1})",
    r"\delta h^t=\Delta^t+f^{t+1}\odot\delta h^{t+1}+U^\top\delta a^{t+1}",
    r"\delta a^t=(1-f^t)\odot(1-\tanh(a^t)\odot\tanh(a^t))\odot\delta h^t",
    r"\delta\bar f^t=f^t\odot(1-f^t)\odot(h^{t-1}-\tanh(a^t))\odot\delta h^t",
    r"\delta x^t=W_f^\top\delta\bar f^t+W^\top\delta a^t",
    r"\delta U=\sum_t\langle\delta a^{t+1}, h^t\rangle",
    r"\delta b_f=\sum_t\delta\bar f^t",
    r"\delta h^0=f^1\odot\delta h^1+U^\top\delta a^1",
]


def test_own_cell_hand_derived_equations_hold_in_vector_notation():
    results = compare(leaky_cell(), LEAKY, "vector")
    assert [r.kind for r in results] == ["holds"] * len(LEAKY), [r.explanation for r in results]


def test_own_cell_error_is_named():
    result = verdict(leaky_cell(), r"\delta h^t=\Delta^t+f^{t}\odot\delta h^{t+1}"
                     r"+U^\top\delta a^{t+1}", "vector")
    assert result.kind == "differs"
    assert "the derivation has f^{t+1} where the formula has f^{t}" in result.explanation


def test_own_symbols_by_map_and_profile_file(tmp_path):
    cell = leaky_cell()
    mapping = {r"\tilde h": "a", "g": "f", r"\phi": "tanh"}
    formula = r"h_t=g_t\odot h_{t-1}+(1-g_t)\odot\phi(\tilde h_t)"
    assert verdict(cell, formula, "vector", mapping).holds
    path = tmp_path / "mine.json"
    path.write_text(json.dumps({"base": "vector", "symbols": mapping}))
    assert verdict(cell, formula, str(path)).holds
    toml = tmp_path / "mine.toml"
    toml.write_text("base = 'vector'\n[symbols]\n'\\tilde h' = 'a'\ng = 'f'\n'\\phi' = 'tanh'\n")
    assert verdict(cell, formula, str(toml)).holds


# ---------------------------------------------------------------- bad input: exit code 2
BAD = [
    (["h_t = o_t \\odot \\tanh(c_t"], r"^column 22: unmatched '\('$"),
    (["h_t = o_t \\odot \\tanh(c_t) +"], r"^column 29: unexpected end of input, expected a term"),
    (["h_t = o_t", "h_t = q_t \\odot \\tanh(c_t)"],
     r"^formula 2: column 7: symbol 'q_\{t\}' maps to nothing in notation 'pytorch' for cell "
     r"'lstm' \(expected one of x, \\bar\{i\}, i, "),
    (["h_t = o_t \\odot \\mathrm{softmin}(c_t)"], r"^column 17: function '\\mathrm\{softmin\}'"),
    (["h_t = o_{t+x} \\odot \\tanh(c_t)"], r"^column 11: expected a time index"),
    (["o_t \\odot \\tanh(c_t)"], r"^column 1: expected an equation"),
    (["x_t = o_t"], r"^column 1: 'x_\{t\}' is given to the cell"),
    (["h_t = W_{hi}"], r"^column 7: matrix 'W_\{h i\}' must be followed by the vector"),
]


@pytest.mark.parametrize("formulas,message", BAD, ids=[b[0][-1] for b in BAD])
def test_unreadable_formula_raises_with_column(formulas, message):
    with pytest.raises(CompareError) as info:
        compare("lstm", formulas, "pytorch")
    assert isinstance(info.value, CellError)
    assert re.search(message, str(info.value)) and "\n" not in str(info.value)


def test_an_activation_by_its_printed_name_is_read_and_judged():
    """\\mathrm{softplus} is an activation the IR knows (issue 10 §1): read, and wrong here."""
    v = verdict("lstm", r"h_t = o_t \odot \mathrm{softplus}(c_t)", "pytorch")
    # never holds; the interval evaluation does not yet tell softplus apart (a known gap)
    assert v.kind == "unproven" and not v.holds


@pytest.mark.parametrize("cell,notation,message", [
    # a profile applies to any cell it can name (issue 8); where it cannot, the error names
    # the quantity it has no symbol for, or the symbol that names nothing of the cell
    ("lstmp", "graves", "notation 'graves' is not for cell 'lstmp': it has no symbol for W_hr"),
    ("gru", "graves", "notation 'graves' is not for cell 'gru': it has no symbol for rbar"),
    ("graves-lstm", "pytorch", r"symbol 'h_\{t\}' maps to nothing in notation 'pytorch'"),
    ("lstm", "klingon", "unknown notation 'klingon'"),
])
def test_notation_must_exist_for_the_cell(cell, notation, message):
    with pytest.raises(CompareError, match=message):
        compare(cell, ["h_t = o_t"], notation)


def test_sum_over_an_unknown_unit_names_the_weight():
    with pytest.raises(CompareError, match="column 16: no weight from unit j to unit h"):
        compare("rnn", [r"a_h^t=\sum_{j} w_{jh}x_j^t"], "graves")


# ---------------------------------------------------------------- the command
def run(capsys, *args):
    code = bptt.main(["compare", *args])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("cell,source", [("graves-lstm", "graves2012"), ("rnn", "graves2012"),
                                         ("graves-lstm", "greff2017"), ("lstm", "pytorch"),
                                         ("gru", "pytorch"), ("rnn", "pytorch"),
                                         ("gru", "cho2014"), ("gru", "chung2014")])
def test_sources(capsys, cell, source):
    """Same-convention sources hold (exit 0); Cho's and Chung's GRU are the other conventions:
    named as such, and exit 1, since they do not hold for PyTorch's GRU."""
    code, out, _ = run(capsys, cell, "--source", source)
    count = len(catalog.get_source(source).entries(cell))
    rows = out.splitlines()[2:]
    assert len(rows) == count and out.splitlines()[1].split() == ["verdict", "equation", "note"]
    assert all(r.split()[0] in ("holds", "convention") for r in rows)
    conventions = [r for r in rows if r.split()[0] == "convention"]
    assert code == (1 if conventions else 0)
    assert bool(conventions) == (source in ("cho2014", "chung2014"))


def test_command_exit_codes_and_json(capsys, tmp_path):
    code, out, _ = run(capsys, "lstm", "--notation", "pytorch", "--formula",
                       r"c_t=f_t\odot c_{t-1}+i_t\odot g_t", "--formula",
                       r"c_t=f_t\odot c_{t}+i_t\odot g_t", "--json")
    assert code == 1
    results = json.loads(out)["results"]
    assert [r["kind"] for r in results] == ["holds", "differs"]
    assert results[1]["residual"].replace(" ", "") in ("c[t]*f[t]-c[t-1]*f[t]",
                                                       "-c[t-1]*f[t]+c[t]*f[t]")
    formulas = tmp_path / "eqs.tex"
    formulas.write_text("% Greff, forward\n\\bar z^t=W_zx^t+R_zy^{t-1}+b_z\n\nz^t=g(\\bar z^t)\n")
    code, out, _ = run(capsys, "graves-lstm", "--notation", "greff", "--file", str(formulas))
    assert code == 0 and "2 of 2 hold" in out
    code, out, err = run(capsys, "lstm", "--notation", "pytorch", "--formula", r"h_t=\tanh(c_t")
    assert code == 2 and out == "" and err == "bptt: error: column 10: unmatched '('\n"


@pytest.mark.parametrize("args,message", [
    (["lstm"], "nothing to compare"),
    (["lstm", "--source", "nope"], "unknown source 'nope'"),
    (["lstm", "--source", "greff2017"], "gives equations for graves-lstm, not for cell 'lstm'"),
    (["lstm", "--source", "pytorch", "--formula", "h_t=o_t"], "without --formula"),
    (["lstm", "--file", "/nonexistent/eqs.tex"], "cannot read --file"),
    (["lstm", "--formula", "h_t=o_t", "--map", "q"], "expected SYMBOL=name"),
    (["lstm", "--formula", "h_t=o_t", "--map", "q=zz"], "'zz' is not a quantity"),
    (["lstm", "--notation", "/nonexistent/mine.json", "--formula", "h_t=o_t"],
     "cannot read profile /nonexistent/mine.json"),
])
def test_command_bad_input_exit_2(capsys, args, message):
    code, out, err = run(capsys, *args)
    assert code == 2 and message in err and err.count("\n") == 1


# ---------------------------------------------------------------- the random runs against PyTorch
TORCH_CELLS = {"rnn": "RNNCell", "lstm": "LSTMCell", "gru": "GRUCell"}


@pytest.mark.parametrize("name", TORCH_CELLS)
def test_random_run_gradients_match_pytorch_autograd(name):
    """The values every numeric verdict rests on are those of a real BPTT: parameter and
    initial-state gradients of L = sum_t Delta^t . h^t equal autograd's."""
    torch = pytest.importorskip("torch")
    cell = get_cell(name)
    with mpmath.workdps(60):
        run = _Run(Reference.of(cell), seed=1)

    def floats(a):  # the run's intervals are a few units of the 50th digit wide
        return np.vectorize(lambda v: float(v.mid))(np.asarray(a, dtype=object))

    def tensor(a, grad=False):
        return torch.tensor(floats(a), dtype=torch.float64, requires_grad=grad)
    module = getattr(torch.nn, TORCH_CELLS[name])(3, 3).double()
    for packed, parts in cell.stacks.items():
        getattr(module, packed).data = tensor(np.concatenate([run.symbols[p] for p in parts]))
    state = {s: tensor(run.values[(s, 0)], grad=True) for s in cell.state}
    carry = tuple(state.values()) if len(state) > 1 else state["h"]  # ("h", "c") for LSTMCell
    loss = 0
    for step in range(1, STEPS + 1):
        carry = module(tensor(run.values[("x", step)]), carry)
        h = carry[0] if isinstance(carry, tuple) else carry
        loss = loss + (tensor(run.values[("Delta", step)]) * h).sum()
    loss.backward()
    for packed, parts in cell.stacks.items():
        expected = np.concatenate([floats(run.symbols[f"delta_{p}"]) for p in parts])
        assert np.allclose(getattr(module, packed).grad.numpy(), expected, rtol=1e-12, atol=1e-12)
    for s in cell.state:
        assert np.allclose(state[s].grad.numpy(), floats(run.values[(f"delta_{s}", 0)]),
                           rtol=1e-12, atol=1e-12)


# ---------------------------------------------------------------- API
def test_verdict_json_and_library_api():
    result = verdict(get_cell("lstm"), r"h_t=o_t\odot\tanh(c_t)", "pytorch")
    assert result.to_json() == {"formula": r"h_t=o_t\odot\tanh(c_t)", "holds": True,
                                "kind": "holds", "explanation": "exact", "residual": "0"}


@pytest.mark.parametrize("module", [compare_module, notations, catalog])
def test_module_doctests(module):
    result = doctest.testmod(module)
    assert result.attempted >= 1 and result.failed == 0


# ---------------------------------------------------------------- round trip (issue 9)
def _sheet_lines(cell: str, notation: str) -> list[str]:
    """The sheet's equations, and those of the unrolled forward pass (--unrolled 3; the
    unrolled backward pass is for T = 3 exactly, which compare does not assume)."""
    from derive.sheets import sections
    return [eq.replace("&=", "=") for s in sections(get_cell(cell), notation, unrolled=3)
            if not s.title.startswith("Unrolled backward") for eq in s.equations]


ROUND_TRIP = [(c, "vector") for c in ("rnn", "lstm", "gru", "graves-lstm")] + [
    ("rnn", "graves"), ("graves-lstm", "graves"), ("lstm", "graves")]


@pytest.mark.parametrize("cell,notation", ROUND_TRIP)
def test_every_sheet_line_reads_back_and_holds_exactly(cell, notation):
    """What `bptt sheet CELL --notation N` prints, `bptt compare` reads back: every line holds
    exactly (the printer and the reader share their tables)."""
    lines = _sheet_lines(cell, notation)
    assert len(lines) >= 10
    verdicts = compare(cell, lines, notation)
    wrong = [(v.formula, v.kind, v.explanation) for v in verdicts
             if (v.kind, v.explanation.rpartition("; ")[2]) != ("holds", "exact")]
    assert wrong == []


# ------------------------------------------------- one profile prints and reads (issue 10 §3)
NOTATIONS = ("vector", "pytorch", "greff", "graves", "cho")


def _markdown_lines(cell: str, notation: str) -> list[str]:
    """The equations of `bptt sheet CELL --notation N --format md --unrolled 3` as printed
    (the $$ blocks, their tags dropped), without the unrolled backward pass (for T = 3)."""
    from derive.sheets import markdown
    lines, section, block = [], "", None
    for line in markdown(get_cell(cell), notation, unrolled=3).splitlines():
        if line.startswith("## "):
            section = line
        elif line == "$$":
            if block is not None and not section.startswith("## Unrolled backward"):
                lines.append(re.sub(r"\\tag\{\d+\}$", "", " ".join(block)).strip())
            block = None if block is not None else []
        elif block is not None:
            block.append(line)
    return lines


# (cell, notation) -> what the notation has no symbol for: `bptt sheet` says so, nothing else
# is left out. Graves' tables are written for graves-lstm (Greff's variants), lstm (no
# peepholes), rnn and elman-softmax (his section 3.1.3 output layer); Graves writes no projection (lstmp's W_hr); Greff's \delta o is the delta
# of \bar o, so a cell whose state is the gate o (FGR) has none for its own
_NOT_APPLICABLE = {**{(cell, "graves"): name for cell, name in (
    ("gru", "rbar"), ("greff-fgr", "g_i"), ("gru-cho", "r"), ("mgu", "h_tilde"),
    ("indrnn", "W"), ("lstmp", "W_hr"), ("janet", "s"), ("ugrnn", "W_c"), ("sru", "r"))},
    ("greff-fgr", "greff"): "delta_o"}

# every built-in cell (aliases once) in every notation
_ROUND_TRIP_CELLS = sorted({get_cell(name).name for name in cell_names()})


@pytest.mark.parametrize("notation", NOTATIONS)
@pytest.mark.parametrize("cell", _ROUND_TRIP_CELLS)
def test_every_markdown_sheet_reads_back_in_its_notation(cell, notation):
    """Every built-in cell in every notation that can name it: each equation of the Markdown
    sheet holds exactly when compare reads it in the same notation; a notation that cannot
    name the cell says which quantity it has no symbol for."""
    missing = _NOT_APPLICABLE.get((cell, notation))
    if missing is not None:
        with pytest.raises(CellError, match=rf"it has no symbol for {missing} "):
            _markdown_lines(cell, notation)
        return
    lines = _markdown_lines(cell, notation)
    assert len(lines) >= 10
    verdicts = compare(cell, lines, notation)
    wrong = [(v.formula, v.kind, v.explanation) for v in verdicts
             if (v.kind, v.explanation.rpartition("; ")[2]) != ("holds", "exact")]
    assert wrong == []


# softmax and the losses (issue 10 §3): the derivation takes a cross-entropy's targets to sum
# to 1, which gives delta a = y - z; the random runs draw targets that do
SOFTMAX_VERDICTS = [
    (r"\delta a_t = y_t - z_t", "holds"),
    (r"\delta a_t = \operatorname{softmax}(a_t) - z_t", "holds"),
    (r"\delta a_t = z_t - y_t", "differs"),
    (r"\delta a_t = \operatorname{softmax}(2 a_t) - z_t", "differs"),
    (r"y_t = \operatorname{softmax}(a_t)", "holds"),
    (r"y_t = \exp(a_t)", "differs"),
    (r"\mathrm{loss}_t = \mathcal{L}_{\mathrm{CE}}(y_t, z_t)", "holds"),
    (r"\mathrm{loss}_t = \mathcal{L}_{\mathrm{CE}}(z_t, y_t)", "differs"),
    (r"\mathrm{loss}_t = \mathcal{L}_{\mathrm{SE}}(y_t, z_t)", "differs"),
    (r"\mathrm{loss}_t = -z_t \log(y_t)", "differs"),  # a vector, not the sum over units
    (r"\delta h_t = W_{ho}^\top (y_t - z_t) + W_{hh}^\top (\delta h_{t+1} \odot (1 - h_{t+1}^2))",
     "holds"),
    (r"\delta h_t = W_{ho}^\top (z_t - y_t) + W_{hh}^\top (\delta h_{t+1} \odot (1 - h_{t+1}^2))",
     "differs"),
    (r"\frac{\partial L}{\partial b_o} = \sum_{t=1}^T (y_t - z_t)", "holds"),
    (r"\frac{\partial L}{\partial b_o} = \sum_{t=1}^T (z_t - y_t)", "differs"),
]


@pytest.mark.parametrize("formula,kind", SOFTMAX_VERDICTS, ids=[f for f, _ in SOFTMAX_VERDICTS])
def test_softmax_and_loss_formulas_get_their_verdicts(formula, kind):
    result = verdict("elman-softmax", formula, "pytorch")
    assert (result.kind, result.holds) == (kind, kind == "holds"), result.explanation


def test_the_sign_flipped_softmax_delta_is_named_a_wrong_sign():
    result = verdict("elman-softmax", r"\delta a_t = z_t - y_t", "pytorch")
    assert result.kind == "differs"
    assert result.explanation == "wrong sign: the right side is minus the derivation's"


def test_a_function_of_two_arguments_is_a_loss():
    with pytest.raises(CompareError, match=r"a function of two arguments is a loss"):
        verdict("elman-softmax", r"y_t = f(a_t, z_t)", "pytorch")
    with pytest.raises(CompareError, match=r"softmax has no elementwise derivative"):
        verdict("elman-softmax", r"y_t = \operatorname{softmax}'(a_t)", "pytorch")


def test_greff_niaf_reads_its_own_pre_activation_as_graves_a_c():
    # NIAF has no input activation: z = W_z x + R_z y + b_z is Graves' a_c, and g(a_c) is wrong
    right = r"s_c^t = b_\phi^t s_c^{t-1} + b_\iota^t a_c^t"
    wrong = r"s_c^t = b_\phi^t s_c^{t-1} + b_\iota^t g(a_c^t)"
    assert verdict("greff-niaf", right, "graves").kind == "holds"
    assert verdict("greff-niaf", wrong, "graves").kind == "differs"


def test_graves_prints_and_reads_greff_variants():
    """Greff's variants take Graves' notation (issue 8): the table written for graves-lstm."""
    from derive.sheets import markdown
    text = markdown(get_cell("greff-nig"), "graves")
    assert r"a_{\phi}^{t}" in text and r"a_{\iota}" not in text
    assert verdict("greff-nig", r"b_\phi^t = f(a_\phi^t)", "graves").kind == "holds"
    assert verdict("greff-nig", r"b_\phi^t = g(a_\phi^t)", "graves").kind == "differs"


def test_graves_reads_pytorch_lstm_as_his_lstm_without_peepholes():
    """PyTorch's lstm in Graves' units: g is his cell input a_c, both biases are weights from
    the constant unit, and a peephole is an error naming the cell."""
    forward = r"a_c^t=\sum_{i=1}^{I}w_{ic}x_i^t+\sum_{h=1}^{H}w_{hc}b_h^{t-1}"
    assert verdict("lstm", forward, "graves").kind == "holds"
    assert verdict("lstm", forward + r"+\beta_c+\beta'_c", "graves").kind == "holds"
    assert verdict("lstm", forward + r"+\beta_c", "graves").kind == "differs"
    eps_s = r"\epsilon_s^t=b_\omega^t h'(s_c^t)\epsilon_c^t+b_\phi^{t+1}\epsilon_s^{t+1}"
    assert verdict("lstm", eps_s, "graves").kind == "holds"
    assert verdict("lstm", eps_s.replace("{t+1}", "{t}", 1), "graves").kind == "differs"
    with pytest.raises(CompareError, match=r"in cell 'lstm' \(a peephole: the cell has none\)"):
        verdict("lstm", eps_s + r"+w_{c\iota}\delta_\iota^{t+1}", "graves")


def test_pytorch_sheet_writes_time_as_a_subscript():
    lines = _markdown_lines("lstm", "pytorch")
    assert r"c_{t} = c_{t-1} \odot f_{t} + g_{t} \odot i_{t}" in lines


def test_profile_file_prints_its_symbols(tmp_path):
    path = tmp_path / "my_cho.json"
    path.write_text(json.dumps({"base": "pytorch", "symbols": {r"\tilde h": "n", "U_r": "W_hr"}}))
    lines = _markdown_lines("gru", str(path))
    assert any(line.startswith(r"\tilde{h}_{t} =") for line in lines)
    assert all(v.kind == "holds" for v in compare("gru", lines, str(path)))


def test_graves_peephole_gradient_is_w_c_iota():
    # Graves' w_{c\iota} outside a sum is the peephole p_i (textbooks.md 1): its gradient pairs
    # delta_iota with the cell state s_c^{t-1}, not with the block output b_c^{t-1}
    right = r"\frac{\partial L}{\partial w_{c\iota}} = \sum_{t=1}^{T} s_{c}^{t-1} \delta_{\iota}^{t}"
    wrong = r"\frac{\partial L}{\partial w_{c\iota}} = \sum_{t=1}^{T} b_{c}^{t-1} \delta_{\iota}^{t}"
    assert verdict("graves-lstm", right, "graves").kind == "holds"
    result = verdict("graves-lstm", wrong, "graves")
    assert result.kind == "differs" and "b_{c}^{t-1}" in result.explanation


# ---------------------------------------------------------------- sound verdicts (issue 9)
ISSUE_9_EXAMPLES = [  # each was called "holds"; each is wrong, and the note names why
    ("lstm", "pytorch", r"c_t = f_t \odot c_{t-1} + i_t \odot g_t + i_{t-2}", "i_{t-2}"),
    ("lstm", "pytorch", r"h_t = o_t \odot \tanh(c_t) + x_{t+4}", "x_{t+4}"),
    ("lstm", "pytorch", r"h_t = o_t \odot \tanh(c_t) + (10)^{-60} h_t", "(10)^{-60} h_t"),
    ("lstm", "vector", r"\frac{\partial L}{\partial W_{hi}} = \sum_{t=2}^{T} \delta \bar{i}^{t} "
     r"(h^{t-1})^\top", "the sum runs over t = 2..T, the derivation's over t = 1..T"),
    ("graves-lstm", "graves", r"\frac{\partial L}{\partial w_{c\iota}} = \sum_{t=1}^{T} b_{c}^{t-1}"
     r" \delta_{\iota}^{t}", "b_{c}^{t-1}"),
    ("graves-lstm", "greff", r"\delta c^t=\delta y^t\odot o^t\odot h'(c^t)+p_o\odot\delta\bar o^t"
     r"+p_i\odot\delta\bar i^{t+1}+p_f\odot\delta\bar f^{t+1}+\delta c^{t+1}\odot f^{t+1}"
     r"+\delta c^{t+4}", r"\delta c^{t+4}"),
    ("lstm", "pytorch", r"h_t = o_t \odot \tanh(c_t) \cdot (1 + (10)^{-30})",
     "coefficient 1.0000000000000000000000000000010000 where the derivation has 1"),
]


@pytest.mark.parametrize("cell,notation,formula,named", ISSUE_9_EXAMPLES,
                         ids=[e[2][:40] for e in ISSUE_9_EXAMPLES])
def test_wrong_formulas_of_issue_9_differ_and_are_named(cell, notation, formula, named):
    result = verdict(cell, formula, notation)
    assert (result.kind, result.holds) == ("differs", False)
    assert named in result.explanation


@pytest.mark.parametrize("formula", [
    r"\delta W_{hi}=\sum_{t=1}^{T+1}\delta\bar i^t(h^{t-1})^\top",  # the term at T+1 is 0
    r"\delta W_{hi}=\sum_{t=0}^{T-1}\delta\bar i^{t+1}(h^{t})^\top",  # another origin of t
    r"\delta W_{hi}=\sum_{t=1}^{T}\delta\bar i^t(h^{t-1})^\top",
])
def test_sum_limits_that_are_genuinely_equal_hold(formula):
    assert verdict("lstm", formula, "vector").kind == "holds"


def test_a_sum_from_t_0_holds_where_its_terms_there_are_0():
    # Greff's sums from t = 0: o has no step 0, so its adjoint there is 0 (as beyond T)
    held = verdict("graves-lstm", r"\delta p_o = \sum_{t=0}^{T} c^t \odot \delta\bar o^t", "greff")
    assert held.kind == "holds" and "delta_obar has no step 0" in held.explanation
    assert verdict("graves-lstm", r"\delta W_o = \sum_{t=-1}^{T} \langle \delta\bar o^t, x^t"
                   r" \rangle", "greff").kind == "holds"
    # the state has a step 0: its adjoint there (the initial gradient) is no 0
    for wrong in (r"\delta b_{ih} = \sum_{t=0}^T \delta h_t \odot (1-h_t^2)",
                  r"\delta b_{ih} = \sum_{t=0}^T \delta \bar h_t + \sum_{t=0}^T h_{t-1}"):
        assert verdict("rnn", wrong, "pytorch").kind == "differs"
    wrong = verdict("graves-lstm", r"\delta p_o = \sum_{t=0}^{T} c^{t-1} \odot \delta\bar o^t",
                    "greff")
    assert wrong.kind == "differs" and "runs over" not in wrong.explanation


@pytest.mark.parametrize("formula,message", [
    (r"h_t = W_{hi} \odot h_{t-1}", r"'\odot' multiplies two vectors elementwise, but 'W_{h i}' is a matrix"),
    (r"h_t = o_t \circ (h_{t-1})^\top", r"'\circ' multiplies two vectors elementwise"),
    (r"h_t = o_t \odot h_{t+10}", "more than 8 steps from t"),
])
def test_untyped_products_and_far_steps_are_errors(formula, message):
    with pytest.raises(CompareError, match=re.escape(message)):
        compare("lstm", [formula], "pytorch")


def test_an_odot_before_a_matrix_product_is_elementwise_with_it():
    # x \odot W h is x \odot (W h): the matrix waits for its own vector
    assert verdict("gru", r"n_t=\tanh(W_{in}x_t+b_{in}+r_t\odot W_{hn}h_{t-1}+r_t\odot b_{hn})",
                   "pytorch").kind == "holds"


def test_at_step_T_the_boundary_is_proven():
    # delta c^T has no terms from T+1: the proof knows adjoints beyond T are 0
    formula = r"\delta c^T=\delta y^T\odot o^T\odot h'(c^T)+p_o\odot\delta\bar o^T"
    assert verdict("graves-lstm", formula, "greff").kind == "holds"
    assert verdict("graves-lstm", formula + r"+\delta c^{T-1}", "greff").kind == "differs"


def test_graves_transposed_recurrent_gradient_differs():
    # dL/dw_{h'h} pairs delta_h with b_{h'}; the deltas of the "from" unit h' make it the
    # gradient of w_{hh'}, the transposed matrix (the per-unit labels are all there is)
    right = r"\frac{\partial L}{\partial w_{h'h}} = \sum_{t=1}^{T} \delta_{h}^{t} b_{h'}^{t-1}"
    wrong = r"\frac{\partial L}{\partial w_{h'h}} = \sum_{t=1}^{T} \delta_{h'}^{t} b_{h}^{t-1}"
    assert verdict("rnn", right, "graves").kind == "holds"
    assert verdict("rnn", wrong, "graves").kind == "differs"


@pytest.mark.parametrize("formula", [r"h_t = o_t/0", r"h_t = \frac{1}{0}", r"h_t = 0/0 o_t",
                                     r"h_t = (o_t - o_t)^{-1}"])
def test_a_division_by_zero_is_an_error_not_a_verdict(formula):
    with pytest.raises(CompareError, match="undefined"):
        compare("lstm", [formula], "pytorch")
