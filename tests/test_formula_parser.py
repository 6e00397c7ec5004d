r"""Tests for verify.formula: published RNN/LSTM/GRU equations, typographic variants, errors."""
from __future__ import annotations

import doctest
from fractions import Fraction
from functools import reduce

import pytest

from verify import formula
from verify.formula import (Adjoint, BinOp, Call, Equation, FormulaSyntaxError, Neg, Node, Num,
                            Index, Pow, StepLoss, Sum, Sym, Transpose, parse_formula)


# ---------------------------------------------------------------- tree builders (columns ignored)
def _n(x) -> Node | None:
    """None -> None, int -> Num, "t" -> Sym, "c iota" -> product of Syms, a Node as is."""
    if x is None or isinstance(x, Node):
        return x
    if isinstance(x, int):
        return Num(x)
    return J(*(Sym(word) for word in x.split()))


def S(name: str, sub=None, sup=None, accent: str | None = None) -> Node:
    return Sym(name, accent, _n(sub), _n(sup))


def U(name: str, sup="t") -> Node:  # Greff's time superscript
    return Sym(name, None, None, _n(sup))


def Bar(name: str, sup="t") -> Node:
    return Sym(name, "bar", None, _n(sup))


def _chain(op: str):
    return lambda *xs: reduce(lambda a, b: BinOp(op, _n(a), _n(b)), xs)


J, O, P = _chain("juxt"), _chain("odot"), _chain("+")


def M(a, b) -> Node:
    return BinOp("-", _n(a), _n(b))


def C(name: str, arg, primes: int = 0, sub=None, power: int = 1) -> Node:
    return Call(name, primes, (_n(arg),), _n(sub), power)


def Pw(base, exp: int) -> Node:
    return Pow(_n(base), Num(exp))


def Sm(index, lower, upper, body) -> Node:
    return Sum(_n(index), _n(lower), _n(upper), body)


A, T, E = Adjoint, Transpose, Equation
tm1, tp1 = M("t", 1), P(Sym("t"), Num(1))

# ---------------------------------------------------------------- published equations, exact trees
GRAVES = [
    (r"a_h^t=\sum_{i=1}^{I} w_{ih}x_i^t+\sum_{h'=1}^{H} w_{h'h}b_{h'}^{t-1}",
     E(S("a", "h", "t"), P(Sm("i", 1, "I", J(S("w", "i h"), S("x", "i", "t"))),
                           Sm("h'", 1, "H", J(S("w", "h' h"), S("b", "h'", tm1)))))),
    (r"\delta_h^t=\theta'(a_h^t)\Big(\sum_{k=1}^{K}\delta_k^t w_{hk}"
     r"+\sum_{h'=1}^{H}\delta_{h'}^{t+1}w_{hh'}\Big)",
     E(S("delta", "h", "t"),
       J(C("theta", S("a", "h", "t"), 1),
         P(Sm("k", 1, "K", J(S("delta", "k", "t"), S("w", "h k"))),
           Sm("h'", 1, "H", J(S("delta", "h'", tp1), S("w", "h h'"))))))),
    (r"\frac{\partial\mathcal L}{\partial w_{ij}}=\sum_{t=1}^{T}\delta_j^t\,b_i^t",
     E(A(S("w", "i j")), Sm("t", 1, "T", J(S("delta", "j", "t"), S("b", "i", "t"))))),
    (r"a_\iota^t=\sum_{i=1}^{I}w_{i\iota}x_i^t+\sum_{h=1}^{H}w_{h\iota}b_h^{t-1}"
     r"+\sum_{c=1}^{C}w_{c\iota}s_c^{t-1}",
     E(S("a", "iota", "t"), P(Sm("i", 1, "I", J(S("w", "i iota"), S("x", "i", "t"))),
                              Sm("h", 1, "H", J(S("w", "h iota"), S("b", "h", tm1))),
                              Sm("c", 1, "C", J(S("w", "c iota"), S("s", "c", tm1)))))),
    (r"s_c^t=b_\phi^t s_c^{t-1}+b_\iota^t g(a_c^t)",
     E(S("s", "c", "t"), P(J(S("b", "phi", "t"), S("s", "c", tm1)),
                           J(S("b", "iota", "t"), C("g", S("a", "c", "t")))))),
    (r"b_c^t=b_\omega^t h(s_c^t)",
     E(S("b", "c", "t"), J(S("b", "omega", "t"), C("h", S("s", "c", "t"))))),
    (r"\epsilon_c^t=\sum_{k=1}^{K}w_{ck}\delta_k^t+\sum_{g=1}^{G}w_{cg}\delta_g^{t+1}",
     E(S("epsilon", "c", "t"), P(Sm("k", 1, "K", J(S("w", "c k"), S("delta", "k", "t"))),
                                 Sm("g", 1, "G", J(S("w", "c g"), S("delta", "g", tp1)))))),
    (r"\delta_\omega^t=f'(a_\omega^t)\sum_{c=1}^{C}h(s_c^t)\epsilon_c^t",
     E(S("delta", "omega", "t"),
       J(C("f", S("a", "omega", "t"), 1),
         Sm("c", 1, "C", J(C("h", S("s", "c", "t")), S("epsilon", "c", "t")))))),
    (r"\epsilon_s^t=b_\omega^t h'(s_c^t)\epsilon_c^t+b_\phi^{t+1}\epsilon_s^{t+1}"
     r"+w_{c\iota}\delta_\iota^{t+1}+w_{c\phi}\delta_\phi^{t+1}+w_{c\omega}\delta_\omega^t",
     E(S("epsilon", "s", "t"),
       P(J(S("b", "omega", "t"), C("h", S("s", "c", "t"), 1), S("epsilon", "c", "t")),
         J(S("b", "phi", tp1), S("epsilon", "s", tp1)),
         J(S("w", "c iota"), S("delta", "iota", tp1)),
         J(S("w", "c phi"), S("delta", "phi", tp1)),
         J(S("w", "c omega"), S("delta", "omega", "t"))))),
    (r"\delta_c^t=b_\iota^t g'(a_c^t)\epsilon_s^t",
     E(S("delta", "c", "t"),
       J(S("b", "iota", "t"), C("g", S("a", "c", "t"), 1), S("epsilon", "s", "t")))),
    (r"\delta_\phi^t=f'(a_\phi^t)\sum_{c=1}^{C}s_c^{t-1}\epsilon_s^t",
     E(S("delta", "phi", "t"), J(C("f", S("a", "phi", "t"), 1),
                                 Sm("c", 1, "C", J(S("s", "c", tm1), S("epsilon", "s", "t")))))),
]

GREFF = [
    (r"\bar z^t=W_zx^t+R_zy^{t-1}+b_z",
     E(Bar("z"), P(J(S("W", "z"), U("x")), J(S("R", "z"), U("y", tm1)), S("b", "z")))),
    (r"i^t=\sigma(\bar i^t)", E(U("i"), C("sigma", Bar("i")))),
    (r"\bar o^t=W_ox^t+R_oy^{t-1}+p_o\odot c^t+b_o",
     E(Bar("o"), P(J(S("W", "o"), U("x")), J(S("R", "o"), U("y", tm1)),
                   O(S("p", "o"), U("c")), S("b", "o")))),
    (r"c^t=z^t\odot i^t+c^{t-1}\odot f^t",
     E(U("c"), P(O(U("z"), U("i")), O(U("c", tm1), U("f"))))),
    (r"y^t=h(c^t)\odot o^t", E(U("y"), O(C("h", U("c")), U("o")))),
    (r"\delta y^t=\Delta^t+R_z^\top\delta z^{t+1}+R_i^\top\delta i^{t+1}+R_f^\top\delta f^{t+1}"
     r"+R_o^\top\delta o^{t+1}",
     E(A(U("y")), P(U("Delta"), *(J(T(S("R", g)), A(U(g, tp1))) for g in "zifo")))),
    (r"\delta\bar o^t=\delta y^t\odot h(c^t)\odot\sigma'(\bar o^t)",
     E(A(Bar("o")), O(A(U("y")), C("h", U("c")), C("sigma", Bar("o"), 1)))),
    (r"\delta c^t=\delta y^t\odot o^t\odot h'(c^t)+p_o\odot\delta\bar o^t"
     r"+p_i\odot\delta\bar i^{t+1}+p_f\odot\delta\bar f^{t+1}+\delta c^{t+1}\odot f^{t+1}",
     E(A(U("c")), P(O(A(U("y")), U("o"), C("h", U("c"), 1)), O(S("p", "o"), A(Bar("o"))),
                    O(S("p", "i"), A(Bar("i", tp1))), O(S("p", "f"), A(Bar("f", tp1))),
                    O(A(U("c", tp1)), U("f", tp1))))),
    (r"\delta\bar f^t=\delta c^t\odot c^{t-1}\odot\sigma'(\bar f^t)",
     E(A(Bar("f")), O(A(U("c")), U("c", tm1), C("sigma", Bar("f"), 1)))),
    (r"\delta x^t=W_z^\top\delta\bar z^t+W_i^\top\delta\bar i^t+W_f^\top\delta\bar f^t"
     r"+W_o^\top\delta\bar o^t",
     E(A(U("x")), P(*(J(T(S("W", g)), A(Bar(g))) for g in "zifo")))),
    (r"\delta W_z=\sum_{t=0}^{T}\langle\delta\bar z^t, x^t\rangle",
     E(A(S("W", "z")), Sm("t", 0, "T", Call("outer", 0, (A(Bar("z")), U("x")))))),
]

PYTORCH_CHO = [
    (r"h_t=\tanh(W_{ih}x_t+b_{ih}+W_{hh}h_{t-1}+b_{hh})",
     E(S("h", "t"), C("tanh", P(J(S("W", "i h"), S("x", "t")), S("b", "i h"),
                                J(S("W", "h h"), S("h", tm1)), S("b", "h h"))))),
    (r"c_t=f_t\odot c_{t-1}+i_t\odot g_t",
     E(S("c", "t"), P(O(S("f", "t"), S("c", tm1)), O(S("i", "t"), S("g", "t"))))),
    (r"n_t=\tanh(W_{in}x_t+b_{in}+r_t\odot(W_{hn}h_{t-1}+b_{hn}))",
     E(S("n", "t"), C("tanh", P(J(S("W", "i n"), S("x", "t")), S("b", "i n"),
                                O(S("r", "t"), P(J(S("W", "h n"), S("h", tm1)),
                                                 S("b", "h n"))))))),
    (r"h_t=(1-z_t)\odot n_t+z_t\odot h_{t-1}",
     E(S("h", "t"), P(O(M(1, S("z", "t")), S("n", "t")), O(S("z", "t"), S("h", tm1))))),
    (r"r=\sigma(W_rx+U_rh^{\langle t-1\rangle})",
     E(S("r"), C("sigma", P(J(S("W", "r"), S("x")), J(S("U", "r"), U("h", tm1)))))),
    (r"\tilde h^{\langle t\rangle}=\phi(Wx+U(r\odot h^{\langle t-1\rangle}))",
     E(S("h", None, "t", "tilde"),
       C("phi", P(J(S("W"), S("x")), C("U", O(S("r"), U("h", tm1))))))),
    (r"h^{\langle t\rangle}=z\odot h^{\langle t-1\rangle}+(1-z)\odot\tilde h^{\langle t\rangle}",
     E(U("h"), P(O(S("z"), U("h", tm1)), O(M(1, S("z")), S("h", None, "t", "tilde"))))),
    (r"\frac{\partial L}{\partial h_t} = W_{hh}^T \frac{\partial L}{\partial a_{t+1}}",
     E(A(S("h", "t")), J(S("W", "h h", "T"), A(S("a", tp1))))),
    (r"\nabla_{c_t} L = \nabla_{c_{t+1}} L \odot f_{t+1}",
     E(A(S("c", "t")), O(A(S("c", tp1)), S("f", tp1)))),
]

PUBLISHED = GRAVES + GREFF + PYTORCH_CHO


@pytest.mark.parametrize("text,tree", PUBLISHED, ids=[t for t, _ in PUBLISHED])
def test_published_equation_tree(text, tree):
    assert parse_formula(text) == tree


@pytest.mark.parametrize("text", [t for t, _ in PUBLISHED])
def test_str_parses_back_to_the_same_tree(text):
    tree = parse_formula(text)
    assert parse_formula(str(tree)) == tree


# ---------------------------------------------------------------- single constructs
CASES = [
    # adjoints
    (r"\delta c^{t+1}", A(U("c", tp1))),
    (r"\delta \bar{z}^t", A(Bar("z"))),
    (r"\delta W_z", A(S("W", "z"))),
    (r"\frac{\partial \mathcal{L}}{\partial W}", A(S("W"))),
    (r"\delta W^\top", A(T(S("W")))),
    # Graves' deltas and epsilons are plain symbols
    (r"\delta_\omega^t", S("delta", "omega", "t")),
    (r"\delta_{h'}^{t+1}", S("delta", "h'", tp1)),
    (r"\epsilon_s^t", S("epsilon", "s", "t")),
    (r"\delta", S("delta")),
    # calls
    (r"\sigma'(\bar o^t)", C("sigma", Bar("o"), 1)),
    (r"f'(a_\omega^t)", C("f", S("a", "omega", "t"), 1)),
    (r"f''(a)", C("f", "a", 2)),
    (r"f^\prime(a)", C("f", "a", 1)),
    (r"\theta_h(a_h^t)", C("theta", S("a", "h", "t"), sub="h")),
    (r"\sigma_g(x)", C("sigma", "x", sub="g")),
    (r"\tanh c_t", C("tanh", S("c", "t"))),
    (r"\tanh (c_t)", C("tanh", S("c", "t"))),
    (r"\exp(-x)", C("exp", Neg(S("x")))),
    (r"\log x", C("log", "x")),
    (r"\operatorname{sigmoid}(x)", C("sigmoid", "x")),
    (r"\mathrm{sigm}(x)", C("sigm", "x")),
    (r"\mathrm{foo}(x)", C("foo", "x")),
    (r"\mathrm{foo} (x)", J(S("foo"), S("x"))),
    (r"U(r \odot h)", C("U", O("r", "h"))),
    (r"\phi(Wx)", C("phi", J("W", "x"))),
    # a Call needs "(" directly after the name (+ subscript/primes); otherwise a product
    (r"h_t(1 - z_t)", C("h", M(1, S("z", "t")), sub="t")),
    (r"h_t (1 - z_t)", J(S("h", "t"), M(1, S("z", "t")))),
    (r"h_t\,(1 - z_t)", J(S("h", "t"), M(1, S("z", "t")))),
    (r"f (a)", J("f", "a")),
    (r"h^t(x)", J(U("h"), S("x"))),
    (r"\bar h(x)", J(Bar("h", None), S("x"))),
    (r"R^\top(x)", J(T(S("R")), S("x"))),
    (r"\theta'(a)\Big(b\Big)", J(C("theta", "a", 1), S("b"))),
    # sums: the body is the product term that follows
    (r"\sum_{c=1}^{C} X", Sm("c", 1, "C", S("X"))),
    (r"\sum_{k} X", Sm("k", None, None, S("X"))),
    (r"\sum_k X", Sm("k", None, None, S("X"))),
    (r"\sum_{h'=1}^H X", Sm("h'", 1, "H", S("X"))),
    (r"\sum^T_{t=1} x_t", Sm("t", 1, "T", S("x", "t"))),
    (r"\sum_t X", Sm("t", None, None, S("X"))),
    (r"\sum X", Sm(None, None, None, S("X"))),
    (r"\sum_c (a + b)", Sm("c", None, None, P("a", "b"))),
    (r"\sum_k a \odot b c + d", P(Sm("k", None, None, J(O("a", "b"), "c")), "d")),
    (r"\sum_k w_{ck}\delta_k^t + \sum_g w_{cg}\delta_g^{t+1}",
     P(Sm("k", None, None, J(S("w", "c k"), S("delta", "k", "t"))),
       Sm("g", None, None, J(S("w", "c g"), S("delta", "g", tp1))))),
    (r"(\sum_k a) b", J(Sm("k", None, None, S("a")), S("b"))),
    (r"-\sum_k a - b", M(Neg(Sm("k", None, None, S("a"))), "b")),
    # operators and precedence
    (r"a + b \odot c", P("a", O("b", "c"))),
    (r"a - b - c", M(M("a", "b"), "c")),
    (r"a - (b - c)", M("a", M("b", "c"))),
    (r"-a + b", P(Neg(S("a")), "b")),
    (r"-a b", Neg(J("a", "b"))),
    (r"a \odot b c", J(O("a", "b"), "c")),
    (r"a \cdot b \circ c \times d * e / f",
     BinOp("/", BinOp("*", BinOp("times", BinOp("circ", BinOp("cdot", S("a"), S("b")), S("c")),
                                 S("d")), S("e")), S("f"))),
    (r"\frac{a + b}{c}", BinOp("/", P("a", "b"), S("c"))),
    (r"a / b c", J(BinOp("/", S("a"), S("b")), "c")),
    (r"2 h", J(Num(2), S("h"))),
    (r"2h", J(Num(2), S("h"))),
    (r"0.5 x", J(Num(Fraction(1, 2)), S("x"))),
    (r"Wx", J("W", "x")),
    (r"x_12", J(S("x", 1), Num(2))),  # TeX takes one character as an unbraced script
    # symbols, scripts, accents, fonts
    (r"w_{h'h}", S("w", "h' h")),
    (r"W_{hn}", S("W", "h n")),
    (r"w_{c\iota}", S("w", "c iota")),
    (r"a_\omega^t", S("a", "omega", "t")),
    (r"W_{hh}^T", S("W", "h h", "T")),
    (r"W^T", S("W", None, "T")),
    (r"\Delta^t", U("Delta")),
    (r"\varepsilon_c^t", S("epsilon", "c", "t")),
    (r"\varphi", S("phi")),
    (r"\ell", S("ell")),
    (r"\hat y", S("y", accent="hat")),
    (r"W_{\mathrm{in}}", S("W", J("i", "n"))),  # a roman label is its letters
    (r"W_\mathrm{xi}", S("W", J("x", "i"))),   # never \xi
    (r"W^{(hh)}", S("W", sup=J("h", "h"))),
    (r"\widetilde{C_t}", S("C", "t", accent="tilde")),
    (r"h_{t,j}", S("h", BinOp(",", S("t"), S("j")))),
    (r"[W x]_j", Index(J("W", "x"), S("j"))),
    (r"\sigma(a)_j", Index(C("sigma", "a"), S("j"))),
    (r"\sigma(a)^j", Index(C("sigma", "a"), S("j"))),  # Chung et al. 2014
    (r"\partial_{h_t} L", Adjoint(S("h", "t"))),
    (r"h^{(t),T}", Transpose(S("h", sup="t"))),
    (r"h^{(t-1)T}", Transpose(S("h", sup=M("t", 1)))),
    (r"h^{(t-1)^\top}", Transpose(S("h", sup=M("t", 1)))),  # Goodfellow's print
    (r"h^{(t)^T}", Transpose(S("h", sup="t"))),
    (r"[h_{t-1}, x_t]", Call("concat", 0, (S("h", M("t", 1)), S("x", "t")))),
    (r"\partial \ell_t/\partial h_t", StepLoss(S("ell", "t"), S("h", "t"))),
    (r"\frac{\partial L^{(t)}}{\partial h^{(t)}}", StepLoss(S("L", sup="t"), S("h", sup="t"))),
    (r"h_t := c_t \tag{3}", Equation(S("h", "t"), S("c", "t"))),  # as pasted from a paper
    (r"h_t \coloneqq c_t \label{eq:h} \nonumber", Equation(S("h", "t"), S("c", "t"))),
    (r"\mathbf{h_t}", S("h", "t")),
    (r"\bm\delta_t", S("delta", "t")),
    (r"\mathbf{1} - z", M(1, "z")),
    # transposes
    (r"R_z^\top", T(S("R", "z"))),
    (r"W^{t\top}", T(U("W"))),
    (r"(W x)^\top", T(J("W", "x"))),
    # outer product, equations
    (r"\langle a, b\rangle", Call("outer", 0, (S("a"), S("b")))),
    (r"a = b", E(S("a"), S("b"))),
]

# Powers: of a function (its value) or of a parenthesised group; a superscript on a symbol stays
# a (time) superscript, and a name with one before "(" is a product unless it is a power 2, 3, ...
POWERS = [
    (r"1 - \tanh^2(c^t)", M(1, C("tanh", U("c"), power=2))),
    (r"1-\tanh^{2}(s_c^t)", M(1, C("tanh", S("s", "c", "t"), power=2))),
    (r"\tanh^2 c_t", C("tanh", S("c", "t"), power=2)),
    (r"\tanh(c_t)^2", C("tanh", S("c", "t"), power=2)),
    (r"\sigma^2(x)", C("sigma", "x", power=2)),
    (r"\sigma_g^3(x)", C("sigma", "x", sub="g", power=3)),
    (r"\sigma'^2(x)", C("sigma", "x", 1, power=2)),
    (r"g^2(a_c^t)", C("g", S("a", "c", "t"), power=2)),
    (r"h_t^2(x)", C("h", "x", sub="t", power=2)),
    (r"(1 - o^t)^2", Pw(M(1, U("o")), 2)),
    (r"\left(1-z_t\right)^{2}", Pw(M(1, S("z", "t")), 2)),
    (r"(h^t)^2", Pw(U("h"), 2)),
    (r"(1 + x)^{-1}", Pw(P(1, "x"), -1)),
    (r"(\tanh(x))^2", Pw(C("tanh", "x"), 2)),
    (r"\tanh((x)^2)", C("tanh", Pw("x", 2))),
    (r"-(x)^2", Neg(Pw("x", 2))),
    (r"(x)^12", J(Pw("x", 1), Num(2))),  # one character, as in TeX
    (r"1-(z^t)^2", M(1, Pw(U("z"), 2))),
    (r"i^t(z^t)^2", J(U("i"), Pw(U("z"), 2))),
    (r"\tanh(x)^\top", T(C("tanh", "x"))),
    # not powers
    (r"o_t^2", S("o", "t", 2)),
    (r"o^t(1-o^t)", J(U("o"), M(1, U("o")))),
    (r"h^1(x)", J(U("h", 1), S("x"))),
    (r"\sigma(x)(1-\sigma(x))", J(C("sigma", "x"), M(1, C("sigma", "x")))),
    (r"\tanh c_t^2", C("tanh", S("c", "t", 2))),
]


@pytest.mark.parametrize("text,tree", POWERS, ids=[t for t, _ in POWERS])
def test_power(text, tree):
    result = parse_formula(text)
    assert result == tree
    assert parse_formula(str(result)) == result


@pytest.mark.parametrize("text,tree", CASES, ids=[t for t, _ in CASES])
def test_construct(text, tree):
    result = parse_formula(text)
    assert result == tree
    assert parse_formula(str(result)) == result


# ---------------------------------------------------------------- typographic variants
VARIANTS = [
    [r"s_c^{t-1}", r"s^{t-1}_c", r"s_{c}^{t - 1}", r"s _c ^{t-1}"],
    [r"\tanh\left( W x \right)", r"\tanh(W x)", r"\tanh\bigl(W x\bigr)", r"\tanh[W x]"],
    [r"h\left(x\right)", r"h(x)", r"h\Big(x\Big)"],
    [r"(a + b) c", r"\left(a + b\right) c", r"[a + b] c", r"\{a + b\} c", r"\Bigg(a+b\Bigg) c",
     r"\big[ a + b \big] c"],
    [r"\sum_{t=1}^{T}\delta_j^t\,b_i^t", r"\sum_{t=1}^{T}\delta_j^t b_i^t",
     r"\sum_{t=1}^{T} \delta_j^t \; b_i^t", r"\sum\limits_{t=1}^{T}\delta_j^t~b_i^t",
     r"\displaystyle\sum_{t=1}^{T}\delta_j^t\quad b_i^t", r"\sum_{t=1}^T\delta_j^t\ b_i^t"],
    [r"R_z^\top", r"R_z^{\top}", r"R_z^\intercal", r"R^\top_z", r"R^{\top}_{z}"],
    [r"\bar{o}", r"\bar o", r"\overline{o}", r"\overline o"],
    [r"\tilde h", r"\tilde{h}", r"\widetilde{h}"],
    [r"\mathbf{W}_z", r"W_z", r"\boldsymbol{W}_z", r"\bm{W}_z", r"\mathrm{W}_z", r"\vec{W}_z"],
    [r"x^t", r"x^{t}", r"x^{\langle t\rangle}", r"x^{(t)}", r"x^{<t>}"],
    [r"\mathcal{L}", r"\mathcal L", r"L"],
    [r"\frac{\partial L}{\partial h_t}", r"\frac{\partial\mathcal L}{\partial h_t}",
     r"\frac{\partial \mathcal{L}}{\partial h_{t}}", r"\partial L / \partial h_t",
     r"\frac{dL}{dh_t}", r"\frac{d L}{d h_t}", r"\nabla_{h_t} L", r"\nabla_{h_t}\mathcal L",
     r"\frac{\partial E}{\partial h_t}", r"\dfrac{\partial \ell}{\partial h_t}", r"\delta h_t"],
    [r"\delta \bar{z}^t", r"\delta\bar z^t", r"\delta\overline{z}^{t}"],
    [r"\varepsilon_s^t", r"\epsilon_s^t"],
    [r"a_h^t = b", r"a_h^t = b,", r"a_h^t = b.", r"a_h^t &= b \\", r"$a_h^t = b$",
     r"\displaystyle a_h^t = b", r"a_h^t \!=\: b"],
    [r"\sigma'(x)", r"\sigma^\prime(x)", r"\sigma' (x)", r"\sigma'\left(x\right)"],
    [r"\tanh^2(c_t)", r"\tanh^{2}(c_t)", r"\tanh^2 c_t", r"\tanh(c_t)^2",
     r"\tanh^2\left(c_t\right)", r"\tanh\left(c_t\right)^{2}", r"\operatorname{tanh}^2(c_t)"],
    [r"(1-o^t)^2", r"\left(1-o^t\right)^{2}", r"\Big(1 - o^{t}\Big)^2", r"[1-o^t]^2"],
]


@pytest.mark.parametrize("variants", VARIANTS, ids=[v[0] for v in VARIANTS])
def test_variants_give_equal_trees(variants):
    trees = [parse_formula(v) for v in variants]
    for v, tree in zip(variants, trees):
        assert tree == trees[0], v


def test_columns_are_kept_but_not_compared():
    eq = parse_formula(r"h_t = a + \tanh(c_t)")
    assert eq.col == 5 and eq.lhs.col == 1 and eq.rhs.col == 9   # "=" and "+": operator columns
    assert eq.rhs.left.col == 7 and eq.rhs.right.col == 11
    assert eq.rhs.right.args[0].col == 17 and eq.rhs.right.args[0].sub.col == 19
    assert parse_formula("a+b") == parse_formula("a   +   b")


def test_power_columns():
    eq = parse_formula(r"h = 1 - \tanh^2(c_t) + (1-o)^{2}")
    call, power = eq.rhs.left.right, eq.rhs.right
    assert (call.col, call.args[0].col) == (9, 17)
    assert (power.col, power.base.col, power.exp.col) == (26, 26, 31)  # a group's: its content's


def test_str_is_latex():
    assert str(parse_formula(r"\delta\bar o^{t+1}")) == r"\delta \bar{o}^{t + 1}"
    assert str(parse_formula(r"R^\top_z")) == r"R_{z}^{\top}"
    assert str(parse_formula(r"\delta_\omega^t=f'(a_\omega^t)\sum_{c=1}^{C}h(s_c^t)\epsilon_c^t")) \
        == r"\delta_{\omega}^{t} = f'(a_{\omega}^{t}) \sum_{c=1}^{C} h(s_{c}^{t}) \epsilon_{c}^{t}"
    assert str(parse_formula(r"(\sum_k a) b")) == r"(\sum_{k} a) b"
    assert str(Num(Fraction(1, 3))) == r"\frac{1}{3}"
    assert str(parse_formula(r"1-\tanh(c_t)^2 + \left(1-z_t\right)^{2}")) \
        == r"1 - \tanh^{2}(c_{t}) + (1 - z_{t})^{2}"


def test_module_doctests():
    result = doctest.testmod(formula)
    assert result.attempted >= 2 and result.failed == 0


# ---------------------------------------------------------------- errors
ERRORS = [
    (r"a^t = b^t +", 12, "unexpected end of input, expected a term after '+'"),
    (r"\delta c^t = \foo(x)", 14, r"unknown command '\foo'"),
    (r"(a + b", 1, "unmatched '('"),
    (r"a + }", 5, "unmatched '}'"),
    (r"h_t = \odot c_t", 7, r"unexpected '\odot', expected a term after '='"),
    (r"h_t = a_t + b_t +\odot c", 18, r"unexpected '\odot', expected a term after '+'"),
    ("", 1, "empty formula"),
    ("  ,", 1, "empty formula"),
    (r"a = b = c", 7, "unexpected '=', expected an operator or end of input after 'b'"),
    (r"(a b = c)", 6, "unexpected '=', expected an operator or ')' after 'b'"),
    (r"x^", 3, "expected a superscript after '^'"),
    (r"x_{}", 4, "unexpected '}', expected a term after '{'"),
    (r"h = \tanh", 10, r"expected a term after '\tanh'"),
    (r"(a]", 3, "']' does not match '(' at column 1"),
    (r"h_t = \sigma(W x_t + b", 13, "unmatched '('"),
    (r"\sum_{i=1 x", 6, "unmatched '{'"),
    (r"\left. x \right)", 6, r"an evaluation bar"),  # \left. opens one (corpus 4)
    (r"\frac{\partial y}{\partial x}", 16, "expected the loss"),
    (r"\nabla_{h h} L", 11, r"expected one symbol as the subscript of '\nabla'"),
    (r"\nabla_h x", 10, "expected the loss"),
    (r"a \top b", 3, r"'\top' is only allowed as a superscript"),
    (r"x_{t}_{s}", 8, "double subscript"),
    (r"(a)^x", 5, "expected an integer exponent of a parenthesised group, found 'x'"),
    (r"(a+b)^{0.5}", 8, "expected an integer exponent of a parenthesised group, found '0.5'"),
    (r"\tanh^{t}(x)", 8, r"expected an integer exponent of '\tanh', found 't'"),
    (r"\tanh^{-1}(x)", 8, r"expected a positive power of '\tanh', found '-1' (a function to"),
    (r"\tanh^2(x)^2", 12, "double superscript"),
    (r"h_t(1-z_t)^2", 12, r"a superscript after 'h_{t}(...)' is ambiguous: write "
                          r"'(h_{t}(...))^{2}' for the function's value, 'h_{t}\,(...)^{2}'"),
    (r"a @ b", 3, "unexpected character '@'"),
    (r"\mathbf", 1, r"expected an argument after '\mathbf'"),
    (r"\bar{\tilde h}", 6, r"unexpected '\tilde', expected a symbol after '{'"),
    (r"\langle a, b, c\rangle", 13, r"unexpected ',', expected an operator or '\rangle'"),
    (r"a.b", 2, "unexpected '.'"),
    ("a = b\\\\\n c = d", 12, "unexpected '='"),  # a line break does not end the equation
]


@pytest.mark.parametrize("text,column,message", ERRORS, ids=[t or "<empty>" for t, *_ in ERRORS])
def test_syntax_error(text, column, message):
    with pytest.raises(FormulaSyntaxError) as info:
        parse_formula(text)
    err = info.value
    assert isinstance(err, ValueError)
    assert err.column == column
    assert str(err).startswith(f"column {column}: ")
    assert message in str(err)
    assert "\n" not in str(err)


def test_error_message_is_exact():
    with pytest.raises(FormulaSyntaxError) as info:
        parse_formula(r"h_t = a_t + b_t +\odot c")
    assert str(info.value) == r"column 18: unexpected '\odot', expected a term after '+'"
