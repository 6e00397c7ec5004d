"""User cells for the kernel tests of every target: written with the front end (``@cell``) or
built from the IR, together covering every operation the IR accepts (each activation of the
table, exp, log, powers, softmax, sums over units, both losses), several inputs, sizes other
than I and H, and names that clash with the generated code's own; ``CELLS`` (these, the
built-in cells, one cell per activation of the table) and ``problem`` (float64 data for one)
are shared by the tests of every target."""
import numpy as np
import sympy as sp

from derive.cells import get_cell
from derive.derivation import loss_assumptions
from bptt import (cell, cross_entropy, exp, log, sigmoid, softmax, squared_error,  # noqa: F401
                  tanh)
from derive.ir import ACTIVATIONS, Cell, CellBuilder, UnitSum, activation, base_name, t


@cell(source="Zhou et al. 2016", description="minimal gated unit")
def mgu(x, h, W_f, U_f, b_f, W_h, U_h, b_h):
    f = sigmoid(W_f @ x + U_f @ h + b_f)
    h_tilde = tanh(W_h @ x + U_h @ (f * h) + b_h)
    h = (1 - f) * h + f * h_tilde
    return h


@cell(description="Elman network, softmax output, cross-entropy", inputs=("x", "z"))
def elman(x, z: "O", h, W, U, b, V, c):
    h = tanh(W @ x + U @ h + b)
    a = V @ h + c
    y = softmax(a)
    loss = cross_entropy(y, z)
    return y


@cell(description="LSTM with a projection of size P")
def lstmp(x, h: "P", c, W_i, U_i, b_i, W_f, U_f, b_f, W_g, U_g, b_g, W_o, U_o, b_o, W_r):
    i = sigmoid(W_i @ x + U_i @ h + b_i)
    f = sigmoid(W_f @ x + U_f @ h + b_f)
    g = tanh(W_g @ x + U_g @ h + b_g)
    o = sigmoid(W_o @ x + U_o @ h + b_o)
    c = f * c + i * g
    h = W_r @ (o * tanh(c))
    return h


@cell(description="exp, log, powers, division by a compound expression")
def elementwise(x, h, W, U, b):
    a = W @ x + U @ h + b
    h = a / (1 + (a * a + 1) ** 0.5) + log(1 + exp(-a * a)) / 4
    return h


@cell(description="softmax output, the gradient from above")
def attention(x, h, W, U, b, V: ("O", "H")):
    h = tanh(W @ x + U @ h + b)
    y = softmax(V @ h) * 2
    return y


@cell(description="a second input that is no target", inputs=("x", "u"))
def two_inputs(x, u: "K", h, W, V, U, b):
    h = tanh(W @ x + U @ h + b) * sigmoid(V @ u)
    return h


@cell(description="regression: readout of size O, squared error", inputs=("x", "z"))
def regression(x, z: "O", h, W, U, b, V, c):
    h = tanh(W @ x + U @ h + b)
    y = V @ h + c
    loss = squared_error(y, z)
    return y


@cell(description="names of Python and of the generated code")
def clash(x, range, dx, U, b, np):
    tmp0 = dx @ x + U @ range + b
    sigma = tanh(tmp0) * np
    range = sigma + range / 2
    return range


@cell(description="sizes named B and sizes, an input named dtype, a quantity named H",
      inputs=("x", "dtype"))
def odd_names(x: "B", dtype: "I", H: "sizes", W: ("sizes", "B"), V: ("sizes", "I"),
              U: ("sizes", "sizes"), b: ("sizes",)):
    H = tanh(W @ x + V @ dtype + U @ H + b)
    return H


@cell(description="a state whose values the backward pass never reads")
def accumulator(x, s, W, b):
    s = s + tanh(W @ x + b) / 2
    return s


@cell(description="a product of a function of minus the state: dL/dh[0] has a negative "
      "coefficient times a product")
def negated(x, h, W, U, b):
    h = tanh(W @ x + U @ tanh(1 - h) + b)
    return h


def bare() -> Cell:
    """dL/dx is a bare adjoint (x enters without a product): in the kernels, a view of a
    buffer they reuse unless copied."""
    c = CellBuilder("bare", "test", "", input_size="H")
    h, R = c.quantity("h"), c.weight("R")
    a = c.let("a", c.x[t] + R @ h[t - 1])
    c.let("h", tanh(a[t]))
    return c.build("h")


def activation_cell(f) -> Cell:
    """h = f(W x + U h + b) for one activation of the table."""
    c = CellBuilder(f"act-{f.__name__}", "test", f"the {f.__name__} activation")
    x, h = c.x, c.quantity("h")
    W, U, b = c.weight("W", "I"), c.weight("U"), c.vector("b")
    c.let("h", f(W @ x[t] + U @ h[t - 1] + b))
    return c.build("h")


def swish_cell():
    """A cell of an activation added with one call (ir.activation), no row in any target's
    table."""
    swish = next((f for f in ACTIVATIONS if f.__name__ == "swish_test"), None) or activation(
        "swish_test", lambda a: a / (1 + sp.exp(-a)), numpy="({a} / (1 + np.exp(-{a})))",
        numpy_prime="((1 + np.exp(-{a}) * (1 + {a})) / (1 + np.exp(-{a}))**2)")
    return activation_cell(swish)


USER = {"mgu": mgu, "elman": elman, "lstmp": lstmp, "elementwise": elementwise,
        "attention": attention, "two-inputs": two_inputs, "regression": regression,
        "clash": clash, "odd-names": odd_names, "accumulator": accumulator, "negated": negated, "bare": bare()}

BUILTIN = ["rnn", "lstm", "gru", "graves-lstm"]
CELLS = {**{n: (lambda n=n: get_cell(n)) for n in BUILTIN},
         **{n: (lambda c=c: c) for n, c in USER.items()},
         **{f"act-{f.__name__}": (lambda f=f: activation_cell(f)) for f in ACTIVATIONS}}
SIZES = {"I": 3, "H": 4, "P": 2, "O": 5, "K": 2, "B": 2, "sizes": 5}


def problem(cell, numpy_kernel, T=5, B=3, seed=0):
    """float64 parameters, inputs (targets of a cross-entropy on the simplex), state0, and the
    weights u, v of L = sum(u * y) + sum(v * stateT)."""
    rng = np.random.default_rng(seed)
    sizes = {n: SIZES[n] for n in cell.size_names}
    params = numpy_kernel.init_params(sizes, seed=seed)
    simplex = {base_name(a.args[0]) for a in loss_assumptions(cell) if isinstance(a, UnitSum)}
    inputs = {x: (rng.dirichlet(np.ones(sizes[cell.size(x)]), (T, B)) if x in simplex else
                  rng.standard_normal((T, B, sizes[cell.size(x)]))) for x in cell.inputs}
    state0 = {s: rng.standard_normal((B, sizes[cell.size(s)])) for s in cell.state}
    u = rng.standard_normal((T, B, sizes[cell.size(cell.output)]))
    v = {s: rng.standard_normal((B, sizes[cell.size(s)])) for s in cell.state}
    return params, inputs, state0, u, v
