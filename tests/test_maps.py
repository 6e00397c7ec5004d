"""Conventions as maps to expressions (issue 10 section 2): ``--map 'b_h=b_ih+b_hh'``,
``W_xh=W_ih^T`` for row-vector sources, and the constant unit that folds biases into weights.
A formula holds under a stated convention (the note names it), and a wrong one still differs."""
import json

import pytest

from bptt import main
from verify.compare import CompareError, compare

RNN = r"h_t = \tanh(W_{ih} x_t + W_{hh} h_{t-1} + b_h)"


def test_one_bias_for_two():
    held, wrong, unmapped = compare("rnn", [RNN, RNN.replace("+ b_h", "+ 2 b_h"),
                                            RNN.replace("b_h", "b_{ih}")],
                                    "pytorch", {"b_h": "b_ih+b_hh"})
    assert held.kind == "holds" and "under the stated convention: b_h = b_ih+b_hh" in \
        held.explanation
    assert wrong.kind == "differs" and not wrong.holds
    assert unmapped.kind == "differs"  # one of the two biases is not both
    assert compare("rnn", [RNN], "pytorch", {"b_h": "b_ih-b_hh"})[0].kind == "differs"


def test_row_vectors_with_transposed_maps(tmp_path):
    profile = tmp_path / "rows.json"
    profile.write_text(json.dumps({"base": "pytorch", "row_vectors": True, "symbols": {
        "W_{xh}": "W_ih^T", "W_{hh}": "W_hh^\\top", "b_h": "b_ih + b_hh"}}))
    rows = r"h_t = \tanh(x_t W_{xh} + h_{t-1} W_{hh} + b_h)"
    held, transposed = compare("rnn", [rows, rows.replace("W_{hh}", "W_{hh}^T")], str(profile))
    assert held.kind == "holds" and "W_{xh} = W_ih^T" in held.explanation
    assert transposed.kind == "differs" and "transposed" in transposed.explanation
    # column vectors with the same map: W_ih^T x is not W_ih x
    assert compare("rnn", [r"h_t = \tanh(W_{xh} x_t + W_{hh} h_{t-1} + b_{ih} + b_{hh})"],
                   "pytorch", {"W_{xh}": "W_ih^T"})[0].kind == "differs"


def test_constant_unit_lstm_and_gru(tmp_path):
    lstm = [r"i_t = \sigma(W_{ii} x_t + W_{hi} h_{t-1})",
            r"i_t = \sigma(W_{ii} x_t + W_{hi} h_{t-1} + b_{ii} + b_{hi})",
            r"i_t = \sigma(W_{ii} x_t + W_{hi} h_{t-1} + b_{hi})",
            r"g_t = \tanh(W_{ig} x_t + W_{hg} h_{t-1})"]
    kinds = [v.kind for v in compare("lstm", lstm, "pytorch", constant_unit=True)]
    assert kinds == ["holds", "holds", "differs", "holds"]
    first, explicit = compare("lstm", lstm[:2], "pytorch", constant_unit=True)
    assert "constant unit" in first.explanation and "constant unit" not in explicit.explanation
    assert compare("lstm", lstm[:1], "pytorch")[0].kind == "differs"  # not stated: no biases
    profile = tmp_path / "unit.json"
    profile.write_text('{"base": "pytorch", "constant_unit": true, "symbols": {}}')
    gru = [r"z_t = \sigma(W_{iz} x_t + W_{hz} h_{t-1})",
           r"n_t = \tanh(W_{in} x_t + r_t \odot (W_{hn} h_{t-1} + b_{hn}))",
           r"n_t = \tanh(W_{in} x_t + r_t \odot W_{hn} h_{t-1})"]  # b_hn is not beside W_in x
    assert [v.kind for v in compare("gru", gru, str(profile))] == ["holds", "holds", "differs"]


def test_cli_constant_unit_and_map(capsys):
    assert main(["compare", "lstm", "--notation", "pytorch", "--constant-unit", "--formula",
                 r"f_t = \sigma(W_{if} x_t + W_{hf} h_{t-1})"]) == 0
    assert "constant unit" in capsys.readouterr().out
    assert main(["compare", "rnn", "--notation", "pytorch", "--map", "b_h=b_ih+b_hh",
                 "--formula", RNN]) == 0


@pytest.mark.parametrize("expr, message", [
    ("b_ih+", "cannot read"), ("b_xx+b_hh", "'b_xx' is not a parameter"),
    ("W_ih+b_hh", "a matrix is mapped alone"), ("b_ih^T", "transposes a vector"),
    ("3", "is a number"), ("f(b_ih)", "is not allowed"), ("2*W_ih", "a matrix is mapped alone")])
def test_bad_map_expressions(expr, message, capsys):
    assert main(["compare", "rnn", "--map", f"b_h={expr}", "--formula", RNN]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err
    with pytest.raises(CompareError, match="--map"):
        compare("rnn", [RNN], "pytorch", {"b_h": expr})


def test_bad_constant_unit_in_profile(tmp_path, capsys):
    profile = tmp_path / "bad.json"
    profile.write_text('{"constant_unit": "yes", "symbols": {}}')
    assert main(["compare", "rnn", "--notation", str(profile), "--formula", RNN]) == 2
    assert "'constant_unit' must be true or false" in capsys.readouterr().err


def test_a_sheet_never_prints_a_symbol_its_map_reads_otherwise(tmp_path, capsys):
    """W_{hh}=W_hh^T takes the symbol the sheet prints for W_hh: refused, not a sheet that
    reads back transposed; a map of another symbol prints."""
    shadowing = tmp_path / "shadow.json"
    shadowing.write_text(json.dumps({"base": "pytorch", "row_vectors": True,
                                     "symbols": {"W_{hh}": "W_hh^T"}}))
    assert main(["sheet", "rnn", "--notation", str(shadowing)]) == 2
    assert "would not read back as printed" in capsys.readouterr().err
    fine = tmp_path / "fine.json"
    fine.write_text(json.dumps({"base": "pytorch", "row_vectors": True, "constant_unit": True,
                                "symbols": {"U": "W_hh^T", "b_h": "b_ih+b_hh"}}))
    assert main(["sheet", "rnn", "--notation", str(fine), "-o", str(tmp_path / "s.tex")]) == 0
