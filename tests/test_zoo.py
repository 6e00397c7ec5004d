"""Every built-in cell through every stage, and against an outside oracle: PyTorch autograd of
a forward pass written here by hand from the paper's equations (not from the cell's IR)."""
import shutil

import numpy as np
import pytest

import bptt
from derive.cells import builtin_cells, get_cell
from derive.sheets import render

ZOO = list(builtin_cells())
SIZES = {"I": 3, "H": 4, "P": 2, "K": 5}  # a different number of units for every size name


@pytest.mark.parametrize("name", ZOO)
def test_derivation_equals_the_unrolled_exact_derivative(name):
    from verify.unrolled import check_unrolled
    report = check_unrolled(get_cell(name), steps=2)
    assert report.ok, report.format()


@pytest.mark.parametrize("name", ZOO)
def test_kernel_against_finite_differences(name):
    from verify.numeric import check_numeric
    report = check_numeric(get_cell(name))
    assert report.ok, report.format()


@pytest.mark.skipif(not shutil.which("pdflatex"), reason="pdflatex is not installed "
                    "(Debian: texlive-latex-base)")
@pytest.mark.parametrize("name", ZOO)
def test_pdf_sheet_compiles(name, tmp_path):
    out = tmp_path / f"{name}.pdf"
    assert bptt.main(["sheet", name, "--format", "pdf", "-o", str(out)]) == 0
    assert out.read_bytes().startswith(b"%PDF")


@pytest.mark.parametrize("name", ZOO)
def test_sheets_and_explain(name):
    cell = get_cell(name)
    for fmt in ("tex", "md"):
        text = render(cell, "vector", fmt)
        assert "Backward pass" in text and r"\delta" in text
    assert ("\\Delta^{t}" in render(cell, "vector", "tex")) == (cell.loss is None)
    assert all(s in bptt.explain(cell) for s in cell.state)


# --- PyTorch oracles: the papers' forward equations, batched (rows are the batch) -------------

torch = pytest.importorskip("torch")
sig, tanh = torch.sigmoid, torch.tanh


def mm(W, v):
    """W v for a batch of row vectors v."""
    return v @ W.T


def greff(variant):
    """Greff et al. 2017: the vanilla LSTM (Graves 2012) and its eight variants, as the paper
    defines them: NIG i = 1, NFG f = 1, NOG o = 1, NIAF g = id, NOAF h = id, NP no peepholes,
    CIFG f = 1 - i, FGR all gates at t-1 into every gate."""
    def step(p, x, s):
        y, c = s["y"], s["c"]

        def pre(k, peep):
            a = mm(p[f"W_{k}"], x) + mm(p[f"R_{k}"], y) + p[f"b_{k}"]
            if variant != "np" and peep is not None:
                a = a + p[f"p_{k}"] * peep
            if variant == "fgr" and k != "z":
                a = a + sum(mm(p[f"R_{g}{k}"], s[g]) for g in "ifo")
            return a
        z = pre("z", None) if variant == "niaf" else tanh(pre("z", None))
        i = 1 if variant == "nig" else sig(pre("i", c))
        f = 1 if variant == "nfg" else 1 - i if variant == "cifg" else sig(pre("f", c))
        c = z * i + c * f
        o = 1 if variant == "nog" else sig(pre("o", c))
        y = (c if variant == "noaf" else tanh(c)) * o
        return y, {"y": y, "c": c, "i": i, "f": f, "o": o}
    return step


def hs97(p, x, s):  # Hochreiter & Schmidhuber 1997: g = 4 sigma - 2, h = 2 sigma - 1
    y, c = s["y"], s["c"]
    z = 4 * sig(mm(p["W_z"], x) + mm(p["R_z"], y) + p["b_z"]) - 2
    i = sig(mm(p["W_i"], x) + mm(p["R_i"], y) + p["b_i"])
    o = sig(mm(p["W_o"], x) + mm(p["R_o"], y) + p["b_o"])
    c = c + i * z
    y = o * (2 * sig(c) - 1)
    return y, {"y": y, "c": c}


def gru_cho(p, x, s):  # Cho et al. 2014 v3: r acts before U
    h = s["h"]
    r = sig(mm(p["W_r"], x) + mm(p["U_r"], h) + p["b_r"])
    z = sig(mm(p["W_z"], x) + mm(p["U_z"], h) + p["b_z"])
    n = tanh(mm(p["W"], x) + mm(p["U"], r * h) + p["b"])
    h = z * h + (1 - z) * n
    return h, {"h": h}


def mgu(p, x, s):  # Zhou et al. 2016
    h = s["h"]
    f = sig(mm(p["W_f"], x) + mm(p["U_f"], h) + p["b_f"])
    n = tanh(mm(p["W_h"], x) + mm(p["U_h"], f * h) + p["b_h"])
    h = (1 - f) * h + f * n
    return h, {"h": h}


def indrnn(p, x, s):  # Li et al. 2018
    h = torch.relu(mm(p["W"], x) + p["u"] * s["h"] + p["b"])
    return h, {"h": h}


def janet(p, x, s):  # van der Westhuizen & Lasenby 2018, beta = 1
    c = s["c"]
    a = mm(p["W_f"], x) + mm(p["U_f"], c) + p["b_f"]
    cand = tanh(mm(p["W_c"], x) + mm(p["U_c"], c) + p["b_c"])
    c = sig(a) * c + (1 - sig(a - 1)) * cand
    return c, {"c": c}


def ugrnn(p, x, s):  # Collins et al. 2017
    h = s["h"]
    c = tanh(mm(p["W_c"], x) + mm(p["U_c"], h) + p["b_c"])
    g = sig(mm(p["W_g"], x) + mm(p["U_g"], h) + p["b_g"])
    h = g * h + (1 - g) * c
    return h, {"h": h}


def sru(p, x, s):  # Lei et al. 2018, eqs. (3)-(5)
    c = s["c"]
    f = sig(mm(p["W_f"], x) + p["v_f"] * c + p["b_f"])
    r = sig(mm(p["W_r"], x) + p["v_r"] * c + p["b_r"])  # c_{t-1}, both gates
    c = f * c + (1 - f) * mm(p["W"], x)
    h = r * c + (1 - r) * x
    return h, {"c": c}


ORACLES = {"graves-lstm": greff("vanilla"), "hs97-lstm": hs97, "gru-cho": gru_cho, "mgu": mgu,
           "indrnn": indrnn, "janet": janet, "ugrnn": ugrnn, "sru": sru,
           **{f"greff-{v}": greff(v) for v in ("nig", "nfg", "nog", "niaf", "noaf", "np",
                                                "cifg", "fgr")}}
_kernels = {}


def kernel(name):
    if name not in _kernels:
        from derive.codegen import load_module
        _kernels[name] = load_module(get_cell(name))
    return _kernels[name]


def unpack(cell, params):
    """Per-parameter tensors from the kernel's (possibly packed) parameters, by the cell's row
    blocks: layout only, the oracle's arithmetic is its own."""
    out = {}
    for name, value in params.items():
        parts = cell.stacks.get(name, (name,))
        rows = np.cumsum([0] + [SIZES[cell.params[q].shape[0]] for q in parts])
        for q, a, b in zip(parts, rows, rows[1:]):
            out[q] = torch.tensor(value[a:b], requires_grad=True)
    return out


def relative(a, b):
    a, b = np.asarray(a, float), np.asarray(b, float)
    return np.abs(a - b).max() / max(np.abs(b).max(), 1e-300)


def run_oracle(step, cell, params, x, state0, dy, dstateT):
    p = unpack(cell, params)
    xs = torch.tensor(x, requires_grad=True)
    s0 = {s: torch.tensor(a, requires_grad=True) for s, a in state0.items()}
    state, ys = dict(s0), []
    for k in range(x.shape[0]):
        y, new = step(p, xs[k], state)
        state = {s: new[s] for s in cell.state}
        ys.append(y)
    loss = (torch.stack(ys) * torch.from_numpy(dy)).sum() + sum(
        (state[s] * torch.from_numpy(dstateT[s])).sum() for s in cell.state)
    loss.backward()
    grads = {q: t.grad.numpy() for q, t in p.items()}
    return grads, xs.grad.numpy(), {s: a.grad.numpy() for s, a in s0.items()}


def problem(cell, m, T=5, B=3, seed=4):
    rng = np.random.default_rng(seed)
    params = m.init_params({n: SIZES[n] for n in cell.size_names}, seed=seed, dtype=np.float64)
    size = {q: SIZES[cell.size(q)] for q in (*cell.inputs, *cell.quantities)}
    x = rng.standard_normal((T, B, size["x"]))
    state0 = {s: rng.standard_normal((B, size[s])) for s in cell.state}
    dy = rng.standard_normal((T, B, size[cell.output]))
    dstateT = {s: rng.standard_normal((B, size[s])) for s in cell.state}
    return params, x, state0, dy, dstateT


@pytest.mark.parametrize("name", ORACLES)
def test_kernel_gradients_equal_torch_autograd_of_the_papers_equations(name):
    cell, m = get_cell(name), kernel(name)
    params, x, state0, dy, dstateT = problem(cell, m)
    y, stateT, cache = m.forward(params, x, state0)
    dparams, dx, dstate0 = m.backward(params, cache, dy, dstateT)
    tgrads, tdx, tdstate0 = run_oracle(ORACLES[name], cell, params, x, state0, dy, dstateT)
    mine = unpack(cell, dparams)
    errors = {"dx": relative(dx, tdx),
              **{f"dstate0 {s}": relative(dstate0[s], tdstate0[s]) for s in cell.state},
              **{f"d{q}": relative(mine[q].detach().numpy(), tgrads[q]) for q in tgrads}}
    assert max(errors.values()) < 1e-10, errors


def test_lstmp_equals_torch_lstm_with_projection():
    cell, m = get_cell("lstmp"), kernel("lstmp")
    params, x, state0, dy, dstateT = problem(cell, m)
    lstm = torch.nn.LSTM(SIZES["I"], SIZES["H"], proj_size=SIZES["P"]).double()
    lstm.load_state_dict({f"{k}_l0": torch.tensor(v) for k, v in params.items()})
    xs = torch.tensor(x, requires_grad=True)
    h0, c0 = (torch.tensor(state0[s][None], requires_grad=True) for s in ("h", "c"))
    ys, (hT, cT) = lstm(xs, (h0, c0))
    loss = (ys * torch.from_numpy(dy)).sum() + (hT[0] * torch.from_numpy(dstateT["h"])).sum() \
        + (cT[0] * torch.from_numpy(dstateT["c"])).sum()
    loss.backward()
    y, stateT, cache = m.forward(params, x, state0)
    dparams, dx, dstate0 = m.backward(params, cache, dy, dstateT)
    errors = {"y": relative(y, ys.detach().numpy()), "dx": relative(dx, xs.grad.numpy()),
              "dh0": relative(dstate0["h"], h0.grad[0].numpy()),
              "dc0": relative(dstate0["c"], c0.grad[0].numpy()),
              **{k: relative(dparams[k], getattr(lstm, f"{k}_l0").grad.numpy())
                 for k in params}}
    assert max(errors.values()) < 1e-10, errors


def test_elman_softmax_equals_torch_cross_entropy():
    """Graves 2012 chapter 3: an Elman network, a softmax output layer and the cross-entropy
    loss, here through torch.nn.functional.cross_entropy with probability targets."""
    cell, m = get_cell("elman-softmax"), kernel("elman-softmax")
    rng = np.random.default_rng(5)
    T, B = 5, 3
    params = m.init_params({n: SIZES[n] for n in cell.size_names}, seed=5, dtype=np.float64)
    x = rng.standard_normal((T, B, SIZES["I"]))
    z = rng.random((T, B, SIZES["K"]))
    z /= z.sum(axis=-1, keepdims=True)  # targets are distributions
    state0 = {"h": rng.standard_normal((B, SIZES["H"]))}
    dstateT = {"h": rng.standard_normal((B, SIZES["H"]))}
    loss, stateT, cache = m.forward(params, x, z, state0)
    dparams, dx, dstate0 = m.backward(params, cache, dstateT)

    p = {k: torch.tensor(v, requires_grad=True) for k, v in params.items()}
    xs = torch.tensor(x, requires_grad=True)
    h0 = torch.tensor(state0["h"], requires_grad=True)
    h, total = h0, 0
    for k in range(T):
        h = tanh(mm(p["W_ih"], xs[k]) + mm(p["W_hh"], h) + p["b_h"])
        logits = mm(p["W_ho"], h) + p["b_o"]
        total = total + torch.nn.functional.cross_entropy(logits, torch.tensor(z[k]),
                                                          reduction="sum")
    (total + (h * torch.tensor(dstateT["h"])).sum()).backward()
    errors = {"loss": relative(loss, total.item()), "dx": relative(dx, xs.grad.numpy()),
              "dh0": relative(dstate0["h"], h0.grad.numpy()),
              **{k: relative(dparams[k], p[k].grad.numpy()) for k in params}}
    assert max(errors.values()) < 1e-10, errors
