"""The unrolled check (verify/unrolled.py) and the unrolled IR (derive/unroll.py).

Oracles: PyTorch autograd and high-precision central differences for the unrolled derivative
the check compares against; hand-written mutations of the derived equations for its power to
reject; the textbook boundary facts for the unrolled backward pass.
"""
from __future__ import annotations

import dataclasses
import doctest
import random

import mpmath
import pytest
import sympy as sp

import derive.unroll as unroll_module
import verify.unrolled as unrolled_module
from derive import (CellBuilder, CellError, Equation, MatVec, MatVecT, derive, get_cell,
                    sigmoid, t, tanh, through_outputs)

from derive.unroll import UnrollError, unroll_backward, unroll_forward, unroll_gradients
from verify.unrolled import (MAX_HIDDEN, MAX_INPUTS, MAX_STEPS, MIN_POINTS, VerifyError, _Graph,
                             check_unrolled)

BUILTINS = ["graves-lstm", "gru", "lstm", "rnn"]  # the zoo: tests/test_zoo.py


def minimal_gated_unit():
    """A user's own cell (Zhou et al. 2016 MGU): one gate, reset inside a matrix product."""
    c = CellBuilder("mgu", "test: minimal gated unit")
    x, h = c.x, c.quantity("h")
    W_f, U_f, b_f = c.weight("W_f", "I"), c.weight("U_f"), c.vector("b_f")
    W_n, U_n, b_n = c.weight("W_n", "I"), c.weight("U_n"), c.vector("b_n")
    f = c.let("f", sigmoid(c.let("fbar", W_f @ x[t] + U_f @ h[t - 1] + b_f)[t]))
    n = c.let("n", tanh(W_n @ x[t] + U_n @ (f[t] * h[t - 1]) + b_n))
    c.let("h", (1 - f[t]) * h[t - 1] + f[t] * n[t])
    return c.build("h")


def polynomial_cell():
    """No transcendental function anywhere: a quadratic recurrence with an elementwise weight."""
    c = CellBuilder("quadratic", "test: polynomial cell")
    x, s = c.x, c.quantity("s")
    W, U, p = c.weight("W", "I"), c.weight("U"), c.vector("p")
    a = c.let("a", W @ x[t] + U @ s[t - 1])
    c.let("s", p * a[t] * a[t] - s[t - 1])
    return c.build("s")


def rows_by_where(report):
    return {(row.quantity, row.step): row for row in report.rows}


# --- the built-in cells and a user's cells pass, every quantity at every step ---------------

@pytest.mark.parametrize("name", BUILTINS)
def test_builtin_cell_agrees_at_every_step(name):
    cell = get_cell(name)
    report = check_unrolled(cell, steps=3)
    assert report.ok, report.format()
    assert {row.method for row in report.rows} == {"exact"}
    where = rows_by_where(report)
    backward = derive(cell)
    for eq in backward.adjoints + backward.intermediate:
        assert {(eq.name, k) for k in (1, 2, 3)} <= set(where)        # boundary t = 3 included
    assert {(f"delta_{s}", 0) for s in cell.state} <= set(where)      # the initial state
    assert {(f"delta_{p}", None) for p in cell.params} <= set(where)  # every gradient
    assert {("delta_x", k) for k in (1, 2, 3)} <= set(where)          # dL/dx^t


@pytest.mark.parametrize("cell", [minimal_gated_unit(), polynomial_cell()], ids=lambda c: c.name)
def test_custom_cell_agrees(cell):
    report = check_unrolled(cell, steps=4, hidden=3, inputs=2)
    assert report.ok, report.format()
    assert {row.method for row in report.rows} == {"exact"}
    assert len(report.rows) == 4 * len(derive(cell).adjoints + derive(cell).intermediate) \
        + len(cell.state) + len(cell.params)


@pytest.mark.parametrize("hidden, inputs", [(3, 2), (2, 3), (1, 4)])
def test_rectangular_input_weights(hidden, inputs):
    report = check_unrolled("graves-lstm", steps=2, hidden=hidden, inputs=inputs)
    assert report.ok, report.format()


@pytest.mark.parametrize("name", ["lstm", "gru", "graves-lstm"])
def test_rewrite_through_outputs_needs_points_and_passes(name):
    # sigma'(ibar) = i (1 - i) holds only on the forward pass: not a symbolic identity of the
    # free symbols, so those rows are decided at points, and must agree there.
    cell = get_cell(name)
    rewritten = derive(cell).map(lambda rhs: through_outputs(rhs, cell))
    report = check_unrolled(cell, steps=3, backward=rewritten)
    assert report.ok, report.format()
    at_points = [row for row in report.rows if row.method != "exact"]
    assert at_points and all(row.method == f"{MIN_POINTS} points, 50 digits" for row in at_points)
    assert max(row.max_rel for row in at_points) < 1e-45


# --- the unrolled derivative itself, against outside oracles ----------------------------------

TORCH_CELLS = {"rnn": "RNNCell", "lstm": "LSTMCell", "gru": "GRUCell"}


@pytest.mark.parametrize("name", sorted(TORCH_CELLS))
def test_unrolled_derivative_matches_pytorch_autograd(name):
    torch = pytest.importorskip("torch")
    cell, steps, H, I = get_cell(name), 3, 3, 2
    graph = _Graph(cell, steps, {"H": H, "I": I})
    point = graph.at_point(random.Random(7))
    s = graph.scalars

    def value(sym):
        return float(point.values[sym])

    def matrix(param):
        rows, cols = s.shape(param)[0], (s.shape(param) + (1,))[1]
        return [[value(s.entry(param, (j, m) if len(s.shape(param)) == 2 else (j,)))
                 for m in range(cols)] for j in range(rows)]

    module = getattr(torch.nn, TORCH_CELLS[name])(I, H, dtype=torch.float64)
    with torch.no_grad():
        for stacked, per_gate in cell.stacks.items():
            tensor = torch.tensor([row for p in per_gate for row in matrix(p)], dtype=torch.float64)
            getattr(module, stacked).copy_(tensor.reshape(getattr(module, stacked).shape))

    def vector(name, k, n):
        return torch.tensor([value(s.value(name, k, j)) for j in range(n)], dtype=torch.float64,
                            requires_grad=True)

    xs = [vector("x", k, I) for k in range(1, steps + 1)]
    state0 = [vector(q, 0, H) for q in cell.state]
    carried, outputs, loss = tuple(state0), [], 0
    for k, x in enumerate(xs, start=1):
        new = module(x, carried if len(carried) > 1 else carried[0])
        carried = new if isinstance(new, tuple) else (new,)
        for v in carried:
            v.retain_grad()
        outputs.append(carried)
        u = torch.tensor([value(s.upstream(k, j)) for j in range(H)], dtype=torch.float64)
        loss = loss + (u * carried[0]).sum()
    loss.backward()

    def close(torch_values, symbols):
        ours = [float(point.total.get(sym, 0)) for sym in symbols]
        assert torch_values == pytest.approx(ours, rel=1e-10, abs=1e-12)

    for k, carried_k in enumerate(outputs, start=1):       # values of the state
        for q, v in zip(cell.state, carried_k):
            syms = [s.value(q, k, j) for j in range(H)]
            assert v.detach().tolist() == pytest.approx([value(y) for y in syms], rel=1e-12)
        # adjoint of the output h^t (LSTMCell's fused kernel computes h from its own copy of
        # c^t, so the grad of the returned c^t misses the path through h^t: not compared)
        close(carried_k[0].grad.tolist(), [s.value(cell.output, k, j) for j in range(H)])
    for q, v in zip(cell.state, state0):                   # the initial state
        close(v.grad.tolist(), [s.value(q, 0, j) for j in range(H)])
    for k, x in enumerate(xs, start=1):                    # dL/dx^t
        close(x.grad.tolist(), [s.value("x", k, m) for m in range(I)])
    for stacked, per_gate in cell.stacks.items():          # the parameters
        grads = getattr(module, stacked).grad.reshape(-1).tolist()
        shape = s.shape(per_gate[0])
        entries = [(j, m) for j in range(shape[0]) for m in range(shape[1])] \
            if len(shape) == 2 else [(j,) for j in range(shape[0])]
        close(grads, [s.entry(p, ix) for p in per_gate for ix in entries])


def test_unrolled_derivative_matches_central_differences_of_a_hand_written_loss():
    # The minimal gated unit written out by hand with mpmath; the loss is perturbed at the
    # parameters, the inputs, the initial state and at a gate value where it is written
    # (everything downstream recomputed): the meaning of the unrolled adjoint.
    cell, steps, H, I = minimal_gated_unit(), 3, 2, 2
    graph = _Graph(cell, steps, {"H": H, "I": I})
    point = graph.at_point(random.Random(3))
    s = graph.scalars

    def loss(v, gate_bump=(None, None, 0)):
        W = lambda p, *ix: v[f"{p}[{','.join(map(str, ix))}]"]
        sig = lambda a: 1 / (1 + mpmath.exp(-a))
        h, total = [v[f"h^0_{j}"] for j in range(H)], 0
        for k in range(1, steps + 1):
            x = [v[f"x^{k}_{m}"] for m in range(I)]
            f = [sig(sum(W("W_f", j, m) * x[m] for m in range(I))
                     + sum(W("U_f", j, m) * h[m] for m in range(H)) + W("b_f", j))
                 + (gate_bump[2] if gate_bump[:2] == (k, j) else 0) for j in range(H)]
            n = [mpmath.tanh(sum(W("W_n", j, m) * x[m] for m in range(I))
                             + sum(W("U_n", j, m) * f[m] * h[m] for m in range(H)) + W("b_n", j))
                 for j in range(H)]
            h = [(1 - f[j]) * h[j] + f[j] * n[j] for j in range(H)]
            total += sum(v[f"u^{k}_{j}"] * h[j] for j in range(H))
        return total

    with mpmath.workdps(70):
        values = {str(sym): mpmath.mpf(str(v)) for sym, v in point.values.items()}
        eps = mpmath.mpf("1e-20")

        def agrees(loss_at, symbol):  # central difference, error ~ eps^2
            slope = (loss_at(eps) - loss_at(-eps)) / (2 * eps)
            return abs(slope - mpmath.mpf(str(point.total[symbol]))) < mpmath.mpf("1e-30")

        leaves = [s.entry("W_f", (1, 0)), s.entry("U_n", (0, 1)), s.entry("b_n", (1,)),
                  s.entry("U_f", (1, 1)), s.value("x", 2, 1), s.value("h", 0, 0),
                  s.value("h", 0, 1)]
        for leaf in leaves:
            assert agrees(lambda e: loss({**values, str(leaf): values[str(leaf)] + e}), leaf)
        for k, j in [(1, 0), (2, 1), (3, 0)]:
            assert agrees(lambda e: loss(values, (k, j, e)), s.value("f", k, j))


# --- mutations: wrong recurrences are caught, named with their step ----------------------------

def mutate(backward, name, rewrite):
    return dataclasses.replace(backward, adjoints=tuple(
        Equation(eq.lhs, rewrite(eq.rhs)) if eq.name == name else eq for eq in backward.adjoints))


GRAVES = get_cell("graves-lstm")
f, delta_c, delta_ibar, delta_zbar = (sp.IndexedBase(n) for n in
                                      ("f", "delta_c", "delta_ibar", "delta_zbar"))
p_i, R_z = GRAVES.params["p_i"].symbol, GRAVES.params["R_z"].symbol

MUTATIONS = {
    # f^{t+1} (.) dc^{t+1} dropped from the state's adjoint: right only at the boundary t = T
    "forget term dropped": ("delta_c", lambda rhs: rhs - f[t + 1] * delta_c[t + 1], {2, 1}),
    # the input gate's peephole term taken at t instead of t+1: wrong at every step
    "peephole at t": ("delta_c", lambda rhs: rhs.xreplace({p_i * delta_ibar[t + 1]:
                                                           p_i * delta_ibar[t]}), {3, 2, 1}),
    # R_z instead of R_z^T: wrong wherever delta_zbar^{t+1} is not 0
    "R not transposed": ("delta_y", lambda rhs: rhs.xreplace(
        {MatVecT(R_z, delta_zbar[t + 1]): MatVec(R_z, delta_zbar[t + 1])}), {2, 1}),
}


@pytest.mark.parametrize("mutation", sorted(MUTATIONS))
def test_mutated_recurrence_is_caught_at_its_steps(mutation):
    name, rewrite, wrong_steps = MUTATIONS[mutation]
    backward = mutate(derive(GRAVES), name, rewrite)
    assert backward != derive(GRAVES)
    report = check_unrolled(GRAVES, steps=3, backward=backward)
    assert not report.ok
    assert {(row.quantity, row.step) for row in report.failures} == \
        {(name, k) for k in wrong_steps}
    for row in report.failures:
        assert row.method == f"{MIN_POINTS} points, 50 digits" and row.max_rel > 1e-6
        assert row.message.startswith(f"{name} at t={row.step}: derived recurrence differs "
                                      "from the unrolled derivative by ")
    text = report.format()
    assert f"{len(wrong_steps)} of {len(report.rows)} rows disagree:" in text
    assert f"{name} at t={max(wrong_steps)}: derived recurrence differs" in text


def test_mutated_gradient_and_initial_state_are_caught():
    backward = derive(GRAVES)
    y = sp.IndexedBase("y")
    wrong = dataclasses.replace(
        backward,
        gradients=tuple(Equation(eq.lhs, eq.rhs.xreplace({y[t - 1]: y[t]}))  # off by one in t
                        if eq.name == "delta_R_z" else eq for eq in backward.gradients),
        initial=tuple(Equation(eq.lhs, eq.rhs - p_i * delta_ibar[1])
                      if eq.name == "delta_c" else eq for eq in backward.initial))
    report = check_unrolled(GRAVES, steps=3, backward=wrong)
    assert {row.where for row in report.failures} == {"delta_R_z", "delta_c at t=0"}
    assert rows_by_where(report)[("delta_c", 0)].kind == "initial adjoint"


def test_reading_beyond_the_last_step_is_a_failure_not_a_crash():
    backward = mutate(derive(GRAVES), "delta_c", lambda rhs: rhs + f[t + 1] * delta_c[t])
    report = check_unrolled(GRAVES, steps=3, backward=backward)
    assert {row.where for row in report.failures} == {f"delta_c at t={k}" for k in (1, 2, 3)}
    last = rows_by_where(report)[("delta_c", 3)]
    assert last.message == ("delta_c at t=3: derived recurrence cannot be evaluated: "
                            "reads f[4], but f[4] is outside the 3-step unrolling")


def test_wrong_shape_is_named():
    # W^T turned into W in dL/dx: with I = 3 > H = 2 the product reads a unit ibar lacks
    lstm = get_cell("lstm")
    W_ii = lstm.params["W_ii"].symbol
    delta_ibar = sp.IndexedBase("delta_ibar")
    backward = mutate(derive(lstm), "delta_x", lambda rhs: rhs.xreplace(
        {MatVecT(W_ii, delta_ibar[t]): MatVec(W_ii, delta_ibar[t])}))
    report = check_unrolled(lstm, steps=2, hidden=2, inputs=3, backward=backward)
    assert {row.where for row in report.failures} == {"delta_x at t=2", "delta_x at t=1"}
    assert report.failures[0].message == (
        "delta_x at t=2: derived recurrence cannot be evaluated: "
        "reads delta_ibar[2], but ibar has 2 units, unit 2 is read")


def test_custom_cell_mutation_is_caught():
    cell = minimal_gated_unit()
    U_n, fq = cell.params["U_n"].symbol, sp.IndexedBase("f")
    backward = derive(cell)
    # the reset gate's factor f^{t+1} forgotten outside W^T in dL/dh^t through U_n
    (term,) = [a for a in backward.adjoint_of("h").rhs.args if a.has(U_n)]
    assert fq[t + 1] in term.args
    without_gate = sp.Mul(*(a for a in term.args if a != fq[t + 1]))
    backward = mutate(backward, "delta_h", lambda rhs: rhs.xreplace({term: without_gate}))
    report = check_unrolled(cell, steps=3, backward=backward)
    assert {row.where for row in report.failures} == {"delta_h at t=2", "delta_h at t=1"}


def test_missing_equations_are_failures():
    backward = derive(GRAVES)
    incomplete = dataclasses.replace(
        backward, adjoints=tuple(eq for eq in backward.adjoints if eq.name != "delta_x"),
        initial=backward.initial[:1], gradients=backward.gradients[1:])
    report = check_unrolled(GRAVES, steps=2, backward=incomplete)
    assert {row.message for row in report.failures} == {
        "delta_x at t=2: no derived recurrence for it in the backward pass",
        "delta_x at t=1: no derived recurrence for it in the backward pass",
        "delta_c at t=0: no derived initial adjoint for it in the backward pass",
        "delta_W_z: no derived gradient for it in the backward pass"}


# --- bad input ----------------------------------------------------------------------------------

@pytest.mark.parametrize("kwargs, words", [
    ({"steps": MAX_STEPS + 1}, f"steps={MAX_STEPS + 1} is above the limit of {MAX_STEPS}"),
    ({"hidden": MAX_HIDDEN + 1}, f"hidden={MAX_HIDDEN + 1} is above the limit"),
    ({"inputs": MAX_INPUTS + 1}, f"inputs={MAX_INPUTS + 1} is above the limit"),
    ({"steps": 0}, "steps must be an integer >= 1, got 0"),
    ({"hidden": 2.0}, "hidden must be an integer >= 1, got 2.0"),
    ({"points": 2}, f"points must be an integer >= {MIN_POINTS}, got 2"),
    ({"backward": derive(get_cell("lstm"))}, "the backward pass is of cell 'lstm', not of 'rnn'"),
])
def test_bad_requests_raise_verify_error(kwargs, words):
    with pytest.raises(VerifyError, match=words) as info:
        check_unrolled("rnn", **kwargs)
    assert "\n" not in str(info.value)


def test_unknown_cell_name():
    with pytest.raises(CellError, match="unknown cell 'lsmt'"):
        check_unrolled("lsmt")


def test_format_is_one_line_per_row():
    report = check_unrolled("rnn", steps=2)
    lines = report.format().splitlines()
    assert lines[0] == "rnn unrolled over T=2 steps, I=2, H=3; L = sum_t u^t . h^t, u symbolic"
    assert lines[1].split() == ["quantity", "t", "method", "result", "max", "abs", "diff", "max",
                                "rel", "diff"]
    assert len(lines) == 2 + len(report.rows) + 2
    assert lines[-2] == f"all {len(report.rows)} rows agree with the unrolled derivative"
    assert lines[-1].startswith("exact: derived - unrolled expands to 0")
    assert lines[2].split()[:4] == ["delta_h", "2", "exact", "ok"]


# --- the unrolled IR ------------------------------------------------------------------------------

def test_unroll_forward_carries_the_state_from_step_to_step():
    cell = get_cell("graves-lstm")
    steps = unroll_forward(cell, 3)
    assert len(steps) == 3
    for k, eqs in enumerate(steps, start=1):
        assert [eq.lhs for eq in eqs] == [sp.IndexedBase(q)[k] for q in cell.quantities]
        reads = {(str(q.base), int(q.indices[0])) for eq in eqs for q in eq.reads()}
        assert {i for _, i in reads} == {k, k - 1}
        assert {name for name, i in reads if i == k - 1} == set(cell.state)   # state only
        assert not any(eq.rhs.has(t) for eq in eqs)
    c, f, i, z = (sp.IndexedBase(n) for n in "cfiz")
    assert steps[0][cell.quantities.index("c")].rhs == z[1] * i[1] + c[0] * f[1]


def test_unroll_backward_applies_the_boundary():
    backward = derive(GRAVES)
    groups = unroll_backward(backward, 3)
    assert len(groups) == 4                             # steps 3, 2, 1, then the initial states
    y, c, o, Delta = (sp.IndexedBase(n) for n in ("y", "c", "o", "Delta"))
    last = {eq.name: eq for eq in groups[0]}
    assert last["delta_y"].rhs == Delta[3]              # nothing comes back from step 4
    assert not last["delta_c"].rhs.has(f[4]) and not last["delta_c"].rhs.has(delta_c[4])
    for eqs in groups:
        for eq in eqs:
            assert not any(int(q.indices[0]) == 4 for q in eq.reads())
            assert not eq.rhs.has(t)
    assert [eq.name for eq in groups[1]] == [eq.name for eq in backward.adjoints]
    assert {eq.name: int(eq.lhs.indices[0]) for eq in groups[1]} == \
        {eq.name: 2 for eq in backward.adjoints}
    assert groups[1][[eq.name for eq in groups[1]].index("delta_c")].rhs.has(f[3] * delta_c[3])
    assert [eq.lhs for eq in groups[-1]] == [sp.IndexedBase("delta_y")[0], delta_c[0]]
    with_folded = unroll_backward(backward, 3, intermediate=True)
    assert [eq.name for eq in with_folded[0]] == \
        [eq.name for eq in backward.adjoints + backward.intermediate]


def test_unroll_backward_single_step():
    groups = unroll_backward(derive(get_cell("rnn")), 1)
    h, hbar, Delta = (sp.IndexedBase(n) for n in ("delta_h", "delta_hbar", "Delta"))
    assert groups[0][0] == Equation(h[1], Delta[1])
    W_hh = get_cell("rnn").params["W_hh"].symbol
    assert groups[1] == [Equation(h[0], MatVecT(W_hh, hbar[1]))]


def test_unroll_gradients_writes_the_sums_out():
    grads = {eq.name: eq.rhs for eq in unroll_gradients(derive(GRAVES), 2)}
    dz, y, c = (sp.IndexedBase(n) for n in ("delta_zbar", "y", "c"))
    assert grads["delta_b_z"] == dz[1] + dz[2]
    assert grads["delta_p_i"] == c[0] * delta_ibar[1] + c[1] * delta_ibar[2]
    assert not any(g.has(sp.Sum) for g in grads.values())


@pytest.mark.parametrize("steps", [0, -1, 1.5, True, "3"])
def test_unroll_rejects_bad_steps(steps):
    with pytest.raises(UnrollError, match="steps must be a positive integer"):
        unroll_forward(get_cell("rnn"), steps)


@pytest.mark.parametrize("module", [unroll_module, unrolled_module])
def test_docstring_examples(module):
    assert doctest.testmod(module).failed == 0


# --- every operation and size of the front end ----------------------------------------------

from front_cells import ZOO, elman, lstmp, regression  # noqa: E402  (cells shared with test_sheets)


@pytest.mark.parametrize("cell", ZOO, ids=lambda c: c.name)
def test_front_end_cells_agree(cell):
    report = check_unrolled(cell, steps=3)
    assert report.ok, report.format()
    assert not _missing_rows(report)


def _missing_rows(report):
    return [row for row in report.rows if row.note]


@pytest.mark.parametrize("cell, hidden, inputs, sizes, expected", [
    (lstmp, None, None, None, {"I": 2, "H": 3, "P": 4}),
    (lstmp, 2, 2, None, {"I": 2, "H": 2, "P": 3}),     # explicit equal sizes are the user's
    (lstmp, None, None, {"P": 1}, {"I": 2, "H": 3, "P": 1}),
    (regression, None, 3, None, {"I": 3, "H": 2, "K": 4}),  # H's default 3 is taken: H < K
    (get_cell("rnn"), None, None, None, {"I": 2, "H": 3}),
])
def test_every_size_name_has_its_own_number_of_units(cell, hidden, inputs, sizes, expected):
    from verify.unrolled import unit_counts
    got = unit_counts(cell, hidden, inputs, sizes)
    assert got == expected and list(got) == list(expected)


def test_sizes_are_distinct_by_default_so_a_misshapen_product_is_caught():
    # delta_c = (W_r^T delta_h) ... with W_r (P x H): written without the transpose, it reads
    # P = 4 columns of a P-vector at H = 3 rows; caught at every step
    W_r = lstmp.params["W_r"].symbol
    delta_h = sp.IndexedBase("delta_h")
    backward = mutate(derive(lstmp), "delta_c", lambda rhs: rhs.xreplace(
        {MatVecT(W_r, delta_h[t]): MatVec(W_r, delta_h[t])}))
    report = check_unrolled(lstmp, steps=2, backward=backward)
    assert {row.where for row in report.failures} == {"delta_c at t=2", "delta_c at t=1"}
    assert report.format().splitlines()[0] == (
        "lstmp unrolled over T=2 steps, I=2, H=3, P=4; L = sum_t u^t . h^t, u symbolic")


def test_loss_cell_sums_its_own_loss_and_has_no_upstream_gradient():
    report = check_unrolled(elman, steps=3)
    assert report.ok, report.format()
    assert report.loss == "L = sum_t loss^t"
    where = rows_by_where(report)
    assert ("delta_a", 3) in where and ("delta_loss", 3) in where
    assert not any(q == "delta_z" for q, _ in where)  # no gradient flows into a target
    graph = _Graph(elman, 2, {"I": 2, "H": 3})
    assert not any(str(s).startswith("u^") for s in graph.leaves)
    assert set(graph.loss.values()) == {1}


def test_cross_entropy_targets_lie_on_the_simplex_exactly():
    graph = _Graph(elman, 2, {"I": 2, "H": 3})
    s = graph.scalars
    z = sp.IndexedBase("z")
    last = s.read(z[2], (2,))
    assert last == 1 - s.value("z", 2, 0) - s.value("z", 2, 1)
    point = graph.at_point(random.Random(5))
    for k in (1, 2):
        units = [last.xreplace({s.value("z", 2, 0): s.value("z", k, 0),
                                s.value("z", 2, 1): s.value("z", k, 1)}).xreplace(point.values)]
        units += [point.values[s.value("z", k, m)] for m in (0, 1)]
        assert all(u > 0 for u in units) and abs(sum(units) - 1) < sp.Float("1e-55")


def test_without_the_simplex_the_softmax_cross_entropy_adjoint_is_wrong(monkeypatch):
    # the derivation's delta_a = y - z holds only where the targets sum to 1: drawn freely,
    # the check rejects exactly those rows (dL/da = y 1^T z - z)
    monkeypatch.setattr(unrolled_module, "_simplex_targets", lambda cell: {})
    report = check_unrolled(elman, steps=2)
    failing = {row.quantity for row in report.failures}
    assert "delta_a" in failing and failing <= {"delta_a", "delta_h", "delta_x", "delta_c",
                                                "delta_V", "delta_W", "delta_U", "delta_b"}


def test_softmax_cross_entropy_unrolled_derivative_matches_pytorch_autograd():
    torch = pytest.importorskip("torch")
    steps, H, I = 3, 3, 2
    graph = _Graph(elman, steps, {"I": I, "H": H})
    point = graph.at_point(random.Random(11))
    s = graph.scalars
    val = lambda sym: float(sym.xreplace(point.values))  # noqa: E731

    def tensor(rows, cols, entry):
        return torch.tensor([[val(entry(j, m)) for m in range(cols)] for j in range(rows)],
                            dtype=torch.float64, requires_grad=True)

    W, U, V = (tensor(H, n, lambda j, m, p=p: s.entry(p, (j, m)))
               for p, n in (("W", I), ("U", H), ("V", H)))
    b, c = (tensor(H, 1, lambda j, m, p=p: s.entry(p, (j,))) for p in "bc")
    h0 = tensor(H, 1, lambda j, m: s.value("h", 0, j))
    z = sp.IndexedBase("z")
    h, loss = h0, 0
    for k in range(1, steps + 1):
        x = tensor(I, 1, lambda j, m: s.value("x", k, j))
        target = torch.tensor([[val(s.read(z[k], (j,)))] for j in range(H)], dtype=torch.float64)
        h = torch.tanh(W @ x + U @ h + b)
        y = torch.softmax(V @ h + c, dim=0)
        loss = loss - (target * torch.log(y)).sum()
    loss.backward()
    for name, tensor_ in (("W", W), ("U", U), ("V", V)):
        ours = [[float(point.total[s.entry(name, (j, m))]) for m in range(tensor_.shape[1])]
                for j in range(H)]
        assert tensor_.grad.tolist() == [pytest.approx(row, rel=1e-10, abs=1e-12) for row in ours]
    assert [g[0] for g in h0.grad.tolist()] == pytest.approx(
        [float(point.total[s.value("h", 0, j)]) for j in range(H)], rel=1e-10, abs=1e-12)


@pytest.mark.parametrize("kwargs, words", [
    ({"sizes": {"P": 7}}, "size P must be an integer >= 1, got 7|size P=7 is above the limit"),
    ({"sizes": {"P": 0}}, "size P must be an integer >= 1, got 0"),
])
def test_bad_sizes_raise_verify_error(kwargs, words):
    with pytest.raises(VerifyError, match=words):
        check_unrolled(lstmp, **kwargs)


def test_values_that_overflow_are_a_named_failure_not_a_crash():
    # exp(exp(exp(h))) unrolled over two steps: e^(e^(e^(3.8e6))) has no number (was an
    # OverflowError from mpmath); the rows decided at points say so, the exact rows pass
    from bptt import cell, cross_entropy, exp, softmax, softplus, tanh

    @cell
    def tower(x, z: "P", h: "P", W1: ("P", "I"), b2: "P"):
        h = exp(exp(exp(h))) + (W1 @ x)
        y = softmax(softplus(tanh(b2)))
        loss = cross_entropy(y, z)
        return y

    report = check_unrolled(tower, steps=2)
    assert [(row.where, row.note) for row in report.failures] == [
        ("delta_b2", "derived gradient cannot be evaluated: its values overflow at random "
                     "points (try fewer steps)")]
    assert check_unrolled(tower, steps=1).ok
