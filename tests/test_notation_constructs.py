"""Notation constructs of real sources (issue 10 §1): each read, holding when right and differing
when wrong. Oracle: the rnn's published backward pass (delta a = delta h (1 - h^2),
dL/dW_hh = sum_t delta a_t h_{t-1}^T; ../shared/notes/textbooks.md), written in each style."""
from __future__ import annotations

import json

import pytest
import sympy as sp

from derive import get_cell
from derive.ir import Softmax, t
from verify.compare import CompareError, compare
from verify.notations import NotationError, get_profile, read_formula

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
    ("products \\cdot and \\times of vectors: elementwise",
     r"\delta \bar h_t = \delta h_t \cdot (1 - h_t \times h_t)",
     r"\delta \bar h_t = \delta h_t \cdot (1 - h_t)"),
    ("\\cdot of a matrix and a vector: the matrix product",
     r"h_t = \tanh(W_{ih} \cdot x_t + W_{hh} \cdot h_{t-1} + b_{ih} + b_{hh})",
     r"h_t = \tanh(W_{ih} \cdot x_t + W_{hh} \cdot h_{t} + b_{ih} + b_{hh})"),
    ("the next step's adjoint written out (W^T (delta h_{t+1} (1 - h_{t+1}^2)))",
     r"\delta h_t = W_{hh}^\top (\delta h_{t+1} \odot (1 - h_{t+1}^2)) + \Delta_t",
     r"\delta h_t = W_{hh}^\top (\delta h_{t+1} \odot (1 - h_{t}^2)) + \Delta_t"),
    ("adjoint \\partial_{h_t} L",
     r"\partial_{h_t} L = \Delta_t + W_{hh}^\top (\partial_{h_{t+1}} L \odot (1 - h_{t+1}^2))",
     r"\partial_{h_t} L = \Delta_t + W_{hh} (\partial_{h_{t+1}} L \odot (1 - h_{t+1}^2))"),
    ("adjoint \\frac{\\partial \\mathcal{L}}{\\partial h_t}, Goodfellow's diag",
     r"\frac{\partial \mathcal{L}}{\partial h_t} = W_{hh}^\top \mathrm{diag}(1 - h_{t+1}^2)"
     r"\frac{\partial \mathcal{L}}{\partial h_{t+1}} + \Delta_t",
     r"\frac{\partial \mathcal{L}}{\partial h_t} = W_{hh}^\top \mathrm{diag}(1 - h_{t+1}^2)"
     r"\frac{\partial \mathcal{L}}{\partial h_{t}} + \Delta_t"),
    ("the cost J: \\frac{\\partial J}{\\partial h_t}",
     r"\frac{\partial J}{\partial h_t} = \Delta_t + W_{hh}^\top \mathrm{diag}(1 - h_{t+1}^2) "
     r"\frac{\partial J}{\partial h_{t+1}}",
     r"\frac{\partial J}{\partial h_t} = \Delta_t + W_{hh}^\top \mathrm{diag}(1 - h_{t}^2) "
     r"\frac{\partial J}{\partial h_{t+1}}"),
    ("one step's loss \\partial \\ell_t/\\partial h_t: the gradient from above",
     r"\delta h_t = W_{hh}^\top (\delta h_{t+1} \odot (1 - h_{t+1}^2)) "
     r"+ \partial \ell_t/\partial h_t",
     r"\delta h_t = W_{hh}^\top (\delta h_{t+1} \odot (1 - h_{t}^2)) "
     r"+ \partial \ell_t/\partial h_t"),
    ("one step's loss \\frac{\\partial L^{(t)}}{\\partial h^{(t)}}",
     r"\frac{\partial L}{\partial h^{(t)}} = \frac{\partial L^{(t)}}{\partial h^{(t)}} + "
     r"W_{hh}^\top \mathrm{diag}(1 - (h^{(t+1)})^2) \frac{\partial L}{\partial h^{(t+1)}}",
     r"\frac{\partial L}{\partial h^{(t)}} = \frac{\partial L^{(t)}}{\partial h^{(t)}} + "
     r"W_{hh}^\top \mathrm{diag}(1 - (h^{(t+1)})^2) \frac{\partial L}{\partial h^{(t)}}"),
    ("unit index with a subscript time, h_{t,j}, [W x]_j, b_{ih,j}",
     r"h_{t,j} = \tanh([W_{ih} x_t]_j + [W_{hh} h_{t-1}]_j + b_{ih,j} + b_{hh,j})",
     r"h_{t,j} = \tanh([W_{ih} x_t]_j + [W_{hh} h_{t-1}]_j + b_{ih,j})"),
    ("unit index with a superscript time, h^t_j",
     r"h^t_j = \tanh([W_{ih} x^t]_j + [W_{hh} h^{t-1}]_j + b_{ih,j} + b_{hh,j})",
     r"h^t_j = \tanh([W_{ih} x^t]_j + [W_{ih} h^{t-1}]_j + b_{ih,j} + b_{hh,j})"),
    ("unit index as the superscript, time the subscript: h_t^j, \\tanh(...)^j (Chung)",
     r"h_t^j = \tanh(W_{ih} x_t + W_{hh} h_{t-1} + b_{ih} + b_{hh})^j",
     r"h_t^j = \tanh(W_{ih} x_t + W_{hh} h_t^j + b_{ih} + b_{hh})^j"),
    ("unit sums \\sum_k W_{hh,jk} h^{t-1}_k, [W]_{jk}",
     r"h^t_j = \tanh(\sum_{k=1}^{I} [W_{ih}]_{jk} x^t_k + \sum_k W_{hh,jk} h^{t-1}_k + b_{ih,j}"
     r" + b_{hh,j})",
     r"h^t_j = \tanh(\sum_{k=1}^{I} [W_{ih}]_{jk} x^t_k + \sum_k W_{hh,kj} h^{t-1}_k + b_{ih,j}"
     r" + b_{hh,j})"),
    ("unit sum over the rows, \\sum_k W_{kj} (the transpose)",
     r"\delta h^t_j = \sum_k W_{hh,kj} \delta \bar h^{t+1}_k + \Delta^t_j",
     r"\delta h^t_j = \sum_k W_{hh,jk} \delta \bar h^{t+1}_k + \Delta^t_j"),
    ("unit index of an adjoint, \\delta h_j^{(t)}",
     r"\delta h_j^{(t)} = [W_{hh}^\top \delta \bar h^{(t+1)}]_j + \Delta_j^{(t)}",
     r"\delta h_j^{(t)} = [W_{hh}^\top \delta \bar h^{(t)}]_j + \Delta_j^{(t)}"),
    ("roman labels W_{\\mathrm{hh}}, W_{\\textrm{ih}}",
     r"h_t = \tanh(W_{\textrm{ih}} x_t + W_{\mathrm{hh}} h_{t-1} + b_{\mathrm{ih}} + b_{hh})",
     r"h_t = \tanh(W_{\textrm{ih}} x_t + W_{\mathrm{hh}} h_{t-1} + b_{\mathrm{ih}} + b_{ih})"),
    ("transpose h_{t-1}^T with the time as the subscript",
     r"\frac{\partial L}{\partial W_{hh}} = \sum_{t=1}^{T} \delta \bar h_t h_{t-1}^T",
     r"\frac{\partial L}{\partial W_{hh}} = \sum_{t=1}^{T} \delta \bar h_t h_{t+1}^T"),
    ("transposes h^{(t)T}, h^{(t),T}; the last step n",
     r"\frac{\partial L}{\partial W_{hh}} = \sum_{t=1}^{n} \delta \bar h^{(t)} h^{(t-1)T}",
     r"\frac{\partial L}{\partial W_{hh}} = \sum_{t=2}^{n} \delta \bar h^{(t)} h^{(t-1),T}"),
    ("Goodfellow's transposed time h^{(t-1)^\\top}, h^{(t)^T}",
     r"\frac{\partial L}{\partial W_{hh}} = \sum_{t=1}^{T} \delta \bar h^{(t)} h^{(t-1)^\top}",
     r"\frac{\partial L}{\partial W_{hh}} = \sum_{t=1}^{T} \delta \bar h^{(t)} h^{(t)^T}"),
    ("the last step n in a limit n-1",
     r"\frac{\partial L}{\partial W_{hh}} = \sum_{t=0}^{n-1} \delta \bar h^{(t+1)} h^{(t)T}",
     r"\frac{\partial L}{\partial W_{hh}} = \sum_{t=1}^{n-1} \delta \bar h^{(t+1)} h^{(t)T}"),
    ("power h^2 where the time is the subscript",
     r"\delta \bar h_t = \delta h_t \odot (1 - h^2)",
     r"\delta \bar h_t = \delta h_t \odot (1 - h)"),
    ("sides swapped: the single quantity on the right",
     r"\delta h_t \odot (1 - h_t^2) = \delta \bar h_t",
     r"\delta h_t \odot (1 - h_t) = \delta \bar h_t"),
    ("sech^2 as tanh'",
     r"\delta \bar h_t = \delta h_t \odot \operatorname{sech}^2(\bar h_t)",
     r"\delta \bar h_t = \delta h_t \odot \operatorname{sech}^2(h_t)"),
    ("tanh written out through e^x",
     r"h_t = \frac{e^{\bar h_t} - e^{-\bar h_t}}{e^{\bar h_t} + e^{-\bar h_t}}",
     r"h_t = \frac{e^{\bar h_t} - e^{-\bar h_t}}{e^{\bar h_t} + e^{\bar h_t}}"),
    ("\\otimes of two columns: elementwise for a vector",
     r"\delta \bar h_t = \delta h_t \otimes (1 - h_t^2)",
     r"\delta \bar h_t = \delta h_t \otimes (1 - h_{t-1}^2)"),
    ("\\otimes of two columns: the outer product for a matrix's gradient",
     r"\frac{\partial L}{\partial W_{hh}} = \sum_{t=1}^{T} \delta \bar h_t \otimes h_{t-1}",
     r"\frac{\partial L}{\partial W_{hh}} = \sum_{t=1}^{T} \delta \bar h_t \otimes h_t"),
    ("\\otimes with a row: the outer product",
     r"\frac{\partial L}{\partial W_{hh}} = \sum_{t=1}^{T} \delta \bar h_t \otimes h_{t-1}^\top",
     r"\frac{\partial L}{\partial W_{hh}} = \sum_{t=1}^{T} \delta h_t \otimes h_{t-1}^\top"),
    ("\\ast and \\star as '*'",
     r"\delta \bar h_t = \delta h_t \ast (1 - h_t \star h_t)",
     r"\delta \bar h_t = \delta h_t \ast (1 - h_t \star h_{t-1})"),
    ("plain-TeX font group {\\bf h}",
     r"{\bf \delta \bar h}_t = {\bf \delta h}_t \odot (1 - {\rm h}_t^2)",
     r"{\bf \delta \bar h}_t = {\bf \delta h}_t \odot (1 - {\rm h}_t)"),
    ("inside \\begin{aligned} with &",
     r"\begin{aligned} \delta \bar h_t &= \delta h_t \odot (1 - h_t^2) \end{aligned}",
     r"\begin{aligned} \delta \bar h_t &= \delta h_t \odot (1 + h_t^2) \end{aligned}"),
    ("trailing ';' and a \\text{} condition after \\quad",
     r"\delta \bar h_t = \delta h_t \odot (1 - h_t^2) \quad \text{for } t < T;",
     r"\delta \bar h_t = \delta h_t \odot (1 - h_t) \quad \text{for } t < T;"),
    ("a trailing range , \\quad t = 1, \\dots, T",
     r"\delta \bar h_t = \delta h_t \odot (1 - h_t^2), \quad t = 1, \ldots, T",
     r"\delta \bar h_t = \delta h_t \odot (1 - h_t), \quad t = 1, \ldots, T"),
    ("Werbos' ordered derivative \\partial^+ (and ^{+}): the total derivative",
     r"\frac{\partial^+ L}{\partial h_t} = \Delta_t + W_{hh}^\top (\frac{\partial^{+} L}"
     r"{\partial h_{t+1}} \odot (1 - h_{t+1}^2))",
     r"\frac{\partial^+ L}{\partial h_t} = \Delta_t + W_{hh} (\frac{\partial^{+} L}"
     r"{\partial h_{t+1}} \odot (1 - h_{t+1}^2))"),
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


# ------------------------------------------------- other cells, and sources with profile files
#: profile files of real sources (written to a temporary directory by the test)
PROFILES = {
    # Wikipedia "Long short-term memory": W_q x_t + U_q h_{t-1} + b_q, \sigma_g the gates'
    # sigmoid, \sigma_c and \sigma_h tanh; one bias per gate, no peepholes: Greff's NP variant
    "wikipedia": {"base": "vector",
                  "symbols": {"h": "y", "\\tilde c": "z", "W_c": "W_z", "U_c": "R_z",
                              "b_c": "b_z", "U_f": "R_f", "U_i": "R_i", "U_o": "R_o"},
                  "functions": {"\\sigma_g": "sigmoid", "\\sigma_c": "tanh",
                                "\\sigma_h": "tanh"}},
    # colah's "Understanding LSTM Networks": C_t the cell, \tilde C_t the candidate
    "colah": {"base": "vector", "symbols": {"h": "y", "C": "c", "\\tilde C": "z"}},
    # Goodfellow et al., Deep Learning 10.2.2: W recurrent, U input, a pre-activation
    "goodfellow": {"base": "vector", "symbols": {"W": "W_hh", "U": "W_ih", "a": "hbar"}},
    # CS224n notes: W^{(hh)}, W^{(hx)}, x_{[t]}; a superscript label on a subscript-time base
    "cs224n": {"base": "pytorch", "symbols": {"W^{(hh)}": "W_hh", "W^{(hx)}": "W_ih"}},
    # Lipton et al. 2015 (A Critical Review of RNNs): time as a superscript, so weights are
    # labelled by superscripts too: W^{gx}, W^{ih}; s the cell state, \phi tanh
    "lipton": {"base": "vector",
               "symbols": {"W^{gx}": "W_z", "W^{gh}": "R_z", "b_g": "b_z", "g": "z", "s": "c",
                           "h": "y", "W^{ix}": "W_i", "W^{ih}": "R_i", "W^{fx}": "W_f",
                           "W^{fh}": "R_f", "W^{ox}": "W_o", "W^{oh}": "R_o"},
               "functions": {"\\phi": "tanh"}},
    # CS231n / Karpathy: biases left out (folded into W x)
    "cs231n": {"base": "pytorch", "constant_unit": True, "symbols": {"W_{xh}": "W_ih"}},
    # SLP3 / Aggarwal: no biases at all, the output layer's V h_t includes b_o (the only
    # product of its sum); W_hh h_{t-1} does not (the input's product carries its sum's bias)
    "slp3": {"base": "vector", "constant_unit": True,
             "symbols": {"U": "W_hh", "W": "W_ih", "V": "W_ho"}, "functions": {"f": "softmax"}},
    # code-style adjoints dh, dW (Karpathy's min-char-rnn), and \bar h for the adjoint of h
    "d": {"base": "pytorch", "adjoint": "d", "symbols": {}},
    # deeplearning.ai: d\Gamma_f names the adjoint of the gate's pre-activation
    "dgamma": {"base": "pytorch", "adjoint": "d", "symbols": {"\\Gamma_f": "f",
                                                               "d\\Gamma_f": "delta_fbar"}},
    "bar": {"base": "pytorch", "adjoint": "bar", "symbols": {"a": "hbar"}},
    # a network input net_j(t) (Hochreiter-style), y the activation
    "net": {"base": "pytorch", "symbols": {"\\mathrm{net}": "hbar", "y": "h"}},
    # Hochreiter & Schmidhuber 1997: labelled gates y^{out}(t), nets net_o(t) without a font
    "hs97": {"base": "pytorch", "symbols": {"y^{out}": "o", "s_c": "c", "net_o": "obar"}},
    # functions named by the profile: g(.) and \phi both tanh
    "functions": {"base": "pytorch", "symbols": {"\\tilde h": "n"},
                  "functions": {"g": "tanh", "\\phi": "tanh"}},
    # accents over symbols with a time: \hat y_t, \bar a^t
    "hats": {"base": "pytorch", "symbols": {"\\hat y": "h", "\\bar a": "hbar"}},
}

PROFILED = [  # (construct, cell, notation or PROFILES key, formula that holds, one defect)
    ("unit index c^t_j", "lstm", "pytorch",
     r"c^t_j = f^t_j c^{t-1}_j + i^t_j g^t_j",
     r"c^t_j = f^t_j c^{t}_j + i^t_j g^t_j"),
    ("unit index of a function's value \\sigma(.)_j", "lstm", "pytorch",
     r"i_{t,j} = \sigma(W_{ii} x_t + b_{ii} + W_{hi} h_{t-1} + b_{hi})_j",
     r"i_{t,j} = \sigma(W_{ii} x_t + b_{ii} + W_{hi} h_{t} + b_{hi})_j"),
    ("powers n_t^2 and (n_t)^2", "gru", "pytorch",
     r"\delta \bar n_t = \delta n_t \odot (1 - (n_t)^2)",
     r"\delta \bar n_t = \delta n_t \odot (1 - n_t^3)"),
    ("power of a function \\tanh^2(c_t)", "lstm", "pytorch",
     r"\delta c_t = \delta h_t \odot o_t \odot (1 - \tanh^2(c_t)) + \delta c_{t+1} \odot f_{t+1}",
     r"\delta c_t = \delta h_t \odot o_t \odot (1 - \tanh(c_t)) + \delta c_{t+1} \odot f_{t+1}"),
    ("LSTM delta h with the next step's deltas written out", "lstm", "pytorch",
     r"\delta h_t = \Delta_t + W_{hi}^\top (\delta c_{t+1} \odot g_{t+1} \odot i_{t+1} \odot "
     r"(1 - i_{t+1})) + W_{hf}^\top (\delta c_{t+1} \odot c_t \odot f_{t+1} \odot (1 - f_{t+1}))"
     r" + W_{hg}^\top (\delta c_{t+1} \odot i_{t+1} \odot (1 - g_{t+1}^2)) + W_{ho}^\top "
     r"(\delta h_{t+1} \odot \tanh(c_{t+1}) \odot o_{t+1} \odot (1 - o_{t+1}))",
     r"\delta h_t = \Delta_t + W_{hi}^\top (\delta c_{t+1} \odot g_{t+1} \odot i_{t+1} \odot "
     r"(1 - i_{t+1})) + W_{hf}^\top (\delta c_{t+1} \odot c_{t+1} \odot f_{t+1} \odot "
     r"(1 - f_{t+1})) + W_{hg}^\top (\delta c_{t+1} \odot i_{t+1} \odot (1 - g_{t+1}^2)) + "
     r"W_{ho}^\top (\delta h_{t+1} \odot \tanh(c_{t+1}) \odot o_{t+1} \odot (1 - o_{t+1}))"),
    ("GRU delta h with the next step's deltas written out", "gru", "pytorch",
     r"\delta h_t = \delta h_{t+1} \odot z_{t+1} + W_{hz}^\top (\delta h_{t+1} \odot (h_t - "
     r"n_{t+1}) \odot z_{t+1} \odot (1 - z_{t+1})) + W_{hn}^\top (r_{t+1} \odot \delta h_{t+1} "
     r"\odot (1 - z_{t+1}) \odot (1 - n_{t+1}^2)) + W_{hr}^\top \delta \bar r_{t+1} + \Delta_t",
     r"\delta h_t = \delta h_{t+1} \odot z_{t+1} + W_{hz}^\top (\delta h_{t+1} \odot (h_t - "
     r"n_{t+1}) \odot z_{t+1} \odot (1 - z_{t+1})) + W_{hn}^\top (\delta h_{t+1} "
     r"\odot (1 - z_{t+1}) \odot (1 - n_{t+1}^2)) + W_{hr}^\top \delta \bar r_{t+1} + \Delta_t"),
    ("Wikipedia: \\sigma_g a sigmoid", "greff-np", "wikipedia",
     r"f_t = \sigma_g(W_f x_t + U_f h_{t-1} + b_f)",
     r"f_t = \sigma_g(W_f x_t + U_f h_{t} + b_f)"),
    ("Wikipedia: \\sigma_c a tanh, by the profile's functions", "greff-np", "wikipedia",
     r"\tilde{c}_t = \sigma_c(W_c x_t + U_c h_{t-1} + b_c)",
     r"\tilde{c}_t = \sigma_g(W_c x_t + U_c h_{t-1} + b_c)"),
    ("Wikipedia: \\sigma_h", "greff-np", "wikipedia",
     r"h_t = o_t \circ \sigma_h(c_t)",
     r"h_t = o_t \circ \sigma_g(c_t)"),
    ("colah: \\tilde{C}_t and *", "greff-np", "colah",
     r"C_t = f_t * C_{t-1} + i_t * \tilde{C}_t",
     r"C_t = f_t * C_{t} + i_t * \tilde{C}_t"),
    ("accent over a subscripted symbol \\widetilde{C_t}", "greff-np", "colah",
     r"C_t = f_t * C_{t-1} + i_t * \widetilde{C_t}",
     r"C_t = f_t * C_{t-1} + i_t * \widetilde{C_{t-1}}"),
    ("Goodfellow (10.21): \\nabla_{h^{(t)}} L", "rnn", "goodfellow",
     r"\nabla_{h^{(t)}} L = W^\top \mathrm{diag}(1 - (h^{(t+1)})^2)(\nabla_{h^{(t+1)}} L) + "
     r"\Delta^{(t)}",
     r"\nabla_{h^{(t)}} L = W \mathrm{diag}(1 - (h^{(t+1)})^2)(\nabla_{h^{(t+1)}} L) + "
     r"\Delta^{(t)}"),
    ("Goodfellow (10.26): \\nabla_W L", "rnn", "goodfellow",
     r"\nabla_{W} L = \sum_t \mathrm{diag}(1 - (h^{(t)})^2) (\nabla_{h^{(t)}} L) h^{(t-1)\top}",
     r"\nabla_{W} L = \sum_t \mathrm{diag}(1 - (h^{(t)})^2) (\nabla_{h^{(t)}} L) h^{(t)\top}"),
    ("Goodfellow (10.28): \\nabla_U L", "rnn", "goodfellow",
     r"\nabla_{U} L = \sum_{t=1}^{\tau} \mathrm{diag}(1 - (h^{(t)})^2) (\nabla_{h^{(t)}} L) "
     r"x^{(t)\top}",
     r"\nabla_{U} L = \sum_{t=1}^{\tau} \mathrm{diag}(1 - (h^{(t)})^2) (\nabla_{h^{(t)}} L) "
     r"x^{(t-1)\top}"),
    ("CS224n: W^{(hh)} labels, x_{[t]}", "rnn", "cs224n",
     r"h_t = \tanh(W^{(hh)} h_{t-1} + W^{(hx)} x_{[t]} + b_{ih} + b_{hh})",
     r"h_t = \tanh(W^{(hx)} h_{t-1} + W^{(hx)} x_{[t]} + b_{ih} + b_{hh})"),
    ("Lipton: superscript labels W^{gx} where the time is the superscript", "greff-np",
     "lipton",
     r"g^{(t)} = \phi(W^{gx} x^{(t)} + W^{gh} h^{(t-1)} + b_g)",
     r"g^{(t)} = \phi(W^{gx} x^{(t)} + W^{gh} h^{(t)} + b_g)"),
    ("Goodfellow (10.8) per unit: \\sum_j W_{i,j} h_j^{(t-1)}", "rnn", "goodfellow",
     r"h^{(t)}_i = \tanh(b_{ih,i} + b_{hh,i} + \sum_j W_{i,j} h^{(t-1)}_j + \sum_j U_{i,j} "
     r"x^{(t)}_j)",
     r"h^{(t)}_i = \tanh(b_{ih,i} + b_{hh,i} + \sum_j W_{j,i} h^{(t-1)}_j + \sum_j U_{i,j} "
     r"x^{(t)}_j)"),
    ("Lipton per unit: W^{ix}_{jk}", "greff-np", "lipton",
     r"i^{(t)}_j = \sigma(\sum_k W^{ix}_{jk} x^{(t)}_k + \sum_k W^{ih}_{jk} h^{(t-1)}_k + b_{i,j})",
     r"i^{(t)}_j = \sigma(\sum_k W^{ix}_{jk} x^{(t)}_k + \sum_k W^{ih}_{jk} h^{(t-1)}_k)"),
    ("Lipton: s^{(t)}", "greff-np", "lipton",
     r"s^{(t)} = g^{(t)} \odot i^{(t)} + s^{(t-1)} \odot f^{(t)}",
     r"s^{(t)} = g^{(t)} \odot i^{(t)} + s^{(t-1)} \odot i^{(t)}"),
    ("CS224n GRU: W^{(z)}, U^{(z)} labels, biases folded in", "gru-cho", "cho",
     r"z_t = \sigma(W^{(z)} x_t + U^{(z)} h_{t-1})",
     r"z_t = \sigma(W^{(r)} x_t + U^{(z)} h_{t-1})"),
    ("CS231n: biases folded in (profile constant_unit)", "rnn", "cs231n",
     r"h_t = \tanh(W_{hh} h_{t-1} + W_{xh} x_t)",
     r"h_t = \tanh(W_{hh} h_{t-1} + W_{xh} x_{t-1})"),
    ("constant unit: the output layer's V h_t includes b_o", "elman-softmax", "slp3",
     r"y_t = f(V h_t)", r"y_t = f(V h_t + V h_t)"),
    ("constant unit: the recurrent product adds no second bias", "elman-softmax", "slp3",
     r"h_t = \tanh(U h_{t-1} + W x_t)", r"h_t = \tanh(U h_{t-1})"),
    ("adjoints dh_t, dW (profile adjoint: d)", "rnn", "d",
     r"dW_{hh} = \sum_t (dh_t \odot (1 - h_t^2)) h_{t-1}^T",
     r"dW_{hh} = \sum_t (dh_t \odot (1 - h_t^2)) h_{t}^T"),
    ("adjoint dh_t written out (profile adjoint: d)", "rnn", "d",
     r"dh_t = W_{hh}^T (dh_{t+1} \odot (1 - h_{t+1}^2)) + \Delta_t",
     r"dh_t = W_{hh}^T (dh_{t+1} \odot (1 + h_{t+1}^2)) + \Delta_t"),
    ("adjoints \\bar{h}_t (profile adjoint: bar)", "rnn", "bar",
     r"\bar{h}_t = W_{hh}^T \bar{a}_{t+1} + \Delta_t",
     r"\bar{h}_t = W_{hh}^T \bar{a}_{t} + \Delta_t"),
    ("time as net_j(t)", "rnn", "net",
     r"\mathrm{net}_j(t) = [W_{ih} x(t)]_j + [W_{hh} y(t-1)]_j + b_{ih,j} + b_{hh,j}",
     r"\mathrm{net}_j(t) = [W_{ih} x(t)]_j + [W_{hh} y(t)]_j + b_{ih,j} + b_{hh,j}"),
    ("time as net_j(t), net a name of the profile without a font", "rnn", "net",
     r"y_j(t) = \tanh(net_j(t))",
     r"y_j(t) = \tanh(net_j(t-1))"),
    ("functions g(.) and \\phi by the profile, \\mathrm{tanh}", "gru", "functions",
     r"\tilde h_t = g(W_{in} x_t + b_{in} + r_t \odot (W_{hn} h_{t-1} + b_{hn}))",
     r"\tilde h_t = \phi(W_{in} x_t + b_{in} + r_t \odot (W_{hn} h_{t} + b_{hn}))"),
    ("\\operatorname{sigm}, \\mathrm{tanh}", "lstm", "pytorch",
     r"h_t = o_t \odot \mathrm{tanh}(c_t) + 0 \operatorname{sigm}(c_t)",
     r"h_t = o_t \odot \operatorname{sigm}(c_t)"),
    ("an adjoint d h after '*' (profile adjoint: d)", "rnn", "d",
     r"d\bar h_t = (1 - h_t^2) * dh_t",
     r"d\bar h_t = (1 - h_t) * dh_t"),
    ("a profile key d\\Gamma_f for an adjoint", "lstm", "dgamma",
     r"d\Gamma_f^{\langle t \rangle} = dc^{\langle t \rangle} * c^{\langle t-1 \rangle} * "
     r"\Gamma_f^{\langle t \rangle} * (1 - \Gamma_f^{\langle t \rangle})",
     r"d\Gamma_f^{\langle t \rangle} = dc^{\langle t \rangle} * c^{\langle t \rangle} * "
     r"\Gamma_f^{\langle t \rangle} * (1 - \Gamma_f^{\langle t \rangle})"),
    ("time in parentheses after a label or accent: y^{out}(t), net_o(t), \\bar g(t)", "lstm",
     "hs97", r"y^{out}(t) = \sigma(net_o(t)) + 0 \tanh(\bar g(t))",
     r"y^{out}(t) = \sigma(net_o(t-1)) + 0 \tanh(\bar g(t))"),
    ("accents \\hat{y}_t, \\bar{a}^t", "rnn", "hats",
     r"\hat{y}_t = \tanh(\bar{a}^t)",
     r"\hat{y}_t = \tanh(\bar{a}^{t-1})"),
]


def _notation(name: str, tmp_path) -> str:
    if name not in PROFILES:
        return name
    path = tmp_path / f"{name}.json"
    path.write_text(json.dumps(PROFILES[name]))
    return str(path)


@pytest.mark.parametrize("construct,cell,notation,right,wrong", PROFILED,
                         ids=[c[0] for c in PROFILED])
def test_source_holds_when_right_and_differs_when_wrong(construct, cell, notation, right, wrong,
                                                        tmp_path):
    good, bad = compare(cell, [right, wrong], _notation(notation, tmp_path))
    # a stated convention (constant_unit) is named after "exact" (tests/test_maps.py)
    assert good.kind == "holds" and good.explanation.split(";")[0] == "exact"
    assert bad.kind == "differs" and not bad.holds


def test_a_superscript_label_in_a_map_matches():
    right = r"h_t = \tanh(W^{hx} x_t + W^{(hh)} h_{t-1} + b_{ih} + b_{hh})"
    good, = compare("rnn", [right], "pytorch", {"W^{hx}": "W_ih", "W^{hh}": "W_hh"})
    assert good.kind == "holds"


@pytest.mark.parametrize("notation,where", [("pytorch", "the subscript"), ("vector", "t, t-1")])
def test_an_unmapped_superscript_label_says_how_it_was_read(notation, where):
    with pytest.raises(CompareError, match=rf"read \^\{{h x\}} as a label \(the time is {where}"):
        compare("rnn", [r"h_t = \tanh(W^{hx} x_t + W_{hh} h_{t-1} + b_{ih} + b_{hh})"], notation)


@pytest.mark.parametrize("formula,message", [
    (r"\tilde{C}_t = \tanh(W_C\cdot[h_{t-1}, x_t] + b_C)", "column 30: .* stacks vectors"),
    (r"h_t = \tanh([W_{ih} x_t]_j + W_{hh} h_{t-1} + b_{ih} + b_{hh})",
     "column 26: .* a component j of a vector, but the left side is not"),
    (r"h_{t,j} = \tanh([W_{ih} x_t]_k + [W_{hh} h_{t-1}]_j + b_{ih,j} + b_{hh,j})",
     "column 30: .* component k, but the left side is the component j"),
    (r"h_{t,j} = \tanh(\sum_k x_{t,k} + [W_{hh} h_{t-1}]_j + b_{ih,j} + b_{hh,j})",
     r"column 17: the sum over k needs one matrix entry indexed by j and k \(W_\{jk\}\)"),
    (r"\delta \bar h_t = \delta h_t \odot (1 - h_t^0)", r"power .*read \^\{0\} as a power"),
    (r"\delta h_t = \partial \ell_{t+1}/\partial h_t",
     "column 14: .* the loss of one step is read only as the gradient from above"),
    (r"dh_t = W_{hh}^T dh_{t+1} + \Delta_t",
     "column 1: d h is an adjoint only with the profile-file option adjoint = d"),
    (r"\frac{\partial L}{\partial h_t} = \frac{\partial L}{\partial h_{t+1}} "
     r"\frac{\partial h_{t+1}}{\partial h_t} + \Delta_t",
     "column 86: .* is a Jacobian, which is not read"),
    (r"h_t = \begin{bmatrix} W_{ih} & W_{hh} \end{bmatrix} x_t",
     "column 7: environment 'bmatrix' is not read"),  # '&' separates entries there
    (r"\delta h_t = \prod_{k=t}^{T} \delta h_k", "column 14: .* products over time"),
    (r"\delta h_t = \left. \frac{\partial L}{\partial h} \right|_{t}",
     "column 19: an evaluation bar"),
    (r"\frac{\partial L}{\partial W_{hh}} = \sum_t W_{ih} \otimes x_t",
     r"Kronecker product\) is not read"),
])
def test_what_cannot_be_read_is_one_clear_error(formula, message):
    with pytest.raises(CompareError, match=message):
        compare("rnn", [formula], "pytorch")


@pytest.mark.parametrize("options", [{"adjoint": "nabla"}, {"row_vectors": 1},
                                     {"functions": {"g": "n"}}])
def test_a_bad_profile_option_is_named(options, tmp_path):
    path = tmp_path / "bad.json"
    path.write_text(json.dumps({"base": "pytorch", "symbols": {}, **options}))
    with pytest.raises(CompareError, match=f"'{next(iter(options))}' must"):
        compare("rnn", [r"h_t = \tanh(\bar h_t)"], str(path))


def test_a_labelled_function_the_profile_does_not_name_is_an_error_not_a_guess():
    # Wikipedia's \sigma_c is tanh: read as \sigma it would make i_t = \sigma_c(...) "hold"
    formula = r"i_t = \sigma_c(W_{ii} x_t + b_{ii} + W_{hi} h_{t-1} + b_{hi})"
    with pytest.raises(CompareError, match=r"function \\sigma_\{c\} is not named .*--map"):
        compare("lstm", [formula], "pytorch")
    wrong, = compare("lstm", [formula], "pytorch", {r"\sigma_c": "tanh"})
    assert wrong.kind == "differs"
    right, = compare("lstm", [formula.replace("c(", "g(")], "pytorch")  # \sigma_g: a gate
    assert right.kind == "holds"


def test_softmax_is_read_as_a_function():
    cell = get_cell("elman-softmax")
    want = Softmax(sp.IndexedBase("a")[t])
    for text, mapping in ((r"y^t = \mathrm{softmax}(a^t)", {}), (r"y^t = softmax(a^t)", {}),
                          (r"y_t = \sigma_y(a_t)", {r"\sigma_y": "softmax"})):
        reading, = read_formula(text, get_profile("vector", cell, mapping), cell)
        assert reading.rhs == want
    with pytest.raises(NotationError, match="no elementwise derivative"):
        read_formula(r"\delta a^t = \mathrm{softmax}'(a^t) \delta y^t",
                     get_profile("vector", cell), cell)
    # a cell without a softmax: read, and wrong
    assert compare("rnn", [r"h_t = \mathrm{softmax}(\bar h_t)"], "pytorch")[0].kind == "differs"
