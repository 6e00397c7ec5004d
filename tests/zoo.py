"""User cells for the kernel tests of every target: written with the front end (``@cell``) or
built from the IR, together covering every operation the IR accepts (each activation of the
table, exp, log, powers, softmax, sums over units, both losses), several inputs, sizes other
than I and H, and names that clash with the generated code's own."""
from derive.frontend import cell
from derive.ir import Cell, CellBuilder, t

# the step functions are read, never run: their calls name rows of the front end's tables


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


def activation_cell(f) -> Cell:
    """h = f(W x + U h + b) for one activation of the table."""
    c = CellBuilder(f"act-{f.__name__}", "test", f"the {f.__name__} activation")
    x, h = c.x, c.quantity("h")
    W, U, b = c.weight("W", "I"), c.weight("U"), c.vector("b")
    c.let("h", f(W @ x[t] + U @ h[t - 1] + b))
    return c.build("h")


USER = {"mgu": mgu, "elman": elman, "lstmp": lstmp, "elementwise": elementwise,
        "attention": attention, "two-inputs": two_inputs, "regression": regression,
        "clash": clash, "odd-names": odd_names, "accumulator": accumulator}
