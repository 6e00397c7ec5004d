"""The numeric trace against two independent oracles: the generated NumPy kernel
(derive/codegen/) and central finite differences of the trace's own forward pass; for every
built-in cell, the user cells and the kernel tests' cells (a loss of its own, several inputs,
sizes other than H and I)."""
import json

import numpy as np
import pytest

from bptt import main
from derive import cell_names, get_cell
from derive.codegen import load_module
from derive.derivation import derive
from derive import trace as trace_module
from derive.ir import CellError
from derive.trace import format_json, format_text, forward_values, loss, trace

import kernel_cells
from user_cells import USER_CELLS

KERNEL_CELLS = {f"kernel-{name}": c for name, c in kernel_cells.USER.items()}
CELLS = sorted({get_cell(name).name for name in cell_names()}) + list(USER_CELLS) + list(
    KERNEL_CELLS)


def cell_by_name(name: str):
    if name in KERNEL_CELLS:
        return KERNEL_CELLS[name]
    return USER_CELLS[name]() if name in USER_CELLS else get_cell(name)


SIZES = dict(steps=3, hidden=2, inputs=3)
OTHER = 4  #: every other size name (P, K, O): unlike H and I, so that a mix-up fails


def example(name: str):
    cell = cell_by_name(name)
    sizes = {n: OTHER for n in cell.size_names if n not in ("H", "I")}
    size = {"H": SIZES["hidden"], "I": SIZES["inputs"]} | sizes
    rng = np.random.default_rng(7)
    state0 = {s: np.round(rng.uniform(-1, 1, size[cell.size(s)]), 1) for s in cell.state}
    return cell, trace(cell, seed=3, state0=state0, sizes=sizes, **SIZES)


def packed(cell, params):
    """The trace's per-equation parameters in the kernel's packed layout."""
    stacked = {m for members in cell.stacks.values() for m in members}
    out = {name: np.concatenate([params[m] for m in members])
           for name, members in cell.stacks.items()}
    out.update({n: v for n, v in params.items() if n not in stacked})
    return out


@pytest.mark.parametrize("name", CELLS)
def test_trace_agrees_with_generated_kernel(name):
    """A loss cell's kernel: forward(params, x, z, state0) -> (loss, stateT, cache) and
    backward(params, cache) (the seed dL/dloss^t = 1); any other: forward -> (y, ...) and
    backward(params, cache, dy) with dy = Delta. dx is a tuple when several inputs get one."""
    cell, tr = example(name)
    kernel = load_module(cell)
    params = packed(cell, tr.params)
    steps = range(1, tr.steps + 1)
    inputs = [np.stack([tr.values.table[(n, k)] for k in steps])[:, None, :]
              for n in cell.inputs]
    state0 = {s: tr.values.table[(s, 0)][None, :] for s in cell.state}
    out, stateT, cache = kernel.forward(params, *inputs, state0)
    if cell.loss:
        assert not tr.deltas
        assert out == pytest.approx(tr.loss, rel=1e-12, abs=1e-14)
        dparams, dx, dstate0 = kernel.backward(params, cache)
    else:
        for k in steps:
            np.testing.assert_allclose(tr.values.table[(cell.output, k)], out[k - 1, 0],
                                       rtol=1e-12)
        dy = np.stack([tr.deltas[k] for k in steps])[:, None, :]
        dparams, dx, dstate0 = kernel.backward(params, cache, dy)
    for s in cell.state:
        np.testing.assert_allclose(tr.values.table[(s, tr.steps)], stateT[s][0], rtol=1e-12)
    per_equation = kernel.unpack(dparams)
    for p in cell.params:
        np.testing.assert_allclose(tr.gradients[p], per_equation[p], rtol=1e-10, atol=1e-13)
    free = [n for n in cell.inputs if n not in cell.targets]
    for n, d in zip(free, dx if len(free) > 1 else (dx,), strict=True):
        for k in steps:
            np.testing.assert_allclose(tr.adjoint(n, k), d[k - 1, 0], rtol=1e-10, atol=1e-13)
    for s in cell.state:
        np.testing.assert_allclose(tr.adjoint(s, 0), dstate0[s][0], rtol=1e-10, atol=1e-13)


@pytest.mark.parametrize("name", CELLS)
def test_every_adjoint_at_every_step_is_the_finite_difference(name):
    """Nudge a quantity right after it is computed at step k: dL/dq^k by central differences
    must equal the sum of the adjoint's terms in the trace."""
    cell, tr = example(name)
    xs = {n: np.stack([tr.values.table[(n, k)] for k in range(1, tr.steps + 1)])
          for n in cell.inputs}
    state0 = {s: tr.values.table[(s, 0)] for s in cell.state}
    eps = 1e-6
    checked = 0
    for eq in derive(cell).adjoints:
        name_q = tr.values.of_adjoint[eq.name]
        for k in range(1, tr.steps + 1):
            size = tr.values.size(name_q)
            numeric = np.zeros(size)
            for j in range(size):
                bump = np.zeros(size)
                bump[j] = eps

                def at(sign):
                    if name_q in cell.inputs:
                        moved = {n: v.copy() for n, v in xs.items()}
                        moved[name_q][k - 1] += sign * bump
                        vals = forward_values(cell, tr.params, moved, state0, tr.sizes)
                    else:
                        vals = forward_values(cell, tr.params, xs, state0, tr.sizes,
                                              nudge={(name_q, k): sign * bump})
                    return loss(vals, tr.deltas)
                numeric[j] = (at(1) - at(-1)) / (2 * eps)
            np.testing.assert_allclose(tr.adjoint(name_q, k), numeric, rtol=1e-6, atol=1e-9,
                                       err_msg=f"{eq.name} at step {k}")
            checked += 1
    assert checked == len(derive(cell).adjoints) * tr.steps


def test_terms_name_their_step_and_the_boundary():
    _, tr = example("graves-lstm")
    at_T = next(s for s in tr.backward_steps if s.equation.name == "delta_c" and s.step == 3)
    assert [term.from_step for term in at_T.terms].count(4) == 3  # f^{T+1} dc^{T+1}, p_i, p_f
    assert sum(term.boundary for term in at_T.terms) == 3
    assert all(not term.value.any() for term in at_T.terms if term.boundary)
    at_1 = next(s for s in tr.backward_steps if s.equation.name == "delta_c" and s.step == 1)
    assert [term.source for term in at_1.terms].count("step t+1 = 2") == 3
    np.testing.assert_allclose(at_1.value, sum(term.value for term in at_1.terms))


def test_trace_command_formats(tmp_path, capsys):
    assert main(["trace", "rnn"]) == 0
    text = capsys.readouterr().out
    assert "Backward pass, t = 3 .. 1" in text and "from step t+1 = 3" in text
    assert "boundary, 0" in text
    out = tmp_path / "gru.json"
    assert main(["trace", "gru", "--format", "json", "--hidden", "2", "-o", str(out)]) == 0
    data = json.loads(out.read_text())
    tr = trace(get_cell("gru"), hidden=2)
    assert data["loss"] == pytest.approx(tr.loss, rel=1e-12)
    assert data["backward"][0]["adjoint"] == "delta_h" and data["backward"][0]["step"] == 3
    assert main(["trace", "graves-lstm", "--format", "md", "--notation", "graves"]) == 0
    assert r"\epsilon_{s}^{2}" in capsys.readouterr().out


@pytest.mark.parametrize("argv", [["trace", "rnn", "--steps", "0"], ["trace", "nope"],
                                  ["trace", "rnn", "--format", "html"],
                                  ["trace", "gru", "--notation", "graves"]])
def test_trace_command_bad_input(argv, capsys, tmp_path):
    assert main([*argv, "-o", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("bptt: error:") and err.count("\n") == 1
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("name", CELLS)
def test_each_term_uses_the_adjoint_computed_at_its_step(name):
    cell, tr = example(name)
    for done in tr.backward_steps + tr.initial:
        for term in done.terms:
            if term.from_step is None:
                continue
            adjoint_of = tr.values.of_adjoint[str(term.read.base)]
            expected = (np.zeros_like(term.read_value) if term.boundary
                        else tr.adjoint(adjoint_of, term.from_step))
            np.testing.assert_array_equal(term.read_value, expected)
            assert term.from_step in (done.step, done.step + 1)


@pytest.mark.parametrize("name", ["elman-softmax", "kernel-elman", "kernel-regression"])
def test_a_loss_cell_is_seeded_by_its_loss_not_by_delta(name):
    cell, tr = example(name)
    assert cell.loss and not tr.deltas
    assert tr.loss == pytest.approx(sum(tr.values.table[(cell.loss, k)].item()
                                        for k in range(1, tr.steps + 1)), rel=1e-15)
    seeded = [term for done in tr.backward_steps for term in done.terms if term.read is None]
    assert seeded and all(term.source.startswith("the loss at this step") for term in seeded)
    text = format_text(tr)
    assert f"Loss L = sum over t of {cell.loss}^t" in text and "Δ" not in text
    assert "Delta" not in json.loads(format_json(tr))["L"]


def test_cross_entropy_targets_are_one_hot_as_the_derivation_assumes(monkeypatch):
    cell, tr = example("elman-softmax")
    assert derive(cell).assumptions == ("UnitSum(z[t]) = 1",)
    z = np.stack([tr.values.table[("z", k)] for k in range(1, tr.steps + 1)])
    assert z.shape == (tr.steps, OTHER) and set(np.unique(z)) == {0.0, 1.0}
    np.testing.assert_array_equal(z.sum(axis=1), 1.0)
    assert "drawn one-hot" in format_text(tr) and "UnitSum(z[t]) = 1" in format_text(tr)
    # without the row of the table, the targets would break the assumption: refused
    monkeypatch.setattr(trace_module, "TARGET_DRAWS", {})
    with pytest.raises(CellError, match=r"assumes UnitSum\(z\[t\]\) = 1"):
        trace(cell, sizes={"K": 3})


def test_every_size_name_gets_a_value():
    tr = trace(get_cell("lstmp"), hidden=3, inputs=2, sizes={"P": 2})
    assert {n: tr.sizes[n] for n in ("I", "H", "P")} == {"I": 2, "H": 3, "P": 2}
    assert tr.params["W_hr"].shape == (2, 3) and tr.values.table[("h", 1)].shape == (2,)
    assert tr.values.table[("c", 1)].shape == (3,)
    assert trace(get_cell("elman-softmax")).sizes["K"] == 1    # other names default to 1
    with pytest.raises(CellError, match="has no size Q"):
        trace(get_cell("lstmp"), sizes={"Q": 2})
    with pytest.raises(CellError, match="positive integer"):
        trace(get_cell("lstmp"), sizes={"P": 0})


def test_trace_command_sizes(capsys):
    assert main(["trace", "lstmp", "--size", "P=2", "--hidden", "3"]) == 0
    assert "I = 1, H = 3, P = 2" in capsys.readouterr().out
    assert main(["trace", "elman-softmax", "--size", "K=3", "--format", "md"]) == 0
    out = capsys.readouterr().out
    assert r"The loss is $L = \sum_t \mathrm{loss}^{t}$" in out and r"\Delta" not in out
    for bad in (["--size", "Q=2"], ["--size", "P=9"], ["--size", "P"]):
        assert main(["trace", "lstmp", *bad]) == 2
        err = capsys.readouterr().err
        assert err.startswith("bptt: error:") and err.count("\n") == 1
