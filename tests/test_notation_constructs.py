"""Notation constructs of real sources (issue 10 §1): each read, holding when right and differing
when wrong. Oracle: the rnn's published backward pass (delta a = delta h (1 - h^2),
dL/dW_hh = sum_t delta a_t h_{t-1}^T; ../shared/notes/textbooks.md), written in each style."""
from __future__ import annotations

import pytest

from verify.compare import compare

CASES = [  # (construct, formula that holds, the same formula with one defect)
    ("diag(v) times a vector",
     r"\delta \bar h_t = \operatorname{diag}(1 - h_t^2) \delta h_t",
     r"\delta \bar h_t = \operatorname{diag}(1 - h_t) \delta h_t"),
    ("W^T diag(v) g",
     r"\delta x_t = W_{ih}^\top \mathrm{diag}(1 - h_t^2)\, \delta h_t",
     r"\delta x_t = W_{ih}^\top \mathrm{diag}(1 + h_t^2)\, \delta h_t"),
    ("power of a subscript-time symbol",
     r"\delta \bar h_t = \delta h_t \odot (1 - h_t^2)",
     r"\delta \bar h_t = \delta h_t \odot (1 - h_t^3)"),
    ("function name without backslash",
     r"\delta \bar h_t = \delta h_t \odot (1 - tanh^2(\bar h_t))",
     r"\delta \bar h_t = \delta h_t \odot (1 - tanh(\bar h_t))"),
    ("bare tanh in a forward equation",
     r"h_t = tanh(W_{ih} x_t + W_{hh} h_{t-1} + b_{ih} + b_{hh})",
     r"h_t = tanh(W_{ih} x_t + W_{hh} h_{t-1} + b_{ih})"),
    ("time in parentheses h(t)",
     r"h(t) = \tanh(W_{ih} x(t) + W_{hh} h(t-1) + b_{ih} + b_{hh})",
     r"h(t) = \tanh(W_{ih} x(t) + W_{hh} h(t) + b_{ih} + b_{hh})"),
    ("last step tau, transpose (h_{t-1})^T",
     r"\frac{\partial L}{\partial W_{hh}} = \sum_{t=1}^{\tau} \delta \bar h_t (h_{t-1})^T",
     r"\frac{\partial L}{\partial W_{hh}} = \sum_{t=1}^{\tau} \delta \bar h_t (h_{t})^T"),
    ("time as h^{(t)} with a transpose h^{(t-1)\top}",
     r"\frac{\partial L}{\partial W_{hh}} = \sum_{t=1}^{T} \delta \bar h^{(t)} h^{(t-1)\top}",
     r"\frac{\partial L}{\partial W_{hh}} = \sum_{t=1}^{T} \delta \bar h^{(t)} h^{(t+1)\top}"),
    (r"time as h^{\langle t\rangle}",
     r"h^{\langle t\rangle} = \tanh(W_{ih} x^{\langle t\rangle} + W_{hh} h^{\langle t-1\rangle}"
     r" + b_{ih} + b_{hh})",
     r"h^{\langle t\rangle} = \tanh(W_{ih} x^{\langle t\rangle} + W_{ih} h^{\langle t-1\rangle}"
     r" + b_{ih} + b_{hh})"),
    ("products * and \\circ",
     r"\delta \bar h_t = \delta h_t * (1 - h_t^2)",
     r"\delta \bar h_t = \delta h_t \circ (1 - h_{t-1}^2)"),
]


@pytest.mark.parametrize("construct,right,wrong", CASES, ids=[c[0] for c in CASES])
def test_construct_holds_when_right_and_differs_when_wrong(construct, right, wrong):
    good, bad = compare("rnn", [right, wrong], "pytorch")
    assert (good.kind, good.explanation) == ("holds", "exact")
    assert bad.kind == "differs" and not bad.holds


def test_a_column_vector_times_a_diag_matrix_differs_and_says_why():
    v, = compare("rnn", [r"\delta \bar h_t = \delta h_t \operatorname{diag}(1 - h_t^2)"],
                 "pytorch")
    assert v.kind == "differs" and "not conformable" in v.explanation


def test_row_vector_sources_read_x_W_as_W_transpose_x(tmp_path):
    """A profile file's row_vectors switch: h_t = tanh(x_t W_xh + h_{t-1} W_hh + b), with
    W_xh the transpose of the cell's W_ih (mapped by name; the product reads W_ih^T-of-row)."""
    path = tmp_path / "rows.json"
    path.write_text('{"base": "pytorch", "row_vectors": true, "symbols": {}}')
    right = r"h_t = \tanh(x_t W_{ih}^\top + h_{t-1} W_{hh}^\top + b_{ih} + b_{hh})"
    wrong = r"h_t = \tanh(x_t W_{ih} + h_{t-1} W_{hh}^\top + b_{ih} + b_{hh})"
    good, bad = compare("rnn", [right, wrong], str(path))
    assert (good.kind, bad.kind) == ("holds", "differs")
    with pytest.raises(Exception, match="must be followed by the vector"):
        compare("rnn", [right], "pytorch")  # column vectors: x W is not read as a product
