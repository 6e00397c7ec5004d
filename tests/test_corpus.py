r"""A corpus of published recurrent-cell formulas, in each source's own notation, read through the
profile file a user would write for that source (tests/corpus/*.json), with the verdict derived
by hand from the cell's equations (../shared/notes/textbooks.md, ``bptt sheet CELL``).

Each row: (source, where in the source, cell, notation or profile, maps, formula, expected).
Expected verdicts: "holds", "differs", "convention" (the formula is right for a known other
convention: Cho's reset placement, Chung's update). A "wrong" row is a realistic transcription
error of the row above it. Rows the tool gets wrong today are in XFAIL with the current failure,
so that the file passes now and a fix shows up as an XPASS (strict)."""
from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from verify.compare import CompareError, compare

DIR = Path(__file__).parent / "corpus"
GF, D2L, WIKI, COLAH, KARP = "Goodfellow et al. 2016", "d2l.ai", "Wikipedia", "colah 2015", \
    "Karpathy min-char-rnn"
H, D, C = "holds", "differs", "convention"

GF10_21 = (r"\nabla_{h^{(t)}} L = W^\top \mathrm{diag}\left(1-\left(h^{(t+1)}\right)^2\right)"
           r"(\nabla_{h^{(t+1)}}L) + V^\top(\nabla_{o^{(t)}}L)")
GRAVES_EPS_S = (r"\epsilon_s^t=b_\omega^t h'(s_c^t)\epsilon_c^t+b_\phi^{t+1}\epsilon_s^{t+1}"
                r"+w_{c\iota}\delta_\iota^{t+1}+w_{c\phi}\delta_\phi^{t+1}+w_{c\omega}\delta_\omega^t")
GRAVES_EPS_H = (r"\epsilon_h^t=\sum_{k=1}^{K}w_{hk}\delta_k^t+\sum_{h'=1}^{H}w_{hh'}"
                r"\epsilon_{h'}^{t+1}(1-(b_{h'}^{t+1})^2)")
GREFF_DY = (r"\delta y^t=\Delta^t+R_z^\top\delta z^{t+1}+R_i^\top\delta i^{t+1}"
            r"+R_f^\top\delta f^{t+1}+R_o^\top\delta o^{t+1}")
GREFF_DC = (r"\delta c^t=\delta y^t\odot o^t\odot h'(c^t)+p_o\odot\delta\bar o^t+p_i\odot"
            r"\delta\bar i^{t+1}+p_f\odot\delta\bar f^{t+1}+\delta c^{t+1}\odot f^{t+1}")

CASES = [
    # --- Goodfellow, Bengio, Courville, Deep Learning, ch. 10 (elman-softmax) --------------
    (GF, "10.2 eq. 10.8-10.9 (a, h combined)", "elman-softmax", "goodfellow_rnn.json", {},
     r"h^{(t)} = \tanh(b + W h^{(t-1)} + U x^{(t)})", H),
    (GF, "10.2 eq. 10.10", "elman-softmax", "goodfellow_rnn.json", {},
     r"o^{(t)} = c + V h^{(t)}", H),
    (GF, "10.2 eq. 10.11", "elman-softmax", "goodfellow_rnn.json", {},
     r"\hat{y}^{(t)} = \mathrm{softmax}(o^{(t)})", H),
    (GF, "10.2.2 eq. 10.18 in vector form (y one-hot)", "elman-softmax", "goodfellow_rnn.json",
     {}, r"\nabla_{o^{(t)}} L = \hat{y}^{(t)} - y^{(t)}", H),
    (GF, "10.2.2 eq. 10.19 (last step tau)", "elman-softmax", "goodfellow_rnn.json", {},
     r"\nabla_{h^{(\tau)}} L = V^\top \nabla_{o^{(\tau)}} L", H),
    (GF, "10.2.2 eq. 10.21", "elman-softmax", "goodfellow_rnn.json", {}, GF10_21, H),
    (GF, "10.2.2 eq. 10.21, WRONG: t+1 term missing", "elman-softmax", "goodfellow_rnn.json",
     {}, r"\nabla_{h^{(t)}} L = V^\top(\nabla_{o^{(t)}}L)", D),
    (GF, "10.2.2 eq. 10.21, WRONG: W not transposed", "elman-softmax", "goodfellow_rnn.json",
     {}, GF10_21.replace(r"W^\top", "W"), D),
    (GF, "10.2.2 eq. 10.21, WRONG: diag at t", "elman-softmax", "goodfellow_rnn.json", {},
     GF10_21.replace(r"\left(h^{(t+1)}\right)^2", r"\left(h^{(t)}\right)^2"), D),
    (GF, "10.2.2 eq. 10.22", "elman-softmax", "goodfellow_rnn.json", {},
     r"\nabla_{c} L = \sum_t \nabla_{o^{(t)}} L", H),
    (GF, "10.2.2 eq. 10.23", "elman-softmax", "goodfellow_rnn.json", {},
     r"\nabla_{b} L = \sum_t \mathrm{diag}\left(1 - \left(h^{(t)}\right)^2\right)"
     r" \nabla_{h^{(t)}} L", H),
    (GF, "10.2.2 eq. 10.23, WRONG: diag missing", "elman-softmax", "goodfellow_rnn.json", {},
     r"\nabla_{b} L = \sum_t \nabla_{h^{(t)}} L", D),
    (GF, "10.2.2 eq. 10.24", "elman-softmax", "goodfellow_rnn.json", {},
     r"\nabla_{V} L = \sum_t (\nabla_{o^{(t)}} L)\, h^{(t)^\top}", H),
    (GF, "10.2.2 eq. 10.26", "elman-softmax", "goodfellow_rnn.json", {},
     r"\nabla_{W} L = \sum_t \mathrm{diag}\left(1 - \left(h^{(t)}\right)^2\right)"
     r" (\nabla_{h^{(t)}} L)\, h^{(t-1)^\top}", H),
    (GF, "10.2.2 eq. 10.26, WRONG: h^{(t)} for h^{(t-1)}", "elman-softmax",
     "goodfellow_rnn.json", {},
     r"\nabla_{W} L = \sum_t \mathrm{diag}\left(1 - \left(h^{(t)}\right)^2\right)"
     r" (\nabla_{h^{(t)}} L)\, h^{(t)^\top}", D),
    (GF, "10.2.2 eq. 10.28", "elman-softmax", "goodfellow_rnn.json", {},
     r"\nabla_{U} L = \sum_t \mathrm{diag}\left(1 - \left(h^{(t)}\right)^2\right)"
     r" (\nabla_{h^{(t)}} L)\, x^{(t)^\top}", H),
    (GF, "10.10.1 eq. 10.41 (forget gate, per unit)", "lstm", "goodfellow_lstm.json", {},
     r"f_i^{(t)} = \sigma\left(b_i^f + \sum_j U^f_{i,j} x_j^{(t)} + \sum_j W^f_{i,j}"
     r" h_j^{(t-1)}\right)", H),
    (GF, "10.10.1 eq. 10.42 (the book's cell input is a sigmoid, the lstm's a tanh)", "lstm",
     "goodfellow_lstm.json", {},
     r"s_i^{(t)} = f_i^{(t)} s_i^{(t-1)} + g_i^{(t)} \sigma\left(b_i + \sum_j U_{i,j}"
     r" x_j^{(t)} + \sum_j W_{i,j} h_j^{(t-1)}\right)", D),
    (GF, "10.10.1 eq. 10.44 (output)", "lstm", "goodfellow_lstm.json", {},
     r"h_i^{(t)} = \tanh\left(s_i^{(t)}\right) q_i^{(t)}", H),
    (GF, "10.10.2 eq. 10.45 GRU as printed (t-1 indices, sigmoid candidate)", "gru-cho",
     "goodfellow_gru.json", {},
     r"h_i^{(t)} = u_i^{(t-1)} h_i^{(t-1)} + (1 - u_i^{(t-1)}) \sigma\left(b_i + \sum_j"
     r" U_{i,j} x_j^{(t-1)} + \sum_j W_{i,j} r_j^{(t-1)} h_j^{(t-1)}\right)", D),
    (GF, "10.10.2 eq. 10.46 as printed (h_j^{(t)} inside)", "gru-cho", "goodfellow_gru.json", {},
     r"u_i^{(t)} = \sigma\left(b_i^u + \sum_j U^u_{i,j} x_j^{(t)} + \sum_j W^u_{i,j}"
     r" h_j^{(t)}\right)", D),
    # --- d2l.ai ----------------------------------------------------------------------------
    (D2L, "9.4.2 eq. 9.4.5 (row vectors)", "rnn", "d2l_rnn.json", {},
     r"\mathbf{H}_t = \phi(\mathbf{X}_t \mathbf{W}_{xh} + \mathbf{H}_{t-1} \mathbf{W}_{hh}"
     r" + \mathbf{b}_h)", H),
    (D2L, "9.4.2 eq. 9.4.5, WRONG: H_t for H_{t-1}", "rnn", "d2l_rnn.json", {},
     r"\mathbf{H}_t = \phi(\mathbf{X}_t \mathbf{W}_{xh} + \mathbf{H}_{t} \mathbf{W}_{hh}"
     r" + \mathbf{b}_h)", D),
    (D2L, "9.7.2 eq. 9.7.13 (last step)", "elman-softmax", "d2l_bptt.json", {},
     r"\frac{\partial L}{\partial \mathbf{h}_T} = \mathbf{W}_\textrm{qh}^\top"
     r" \frac{\partial L}{\partial \mathbf{o}_T}", H),
    (D2L, "9.7.2 eq. 9.7.14: d2l's model is linear (no tanh), so not the tanh cell's",
     "elman-softmax", "d2l_bptt.json", {},
     r"\frac{\partial L}{\partial \mathbf{h}_t} = \mathbf{W}_\textrm{hh}^\top"
     r" \frac{\partial L}{\partial \mathbf{h}_{t+1}} + \mathbf{W}_\textrm{qh}^\top"
     r" \frac{\partial L}{\partial \mathbf{o}_t}", D),
    (D2L, "9.7.2 eq. 9.7.12", "elman-softmax", "d2l_bptt.json", {},
     r"\frac{\partial L}{\partial \mathbf{W}_\textrm{qh}} = \sum_{t=1}^T"
     r" \frac{\partial L}{\partial \mathbf{o}_t} \mathbf{h}_t^\top", H),
    (D2L, "9.7.2 eq. 9.7.16: linear model, no tanh derivative", "elman-softmax",
     "d2l_bptt.json", {},
     r"\frac{\partial L}{\partial \mathbf{W}_\textrm{hh}} = \sum_{t=1}^T"
     r" \frac{\partial L}{\partial \mathbf{h}_t} \mathbf{h}_{t-1}^\top", D),
    (D2L, "10.1.1 eq. 10.1.1 input gate", "lstm", "d2l_lstm.json", {},
     r"\mathbf{I}_t = \sigma(\mathbf{X}_t \mathbf{W}_{xi} + \mathbf{H}_{t-1} \mathbf{W}_{hi}"
     r" + \mathbf{b}_i)", H),
    (D2L, "10.1.1 eq. 10.1.2 input node", "lstm", "d2l_lstm.json", {},
     r"\tilde{\mathbf{C}}_t = \textrm{tanh}(\mathbf{X}_t \mathbf{W}_{xc} + \mathbf{H}_{t-1}"
     r" \mathbf{W}_{hc} + \mathbf{b}_c)", H),
    (D2L, "10.1.1 eq. 10.1.3 memory cell", "lstm", "d2l_lstm.json", {},
     r"\mathbf{C}_t = \mathbf{F}_t \odot \mathbf{C}_{t-1} + \mathbf{I}_t \odot"
     r" \tilde{\mathbf{C}}_t", H),
    (D2L, "10.1.1 eq. 10.1.4 hidden state", "lstm", "d2l_lstm.json", {},
     r"\mathbf{H}_t = \mathbf{O}_t \odot \tanh(\mathbf{C}_t)", H),
    (D2L, "10.1.1 eq. 10.1.4, WRONG: C_{t-1}", "lstm", "d2l_lstm.json", {},
     r"\mathbf{H}_t = \mathbf{O}_t \odot \tanh(\mathbf{C}_{t-1})", D),
    (D2L, "10.2.2 reset gate", "gru-cho", "d2l_gru.json", {},
     r"\mathbf{R}_t = \sigma(\mathbf{X}_t \mathbf{W}_{xr} + \mathbf{H}_{t-1} \mathbf{W}_{hr}"
     r" + \mathbf{b}_r)", H),
    (D2L, "10.2.3 candidate hidden state", "gru-cho", "d2l_gru.json", {},
     r"\tilde{\mathbf{H}}_t = \tanh(\mathbf{X}_t \mathbf{W}_{xh} + \left(\mathbf{R}_t \odot"
     r" \mathbf{H}_{t-1}\right) \mathbf{W}_{hh} + \mathbf{b}_h)", H),
    (D2L, "10.2.3 candidate, read against PyTorch's GRU (Cho's reset placement)", "gru",
     "d2l_gru_as_pytorch.json", {},
     r"\tilde{\mathbf{H}}_t = \tanh(\mathbf{X}_t \mathbf{W}_{xh} + \left(\mathbf{R}_t \odot"
     r" \mathbf{H}_{t-1}\right) \mathbf{W}_{hh} + \mathbf{b}_h)", C),
    (D2L, "10.2.4 hidden state", "gru-cho", "d2l_gru.json", {},
     r"\mathbf{H}_t = \mathbf{Z}_t \odot \mathbf{H}_{t-1} + (1 - \mathbf{Z}_t) \odot"
     r" \tilde{\mathbf{H}}_t", H),
    (D2L, "10.2.4 hidden state, WRONG: (1-Z) swapped = Chung's update", "gru-cho",
     "d2l_gru.json", {},
     r"\mathbf{H}_t = (1 - \mathbf{Z}_t) \odot \mathbf{H}_{t-1} + \mathbf{Z}_t \odot"
     r" \tilde{\mathbf{H}}_t", C),
    # --- Wikipedia ------------------------------------------------------------------------
    (WIKI, "Long short-term memory, forget gate", "lstm", "wikipedia_lstm.json", {},
     r"f_t = \sigma_g(W_{f} x_t + U_{f} h_{t-1} + b_f)", H),
    (WIKI, "Long short-term memory, cell input", "lstm", "wikipedia_lstm.json", {},
     r"\tilde{c}_t = \sigma_c(W_{c} x_t + U_{c} h_{t-1} + b_c)", H),
    (WIKI, "Long short-term memory, cell state", "lstm", "wikipedia_lstm.json", {},
     r"c_t = f_t \odot c_{t-1} + i_t \odot \tilde{c}_t", H),
    (WIKI, "Long short-term memory, hidden state", "lstm", "wikipedia_lstm.json", {},
     r"h_t = o_t \odot \sigma_h(c_t)", H),
    (WIKI, "Long short-term memory, WRONG: U_i in the forget gate", "lstm",
     "wikipedia_lstm.json", {}, r"f_t = \sigma_g(W_{f} x_t + U_{i} h_{t-1} + b_f)", D),
    (WIKI, "Gated recurrent unit, update gate", "gru-cho", "wikipedia_gru.json", {},
     r"z_t = \sigma(W_{z} x_t + U_{z} h_{t-1} + b_z)", H),
    (WIKI, "Gated recurrent unit, candidate", "gru-cho", "wikipedia_gru.json", {},
     r"\hat{h}_t = \phi(W_{h} x_t + U_{h} (r_t \odot h_{t-1}) + b_h)", H),
    (WIKI, "Gated recurrent unit, output (Chung's update convention)", "gru-cho",
     "wikipedia_gru.json", {}, r"h_t = (1 - z_t) \odot h_{t-1} + z_t \odot \hat{h}_t", C),
    (WIKI, "Elman network, hidden", "elman-softmax", "wikipedia_elman.json", {},
     r"h_t = \sigma_h(W_{h} x_t + U_{h} h_{t-1} + b_h)", H),
    (WIKI, "Elman network, output", "elman-softmax", "wikipedia_elman.json", {},
     r"y_t = \sigma_y(W_{y} h_t + b_y)", H),
    # --- colah, Understanding LSTM Networks -----------------------------------------------
    (COLAH, "forget gate layer ([h_{t-1}, x_t] concatenation)", "lstm", "colah_lstm.json",
     {"W_f": "[W_hf, W_if]"},  # a block row: W_f [h, x] = W_hf h + W_if x
     r"f_t = \sigma\left(W_f \cdot [h_{t-1}, x_t] + b_f\right)", H),
    (COLAH, "cell state update (* elementwise)", "lstm", "colah_lstm.json", {},
     r"C_t = f_t * C_{t-1} + i_t * \tilde{C}_t", H),
    (COLAH, "cell state update, WRONG: o_t for i_t", "lstm", "colah_lstm.json", {},
     r"C_t = f_t * C_{t-1} + o_t * \tilde{C}_t", D),
    (COLAH, "output", "lstm", "colah_lstm.json", {}, r"h_t = o_t * \tanh\left(C_t\right)", H),
    (COLAH, "GRU variant, output (Chung's update convention)", "gru-cho", "colah_gru.json", {},
     r"h_t = (1 - z_t) * h_{t-1} + z_t * \tilde{h}_t", C),
    # --- Karpathy, min-char-rnn.py (loop body written as formulas) -------------------------
    (KARP, "hs[t] = np.tanh(np.dot(Wxh, xs[t]) + np.dot(Whh, hs[t-1]) + bh)", "elman-softmax",
     "karpathy.json", {}, r"h_t = \tanh(W_{xh} x_t + W_{hh} h_{t-1} + b_h)", H),
    (KARP, "ys[t] = np.dot(Why, hs[t]) + by", "elman-softmax", "karpathy.json", {},
     r"y_t = W_{hy} h_t + b_y", H),
    (KARP, "dWhy += np.dot(dy, hs[t].T)", "elman-softmax", "karpathy.json", {},
     r"\frac{\partial L}{\partial W_{hy}} = \sum_t \delta y_t\, h_t^\top", H),
    (KARP, "dh = np.dot(Why.T, dy) + dhnext; dhnext = np.dot(Whh.T, dhraw)", "elman-softmax",
     "karpathy.json", {},
     r"\delta h_t = W_{hy}^\top \delta y_t + W_{hh}^\top ((1 - h_{t+1} \odot h_{t+1})"
     r" \odot \delta h_{t+1})", H),
    (KARP, "dh, WRONG: dhnext from the same step", "elman-softmax", "karpathy.json", {},
     r"\delta h_t = W_{hy}^\top \delta y_t + W_{hh}^\top ((1 - h_t \odot h_t) \odot \delta h_t)",
     D),
    (KARP, "dWhh += np.dot(dhraw, hs[t-1].T)", "elman-softmax", "karpathy.json", {},
     r"\frac{\partial L}{\partial W_{hh}} = \sum_t ((1 - h_t \odot h_t) \odot \delta h_t)\,"
     r" h_{t-1}^\top", H),
    (KARP, "dWhh, WRONG: hs[t].T", "elman-softmax", "karpathy.json", {},
     r"\frac{\partial L}{\partial W_{hh}} = \sum_t ((1 - h_t \odot h_t) \odot \delta h_t)\,"
     r" h_t^\top", D),
    (KARP, "dbh += dhraw", "elman-softmax", "karpathy.json", {},
     r"\frac{\partial L}{\partial b_h} = \sum_t (1 - h_t \odot h_t) \odot \delta h_t", H),
    # --- CS231n ----------------------------------------------------------------------------
    ("CS231n", "lecture 10 slides, vanilla RNN (bias folded)", "rnn", "cs231n_slides.json", {},
     r"h_t = \tanh(W_{hh} h_{t-1} + W_{xh} x_t)", H),
    ("CS231n", "assignment 3 rnn_step_forward (row vectors)", "rnn", "cs231n_code.json", {},
     r"h_t = \tanh(x_t W_x + h_{t-1} W_h + b)", H),
    ("CS231n", "assignment 3 rnn_step_backward: dx = dtanh.dot(Wx.T)", "rnn",
     "cs231n_code.json", {}, r"\delta x_t = (\delta h_t \odot (1 - h_t^2)) W_x^\top", H),
    ("CS231n", "rnn_step_backward dx, WRONG: Wx not transposed", "rnn", "cs231n_code.json",
     {}, r"\delta x_t = (\delta h_t \odot (1 - h_t^2)) W_x", D),
    ("CS231n", "rnn_backward: dWx += x.T.dot(dtanh)", "rnn", "cs231n_code.json", {},
     r"\frac{\partial L}{\partial W_x} = \sum_t x_t^\top (\delta h_t \odot (1 - h_t^2))", H),
    # --- CS224n ----------------------------------------------------------------------------
    ("CS224n", "lecture notes 5, GRU update gate", "gru", "cs224n_gru.json", {},
     r"z_t = \sigma(W^{(z)} x_t + U^{(z)} h_{t-1})", H),
    ("CS224n", "lecture notes 5, GRU new memory: no bias can stand for b_hn inside r (differs)",
     "gru", "cs224n_gru.json", {}, r"\tilde{h}_t = \tanh(r_t \circ U h_{t-1} + W x_t)", D),
    ("CS224n", "lecture notes 5, GRU hidden state", "gru", "cs224n_gru.json", {},
     r"h_t = (1 - z_t) \circ \tilde{h}_t + z_t \circ h_{t-1}", H),
    ("CS224n", "GRU reset gate, WRONG: U^{(z)} in the reset gate", "gru", "cs224n_gru.json",
     {}, r"r_t = \sigma(W^{(r)} x_t + U^{(z)} h_{t-1})", D),
    ("CS224n", "lecture notes 5, LSTM input gate", "lstm", "cs224n_lstm.json", {},
     r"i_t = \sigma(W^{(i)} x_t + U^{(i)} h_{t-1})", H),
    ("CS224n", "lecture notes 5, LSTM new memory cell", "lstm", "cs224n_lstm.json", {},
     r"\tilde{c}_t = \tanh(W^{(c)} x_t + U^{(c)} h_{t-1})", H),
    ("CS224n", "lecture notes 5, LSTM final memory cell", "lstm", "cs224n_lstm.json", {},
     r"c_t = f_t \circ c_{t-1} + i_t \circ \tilde{c}_t", H),
    # --- Lipton, Berkowitz, Elkan 2015, A critical review of RNNs, section 4.1 -------------
    ("Lipton 2015", "LSTM input node g", "lstm", "lipton_lstm.json", {},
     r"g^{(t)} = \phi(W^{gx} x^{(t)} + W^{gh} h^{(t-1)} + b_g)", H),
    ("Lipton 2015", "LSTM forget gate", "lstm", "lipton_lstm.json", {},
     r"f^{(t)} = \sigma(W^{fx} x^{(t)} + W^{fh} h^{(t-1)} + b_f)", H),
    ("Lipton 2015", "LSTM internal state", "lstm", "lipton_lstm.json", {},
     r"s^{(t)} = g^{(t)} \odot i^{(t)} + s^{(t-1)} \odot f^{(t)}", H),
    ("Lipton 2015", "LSTM internal state, WRONG: s^{(t)} on the right", "lstm",
     "lipton_lstm.json", {}, r"s^{(t)} = g^{(t)} \odot i^{(t)} + s^{(t)} \odot f^{(t)}", D),
    ("Lipton 2015", "LSTM output", "lstm", "lipton_lstm.json", {},
     r"h^{(t)} = \phi(s^{(t)}) \odot o^{(t)}", H),
    # --- Jozefowicz, Zaremba, Sutskever 2015, section 2 ------------------------------------
    ("Jozefowicz 2015", "LSTM i_t (their i is the cell input)", "lstm", "jozefowicz_lstm.json",
     {}, r"i_t = \tanh(W_{xi} x_t + W_{hi} h_{t-1} + b_i)", H),
    ("Jozefowicz 2015", "LSTM j_t (their j is the input gate)", "lstm", "jozefowicz_lstm.json",
     {}, r"j_t = \operatorname{sigm}(W_{xj} x_t + W_{hj} h_{t-1} + b_j)", H),
    ("Jozefowicz 2015", "LSTM o_t, WRONG: tanh for sigm", "lstm",
     "jozefowicz_lstm.json", {}, r"o_t = \tanh(W_{xo} x_t + W_{ho} h_{t-1} + b_o)", D),
    ("Jozefowicz 2015", "LSTM c_t", "lstm", "jozefowicz_lstm.json", {},
     r"c_t = c_{t-1} \odot f_t + i_t \odot j_t", H),
    ("Jozefowicz 2015", "LSTM h_t", "lstm", "jozefowicz_lstm.json", {},
     r"h_t = \tanh(c_t) \odot o_t", H),
    ("Jozefowicz 2015", "GRU candidate", "gru-cho", "jozefowicz_gru.json", {},
     r"\tilde{h}_t = \tanh(W_{xh} x_t + W_{hh}(r_t \odot h_{t-1}) + b_h)", H),
    ("Jozefowicz 2015", "GRU h_t", "gru-cho", "jozefowicz_gru.json", {},
     r"h_t = z_t \odot h_{t-1} + (1 - z_t) \odot \tilde{h}_t", H),
    # --- Cho et al. 2014 (per unit j, biases omitted) --------------------------------------
    ("Cho 2014", "eq. 5 reset gate", "gru-cho", "cho2014.json", {},
     r"r_j = \sigma\left([\mathbf{W}_r \mathbf{x}]_j + [\mathbf{U}_r"
     r" \mathbf{h}_{\langle t-1\rangle}]_j\right)", H),
    ("Cho 2014", "eq. 7 hidden state", "gru-cho", "cho2014.json", {},
     r"h_j^{\langle t\rangle} = z_j h_j^{\langle t-1\rangle} + (1 - z_j)"
     r" \tilde{h}_j^{\langle t\rangle}", H),
    ("Cho 2014", "eq. 8 candidate", "gru-cho", "cho2014.json", {},
     r"\tilde{h}_j^{\langle t\rangle} = \phi\left([\mathbf{W}\mathbf{x}]_j + \left[\mathbf{U}"
     r"\left(\mathbf{r} \odot \mathbf{h}_{\langle t-1\rangle}\right)\right]_j\right)", H),
    ("Cho 2014", "eq. 8 read against PyTorch's GRU", "gru", "cho2014_vs_pytorch.json", {},
     r"\tilde{h}_j^{\langle t\rangle} = \phi\left([\mathbf{W}\mathbf{x}]_j + \left[\mathbf{U}"
     r"\left(\mathbf{r} \odot \mathbf{h}_{\langle t-1\rangle}\right)\right]_j\right)", C),
    ("Cho 2014", "eq. 7, WRONG: z and 1-z swapped in one term only", "gru-cho",
     "cho2014.json", {},
     r"h_j^{\langle t\rangle} = z_j h_j^{\langle t-1\rangle} + z_j"
     r" \tilde{h}_j^{\langle t\rangle}", D),
    # --- Chung et al. 2014 (superscript j: unit) -------------------------------------------
    ("Chung 2014", "eq. 5 GRU activation (their update convention)", "gru-cho",
     "chung2014.json", {},
     r"h_t^j = (1 - z_t^j) h_{t-1}^j + z_t^j \tilde{h}_t^j", C),
    ("Chung 2014", "eq. 6 update gate", "gru-cho", "chung2014.json", {},
     r"z_t^j = \sigma\left(W_z \mathbf{x}_t + U_z \mathbf{h}_{t-1}\right)^j", H),
    # --- Graves 2012 (built-in graves notation) --------------------------------------------
    ("Graves 2012", "3.2.2 eq. 3.33 RNN backward", "rnn", "graves", {},
     r"\delta_h^t=\theta'(a_h^t)\Big(\sum_{k=1}^{K}\delta_k^t w_{hk}+\sum_{h'=1}^{H}"
     r"\delta_{h'}^{t+1}w_{hh'}\Big)", H),
    ("Graves 2012", "eq. 3.33, WRONG: w_{h'h} (transposed)", "rnn", "graves", {},
     r"\delta_h^t=\theta'(a_h^t)\Big(\sum_{k=1}^{K}\delta_k^t w_{hk}+\sum_{h'=1}^{H}"
     r"\delta_{h'}^{t+1}w_{h'h}\Big)", D),
    ("Graves 2012", "4.6 eq. 4.2 forget gate", "graves-lstm", "graves", {},
     r"a_\phi^t=\sum_{i=1}^{I}w_{i\phi}x_i^t+\sum_{h=1}^{H}w_{h\phi}b_h^{t-1}"
     r"+\sum_{c=1}^{C}w_{c\phi}s_c^{t-1}", H),
    ("Graves 2012", "4.6 output gate", "graves-lstm", "graves", {},
     r"a_\omega^t=\sum_{i=1}^{I}w_{i\omega}x_i^t+\sum_{h=1}^{H}w_{h\omega}b_h^{t-1}"
     r"+\sum_{c=1}^{C}w_{c\omega}s_c^{t}", H),
    ("Graves 2012", "4.6 output gate, WRONG: peephole at s_c^{t-1}", "graves-lstm", "graves",
     {}, r"a_\omega^t=\sum_{i=1}^{I}w_{i\omega}x_i^t+\sum_{h=1}^{H}w_{h\omega}b_h^{t-1}"
     r"+\sum_{c=1}^{C}w_{c\omega}s_c^{t-1}", D),
    ("Graves 2012", "4.6 cell output epsilon_c", "graves-lstm", "graves", {},
     r"\epsilon_c^t=\sum_{k=1}^{K}w_{ck}\delta_k^t+\sum_{g=1}^{G}w_{cg}\delta_g^{t+1}", H),
    ("Graves 2012", "4.6 states epsilon_s", "graves-lstm", "graves", {}, GRAVES_EPS_S, H),
    ("Graves 2012", "4.6 states, WRONG: b_phi^{t+1} eps_s^{t+1} missing", "graves-lstm",
     "graves", {}, GRAVES_EPS_S.replace(r"+b_\phi^{t+1}\epsilon_s^{t+1}", ""), D),
    ("Graves 2012", "4.6 states, WRONG: delta_omega^{t+1}", "graves-lstm", "graves", {},
     GRAVES_EPS_S.replace(r"\delta_\omega^t", r"\delta_\omega^{t+1}"), D),
    ("Graves 2012", "4.6 forget gate delta", "graves-lstm", "graves", {},
     r"\delta_\phi^t=f'(a_\phi^t)\sum_{c=1}^{C}s_c^{t-1}\epsilon_s^t", H),
    ("Graves 2012", "4.6 forget gate delta, WRONG: s_c^t", "graves-lstm", "graves", {},
     r"\delta_\phi^t=f'(a_\phi^t)\sum_{c=1}^{C}s_c^{t}\epsilon_s^t", D),
    # --- Greff et al. 2017 (built-in greff notation) ---------------------------------------
    ("Greff 2017", "backward, delta y", "graves-lstm", "greff", {}, GREFF_DY, H),
    ("Greff 2017", "delta y, WRONG: R_o term missing", "graves-lstm", "greff", {},
     GREFF_DY.replace(r"+R_o^\top\delta o^{t+1}", ""), D),
    ("Greff 2017", "backward, delta c", "graves-lstm", "greff", {}, GREFF_DC, H),
    ("Greff 2017", "delta c, WRONG: f^t for f^{t+1}", "graves-lstm", "greff", {},
     GREFF_DC.replace(r"\odot f^{t+1}", r"\odot f^{t}"), D),
    ("Greff 2017", "backward, delta bar f", "graves-lstm", "greff", {},
     r"\delta\bar f^t=\delta c^t\odot c^{t-1}\odot\sigma'(\bar f^t)", H),
    ("Greff 2017", "backward, delta bar z", "graves-lstm", "greff", {},
     r"\delta\bar z^t=\delta c^t\odot i^t\odot g'(\bar z^t)", H),
    ("Greff 2017", "delta bar z, WRONG: f^t for i^t", "graves-lstm", "greff", {},
     r"\delta\bar z^t=\delta c^t\odot f^t\odot g'(\bar z^t)", D),
    ("Greff 2017", "weight gradient dR (sum from t=0)", "graves-lstm", "greff", {},
     r"\delta R_i = \sum_{t=0}^{T-1} \langle \delta\bar i^{t+1}, y^t \rangle", H),
    ("Greff 2017", "peephole gradient dp_f", "graves-lstm", "greff", {},
     r"\delta p_f = \sum_{t=0}^{T-1} c^t \odot \delta\bar f^{t+1}", H),
    # --- PyTorch documentation (built-in pytorch notation) ---------------------------------
    ("PyTorch docs", "nn.RNN (row vectors)", "rnn", "pytorch_rnn_rows.json", {},
     r"h_t = \tanh(x_t W_{ih}^T + b_{ih} + h_{t-1}W_{hh}^T + b_{hh})", H),
    ("PyTorch docs", "nn.LSTM input gate", "lstm", "pytorch", {},
     r"i_t = \sigma(W_{ii} x_t + b_{ii} + W_{hi} h_{t-1} + b_{hi})", H),
    ("PyTorch docs", "nn.LSTM cell", "lstm", "pytorch", {},
     r"c_t = f_t \odot c_{t-1} + i_t \odot g_t", H),
    ("PyTorch docs", "nn.LSTM cell, WRONG: o_t for i_t", "lstm", "pytorch", {},
     r"c_t = f_t \odot c_{t-1} + o_t \odot g_t", D),
    ("PyTorch docs", "nn.GRU n_t (h_{(t-1)} as printed)", "gru", "pytorch", {},
     r"n_t = \tanh(W_{in} x_t + b_{in} + r_t \odot (W_{hn} h_{(t-1)}+ b_{hn}))", H),
    ("PyTorch docs", "nn.GRU n_t, WRONG: b_hn outside the reset", "gru", "pytorch", {},
     r"n_t = \tanh(W_{in} x_t + b_{in} + r_t \odot W_{hn} h_{(t-1)}+ b_{hn})", D),
    ("PyTorch docs", "nn.GRU h_t (older docs: *)", "gru", "pytorch", {},
     r"h_t = (1 - z_t) * n_t + z_t * h_{(t-1)}", H),
    # --- Graves 2012 ch. 3, softmax output ---------------------------------------------------
    ("Graves 2012", "3.1.3 softmax output delta with cross-entropy", "elman-softmax", "graves",
     {}, r"\delta_k^t = y_k^t - z_k^t", H),
    ("Graves 2012", "3.1.3 softmax output delta, WRONG: z_k - y_k", "elman-softmax", "graves",
     {}, r"\delta_k^t = z_k^t - y_k^t", D),
    ("Graves 2012", "3.2.2 hidden error through the softmax layer (b_h names no a_h)",
     "elman-softmax", "graves", {}, GRAVES_EPS_H, H),
    ("Graves 2012", "3.2.2 hidden error, WRONG: w_{h'h} (transposed)", "elman-softmax", "graves",
     {}, GRAVES_EPS_H.replace("w_{hh'}", "w_{h'h}"), D),
    # --- more rows of the same sources ---------------------------------------------------
    (D2L, "9.4 W_xh in textrm as d2l prints it, map written W_{xh}", "rnn", "pytorch",
     {"W_{xh}": "W_ih"},
     r"\mathbf{H}_t = \tanh(\mathbf{W}_\textrm{xh} \mathbf{x}_t + W_{hh} \mathbf{h}_{t-1}"
     r" + b_{ih} + b_{hh})".replace(r"\mathbf{H}", "h"), H),
    ("Graves 2012", "3.2 eq. 3.30 RNN forward (bias as a weight)", "rnn", "graves", {},
     r"a_h^t=\sum_{i=1}^{I} w_{ih}x_i^t+\sum_{h'=1}^{H} w_{h'h}b_{h'}^{t-1}", H),
    ("Graves 2012", "3.2.2 eq. 3.35 weight gradient schema", "rnn", "graves", {},
     r"\frac{\partial\mathcal L}{\partial w_{ij}}=\sum_{t=1}^{T}\delta_j^t\,b_i^t", H),
    ("Greff 2017", "forward, output gate (peeps at c^t)", "graves-lstm", "greff", {},
     r"\bar o^t=W_ox^t+R_oy^{t-1}+p_o\odot c^t+b_o", H),
    ("Greff 2017", "forward, input gate, WRONG: peephole at c^t", "graves-lstm", "greff", {},
     r"\bar i^t=W_ix^t+R_iy^{t-1}+p_i\odot c^t+b_i", D),
    ("Greff 2017", "forward, block output", "graves-lstm", "greff", {},
     r"y^t=h(c^t)\odot o^t", H),
    ("Greff 2017", "backward, delta bar o", "graves-lstm", "greff", {},
     r"\delta\bar o^t=\delta y^t\odot h(c^t)\odot\sigma'(\bar o^t)", H),
    ("Greff 2017", "backward, delta x", "graves-lstm", "greff", {},
     r"\delta x^t=W_z^\top\delta\bar z^t+W_i^\top\delta\bar i^t+W_f^\top\delta\bar f^t"
     r"+W_o^\top\delta\bar o^t", H),
    ("Lipton 2015", "LSTM output, WRONG: phi dropped (s for phi(s))", "lstm",
     "lipton_lstm.json", {}, r"h^{(t)} = s^{(t)} \odot o^{(t)}", D),
    ("Cho 2014", "eq. 8 in vector form (textbooks.md 4)", "gru-cho", "cho2014.json", {},
     r"\tilde h^{\langle t\rangle}=\phi(Wx+U(r\odot h^{\langle t-1\rangle}))", H),
    ("Cho 2014", "eq. 8 in vector form, read against PyTorch's GRU", "gru",
     "cho2014_vs_pytorch.json", {},
     r"\tilde h^{\langle t\rangle}=\phi(Wx+U(r\odot h^{\langle t-1\rangle}))", C),
    ("Cho 2014", "eq. 6 in vector form, WRONG: U_r in the update gate", "gru-cho",
     "cho2014.json", {}, r"z=\sigma(W_zx+U_rh^{\langle t-1\rangle})", D),
    # --- soundness probes: subtle transcription errors of rows above ------------------------
    ("Chung 2014", "update convention plus a wrong time index (not a convention)", "gru-cho",
     "cho2014.json", {},
     r"h^{\langle t\rangle} = (1 - z) \odot h^{\langle t-1\rangle} + z \odot"
     r" \tilde h^{\langle t-1\rangle}", D),
    (D2L, "10.2.3 candidate with H_t against PyTorch's GRU (not a convention)", "gru",
     "d2l_gru_as_pytorch.json", {},
     r"\tilde{\mathbf{H}}_t = \tanh(\mathbf{X}_t \mathbf{W}_{xh} + \left(\mathbf{R}_t \odot"
     r" \mathbf{H}_{t}\right) \mathbf{W}_{hh} + \mathbf{b}_h)", D),
    (D2L, "10.2.2 reset gate, WRONG: W_xr transposed in a row-vector source", "gru-cho",
     "d2l_gru.json", {},
     r"\mathbf{R}_t = \sigma(\mathbf{X}_t \mathbf{W}_{xr}^\top + \mathbf{H}_{t-1}"
     r" \mathbf{W}_{hr} + \mathbf{b}_r)", D),
    ("Graves 2012", "4.6 states, truncated gradient (no peephole terms: Gers 2002)",
     "graves-lstm", "graves", {},
     r"\epsilon_s^t=b_\omega^t h'(s_c^t)\epsilon_c^t+b_\phi^{t+1}\epsilon_s^{t+1}", C),
    ("Graves 2012", "4.6 states, WRONG: only the forget peephole term dropped", "graves-lstm",
     "graves", {}, GRAVES_EPS_S.replace(r"+w_{c\phi}\delta_\phi^{t+1}", ""), D),
    ("Graves 2012", "4.6 peephole gradient w_c-iota (schema)", "graves-lstm", "graves", {},
     r"\frac{\partial\mathcal L}{\partial w_{c\iota}}=\sum_{t=1}^{T}\delta_\iota^t s_c^{t-1}",
     H),
    ("Graves 2012", "4.6 peephole gradient w_c-omega, WRONG: s_c^{t-1}", "graves-lstm",
     "graves", {},
     r"\frac{\partial\mathcal L}{\partial w_{c\omega}}=\sum_{t=1}^{T}\delta_\omega^t s_c^{t-1}",
     D),
    ("Greff 2017", "dR, WRONG: outer product in the other order (transposed)", "graves-lstm",
     "greff", {}, r"\delta R_i = \sum_{t=0}^{T-1} \langle y^t, \delta\bar i^{t+1} \rangle", D),
    ("Greff 2017", "dW as a b^T", "graves-lstm", "greff", {},
     r"\delta W_f = \sum_{t=1}^{T} \delta\bar f^t\, (x^t)^\top", H),
    ("Greff 2017", "dW, WRONG: x (delta f)^T (transposed)", "graves-lstm", "greff", {},
     r"\delta W_f = \sum_{t=1}^{T} x^t\, (\delta\bar f^t)^\top", D),
    ("Greff 2017", "delta bar o, WRONG: sign", "graves-lstm", "greff", {},
     r"\delta\bar o^t=-\delta y^t\odot h(c^t)\odot\sigma'(\bar o^t)", D),
    ("Greff 2017", "delta bar f with sigma' written through the output", "graves-lstm", "greff",
     {}, r"\delta\bar f^t=\delta c^t\odot c^{t-1}\odot f^t\odot(1-f^t)", H),
    ("Greff 2017", "delta bar f, WRONG: g' for sigma'", "graves-lstm", "greff", {},
     r"\delta\bar f^t=\delta c^t\odot c^{t-1}\odot g'(\bar f^t)", D),
    ("Greff 2017", "delta bar f, WRONG: f(1-f)^2", "graves-lstm", "greff", {},
     r"\delta\bar f^t=\delta c^t\odot c^{t-1}\odot f^t\odot(1-f^t)^2", D),
    ("Greff 2017", "delta c, WRONG: (1-tanh(c))^2 for 1-tanh^2(c)", "graves-lstm", "greff", {},
     GREFF_DC.replace(r"h'(c^t)", r"(1-\tanh(c^t))^2"), D),
    ("Greff 2017", "delta c with h' written 1-tanh^2", "graves-lstm", "greff", {},
     GREFF_DC.replace(r"h'(c^t)", r"(1-\tanh^2(c^t))"), H),
    ("blog LSTM backward", "delta c in PyTorch symbols", "lstm", "pytorch", {},
     r"\delta c_t = \delta h_t \odot o_t \odot (1 - \tanh^2(c_t)) + \delta c_{t+1} \odot f_{t+1}",
     H),
    ("blog LSTM backward", "delta c, WRONG: f_t for f_{t+1} (common in blog posts)", "lstm",
     "pytorch", {},
     r"\delta c_t = \delta h_t \odot o_t \odot (1 - \tanh^2(c_t)) + \delta c_{t+1} \odot f_t", D),
    ("blog LSTM backward", "delta c, WRONG: t+1 term missing", "lstm", "pytorch", {},
     r"\delta c_t = \delta h_t \odot o_t \odot (1 - \tanh^2(c_t))", D),
    ("blog LSTM backward", "delta o, WRONG: tanh(c_t) factor missing", "lstm", "pytorch", {},
     r"\delta \bar o_t = \delta h_t \odot o_t \odot (1 - o_t)", D),
    ("blog LSTM backward", "dW_hf, WRONG: h_t for h_{t-1}", "lstm", "pytorch", {},
     r"\frac{\partial L}{\partial W_{hf}} = \sum_{t=1}^{T} \delta \bar f_t\, h_t^\top", D),
    ("blog GRU backward", "delta h~ with z for 1-z (Chung's update)", "gru-cho", "cho", {},
     r"\delta \tilde h_t = \delta h_t \odot z_t", C),
    ("blog GRU backward", "delta z with (h~ - h_{t-1}) (Chung's update)", "gru-cho", "cho", {},
     r"\delta z_t = \delta h_t \odot (\tilde h_t - h_{t-1})", C),
    ("blog GRU backward", "delta z, WRONG: h_t for h_{t-1}", "gru-cho", "cho", {},
     r"\delta z_t = \delta h_t \odot (h_t - \tilde h_t)", D),
    (GF, "10.2.2 eq. 10.26 on the rnn cell, h^{(t-1)^T} as printed", "rnn",
     "goodfellow_as_rnn.json", {},
     r"\nabla_{W} L = \sum_t \mathrm{diag}\left(1 - \left(h^{(t)}\right)^2\right)"
     r" (\nabla_{h^{(t)}} L)\, h^{(t-1)^\top}", H),
    (GF, r"10.2.2 eq. 10.26 on the rnn cell, h^{(t-1)\top} retyped", "rnn",
     "goodfellow_as_rnn.json", {},
     r"\nabla_{W} L = \sum_t \mathrm{diag}\left(1 - \left(h^{(t)}\right)^2\right)"
     r" (\nabla_{h^{(t)}} L)\, h^{(t-1)\top}", H),
    (GF, "10.2.2 eq. 10.28 on the rnn cell, WRONG: diag at t-1", "rnn",
     "goodfellow_as_rnn.json", {},
     r"\nabla_{U} L = \sum_t \mathrm{diag}\left(1 - \left(h^{(t-1)}\right)^2\right)"
     r" (\nabla_{h^{(t)}} L)\, x^{(t)\top}", D),
    (GF, "10.2.2 eq. 10.23 on the rnn cell (b is b_ih + b_hh: one gradient for both)", "rnn",
     "goodfellow_as_rnn.json", {},
     r"\nabla_{b} L = \sum_t \mathrm{diag}\left(1 - \left(h^{(t)}\right)^2\right)"
     r" \nabla_{h^{(t)}} L", H),
    ("Greff 2017", "peephole gradient dp_o as printed (sum from t=0)", "graves-lstm", "greff",
     {}, r"\delta p_o = \sum_{t=0}^{T} c^t \odot \delta\bar o^t", H),  # no step 0: its term is 0
    ("Greff 2017", "weight gradient dW as printed (sum from t=0)", "graves-lstm", "greff", {},
     r"\delta W_o = \sum_{t=0}^{T} \langle \delta\bar o^t, x^t \rangle", H),
    ("blog GRU backward", "delta h in PyTorch's GRU (r inside W_hn^T)", "gru", "pytorch", {},
     r"\delta h_{t} = \Delta^{t} + \delta h_{t+1} \odot z_{t+1} + W_{hn}^\top (r_{t+1} \odot"
     r" \delta \bar{n}_{t+1}) + W_{hr}^\top \delta \bar{r}_{t+1} + W_{hz}^\top"
     r" \delta \bar{z}_{t+1}", H),
    ("blog GRU backward", "delta h in PyTorch's GRU, 1-z for z: right for Chung's update", "gru",
     "pytorch", {},
     r"\delta h_{t} = \Delta^{t} + \delta h_{t+1} \odot (1-z_{t+1}) + W_{hn}^\top (r_{t+1}"
     r" \odot \delta \bar{n}_{t+1}) + W_{hr}^\top \delta \bar{r}_{t+1} + W_{hz}^\top"
     r" \delta \bar{z}_{t+1}", C),  # delta z-bar is written, not expanded: Chung's cell's
    ("blog GRU backward", "delta h in PyTorch's GRU with r outside W_hn^T (Cho's reset)",
     "gru", "pytorch", {},
     r"\delta h_{t} = \Delta^{t} + \delta h_{t+1} \odot z_{t+1} + r_{t+1} \odot W_{hn}^\top"
     r" \delta \bar{n}_{t+1} + W_{hr}^\top \delta \bar{r}_{t+1} + W_{hz}^\top"
     r" \delta \bar{z}_{t+1}", C),
    ("blog GRU backward", "delta h in Cho's GRU", "gru-cho", "cho", {},
     r"\delta h_{t} = \Delta^{t} + \delta h_{t+1} \odot z_{t+1} + r_{t+1} \odot U^\top"
     r" (\delta \tilde h_{t+1} \odot (1-\tilde h_{t+1}^2)) + U_r^\top (\delta r_{t+1} \odot"
     r" r_{t+1} \odot (1 - r_{t+1})) + U_z^\top (\delta z_{t+1} \odot z_{t+1} \odot"
     r" (1 - z_{t+1}))", H),
    ("blog GRU backward", "delta h in Cho's GRU with r inside U^T (PyTorch's reset)",
     "gru-cho", "cho", {},
     r"\delta h_{t} = \Delta^{t} + \delta h_{t+1} \odot z_{t+1} + U^\top (r_{t+1} \odot"
     r" \delta \tilde h_{t+1} \odot (1-\tilde h_{t+1}^2)) + U_r^\top (\delta r_{t+1} \odot"
     r" r_{t+1} \odot (1 - r_{t+1})) + U_z^\top (\delta z_{t+1} \odot z_{t+1} \odot"
     r" (1 - z_{t+1}))", C),
    ("blog GRU", "PyTorch's candidate read against Cho's GRU (reset after U)", "gru-cho",
     "cho", {}, r"\tilde h_t = \tanh(W x_t + r_t \odot (U h_{t-1}) + b)", C),
    ("blog GRU backward", "delta r in PyTorch's GRU with b_hn", "gru", "pytorch", {},
     r"\delta \bar r_t = \delta \bar n_t \odot (W_{hn} h_{t-1} + b_{hn}) \odot r_t"
     r" \odot (1 - r_t)", H),
    ("blog GRU backward", "delta r, WRONG: b_hn dropped", "gru", "pytorch", {},
     r"\delta \bar r_t = \delta \bar n_t \odot (W_{hn} h_{t-1}) \odot r_t \odot (1 - r_t)", D),
    ("MindSpore docs", "ops.BasicLSTMCell input gate", "lstm", "mindspore_lstm.json", {},
     r"i_t = \sigma(W_{ix} x_t + b_{ix} + W_{ih} h_{(t-1)} + b_{ih})", H),
    ("MindSpore docs", "ops.BasicLSTMCell cell input", "lstm", "mindspore_lstm.json", {},
     r"\tilde{c}_t = \tanh(W_{cx} x_t + b_{cx} + W_{ch} h_{(t-1)} + b_{ch})", H),
    ("MindSpore docs", "ops.BasicLSTMCell cell state", "lstm", "mindspore_lstm.json", {},
     r"c_t = f_t * c_{(t-1)} + i_t * \tilde{c}_t", H),
    ("MindSpore docs", "ops.BasicLSTMCell forget gate, WRONG: b_{ih} for b_{fh}", "lstm",
     "mindspore_lstm.json", {},
     r"f_t = \sigma(W_{fx} x_t + b_{fx} + W_{fh} h_{(t-1)} + b_{ih})", D),
    ("nicodjimenez/lstm", "lstm.py: self.state.h = self.state.s * self.state.o (no tanh)",
     "lstm", "nicodjimenez_lstm.json", {}, r"h_t = s_t \odot o_t", D),
    ("nicodjimenez/lstm", "lstm.py: s = g * i + s_prev * f", "lstm", "nicodjimenez_lstm.json",
     {}, r"s_t = g_t \odot i_t + s_{t-1} \odot f_t", H),
]

# Cases the tool gets wrong today: id -> the current failure.
XFAIL: dict[str, str] = {}


_spec = importlib.util.spec_from_file_location("more_cases", DIR / "more_cases.py")
_spec.loader.exec_module(_more := importlib.util.module_from_spec(_spec))  # corpus 3
CASES += _more.CASES
XFAIL |= _more.XFAIL


def _id(case):
    return f"{case[0]}: {case[1]}"


def _params():
    for case in CASES:
        marks = [pytest.mark.xfail(strict=True, reason=XFAIL[_id(case)])] \
            if _id(case) in XFAIL else []
        yield pytest.param(*case, id=_id(case), marks=marks)


def _notation(notation: str) -> str:
    return str(DIR / notation) if notation.endswith(".json") else notation


@pytest.mark.parametrize("source,where,cell,notation,maps,formula,expected", list(_params()))
def test_corpus(source, where, cell, notation, maps, formula, expected):
    if expected == "error":  # the tool must refuse (a clear CompareError), not guess
        with pytest.raises(CompareError):
            compare(cell, [formula], _notation(notation), maps or None)
        return
    verdict, = compare(cell, [formula], _notation(notation), maps or None)
    assert verdict.kind == expected, verdict.explanation
    if expected != "holds":
        assert not verdict.holds


def test_corpus_ids_are_unique_and_every_profile_is_used():
    assert len({_id(c) for c in CASES}) == len(CASES)
    assert set(XFAIL) <= {_id(c) for c in CASES}
    used = {c[3] for c in CASES}
    assert {p.name for p in DIR.glob("*.json")} <= used
