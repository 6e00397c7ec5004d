"""Cells that are not built in, written as a user would (for tests that must work on any cell)."""
from derive import CellBuilder, sigmoid, t, tanh


def mgu():
    """The minimal gated unit of the user guide: the reset acts inside a matrix product."""
    cb = CellBuilder("mgu", "user guide", "minimal gated unit")
    x, h = cb.x, cb.quantity("h")
    W, U = cb.weight("W", "I"), cb.weight("U")
    Wf, Uf, b = cb.weight("Wf", "I"), cb.weight("Uf"), cb.vector("b")
    f = cb.let("f", sigmoid(cb.let("fbar", Wf @ x[t] + Uf @ h[t - 1] + b)[t]))
    cand = cb.let("cand", tanh(W @ x[t] + U @ (f[t] * h[t - 1])))
    cb.let("h", (1 - f[t]) * h[t - 1] + f[t] * cand[t])
    return cb.build("h")


def two_states():
    """A cell with two states, one of them not the output, and a peephole-like product."""
    cb = CellBuilder("two", "tests", "two states, a leaky accumulator m")
    x, h, m = cb.x, cb.quantity("h"), cb.quantity("m")
    W, R, p = cb.weight("W", "I"), cb.weight("R"), cb.vector("p")
    a = cb.let("a", W @ x[t] + R @ h[t - 1] + p * m[t - 1])
    cb.let("m", 0.5 * m[t - 1] + sigmoid(a[t]))
    cb.let("h", tanh(m[t]) * h[t - 1] + tanh(a[t]))
    return cb.build("h")


USER_CELLS = {"mgu": mgu, "two": two_states}
