"""The benchmark of every target against what a user writes runs (its smoke mode: lstm at
tiny sizes, one round; about 10 s, mostly imports and jax compilation)."""
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_bench_cells_quick_runs_every_row():
    pytest.importorskip("torch")
    pytest.importorskip("jax")
    out = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "bench_cells.py"), "--quick"],
                         capture_output=True, text=True, timeout=120, check=True).stdout
    rows = [line for line in out.splitlines() if line.startswith("| lstm |")]
    names = [r.split("|")[4].strip() for r in rows]
    for want in ("NumPy, generated", "torch, generated", "torch.nn.LSTM (fused)",
                 "torch, user's autograd loop", "jax, generated",
                 "jax, user's lax.scan, jit(grad)", "GEMM only (NumPy)"):
        assert want in names, out
    assert "failed" not in out, out


def test_lstm_by_hand_equals_the_generated_kernel():
    """bench_lstm's hand-written ceiling computes the same forward and gradients as the
    generated kernel (itself checked against finite differences and torch)."""
    import numpy as np
    sys.path.insert(0, str(ROOT / "benchmarks"))
    import lstm_by_hand
    from derive.cells import get_cell
    from derive.codegen import load_module
    kernel = load_module(get_cell("lstm"))
    T, B, I, H = 4, 3, 5, 6
    rng = np.random.default_rng(0)
    params = kernel.init_params(I, H, seed=1)
    x, dy = rng.standard_normal((T, B, I)), rng.standard_normal((T, B, H))
    state0 = {s: rng.standard_normal((B, H)) for s in ("h", "c")}
    dstateT = {s: rng.standard_normal((B, H)) for s in ("h", "c")}
    for _ in range(2):   # the second call reuses the first call's recycled arrays
        y, stateT, cache = kernel.forward(params, x, state0)
        y2, stateT2, cache2 = lstm_by_hand.forward(params, x, state0)
        np.testing.assert_allclose(y2, y, rtol=1e-12, atol=1e-14)
        for s in ("h", "c"):
            np.testing.assert_allclose(stateT2[s], stateT[s], rtol=1e-12, atol=1e-14)
        want = kernel.backward(params, cache, dy, dstateT)
        got = lstm_by_hand.backward(params, cache2, dy, dstateT)
        for name in params:
            np.testing.assert_allclose(got[0][name], want[0][name], rtol=1e-11, atol=1e-13)
        np.testing.assert_allclose(got[1], want[1], rtol=1e-11, atol=1e-13)
        for s in ("h", "c"):
            np.testing.assert_allclose(got[2][s], want[2][s], rtol=1e-11, atol=1e-13)
        del cache2
