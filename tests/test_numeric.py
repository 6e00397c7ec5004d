"""verify.numeric: central differences against the generated kernels, and that it catches
the kinds of errors published BPTT transcriptions contain."""
import numpy as np
import pytest

from derive.cells import get_cell
from derive.codegen import generate_module, load_module
from derive.ir import ACTIVATIONS, CellBuilder, sigmoid, t, tanh
from verify.numeric import check_numeric, relative_error, small_sizes
from verify.unrolled import VerifyError

import kernel_cells

BUILTIN = ["rnn", "lstm", "gru", "graves-lstm"]


def cifg():
    """A coupled input-forget gate LSTM (Greff's CIFG, f = 1 - i) with peepholes and its own
    stacks: a custom cell built from the IR."""
    c = CellBuilder("cifg", "Greff et al. 2017, CIFG variant", "custom test cell")
    x, y, cs = c.x, c.quantity("y"), c.quantity("c")
    W = {k: c.weight(f"W_{k}", "I") for k in "zio"}
    R = {k: c.weight(f"R_{k}") for k in "zio"}
    b = {k: c.vector(f"b_{k}") for k in "zio"}
    p_i, p_o = c.vector("p_i"), c.vector("p_o")
    z = c.let("z", tanh(c.let("zbar", W["z"] @ x[t] + R["z"] @ y[t - 1] + b["z"])[t]))
    i = c.let("i", sigmoid(c.let("ibar", W["i"] @ x[t] + R["i"] @ y[t - 1] + p_i * cs[t - 1]
                                 + b["i"])[t]))
    cs = c.let("c", z[t] * i[t] + cs[t - 1] * (1 - i[t]))
    o = c.let("o", sigmoid(c.let("obar", W["o"] @ x[t] + R["o"] @ y[t - 1] + p_o * cs[t]
                                 + b["o"])[t]))
    c.let("y", tanh(cs[t]) * o[t])
    return c.build("y", stacks={"W": ("W_z", "W_i", "W_o"), "R": ("R_z", "R_i", "R_o"),
                                "b": ("b_z", "b_i", "b_o")})


def tied():
    """One weight in two products (input and recurrence): needs input size = hidden size."""
    c = CellBuilder("tied", "test", "custom test cell with a shared weight", input_size="H")
    x, h = c.x, c.quantity("h")
    W, b = c.weight("W", "H"), c.vector("b")
    c.let("h", tanh(W @ x[t] + W @ h[t - 1] + b))
    return c.build("h")


def lagged():
    """A state whose activation is read at t and t-1 (kept by the forward pass, step 0
    included), a leaky state, and a gate of the input alone."""
    c = CellBuilder("lagged", "test", "custom test cell")
    x, h, s = c.x, c.quantity("h"), c.quantity("s")
    W, U, V, b = c.weight("W", "I"), c.weight("U"), c.weight("V", "I"), c.vector("b")
    s = c.let("s", tanh(c.let("sbar", W @ x[t] + U @ h[t - 1] + b)[t]) + s[t - 1] / 2)
    c.let("h", tanh(s[t]) * tanh(s[t - 1]) + sigmoid(c.let("gbar", V @ x[t])[t]))
    return c.build("h")


@pytest.mark.parametrize("name", BUILTIN)
def test_every_builtin_cell_passes(name):
    m = load_module(get_cell(name))
    report = check_numeric(get_cell(name), m)
    assert report.ok, report.format()
    quantities = [row.quantity for row in report.rows]
    expected = [*m.param_shapes(3, 4), "x", *(f"{s}[0]" for s in m.STATE),
                *(f"{s}[t] handed to t+1, t=1..3" for s in m.STATE),
                "backward split at t=1..3, chained", "random direction"]
    assert quantities == expected
    assert max(row.error for row in report.rows) < 1e-6


@pytest.mark.parametrize("cell", [cifg, tied, lagged], ids=["cifg", "tied", "lagged"])
def test_custom_cells_pass(cell):
    size = 4 if cell is tied else 3
    report = check_numeric(cell(), inputs=size, hidden=4)
    assert report.ok, report.format()


def test_other_sizes_and_seeds():
    report = check_numeric(get_cell("gru"), steps=2, batch=1, inputs=5, hidden=2, seed=7)
    assert report.ok, report.format()
    assert "t=1" in report.rows[-3].quantity


def _sabotaged(name, old, new):
    """The generated module with one line of its backward pass changed."""
    source = generate_module(get_cell(name))
    assert source.count(old) == 1, old
    namespace = {}
    exec(compile(source.replace(old, new), f"<sabotaged {name}>", "exec"), namespace)
    return type("Module", (), {k: staticmethod(v) if callable(v) else v
                               for k, v in namespace.items() if not k.startswith("__")})


# Errors of the kinds found in published derivations (textbooks.md, section 6).
SABOTAGE = {
    "recurrent term of the state missing": (
        "lstm", "np.multiply(delta_c[t + 1], f[t + 1], out=delta_c[t])",
        "delta_c[t].fill(0)", {"c[t] handed to t+1, t=1..3", "weight_hh"}),
    "factor missing in one term": (
        "lstm", "np.multiply(delta_obar[t], tanh_c[t], out=delta_obar[t])", "pass",
        {"weight_ih", "bias_hh", "x"}),
    "peephole gradient at the wrong step": (
        "graves-lstm", "'p_f': (c[:-1]*delta_fbar[1:]).sum(axis=(0, 1))",
        "'p_f': (c[1:]*delta_fbar[1:]).sum(axis=(0, 1))", {"p_f", "random direction"}),
    "dstateT ignored": (
        "gru", "np.copyto(delta_h[t], dstateT['h'])", "delta_h[t].fill(0)",
        {"h[t] handed to t+1, t=1..3", "weight_hh", "random direction"}),
}


@pytest.mark.parametrize("kind", SABOTAGE)
def test_catches_a_wrong_gradient(kind):
    name, old, new, failing = SABOTAGE[kind]
    report = check_numeric(get_cell(name), _sabotaged(name, old, new))
    assert not report.ok
    bad = {row.quantity for row in report.rows if not row.ok}
    assert failing <= bad, report.format()
    assert min(row.error for row in report.rows if not row.ok) > 1e-3
    assert "FAILED" in report.format()


def test_format_is_a_table_of_every_row():
    report = check_numeric(get_cell("rnn"))
    text = report.format()
    assert text.startswith("Numeric check of rnn: central differences in float64, eps 1e-06")
    for row in report.rows:
        line = next(ln for ln in text.splitlines() if ln.startswith(f"| {row.quantity} "))
        assert line.endswith("| yes |") and f"{row.error:.1e}" in line
    assert text.endswith(f"all {len(report.rows)} checks below 1e-06")


def test_relative_error_is_relative_to_the_largest_entry():
    assert relative_error(np.array([1.0, 100.0]), np.array([1.5, 100.0])) == 0.005
    assert relative_error(np.zeros(3), np.zeros(3)) == 0.0
    assert relative_error(np.zeros(2), np.array([0.0, 1e-3])) == 1.0


def test_needs_two_steps():
    with pytest.raises(ValueError, match="steps must be at least 2, got 1"):
        check_numeric(get_cell("rnn"), steps=1)


# --- any cell: user cells, every activation of the table, sizes by name ------------------------

@pytest.mark.parametrize("name", kernel_cells.USER)
def test_user_cells_pass(name):
    report = check_numeric(kernel_cells.USER[name])
    assert report.ok, report.format()


@pytest.mark.parametrize("f", list(ACTIVATIONS), ids=lambda f: f.__name__)
def test_every_activation_of_the_table_passes(f):
    report = check_numeric(kernel_cells.activation_cell(f))
    assert report.ok, report.format()


def test_each_size_name_gets_its_own_size():
    assert small_sizes(kernel_cells.lstmp) == {"I": 3, "H": 4, "P": 5}
    assert small_sizes(kernel_cells.two_inputs, sizes={"K": 2}) == {"I": 3, "K": 2, "H": 4}
    report = check_numeric(kernel_cells.lstmp, sizes={"P": 2})
    assert report.ok and "I=3, H=4, P=2" in report.setup


@pytest.mark.parametrize("kwargs, message", [
    ({"sizes": {"Q": 2}}, r"sizes: cell 'lstmp' has no size 'Q' \(its sizes: I, H, P\)"),
    ({"sizes": {"P": 0}}, r"size P must be an integer >= 1, got 0"),
    ({"hidden": 2.5}, r"size H must be an integer >= 1, got 2.5"),
    ({"batch": 0}, r"batch must be an integer >= 1, got 0"),
])
def test_bad_sizes_are_refused_like_the_symbolic_check(kwargs, message):
    with pytest.raises(VerifyError, match=message):
        check_numeric(kernel_cells.lstmp, **kwargs)


def test_cross_entropy_targets_are_drawn_from_the_simplex():
    """The derived backward of softmax + cross-entropy assumes targets that sum to 1; with
    other targets the check must (and does) fail, so the draw matters."""
    m = load_module(kernel_cells.elman)
    assert check_numeric(kernel_cells.elman, m).ok

    class Unnormalised:    # the same module, its targets scaled by 2 before each call
        def __getattr__(self, name):
            return getattr(m, name)

        @staticmethod
        def forward(params, x, z, state0=None):
            return m.forward(params, x, 2 * z, state0)
    assert not check_numeric(kernel_cells.elman, Unnormalised()).ok
