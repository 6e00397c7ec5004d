"""The numeric trace against two independent oracles: the generated NumPy kernel
(derive/codegen.py) and central finite differences of the trace's own forward pass."""
import json

import numpy as np
import pytest

from bptt import main
from derive import cell_names, get_cell
from derive.codegen import load_module
from derive.derivation import derive
from derive.trace import forward_values, loss, trace

from user_cells import USER_CELLS

CELLS = sorted({get_cell(name).name for name in cell_names()}) + list(USER_CELLS)


def cell_by_name(name: str):
    return USER_CELLS[name]() if name in USER_CELLS else get_cell(name)
SIZES = dict(steps=3, hidden=2, inputs=3)


def example(name: str):
    cell = cell_by_name(name)
    rng = np.random.default_rng(7)
    state0 = {s: np.round(rng.uniform(-1, 1, SIZES["hidden"]), 1) for s in cell.state}
    return cell, trace(cell, seed=3, state0=state0, **SIZES)


def packed(cell, params):
    """The trace's per-equation parameters in the kernel's packed layout."""
    stacked = {m for members in cell.stacks.values() for m in members}
    out = {name: np.concatenate([params[m] for m in members])
           for name, members in cell.stacks.items()}
    out.update({n: v for n, v in params.items() if n not in stacked})
    return out


@pytest.mark.parametrize("name", CELLS)
def test_trace_agrees_with_generated_kernel(name):
    cell, tr = example(name)
    kernel = load_module(cell)
    params = packed(cell, tr.params)
    x = np.stack([tr.values.table[("x", k)] for k in range(1, tr.steps + 1)])[:, None, :]
    state0 = {s: tr.values.table[(s, 0)][None, :] for s in cell.state}
    y, stateT, cache = kernel.forward(params, x, state0)
    for k in range(1, tr.steps + 1):
        np.testing.assert_allclose(tr.values.table[(cell.output, k)], y[k - 1, 0], rtol=1e-12)
    for s in cell.state:
        np.testing.assert_allclose(tr.values.table[(s, tr.steps)], stateT[s][0], rtol=1e-12)
    dy = np.stack([tr.deltas[k] for k in range(1, tr.steps + 1)])[:, None, :]
    dparams, dx, dstate0 = kernel.backward(params, cache, dy)
    per_equation = kernel.unpack(dparams)
    for p in cell.params:
        np.testing.assert_allclose(tr.gradients[p], per_equation[p], rtol=1e-10, atol=1e-13)
    for k in range(1, tr.steps + 1):
        np.testing.assert_allclose(tr.adjoint("x", k), dx[k - 1, 0], rtol=1e-10, atol=1e-13)
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
                                  ["trace", "lstm", "--notation", "graves"]])
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
