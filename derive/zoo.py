"""The built-in cells, each written once as a step function, exactly as a user writes one.

Nothing here says how to differentiate a cell: the backward pass is derived from these
equations alone (derive/derivation.py). The equations follow the sources named in ``source``
(see ../shared/notes/textbooks.md). Pre-activations get names (``ibar``) where a textbook's
backward pass names their adjoints (Greff's ``\\delta\\bar i``, Graves' ``\\delta_\\iota``).
"""
from __future__ import annotations

from .frontend import cell
from .ir import Softmax as softmax
from .ir import cross_entropy, relu, sigmoid, tanh


def torch_stacks(gates: str, proj: bool = False) -> dict[str, tuple[str, ...]]:
    """PyTorch's packed parameters: the per-gate blocks stacked by rows in the library's gate
    order (``weight_ih`` = W_i{gate}..., ``bias_hh`` = b_h{gate}...; the rnn's one gate is h)."""
    stacks = {f"{name}_{src}": tuple(f"{p}_{src[0]}{g}" for g in gates)
              for name, p in (("weight", "W"), ("bias", "b")) for src in ("ih", "hh")}
    return stacks | ({"weight_hr": ("W_hr",)} if proj else {})


# --- PyTorch's cells ---------------------------------------------------------------------------

@cell(name="rnn", source="PyTorch torch.nn.RNNCell (Elman, tanh); Graves 2012 section 3.2",
      description="Elman RNN with tanh, two biases", stacks=torch_stacks("h"))
def rnn(x, h, W_ih, W_hh, b_ih, b_hh):
    hbar = W_ih @ x + b_ih + W_hh @ h + b_hh
    h = tanh(hbar)
    return h


@cell(name="lstm", source="PyTorch torch.nn.LSTMCell (gates i, f, g, o; no peepholes)",
      description="LSTM with forget gate, two biases, no peepholes", stacks=torch_stacks("ifgo"))
def lstm(x, h, c,
         W_ii, W_hi, b_ii, b_hi, W_if, W_hf, b_if, b_hf,
         W_ig, W_hg, b_ig, b_hg, W_io, W_ho, b_io, b_ho):
    ibar = W_ii @ x + b_ii + W_hi @ h + b_hi
    i = sigmoid(ibar)
    fbar = W_if @ x + b_if + W_hf @ h + b_hf
    f = sigmoid(fbar)
    gbar = W_ig @ x + b_ig + W_hg @ h + b_hg
    g = tanh(gbar)
    obar = W_io @ x + b_io + W_ho @ h + b_ho
    o = sigmoid(obar)
    c = f * c + i * g
    h = o * tanh(c)
    return h


@cell(name="gru", source="PyTorch torch.nn.GRUCell (reset gate after the recurrent product)",
      description="GRU, PyTorch convention: r applied to W_hn h + b_hn", stacks=torch_stacks("rzn"))
def gru(x, h, W_ir, b_ir, W_hr, b_hr, W_iz, b_iz, W_hz, b_hz, W_in, b_in, W_hn, b_hn):
    rbar = W_ir @ x + b_ir + W_hr @ h + b_hr
    r = sigmoid(rbar)
    zbar = W_iz @ x + b_iz + W_hz @ h + b_hz
    z = sigmoid(zbar)
    nbar_h = W_hn @ h + b_hn
    nbar = W_in @ x + b_in + r * nbar_h
    n = tanh(nbar)
    h = (1 - z) * n + z * h
    return h


@cell(name="lstmp", source="PyTorch torch.nn.LSTM(proj_size=P) (Sak et al. 2014, LSTMP)",
      description="LSTM whose output h is projected to size P (h = W_hr (o tanh(c)))",
      stacks=torch_stacks("ifgo", proj=True))
def lstmp(x, h: "P", c,
          W_ii, W_hi, b_ii, b_hi, W_if, W_hf, b_if, b_hf,
          W_ig, W_hg, b_ig, b_hg, W_io, W_ho, b_io, b_ho, W_hr):
    ibar = W_ii @ x + b_ii + W_hi @ h + b_hi
    i = sigmoid(ibar)
    fbar = W_if @ x + b_if + W_hf @ h + b_hf
    f = sigmoid(fbar)
    gbar = W_ig @ x + b_ig + W_hg @ h + b_hg
    g = tanh(gbar)
    obar = W_io @ x + b_io + W_ho @ h + b_ho
    o = sigmoid(obar)
    c = f * c + i * g
    h = W_hr @ (o * tanh(c))
    return h


# --- Graves 2012 / Greff et al. 2017: the vanilla LSTM and its eight variants -------------------

GREFF = "Greff et al. 2017, LSTM: A Search Space Odyssey"
GREFF_STACKS = {"W": tuple(f"W_{k}" for k in "zifo"), "R": tuple(f"R_{k}" for k in "zifo"),
                "b": tuple(f"b_{k}" for k in "zifo")}


@cell(name="graves-lstm", source="Graves 2012 section 4.6 = Greff et al. 2017 vanilla LSTM",
      description="LSTM with forget gate and peepholes; the output gate peeps at the current "
      "state", stacks=GREFF_STACKS)
def graves_lstm(x, y, c, W_z, W_i, W_f, W_o, R_z, R_i, R_f, R_o, b_z, b_i, b_f, b_o,
                p_i, p_f, p_o):
    zbar = W_z @ x + R_z @ y + b_z
    z = tanh(zbar)
    ibar = W_i @ x + R_i @ y + p_i * c + b_i
    i = sigmoid(ibar)
    fbar = W_f @ x + R_f @ y + p_f * c + b_f
    f = sigmoid(fbar)
    c = z * i + c * f
    obar = W_o @ x + R_o @ y + p_o * c + b_o
    o = sigmoid(obar)
    y = tanh(c) * o
    return y


@cell(name="greff-nig", source=f"{GREFF}, variant NIG", description="no input gate (i = 1)")
def greff_nig(x, y, c, W_z, W_f, W_o, R_z, R_f, R_o, b_z, b_f, b_o, p_f, p_o):
    zbar = W_z @ x + R_z @ y + b_z
    z = tanh(zbar)
    fbar = W_f @ x + R_f @ y + p_f * c + b_f
    f = sigmoid(fbar)
    c = z + c * f
    obar = W_o @ x + R_o @ y + p_o * c + b_o
    o = sigmoid(obar)
    y = tanh(c) * o
    return y


@cell(name="greff-nfg", source=f"{GREFF}, variant NFG", description="no forget gate (f = 1)")
def greff_nfg(x, y, c, W_z, W_i, W_o, R_z, R_i, R_o, b_z, b_i, b_o, p_i, p_o):
    zbar = W_z @ x + R_z @ y + b_z
    z = tanh(zbar)
    ibar = W_i @ x + R_i @ y + p_i * c + b_i
    i = sigmoid(ibar)
    c = z * i + c
    obar = W_o @ x + R_o @ y + p_o * c + b_o
    o = sigmoid(obar)
    y = tanh(c) * o
    return y


@cell(name="greff-nog", source=f"{GREFF}, variant NOG", description="no output gate (o = 1)")
def greff_nog(x, y, c, W_z, W_i, W_f, R_z, R_i, R_f, b_z, b_i, b_f, p_i, p_f):
    zbar = W_z @ x + R_z @ y + b_z
    z = tanh(zbar)
    ibar = W_i @ x + R_i @ y + p_i * c + b_i
    i = sigmoid(ibar)
    fbar = W_f @ x + R_f @ y + p_f * c + b_f
    f = sigmoid(fbar)
    c = z * i + c * f
    y = tanh(c)
    return y


@cell(name="greff-niaf", source=f"{GREFF}, variant NIAF",
      description="no input activation function (g = identity)")
def greff_niaf(x, y, c, W_z, W_i, W_f, W_o, R_z, R_i, R_f, R_o, b_z, b_i, b_f, b_o,
               p_i, p_f, p_o):
    z = W_z @ x + R_z @ y + b_z
    ibar = W_i @ x + R_i @ y + p_i * c + b_i
    i = sigmoid(ibar)
    fbar = W_f @ x + R_f @ y + p_f * c + b_f
    f = sigmoid(fbar)
    c = z * i + c * f
    obar = W_o @ x + R_o @ y + p_o * c + b_o
    o = sigmoid(obar)
    y = tanh(c) * o
    return y


@cell(name="greff-noaf", source=f"{GREFF}, variant NOAF",
      description="no output activation function (h = identity)")
def greff_noaf(x, y, c, W_z, W_i, W_f, W_o, R_z, R_i, R_f, R_o, b_z, b_i, b_f, b_o,
               p_i, p_f, p_o):
    zbar = W_z @ x + R_z @ y + b_z
    z = tanh(zbar)
    ibar = W_i @ x + R_i @ y + p_i * c + b_i
    i = sigmoid(ibar)
    fbar = W_f @ x + R_f @ y + p_f * c + b_f
    f = sigmoid(fbar)
    c = z * i + c * f
    obar = W_o @ x + R_o @ y + p_o * c + b_o
    o = sigmoid(obar)
    y = c * o
    return y


@cell(name="greff-np", source=f"{GREFF}, variant NP", description="no peepholes",
      stacks=GREFF_STACKS)
def greff_np(x, y, c, W_z, W_i, W_f, W_o, R_z, R_i, R_f, R_o, b_z, b_i, b_f, b_o):
    zbar = W_z @ x + R_z @ y + b_z
    z = tanh(zbar)
    ibar = W_i @ x + R_i @ y + b_i
    i = sigmoid(ibar)
    fbar = W_f @ x + R_f @ y + b_f
    f = sigmoid(fbar)
    c = z * i + c * f
    obar = W_o @ x + R_o @ y + b_o
    o = sigmoid(obar)
    y = tanh(c) * o
    return y


@cell(name="greff-cifg", source=f"{GREFF}, variant CIFG",
      description="coupled input and forget gate (f = 1 - i)")
def greff_cifg(x, y, c, W_z, W_i, W_o, R_z, R_i, R_o, b_z, b_i, b_o, p_i, p_o):
    zbar = W_z @ x + R_z @ y + b_z
    z = tanh(zbar)
    ibar = W_i @ x + R_i @ y + p_i * c + b_i
    i = sigmoid(ibar)
    c = z * i + c * (1 - i)
    obar = W_o @ x + R_o @ y + p_o * c + b_o
    o = sigmoid(obar)
    y = tanh(c) * o
    return y


@cell(name="greff-fgr", source=f"{GREFF}, variant FGR",
      description="full gate recurrence: every gate also reads all gates at t-1 (R_{from,to})")
def greff_fgr(x, y, c, i, f, o, W_z, W_i, W_f, W_o, R_z, R_i, R_f, R_o, b_z, b_i, b_f, b_o,
              p_i, p_f, p_o, R_ii, R_fi, R_oi, R_if, R_ff, R_of, R_io, R_fo, R_oo):
    g_i = R_ii @ i + R_fi @ f + R_oi @ o  # the gates at t-1 into each gate
    g_f = R_if @ i + R_ff @ f + R_of @ o
    g_o = R_io @ i + R_fo @ f + R_oo @ o
    zbar = W_z @ x + R_z @ y + b_z
    z = tanh(zbar)
    ibar = W_i @ x + R_i @ y + p_i * c + b_i + g_i
    i = sigmoid(ibar)
    fbar = W_f @ x + R_f @ y + p_f * c + b_f + g_f
    f = sigmoid(fbar)
    c = z * i + c * f
    obar = W_o @ x + R_o @ y + p_o * c + b_o + g_o
    o = sigmoid(obar)
    y = tanh(c) * o
    return y


@cell(name="hs97-lstm", source="Hochreiter & Schmidhuber 1997, Long Short-Term Memory "
      "(no forget gate; g = 4 sigma - 2, h = 2 sigma - 1)",
      description="the original LSTM: constant error carousel, input and output gates")
def hs97_lstm(x, y, c, W_z, W_i, W_o, R_z, R_i, R_o, b_z, b_i, b_o):
    zbar = W_z @ x + R_z @ y + b_z
    z = 4 * sigmoid(zbar) - 2
    ibar = W_i @ x + R_i @ y + b_i
    i = sigmoid(ibar)
    obar = W_o @ x + R_o @ y + b_o
    o = sigmoid(obar)
    c = c + i * z
    y = o * (2 * sigmoid(c) - 1)
    return y


# --- other published cells ---------------------------------------------------------------------

@cell(name="gru-cho", source="Cho et al. 2014 (arXiv:1406.1078 v3): reset gate before the "
      "recurrent product", description="GRU, Cho's convention: h~ = tanh(W x + U (r h) + b)")
def gru_cho(x, h, W_r, U_r, b_r, W_z, U_z, b_z, W, U, b):
    r = sigmoid(W_r @ x + U_r @ h + b_r)
    z = sigmoid(W_z @ x + U_z @ h + b_z)
    h_tilde = tanh(W @ x + U @ (r * h) + b)
    h = z * h + (1 - z) * h_tilde
    return h


@cell(name="mgu", source="Zhou et al. 2016, Minimal Gated Unit",
      description="minimal gated unit: one forget gate")
def mgu(x, h, W_f, U_f, b_f, W_h, U_h, b_h):
    f = sigmoid(W_f @ x + U_f @ h + b_f)
    h_tilde = tanh(W_h @ x + U_h @ (f * h) + b_h)
    h = (1 - f) * h + f * h_tilde
    return h


@cell(name="indrnn", source="Li et al. 2018, Independently Recurrent Neural Network",
      description="IndRNN: elementwise recurrent weights u, relu")
def indrnn(x, h, W, u, b):
    h = relu(W @ x + u * h + b)
    return h


@cell(name="janet", source="van der Westhuizen & Lasenby 2018, The unreasonable effectiveness "
      "of the forget gate (JANET, beta = 1)", description="forget-gate-only LSTM")
def janet(x, c, W_f, U_f, b_f, W_c, U_c, b_c):
    s = W_f @ x + U_f @ c + b_f
    c_tilde = tanh(W_c @ x + U_c @ c + b_c)
    c = sigmoid(s) * c + (1 - sigmoid(s - 1)) * c_tilde
    return c


@cell(name="ugrnn", source="Collins et al. 2017, Capacity and Trainability in Recurrent "
      "Neural Networks (UGRNN)", description="update gate RNN")
def ugrnn(x, h, W_c, U_c, b_c, W_g, U_g, b_g):
    c = tanh(W_c @ x + U_c @ h + b_c)
    g = sigmoid(W_g @ x + U_g @ h + b_g)
    h = g * h + (1 - g) * c
    return h


@cell(name="sru", source="Lei et al. 2018, Simple Recurrent Units for Highly Parallelizable "
      "Recurrence, eqs. (3)-(5): the highway passes the input itself (size I = H)",
      description="simple recurrent unit with highway connection")
def sru(x: "H", c, W, W_f, v_f, b_f, W_r, v_r, b_r):
    f = sigmoid(W_f @ x + v_f * c + b_f)
    r = sigmoid(W_r @ x + v_r * c + b_r)  # eq. 5 reads c_{t-1}, as f does
    c = f * c + (1 - f) * (W @ x)
    h = r * c + (1 - r) * x
    return h


@cell(name="elman-softmax", source="Graves 2012 chapter 3 (Elman network, softmax output, "
      "cross-entropy loss)", description="Elman RNN with a softmax output layer of size K "
      "trained with cross-entropy")
def elman_softmax(x, z: "K", h, W_ih, W_hh, b_h, W_ho, b_o):
    h = tanh(W_ih @ x + W_hh @ h + b_h)
    a = W_ho @ h + b_o
    y = softmax(a)
    loss = cross_entropy(y, z)
    return y


ZOO = (rnn, lstm, gru, graves_lstm, greff_nig, greff_nfg, greff_nog, greff_niaf, greff_noaf,
       greff_np, greff_cifg, greff_fgr, hs97_lstm, gru_cho, mgu, indrnn, lstmp, janet, ugrnn,
       sru, elman_softmax)
