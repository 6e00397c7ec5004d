"""The lstm kernel written by hand with every trick of issue 12's recipe: a ceiling for the
generated one, timed beside it by bench_lstm.py. Not part of the toolkit (which never writes
a cell by hand); tests/test_benchmarks.py checks it against the generated kernel.

What it does that the generated kernel does not:
- column layout: a step's gates are one (4H, B) block, so every gate is contiguous and the
  per-step products are W (4H, H) @ h (H, B), which OpenBLAS runs faster in float32 than
  h (B, H) @ W^T;
- the backward coefficients are computed in the forward loop while the data are in cache,
  with identities that save passes (o (1 - tanh^2 c) = o - h tanh c, i (1 - g^2) =
  i - (i g) g, o (1 - o) tanh c = h - h o); the backward loop is then 7 calls a step;
- every history but h is recycled when the cache dies, unless something still holds it
  (the generated kernel's pool and rules).
The same API as the generated module (forward, backward; PyTorch's parameter names).
"""
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from derive.cells import get_cell  # noqa: E402
from derive.codegen import load_module  # noqa: E402

# the generated kernel's pool of arrays (not part of the computation): the same reuse rules
_GENERATED = load_module(get_cell("lstm"))
_scratch, _recycle, _Cache = _GENERATED._scratch, _GENERATED._recycle, _GENERATED._Cache


_SCALE = (0.5, 0.5, 1.0, 0.5)   # sigmoid(a) = 0.5 tanh(0.5 a) + 0.5; g is a tanh
_SHIFT = (0.5, 0.5, 0.0, 0.5)


def forward(params, x, state0=None):
    x = np.array(x)
    T, B, _ = x.shape
    H = params["weight_hh"].shape[1]
    dtype = x.dtype
    scale = np.repeat(np.array(_SCALE, dtype), H)[:, None]
    w_x, w_h = params["weight_ih"] * scale, params["weight_hh"] * scale
    bias = (params["bias_ih"] + params["bias_hh"])[:, None] * scale
    gates = _scratch((T + 1, 4 * H, B), dtype)   # i, f, g, o (activations, in place)
    h = np.empty((T + 1, H, B), dtype)           # y is a view of it: never pooled
    c, tanh_c, dc_dh = (_scratch((T + 1, H, B), dtype) for _ in range(3))
    coef = _scratch((T + 1, 4 * H, B), dtype)    # d gate pre-activation / d c (i, f, g), / d h (o)
    state0 = state0 or {}
    h[0] = state0["h"].T if "h" in state0 else 0
    c[0] = state0["c"].T if "c" in state0 else 0
    np.matmul(w_x, x.transpose(0, 2, 1), out=gates[1:])
    gates[1:] += bias
    products, ig = np.empty((4 * H, B), dtype), np.empty((H, B), dtype)
    gate_scale = np.array(_SCALE, dtype)[:, None, None]
    gate_shift = np.array(_SHIFT, dtype)[:, None, None]
    for t in range(1, T + 1):
        np.matmul(w_h, h[t - 1], out=products)
        a = gates[t]
        a += products
        np.tanh(a, out=a)
        a4 = a.reshape(4, H, B)
        a4 *= gate_scale
        a4 += gate_shift
        i, f, g, o = a4
        np.multiply(g, i, out=ig)
        np.multiply(c[t - 1], f, out=c[t])
        c[t] += ig
        np.tanh(c[t], out=tanh_c[t])
        np.multiply(o, tanh_c[t], out=h[t])
        k_i, k_f, k_g, k_o = coef[t].reshape(4, H, B)
        np.multiply(ig, i, out=k_i)
        np.subtract(ig, k_i, out=k_i)            # i (1 - i) g
        np.multiply(f, f, out=k_f)
        np.subtract(f, k_f, out=k_f)
        k_f *= c[t - 1]                          # f (1 - f) c[t-1]
        np.multiply(ig, g, out=k_g)
        np.subtract(i, k_g, out=k_g)             # i (1 - g^2)
        np.multiply(h[t], o, out=k_o)
        np.subtract(h[t], k_o, out=k_o)          # o (1 - o) tanh c
        np.multiply(h[t], tanh_c[t], out=dc_dh[t])
        np.subtract(o, dc_dh[t], out=dc_dh[t])   # o (1 - tanh^2 c)
    cache = _Cache(x=x, gates=gates, h=h, c=c, tanh_c=tanh_c, coef=coef, dc_dh=dc_dh,
                   _owned=(gates, c, tanh_c, coef, dc_dh))
    y = h[1:].transpose(0, 2, 1)
    y.flags.writeable = False
    return y, {"h": h[T].T.copy(), "c": c[T].T.copy()}, cache


def backward(params, cache, dy, dstateT=None):
    x, gates, h, coef, dc_dh = (cache[n] for n in ("x", "gates", "h", "coef", "dc_dh"))
    T, B, I = x.shape
    H = h.shape[1]
    dtype = x.dtype
    f = gates[:, H:2 * H]
    w_h_T = np.ascontiguousarray(params["weight_hh"].T)
    delta = _scratch((T + 1, 4 * H, B), dtype)   # of the gate pre-activations
    dh, dc, tmp = (np.empty((H, B), dtype) for _ in range(3))
    dstateT = dstateT or {}
    for t in range(T, 0, -1):
        if t < T:
            np.matmul(w_h_T, delta[t + 1], out=dh)
            np.multiply(dc, f[t + 1], out=dc)
        else:
            dh[...] = dstateT["h"].T if "h" in dstateT else 0
            dc[...] = dstateT["c"].T if "c" in dstateT else 0
        np.add(dh, dy[t - 1].T, out=dh)
        np.multiply(dc_dh[t], dh, out=tmp)
        dc += tmp
        np.multiply(coef[t, :3 * H].reshape(3, H, B), dc, out=delta[t, :3 * H].reshape(3, H, B))
        np.multiply(coef[t, 3 * H:], dh, out=delta[t, 3 * H:])
    # layout changes once per call, as whole-block copies: steps x batch become one axis
    stacked = _scratch((4 * H, T, B), dtype)
    np.copyto(stacked, delta[1:].transpose(1, 0, 2))
    stacked2 = stacked.reshape(4 * H, T * B)
    h_prev = _scratch((T, B, H), dtype)
    np.copyto(h_prev, h[:-1].transpose(0, 2, 1))
    db = stacked2.sum(1)
    dparams = {"weight_ih": stacked2 @ x.reshape(T * B, I),
               "weight_hh": stacked2 @ h_prev.reshape(T * B, H),
               "bias_ih": db, "bias_hh": db.copy()}
    dx = (stacked2.T @ params["weight_ih"]).reshape(T, B, I)
    dstate0 = {"h": (w_h_T @ delta[1]).T.copy(), "c": (dc * f[1]).T.copy()}
    _recycle(delta, stacked, h_prev)
    return dparams, dx, dstate0
