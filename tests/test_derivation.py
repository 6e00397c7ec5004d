"""The derived backward passes against the published ones (../shared/notes/textbooks.md),
compared as SymPy expressions term by term, not as strings."""
import pytest
import sympy as sp

from derive import CellBuilder, CellError, derive, get_cell, sigmoid, t, tanh
from derive.derivation import adjoint, through_outputs
from derive.ir import Delta, MatVecT, Outer, T, sigmoid_prime, tanh_prime

Q = sp.IndexedBase


def terms(expr):
    return set(sp.Add.make_args(sp.expand(expr)))


def assert_same(derived, published):
    """Equal term by term (each term at its time step), not just equal in value."""
    assert terms(derived) == terms(published), (
        f"missing {terms(published) - terms(derived)}, extra {terms(derived) - terms(published)}")


@pytest.fixture(scope="module")
def graves():
    return derive(get_cell("graves-lstm"))


def sym(name):
    return get_cell("graves-lstm").params[name].symbol


# Graves 2012 section 4.6 with y = b_c, c = s_c, z = g(a_c), zbar = a_c, ibar = a_iota, ...,
# epsilon_c = delta_y, epsilon_s = delta_c, delta_omega = delta_obar, w_{c iota} = p_i.
y, c, o, f, i, z = (Q(n) for n in "ycofiz")
obar, fbar, ibar, zbar = (Q(n) for n in ("obar", "fbar", "ibar", "zbar"))
eps_c, eps_s = adjoint("y"), adjoint("c")
d_omega, d_phi, d_iota, d_c = (adjoint(n) for n in ("obar", "fbar", "ibar", "zbar"))


def test_graves_epsilon_c(graves):
    # eps_c^t = sum_k w_ck delta_k^t + sum_g w_cg delta_g^{t+1}, g over all gates and cell inputs
    published = Delta[t] + sum(MatVecT(sym(f"R_{k}"), adjoint(f"{k}bar")[t + 1]) for k in "zifo")
    assert_same(graves.adjoint_of("y").rhs, published)


def test_graves_delta_omega(graves):
    # delta_omega^t = f'(a_omega^t) h(s_c^t) eps_c^t
    assert_same(graves.adjoint_of("obar").rhs, sigmoid_prime(obar[t]) * tanh(c[t]) * eps_c[t])


def test_graves_epsilon_s(graves):
    # eps_s^t = b_omega h'(s_c) eps_c + b_phi^{t+1} eps_s^{t+1} + w_ci delta_i^{t+1}
    #           + w_cphi delta_phi^{t+1} + w_comega delta_omega^t
    published = (o[t] * tanh_prime(c[t]) * eps_c[t] + f[t + 1] * eps_s[t + 1]
                 + sym("p_i") * d_iota[t + 1] + sym("p_f") * d_phi[t + 1]
                 + sym("p_o") * d_omega[t])
    assert_same(graves.adjoint_of("c").rhs, published)


def test_graves_delta_c(graves):
    # delta_c^t = b_iota^t g'(a_c^t) eps_s^t
    assert_same(graves.adjoint_of("zbar").rhs, i[t] * tanh_prime(zbar[t]) * eps_s[t])


def test_graves_delta_phi(graves):
    # delta_phi^t = f'(a_phi^t) s_c^{t-1} eps_s^t
    assert_same(graves.adjoint_of("fbar").rhs, sigmoid_prime(fbar[t]) * c[t - 1] * eps_s[t])


def test_graves_delta_iota(graves):
    # delta_iota^t = f'(a_iota^t) g(a_c^t) eps_s^t, where g(a_c^t) is the named quantity z^t
    derived = graves.adjoint_of("ibar").rhs.subs(z[t], tanh(zbar[t]))
    assert_same(derived, sigmoid_prime(ibar[t]) * tanh(zbar[t]) * eps_s[t])


def test_graves_peephole_and_weight_gradients(graves):
    grads = {str(eq.lhs): eq.rhs for eq in graves.gradients}
    x = Q("x")
    assert grads["delta_p_o"] == sp.Sum(c[t] * d_omega[t], (t, 1, T))  # output gate peeps at t
    assert grads["delta_p_i"] == sp.Sum(c[t - 1] * d_iota[t], (t, 1, T))
    assert grads["delta_R_f"] == sp.Sum(Outer(d_phi[t], y[t - 1]), (t, 1, T))
    assert grads["delta_W_z"] == sp.Sum(Outer(d_c[t], x[t]), (t, 1, T))


def test_graves_initial_state(graves):
    init = {str(eq.lhs): eq.rhs for eq in graves.initial}
    # the t+1 terms of eps_s at t = 0: nothing arrives at step 0 from above or from step 0
    assert_same(init["delta_c[0]"], f[1] * eps_s[1] + sym("p_i") * d_iota[1]
                + sym("p_f") * d_phi[1])


def test_rnn_equals_graves_section_3_2():
    cell = get_cell("rnn")
    b = derive(cell)
    W_hh = cell.params["W_hh"].symbol
    a, d = Q("hbar"), adjoint("hbar")
    # delta_h^t = theta'(a_h^t) (sum_k delta_k^t w_hk + sum_h' delta_h'^{t+1} w_hh')
    delta_a = b.adjoint_of("hbar").rhs.subs(adjoint("h")[t], b.adjoint_of("h").rhs)
    assert_same(delta_a, tanh_prime(a[t]) * (Delta[t] + MatVecT(W_hh, d[t + 1])))
    # dL/dw_ij = sum_t delta_j^t b_i^t, with b_i^{t-1} for the recurrent weights
    grads = {str(eq.lhs): eq.rhs for eq in b.gradients}
    assert grads["delta_W_hh"] == sp.Sum(Outer(d[t], Q("h")[t - 1]), (t, 1, T))
    assert grads["delta_W_ih"] == sp.Sum(Outer(d[t], Q("x")[t]), (t, 1, T))


def test_pytorch_lstm_and_gru_state_recurrences():
    lstm = derive(get_cell("lstm"))
    c, f, o, h = Q("c"), Q("f"), Q("o"), Q("h")
    assert_same(lstm.adjoint_of("c").rhs,
                adjoint("c")[t + 1] * f[t + 1] + adjoint("h")[t] * o[t] * tanh_prime(c[t]))
    gru = derive(get_cell("gru"))
    n = Q("n")
    # h = (1 - z) n + z h^{t-1}: dh/dz = h^{t-1} - n
    assert_same(gru.adjoint_of("zbar").rhs,
                adjoint("h")[t] * (h[t - 1] - n[t]) * sigmoid_prime(Q("zbar")[t]))


def test_state_is_found_not_declared():
    assert get_cell("lstm").state == ("h", "c")
    assert get_cell("graves-lstm").state == ("y", "c")
    assert get_cell("gru").state == ("h",)


def test_through_outputs_uses_named_activations():
    cell = get_cell("graves-lstm")
    rhs = through_outputs(derive(cell).adjoint_of("obar").rhs, cell)
    assert sp.expand(rhs - adjoint("y")[t] * tanh(c[t]) * o[t] * (1 - o[t])) == 0
    # tanh'(c) has no named output: 1 - tanh(c)^2
    rhs = through_outputs(derive(cell).adjoint_of("c").rhs, cell)
    assert rhs.has(1 - tanh(c[t]) ** 2)


def test_custom_cell_matches_exact_scalar_derivative():
    """A user's cell, derived by the same rules, against SymPy's diff of the scalar (H = 1)
    two-step unrolled loss: an oracle that does not use the rule table."""
    cb = CellBuilder("mgu", "test", "minimal gated unit")
    x, h = cb.x, cb.quantity("h")
    W, U, Wf, Uf = cb.weight("W", "I"), cb.weight("U"), cb.weight("Wf", "I"), cb.weight("Uf")
    fg = cb.let("fg", sigmoid(cb.let("fbar", Wf @ x[t] + Uf @ h[t - 1])[t]))
    # the candidate's pre-activation is left unnamed: an activation of matrix products
    cand = cb.let("cand", tanh(W @ x[t] + U @ (fg[t] * h[t - 1])))
    cb.let("h", (1 - fg[t]) * h[t - 1] + fg[t] * cand[t])
    cell = cb.build("h")
    b = derive(cell)
    # scalar oracle: H = I = 1, T = 2, L = u1 h1 + u2 h2
    s = sp.symbols("W U Wf Uf x1 x2 h0 u1 u2")
    Ws, Us, Wfs, Ufs, x1, x2, h0, u1, u2 = s
    sig = lambda a: 1 / (1 + sp.exp(-a))
    def step(xv, hv):
        fv = sig(Wfs * xv + Ufs * hv)
        return (1 - fv) * hv + fv * sp.tanh(Ws * xv + Us * (fv * hv))
    h1 = step(x1, h0); h2 = step(x2, h1)
    L = u1 * h1 + u2 * h2
    point = {Ws: sp.Rational(3, 7), Us: sp.Rational(-5, 4), Wfs: sp.Rational(2, 3),
             Ufs: sp.Rational(1, 5), x1: sp.Rational(-1, 2), x2: sp.Rational(4, 3),
             h0: sp.Rational(1, 3), u1: sp.Rational(2, 5), u2: sp.Rational(-3, 2)}
    # evaluate the derived recurrences at the same point, scalars, T = 2
    vals = {}
    from derive.ir import explicit, MatVec
    scalar = {MatVec: lambda W_, v: W_ * v, MatVecT: lambda W_, g: W_ * g, Outer: lambda g, v: g * v}
    def ev(expr, k):
        e = explicit(expr.subs(t, k))
        for op, fn in scalar.items():
            e = e.replace(op, fn)
        e = e.subs({Q("x")[1]: point[x1], Q("x")[2]: point[x2], Q("h")[0]: point[h0],
                    Delta[1]: point[u1], Delta[2]: point[u2]})
        e = e.subs({p.symbol: point[{"W": Ws, "U": Us, "Wf": Wfs, "Uf": Ufs}[n]]
                    for n, p in cell.params.items()})
        return e.subs(vals)
    for k in (1, 2):
        for eq in cell.equations:
            vals[eq.lhs.subs(t, k)] = sp.N(ev(eq.rhs, k), 40)
    for k in (2, 1):  # adjoints at T + 1 = 3 are zero
        for q in cell.quantities:
            vals[adjoint(q)[3]] = 0
        for eq in b.adjoints:
            vals[eq.lhs.subs(t, k)] = sp.N(ev(eq.rhs, k), 40)
    grads = {str(eq.lhs): sum(sp.N(ev(eq.rhs.function, k), 40) for k in (1, 2))
             for eq in b.gradients}
    init = {str(eq.lhs): sp.N(ev(eq.rhs, 0), 40) for eq in b.initial}
    for name, var in {"W": Ws, "U": Us, "Wf": Wfs, "Uf": Ufs}.items():
        exact = sp.N(sp.diff(L, var).subs(point), 40)
        assert abs(grads[f"delta_{name}"] - exact) < 1e-30, name
    assert abs(init["delta_h[0]"] - sp.N(sp.diff(L, h0).subs(point), 40)) < 1e-30
    assert abs(vals[adjoint("x")[1]] - sp.N(sp.diff(L, x1).subs(point), 40)) < 1e-30


def test_bad_cells_are_rejected_with_a_named_error():
    cb = CellBuilder("bad", "test")
    h = cb.quantity("h")
    cb.let("h", tanh(h[t - 2]))
    with pytest.raises(CellError, match="reads h\\[t - 2\\]"):
        cb.build("h")
    cb = CellBuilder("bad", "test")
    cb.let("a", tanh(cb.quantity("b")[t]))
    with pytest.raises(CellError, match="reads b\\[t\\] before it is defined"):
        cb.build("a")
    with pytest.raises(CellError, match="unknown cell 'lstn'"):
        get_cell("lstn")


def test_folded_adjoint_read_at_t_plus_1_is_substituted():
    """A non-state quantity that reads a state at t-1 (h_in = f h^{t-1}): its adjoint at t+1
    is folded into the state's recurrence, and the result matches the unrolled derivative."""
    from verify.unrolled import check_unrolled
    cb = CellBuilder("inner", "test")
    x, h = cb.x, cb.quantity("h")
    W, U = cb.weight("W", "I"), cb.weight("U")
    f = cb.let("f", sigmoid(cb.let("fbar", W @ x[t] + U @ h[t - 1])[t]))
    h_in = cb.let("h_in", f[t] * h[t - 1])
    cb.let("h", tanh(h_in[t]))
    cell = cb.build("h")
    b = derive(cell)
    kept = b.adjoints + b.initial + b.gradients
    assert not any(eq.rhs.has(adjoint("h_in")) for eq in kept)
    assert check_unrolled(cell, steps=3).ok
