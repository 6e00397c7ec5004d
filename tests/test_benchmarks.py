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
