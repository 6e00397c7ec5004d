"""Property: for any valid cell the front end accepts, the derived BPTT recurrences equal the
exact derivative of the unrolled network (verify.unrolled, its own scalar chain rule).

The cells are drawn by tests/random_cells.py as step-function source and read from a file by
the front end. The suite runs a fixed, derandomized set of examples; a larger batch:

    BPTT_PROPERTY_EXAMPLES=500 python -m pytest tests/test_properties.py -p no:randomly

(the environment variable sets the number of examples and draws them at random).
"""
import os

import numpy as np
import pytest
from hypothesis import assume, HealthCheck, given, settings

from bptt import explain, leaky_relu, relu
from derive.sheets import render
from random_cells import cell_sources, load
from verify.unrolled import check_unrolled

EXAMPLES = int(os.environ.get("BPTT_PROPERTY_EXAMPLES", "30"))
SETTINGS = settings(max_examples=EXAMPLES, deadline=None, database=None,
                    derandomize="BPTT_PROPERTY_EXAMPLES" not in os.environ,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                           HealthCheck.filter_too_much])


@SETTINGS
@given(cell_sources())
def test_derived_recurrences_equal_the_unrolled_derivative(source):
    cell = load(source)
    report = check_unrolled(cell, steps=2)
    assert report.ok, f"{source}\n{report.format()}"
    assert not any(row.note for row in report.rows), report.format()


@settings(SETTINGS, max_examples=max(EXAMPLES // 3, 10))
@given(cell_sources())
def test_every_drawn_cell_prints_as_a_sheet_and_explains_itself(source):
    cell = load(source)
    for fmt in ("tex", "md"):
        text = render(cell, "vector", fmt, unrolled=2)
        assert text.count(r"\delta") > len(cell.state)
        for raw in ("Softmax", "UnitSum", "cross_entropy", "squared_error", "_prime"):
            assert raw not in text, (raw, source)
    assert "A state variable is a quantity that step t computes" in explain(cell)


# --- the kernel half of the property ------------------------------------------------------
# The generated NumPy kernel of every drawn cell against central finite differences.

@SETTINGS
@given(cell_sources())
def test_generated_kernel_agrees_with_finite_differences(source):
    from derive.codegen import load_module
    from verify.numeric import check_numeric, small_sizes
    cell = load(source)
    # the kernel reads every size from its arguments: a state whose size no parameter or
    # input carries (c = c of size P) is refused by it, with a one-line CellError
    carried = {n for p in cell.params.values() for n in p.shape} | {
        cell.size(x) for x in cell.inputs}
    assume(set(cell.size_names) <= carried)
    # central differences are wrong at a kink, and a state that went through relu sits exactly
    # on it (relu(h) = 0 at the next step); the kinked functions are checked exactly by the
    # unrolled check above and numerically by the kernel tests away from their kinks
    assume(not any(eq.rhs.has(relu, leaky_relu) for eq in cell.equations))
    module = load_module(cell)
    # finite differences need a forward pass of moderate values (exp(exp(h)) overflows,
    # h * h grows so fast that rounding swamps a difference quotient)
    rng = np.random.default_rng(0)
    sizes = small_sizes(cell)
    params = module.init_params(sizes, seed=0)
    xs = [rng.dirichlet(np.ones(sizes[module.SIZE_OF[x]]), (4, 3)) if x in module.TARGETS
          else rng.standard_normal((4, 3, sizes[module.SIZE_OF[x]])) for x in module.INPUTS]
    state0 = {q: rng.standard_normal((3, sizes[module.SIZE_OF[q]])) for q in module.STATE}
    with np.errstate(all="ignore"):
        out, stateT, _ = module.forward(params, *xs, state0)
    assume(all(np.all(np.abs(a) < 1e2) for a in (out, *stateT.values())))  # well conditioned
    # random cells have gradients of any scale: a difference quotient's absolute error of about
    # 1e-10 (eps = 1e-6 in float64) is 1e-6 of a gradient of 1e-4, so 1e-5 relative here
    report = check_numeric(cell, module, tolerance=1e-5)
    assert report.ok, f"{source}\n{report.format()}"


def test_the_strategy_draws_every_operation():
    # the property is only as strong as what is drawn: over the suite's examples, every
    # activation, softmax, both losses, division, powers, numbers and 1 to 3 state vectors
    sources = []

    @settings(max_examples=200, deadline=None, database=None, derandomize=True,
              suppress_health_check=list(HealthCheck))
    @given(cell_sources())
    def collect(source):
        sources.append(source)

    collect()
    text = "\n".join(sources)
    for word in ("sigmoid(", "tanh(", "relu(", "leaky_relu(", "softplus(", "elu(",
                 "softsign(", "softmax(", "exp(", "log(", "cross_entropy(", "squared_error(",
                 " / ", " ** ", " @ ", "0.5", 'c: "', 'm: "', "('P', 'I')", "('K', "):
        assert word in text, word
    assert len(set(sources)) > 150


# --- cells the property found wrong, kept as regressions (each failed before its fix) --------

FOUND = {
    # the loss's adjoint 1 folded into delta_q1 read at t+1: the recurrence at T read z[T+1]
    "loss folded at t+1": '''
def drawn(x, z: "H", h: "H", W1: ('K', 'I'), b2: "K"):
    q2 = ((W1 @ x) + b2)
    q1 = exp(h)
    h = softplus(h)
    y = softmax(q1)
    loss = cross_entropy(y, z)
    return y
''',
    # softmax(h[t-1]) named q1[t-1]: the initial adjoint read q1[0]
    "softmax named at t-1": '''
def drawn(x, h: "P", W1: ('P', 'I')):
    h = softmax(h) + (W1 @ x)
    q1 = softmax(h)
    return h
''',
    # a softmax of parameters only named y[t+1]: the gradient read y[T+1]
    "softmax of parameters": '''
def drawn(x, z: "P", h: "H", W2: ('H', 'I'), b5: "P"):
    h = sigmoid(h) + (W2 @ x)
    y = softmax(sigmoid(b5))
    loss = cross_entropy(y, z)
    return y
''',
    # 0.5 read as a 15-digit float: the 50-digit points differed by 1e-16
    "a number with a point": '''
def drawn(x, z: "K", h: "K", W1: ('K', 'I'), W8: ('K', 'K')):
    q3 = relu(log(sigmoid(h))) + (W1 @ x)
    h = (W8 @ q3) + h
    y = softmax((q3 + 0.5))
    loss = squared_error(y, z)
    return y
''',
    # softmax(h - h) is softmax(0) in the IR: no size of its own
    "softmax of a constant": '''
def drawn(x, h, W1, W2):
    q1 = log(softmax(relu((h - h)))) + W2 @ x
    h = tanh(W1 @ h) + q1 * h
    return h
''',
    # exp/log split by expand: 74 s for this cell, now a few seconds
    "slow expansion": '''
def drawn(x, h: "P", c: "K", W1: ('P', 'I'), W2: ('K', 'K'), b3: "K", b4: "P", b5: "P",
          b6: "P", W7: ('K', 'P'), W8: ('P', 'K'), b9: "P", W10: ('K', 'K')):
    q3 = (3 * h + 3) + (W1 @ x)
    c = ((W2 @ c) + ((c) ** 2 - b3 / 2))
    q5 = (((b4 + h) + b5 * b6)) ** 2
    q2 = (softmax(c) * (c + 0.5) + log(softmax(((W7 @ q5) - c))))
    h = (W8 @ c)
    q4 = softmax((softplus(b9)) ** 2)
    q1 = (W10 @ q2)
    return c
''',
}


@pytest.mark.parametrize("name", sorted(FOUND))
def test_cells_the_property_found(name):
    from random_cells import HEADER
    cell = load(f"{HEADER}@cell{FOUND[name]}")
    report = check_unrolled(cell, steps=2)
    assert report.ok, report.format()
