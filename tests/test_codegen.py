"""Generated NumPy kernels: API, layout, dtype, robustness, input checks, structure, LaTeX.

Gradients are checked against central differences here for a custom cell; the built-in
cells are checked in test_numeric.py (finite differences) and test_torch_oracle.py (PyTorch).
"""
import ast
import inspect
import os
import shutil
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import sympy as sp

from derive.cells import get_cell
from derive.codegen import code_latex, generate_module, load_module, write_module
from derive.ir import CellBuilder, CellError, sigmoid, t, tanh
from verify.numeric import central_differences

import kernel_cells

BUILTIN = ["rnn", "lstm", "gru", "graves-lstm"]


def mgu():
    """Minimal gated unit: an unnamed pre-activation and a product of a gated state, so the
    generator has to name both itself."""
    c = CellBuilder("mgu", "Zhou et al. 2016, minimal gated unit", "custom test cell")
    x, h = c.x, c.quantity("h")
    W_f, U_f, b_f = c.weight("W_f", "I"), c.weight("U_f"), c.vector("b_f")
    W, U, b = c.weight("W", "I"), c.weight("U"), c.vector("b")
    f = c.let("f", sigmoid(W_f @ x[t] + U_f @ h[t - 1] + b_f))
    c.let("h", f[t] * h[t - 1] + (1 - f[t]) * tanh(W @ x[t] + U @ (f[t] * h[t - 1]) + b))
    return c.build("h")


CELLS = {**{name: (lambda name=name: get_cell(name)) for name in BUILTIN}, "mgu": mgu}
_modules = {}


def kernel(name):
    if name not in _modules:
        _modules[name] = load_module(CELLS[name]())
    return _modules[name]


def problem(m, T=5, B=3, I=4, H=6, dtype=np.float64, seed=1, scale=1.0):
    rng = np.random.default_rng(seed)
    params = m.init_params(I, H, seed=seed, dtype=dtype)
    x = (scale * rng.standard_normal((T, B, I))).astype(dtype)
    state0 = {s: rng.standard_normal((B, H)).astype(dtype) for s in m.STATE}
    dy = rng.standard_normal((T, B, H)).astype(dtype)
    dstateT = {s: rng.standard_normal((B, H)).astype(dtype) for s in m.STATE}
    return params, x, state0, dy, dstateT


# --- API ------------------------------------------------------------------------------------

def test_module_constants():
    assert kernel("lstm").STATE == ("h", "c")
    assert kernel("rnn").STATE == ("h",) and kernel("gru").STATE == ("h",)
    assert kernel("graves-lstm").STATE == ("y", "c")
    assert kernel("gru").CELL == "gru"


def test_graves_lstm_packs_W_R_b_and_keeps_peepholes():
    assert kernel("graves-lstm").param_shapes(3, 5) == {
        "W": (20, 3), "R": (20, 5), "b": (20,), "p_i": (5,), "p_f": (5,), "p_o": (5,)}


def test_unpack_gives_views_in_stack_order():
    m = kernel("lstm")
    params = m.init_params(3, 4)
    blocks = m.unpack(params)
    assert np.array_equal(blocks["W_if"], params["weight_ih"][4:8])   # gate order i, f, g, o
    assert np.array_equal(blocks["b_ho"], params["bias_hh"][12:16])
    assert np.shares_memory(blocks["W_hg"], params["weight_hh"])


@pytest.mark.parametrize("name", BUILTIN)
def test_missing_state_and_dstate_mean_zero(name):
    m = kernel(name)
    params, x, _, dy, _ = problem(m)
    zeros = {s: np.zeros((x.shape[1], 6)) for s in m.STATE}
    y, stateT, cache = m.forward(params, x)
    y0, stateT0, cache0 = m.forward(params, x, zeros)
    assert np.array_equal(y, y0) and all(np.array_equal(stateT[s], stateT0[s]) for s in m.STATE)
    got, want = m.backward(params, cache, dy), m.backward(params, cache0, dy, zeros)
    assert all(np.array_equal(got[0][k], want[0][k]) for k in params)
    assert np.array_equal(got[1], want[1])


def test_output_is_a_read_only_view_and_states_are_copies():
    m = kernel("lstm")
    params, x, state0, dy, _ = problem(m)
    y, stateT, cache = m.forward(params, x, state0)
    with pytest.raises(ValueError):
        y[0, 0, 0] = 1.0
    stateT["c"][:] = 0.0
    assert not np.array_equal(cache["c"][-1], stateT["c"])


def test_array_likes_are_accepted_as_arrays():
    m = kernel("rnn")
    params, x, state0, dy, _ = problem(m)
    y, _, cache = m.forward({k: v.tolist() for k, v in params.items()}, x.tolist(), state0)
    assert np.array_equal(y, m.forward(params, x, state0)[0])
    dparams, _, _ = m.backward({k: v.tolist() for k, v in params.items()}, cache, dy.tolist())
    assert all(isinstance(v, np.ndarray) for v in dparams.values())


def test_single_step_sequence():
    m = kernel("gru")
    params, x, state0, dy, dstateT = problem(m, T=1)
    y, stateT, cache = m.forward(params, x, state0)
    dparams, dx, dstate0 = m.backward(params, cache, dy, dstateT)
    assert y.shape == (1, 3, 6) and dx.shape == x.shape


# --- a custom cell ----------------------------------------------------------------------------

def test_custom_cell_gradients_match_central_differences():
    m = kernel("mgu")
    params, x, state0, dy, dstateT = problem(m, T=4, B=2, I=3, H=3)

    def loss():
        y, stateT, _ = m.forward(params, x, state0)
        return np.sum(dy * y) + np.sum(dstateT["h"] * stateT["h"])
    _, _, cache = m.forward(params, x, state0)
    dparams, dx, dstate0 = m.backward(params, cache, dy, dstateT)
    for name, p in params.items():
        np.testing.assert_allclose(dparams[name], central_differences(loss, p, 1e-6),
                                   rtol=1e-6, atol=1e-8, err_msg=name)
    np.testing.assert_allclose(dx, central_differences(loss, x, 1e-6), rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(dstate0["h"], central_differences(loss, state0["h"], 1e-6),
                               rtol=1e-6, atol=1e-8)


def test_unsupported_operation_is_named():
    c = CellBuilder("wavy", "test", "")
    x, h = c.x, c.quantity("h")
    W, U = c.weight("W", "I"), c.weight("U")
    c.let("h", sp.sin(W @ x[t] + U @ h[t - 1]))
    # refused when the cell is built, before any stage could fail on it
    with pytest.raises(CellError, match="equation h: operation sin .* is not supported"):
        c.build("h")


def test_weight_outside_a_product_is_rejected():
    c = CellBuilder("odd", "test", "")
    x, h = c.x, c.quantity("h")
    W, U = c.weight("W", "I"), c.weight("U")
    c.let("h", tanh(W @ x[t] + U * h[t - 1]))
    with pytest.raises(CellError, match="matrix U is used elementwise"):
        c.build("h")


# --- dtype and robustness ---------------------------------------------------------------------

@pytest.mark.parametrize("name", BUILTIN)
def test_float32_stays_float32(name):
    m = kernel(name)
    params, x, state0, dy, dstateT = problem(m, dtype=np.float32)
    y, stateT, cache = m.forward(params, x, state0)
    dparams, dx, dstate0 = m.backward(params, cache, dy, dstateT)
    arrays = [y, dx, *stateT.values(), *dstate0.values(), *dparams.values()]
    assert {a.dtype for a in arrays} == {np.dtype(np.float32)}
    assert {k: v.shape for k, v in dparams.items()} == {k: v.shape for k, v in params.items()}
    # and it computes the same function as float64, to float32 precision
    p64 = {k: v.astype(np.float64) for k, v in params.items()}
    y64, _, c64 = m.forward(p64, x.astype(np.float64), {s: a.astype(np.float64)
                                                        for s, a in state0.items()})
    d64 = m.backward(p64, c64, dy.astype(np.float64), {s: a.astype(np.float64)
                                                       for s, a in dstateT.items()})
    assert np.abs(y - y64).max() < 1e-5 and np.abs(dx - d64[1]).max() < 1e-4


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", BUILTIN)
def test_large_inputs_stay_finite_without_warnings(name, dtype):
    m = kernel(name)
    for scale in (1.0, 1e1, 1e2, 1e3):
        params, x, state0, dy, dstateT = problem(m, dtype=dtype, scale=scale)
        x[0, 0, 0] = scale * np.sign(x[0, 0, 0])   # |x| reaches the scale itself
        with np.errstate(all="raise"):
            y, stateT, cache = m.forward(params, x, state0)
            dparams, dx, dstate0 = m.backward(params, cache, dy, dstateT)
        for a in (y, dx, *stateT.values(), *dstate0.values(), *dparams.values()):
            assert np.isfinite(a).all()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_sigmoid_is_stable_and_exact(dtype):
    sigma = kernel("lstm").sigma
    a = np.array([-1e4, -50.0, -3.0, 0.0, 2.5, 50.0, 1e4], dtype)
    with np.errstate(all="raise"):
        s = sigma(a)
    assert s.dtype == dtype
    moderate = np.abs(a) < 60
    exact = 1 / (1 + np.exp(-a[moderate].astype(np.float64)))
    tol = 1e-15 if dtype == np.float64 else 1e-7
    assert np.abs(s[moderate] - exact).max() < tol
    assert s[0] == 0 and s[-1] == 1


# --- bad input ------------------------------------------------------------------------------

def _bad_calls():
    """(description, call, expected message fragment)."""
    m = kernel("lstm")
    params, x, state0, dy, dstateT = problem(m, I=4, H=6)

    def with_param(name, value):
        return {**params, name: value}
    _, _, cache = m.forward(params, x, state0)
    missing = dict(params)
    del missing["bias_hh"]
    return [
        ("x not 3-d", lambda: m.forward(params, x[0]), r"x: expected shape \(T, B, I\), T and B >= 1, got \(3, 4\)"),
        ("wrong weight shape", lambda: m.forward(with_param("weight_hh", params["weight_hh"][:, :5]), x),
         r"params\['weight_hh'\]: expected shape \(24, 6\), got \(24, 5\)"),
        ("x columns vs weight_ih", lambda: m.forward(params, x[:, :, :3]),
         r"params\['weight_ih'\]: expected shape \(24, 3\), got \(24, 4\)"),
        ("missing parameter", lambda: m.forward(missing, x),
         r"params: missing 'bias_hh' \(expected shape \(24,\)\)"),
        ("extra parameter", lambda: m.forward(with_param("weight_hr", params["weight_hh"]), x),
         r"params: unexpected 'weight_hr'; expected weight_ih, weight_hh, bias_ih, bias_hh"),
        ("mixed dtypes", lambda: m.forward(with_param("bias_ih", params["bias_ih"].astype(np.float32)), x),
         r"params\['bias_ih'\]: dtype float32 differs from x's float64 \(expected shape \(24,\)\)"),
        ("integer input", lambda: m.forward(params, x.astype(int)), r"x: expected dtype float32 or float64"),
        ("state0 shape", lambda: m.forward(params, x, {"c": state0["c"][:2]}),
         r"state0\['c'\]: expected shape \(3, 6\), got \(2, 6\)"),
        ("unknown state", lambda: m.forward(params, x, {"s": state0["c"]}),
         r"state0: unexpected 's'; the states are h, c"),
        ("dy shape", lambda: m.backward(params, cache, dy[1:]), r"dy: expected shape \(5, 3, 6\)"),
        ("dy dtype", lambda: m.backward(params, cache, dy.astype(np.float32)),
         r"dy: dtype float32 differs from x's float64"),
        ("dstateT shape", lambda: m.backward(params, cache, dy, {"h": dy[0, :, :2]}),
         r"dstateT\['h'\]: expected shape \(3, 6\)"),
        ("backward params", lambda: m.backward(with_param("bias_ih", params["bias_ih"][:6]), cache, dy),
         r"params\['bias_ih'\]: expected shape \(24,\), got \(6,\)"),
    ]


@pytest.mark.parametrize("case", range(len(_bad_calls())))
def test_bad_input_raises_value_error_naming_it(case):
    what, call, message = _bad_calls()[case]
    with pytest.raises(ValueError, match=message) as info:
        call()
    assert "\n" not in str(info.value), what


# --- the generated source -----------------------------------------------------------------------

def _function(source, name):
    return next(node for node in ast.walk(ast.parse(source))
                if isinstance(node, ast.FunctionDef) and node.name == name)


def _calls(node, name):
    return [n for n in ast.walk(node) if isinstance(n, ast.Call)
            and isinstance(n.func, ast.Attribute) and n.func.attr == name]


@pytest.mark.parametrize("name", BUILTIN + ["mgu"])
def test_the_only_python_loop_is_the_one_over_time(name):
    source = generate_module(CELLS[name]())
    for fn in ("forward", "backward"):
        node = _function(source, fn)
        loops = [n for n in ast.walk(node) if isinstance(n, (ast.For, ast.While, ast.comprehension))]
        assert len(loops) == 1 and isinstance(loops[0], ast.For), fn
        assert ast.unparse(loops[0].iter) in ("range(1, T + 1)", "range(T, 0, -1)")


@pytest.mark.parametrize("name", ["lstm", "gru", "graves-lstm"])
def test_products_are_stacked(name):
    """One recurrent product per step each way; input products, dx and each dW after the loop."""
    source = generate_module(get_cell(name))
    forward, backward = _function(source, "forward"), _function(source, "backward")
    loop_f = next(n for n in ast.walk(forward) if isinstance(n, ast.For))
    loop_b = next(n for n in ast.walk(backward) if isinstance(n, ast.For))
    assert len(_calls(loop_f, "matmul")) == 1 and len(_calls(loop_b, "matmul")) == 1
    assert len(_calls(forward, "matmul")) == 2            # + all input products at once
    after = ast.unparse(backward).split("for t in range")[1]
    assert after.count("_outer_sum(") == 2 and after.count("_steps_matmul(") == 1
    # elementwise updates write in place
    body = ast.unparse(loop_f) + ast.unparse(loop_b)
    assert "out=" in body and " = np." not in body


def test_generated_module_imports_only_numpy():
    for name in BUILTIN + ["mgu"]:
        tree = ast.parse(generate_module(CELLS[name]()))
        imported = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import)
                    for alias in node.names}
        assert {m for m in imported if m not in sys.stdlib_module_names} == {"numpy"}
        assert not any(isinstance(node, ast.ImportFrom) for node in ast.walk(tree))


def test_generated_module_runs_where_sympy_cannot_be_imported(tmp_path):
    path = tmp_path / "lstm_kernel.py"
    write_module(get_cell("lstm"), path)
    script = textwrap.dedent(f"""
        import sys
        sys.modules["sympy"] = None          # import sympy now raises ImportError
        try:
            import sympy
        except ImportError:
            pass
        else:
            raise SystemExit("sympy still importable")
        import importlib.util
        import numpy as np
        spec = importlib.util.spec_from_file_location("lstm_kernel", {str(path)!r})
        m = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(m)
        params = m.init_params(3, 4)
        y, stateT, cache = m.forward(params, np.ones((2, 1, 3)))
        dparams, dx, dstate0 = m.backward(params, cache, np.ones_like(y))
        assert "sympy" not in {{k for k, v in sys.modules.items() if v is not None}}
        print("ok", y.shape, sorted(dparams))
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("ok (2, 1, 4)")


def test_write_module_is_atomic(tmp_path):
    path = tmp_path / "gru.py"
    write_module(get_cell("gru"), path)
    assert path.read_text() == generate_module(get_cell("gru"))
    before = path.read_text()
    c = CellBuilder("broken", "test", "")
    c.let("h", sp.sin(c.weight("W", "I") @ c.x[t]))
    with pytest.raises(CellError):
        write_module(c.build("h"), path)
    assert path.read_text() == before
    assert os.listdir(tmp_path) == ["gru.py"]


def test_module_docstring_holds_the_equations():
    doc = kernel("lstm").__doc__
    assert "c[t] = c[t-1]*f[t] + g[t]*i[t]" in doc
    assert "delta_c[t] = (1 - tanh(c[t])**2)*delta_h[t]*o[t] + delta_c[t+1]*f[t+1]" in doc
    assert "weight_ih (4 * H, I) = [W_ii; W_if; W_ig; W_io]" in doc


# --- the step functions and their LaTeX ---------------------------------------------------------

def _run_steps(m, params, x, state0, dy, sizes=None, inputs=None):
    """Run forward_step and backward_step (column form) over one example; ``inputs``: all the
    cell's inputs by name (x alone by default)."""
    (T, _, I), H = x.shape, state0[m.STATE[0]].shape[1]
    sizes = {"1": 1, **(sizes or {"I": I, "H": H})}
    inputs = inputs or {"x": x}
    blocks = {k: v if v.ndim == 2 else v[:, None] for k, v in m.unpack(params).items()}
    arrays = {"Delta": np.zeros((T + 2, sizes[m.SIZE_OF[m.OUTPUT]], 1))}
    if dy is not None:
        arrays["Delta"][1:T + 1] = dy[:, 0, :, None]

    def args(fn):
        out = {}
        for name in list(inspect.signature(fn).parameters)[1:]:
            if name in arrays:
                out[name] = arrays[name]
            elif name in blocks:
                out[name] = blocks[name]
            elif name.startswith("delta_") and name[6:] in blocks:      # a gradient
                out[name] = arrays.setdefault(name, np.zeros_like(blocks[name[6:]]))
            else:
                size = sizes[m.SIZE_OF[name.removeprefix("delta_")]]
                out[name] = arrays.setdefault(name, np.zeros((T + 2, size, 1)))
        return out
    forward_args = args(m.forward_step)
    for name, a in inputs.items():
        forward_args[name][1:T + 1] = a[:, 0, :, None]
    for s in m.STATE:
        forward_args[s][0] = state0[s][0, :, None]
    for step in range(1, T + 1):
        m.forward_step(step, **forward_args)
    backward_args = args(m.backward_step)
    for step in range(T, 0, -1):
        m.backward_step(step, **backward_args)
    return arrays


@pytest.mark.parametrize("name", BUILTIN + ["mgu"])
def test_step_functions_compute_what_the_kernel_computes(name):
    m = kernel(name)
    params, x, state0, dy, _ = problem(m, B=1)
    y, _, cache = m.forward(params, x, state0)
    dparams, dx, _ = m.backward(params, cache, dy)
    arrays = _run_steps(m, params, x, state0, dy)
    np.testing.assert_allclose(arrays[m.OUTPUT][1:-1, :, 0], y[:, 0], rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(arrays["delta_x"][1:-1, :, 0], dx[:, 0], rtol=1e-12, atol=1e-14)
    for block, grad in m.unpack(dparams).items():
        np.testing.assert_allclose(arrays[f"delta_{block}"].reshape(grad.shape), grad,
                                   rtol=1e-12, atol=1e-14, err_msg=block)


def test_code_latex_renders_both_steps():
    tex = code_latex(get_cell("lstm"))
    assert tex.count(r"\[ \begin{array}{l}") == 2 and tex.count(r"\end{array} \]") == 2
    assert r"c_{t} = c_{t - 1} f_{t} + g_{t} i_{t}" in tex
    assert r"\sigma" in tex and r"\tanh" in tex
    assert r"\mathbf{W\_hf}^\intercal \cdot \mathrm{delta\_fbar}_{t + 1}" in tex
    assert r"\mathrm{outer} \mathopen{}\left( \mathrm{delta\_ibar}_{t}, x_{t} \mathclose{}\right)" in tex
    assert r"\mathrm{delta\_c}_{t + 1}" in tex
    assert "forward\\_step" not in tex           # the return rows are left out
    assert tex.count("{") == tex.count("}")


@pytest.mark.skipif(not shutil.which("pdflatex"), reason="needs pdflatex")
def test_code_latex_compiles_with_amsmath_and_amssymb(tmp_path):
    body = "".join(code_latex(CELLS[name]()) for name in BUILTIN + ["mgu"])
    (tmp_path / "sheet.tex").write_text(
        "\\documentclass{article}\n\\usepackage{amsmath}\n\\usepackage{amssymb}\n"
        f"\\begin{{document}}\n{body}\\end{{document}}\n")
    done = subprocess.run(["pdflatex", "-interaction=nonstopmode", "-halt-on-error",
                           "sheet.tex"], cwd=tmp_path, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stdout[-2000:]


# --- any cell: sizes by name, several inputs, losses, clashing names --------------------------

def test_sizes_positional_by_dict_by_name_and_the_old_names():
    m = kernel("lstm")
    want = m.param_shapes(3, 5)
    assert want["weight_ih"] == (20, 3) and m.SIZES == ("I", "H")
    assert m.param_shapes({"I": 3, "H": 5}) == m.param_shapes(I=3, H=5) == want
    assert m.param_shapes(input_size=3, hidden_size=5) == want
    p = load_module(kernel_cells.lstmp)
    assert p.SIZES == ("I", "H", "P")
    assert p.param_shapes(3, 4, 2)["U_i"] == (4, 2) and p.param_shapes(3, 4, 2)["W_r"] == (2, 4)
    params = p.init_params({"I": 3, "H": 4, "P": 2}, seed=1)
    y, stateT, _ = p.forward(params, np.zeros((5, 2, 3)))
    assert y.shape == (5, 2, 2) and stateT["h"].shape == (2, 2) and stateT["c"].shape == (2, 4)


@pytest.mark.parametrize("call, message", [
    (lambda m: m.param_shapes(3), r"sizes: missing 'H'; the sizes are I, H"),
    (lambda m: m.param_shapes(3, 4, 5), r"sizes: expected at most 2 \(I, H\), got 3"),
    (lambda m: m.param_shapes(I=3, H=4, P=2), r"sizes: unexpected 'P'; the sizes are I, H"),
    (lambda m: m.init_params({"I": 3, "H": 0}), r"sizes\['H'\]: expected a positive integer"),
])
def test_bad_sizes_are_named(call, message):
    with pytest.raises(ValueError, match=message):
        call(kernel("lstm"))


def test_a_loss_cell_takes_its_targets_and_returns_the_loss():
    m = load_module(kernel_cells.elman)
    assert (m.INPUTS, m.TARGETS, m.LOSS, m.OUTPUT) == (("x", "z"), ("z",), "loss", "y")
    sizes = {"I": 3, "H": 4, "O": 5}
    params = m.init_params(sizes, seed=2)
    rng = np.random.default_rng(2)
    x, z = rng.standard_normal((6, 2, 3)), rng.dirichlet(np.ones(5), (6, 2))
    loss, stateT, cache = m.forward(params, x, z)
    # the loss by hand, from the same parameters
    h = np.zeros((2, 4))
    total = 0.0
    for k in range(6):
        h = np.tanh(x[k] @ params["W"].T + h @ params["U"].T + params["b"])
        a = h @ params["V"].T + params["c"]
        y = np.exp(a) / np.exp(a).sum(axis=1, keepdims=True)
        total += -(z[k] * np.log(y)).sum()
    assert abs(loss - total) < 1e-12 * abs(total)
    dparams, dx, dstate0 = m.backward(params, cache)      # no dy: the loss is the cell's
    assert dx.shape == x.shape and set(dparams) == set(params)


def test_a_cell_with_two_inputs_returns_both_gradients():
    m = load_module(kernel_cells.two_inputs)
    params = m.init_params(I=3, K=2, H=4)
    x, u = np.ones((3, 2, 3)), np.ones((3, 2, 2))
    y, _, cache = m.forward(params, x, u)
    dparams, (dx, du), _ = m.backward(params, cache, np.ones_like(y))
    assert dx.shape == x.shape and du.shape == u.shape and np.abs(du).sum() > 0


def test_names_of_python_and_of_the_module_are_renamed_inside():
    m = load_module(kernel_cells.clash)
    assert m.STATE == ("range",) and set(m.param_shapes(3, 4)) == {"dx", "U", "b", "np"}
    params = m.init_params(3, 4)
    y, stateT, cache = m.forward(params, np.ones((2, 1, 3)))
    assert set(stateT) == {"range"}
    assert set(m.backward(params, cache, np.ones_like(y))[0]) == set(params)


# --- backward does not depend on what the caller does after forward ---------------------------

def test_backward_is_independent_of_the_input_array_after_forward():
    m = kernel("lstm")
    params, x, state0, dy, dstateT = problem(m)
    _, _, cache = m.forward(params, x, state0)
    want = m.backward(params, cache, dy, dstateT)
    x[:] = 0.0                                   # the caller reuses its buffer
    got = m.backward(params, cache, dy, dstateT)
    assert all(np.array_equal(got[0][k], want[0][k]) for k in params)
    assert np.abs(got[0]["weight_ih"]).max() > 0


def test_results_never_share_memory_with_a_later_call():
    """The kernels recycle scratch arrays between calls; what they return must not be one
    (here dL/dx is a bare adjoint, the input added without a product)."""
    m = load_module(kernel_cells.USER["bare"])
    rng = np.random.default_rng(0)
    params, x, dy = m.init_params(4), rng.standard_normal((3, 2, 4)), np.ones((3, 2, 4))
    y, stateT, cache = m.forward(params, x)
    first = m.backward(params, cache, dy)
    kept = [y.copy(), stateT["h"].copy(), first[1].copy(), first[2]["h"].copy(),
            *(g.copy() for g in first[0].values())]
    _, _, cache2 = m.forward(params, 2 * x)
    m.backward(params, cache2, 2 * dy)
    now = [y, stateT["h"], first[1], first[2]["h"], *first[0].values()]
    assert all(np.array_equal(a, b) for a, b in zip(now, kept))


@pytest.mark.parametrize("cell, taken_name", [("lstm", "c"), ("lstm", "i"), ("gru", "z")])
def test_a_dead_cache_gives_back_only_what_nobody_holds(cell, taken_name):
    """A dead cache's histories are reused by the next forward, except those still held:
    y (a view of the output history), a history the caller took out of the cache. What is
    held keeps its values through later calls. (lstm's c is a history of its own, its i and
    gru's z are views of the gates' history.)"""
    m = kernel(cell)
    params, x, state0, _, _ = problem(m)
    y, _, cache = m.forward(params, x, state0)
    owned = {id(a) for a in cache["_owned"]}
    taken = cache[taken_name]                     # a history the caller keeps
    kept_y, kept_taken = y.copy(), taken.copy()
    held = {id(y.base), id(taken.base if taken.base is not None else taken)}
    del cache
    for scale in (2.0, 3.0):
        _, _, later = m.forward(params, scale * x, state0)
        reused = {id(a) for a in later["_owned"]} & owned
        assert reused and not reused & held
        del later
        assert np.array_equal(y, kept_y) and np.array_equal(taken, kept_taken)


def _misuses():
    m, other = kernel("lstm"), kernel("gru")
    params, x, state0, dy, _ = problem(m)
    _, _, cache = m.forward(params, x, state0)
    _, _, gru_cache = other.forward(problem(other)[0], x)
    changed = {**params, "bias_ih": params["bias_ih"] + 1}
    tensor = torch_tensor(params["weight_ih"])
    return [
        (lambda: m.backward(params, gru_cache, dy), r"cache: not made by the forward of this "
         r"module \(cell 'lstm'\)"),
        (lambda: m.backward(params, {"sizes": 1}, dy), r"cache: not made by the forward"),
        (lambda: m.backward(changed, cache, dy), r"params\['bias_ih'\]: differs from the params "
         "of the forward call that made cache"),
        (lambda: m.forward(params, x, state0["h"]), r"state0: expected a dict state name -> "
         r"array \(states h, c\), got ndarray"),
        (lambda: m.forward(params, x, [state0["h"], state0["c"]]), r"state0: expected a dict"),
        (lambda: m.forward({**params, "weight_ih": tensor}, x),
         r"params\['weight_ih'\]: expected a NumPy array, got torch.Tensor"),
        (lambda: m.forward(params, torch_tensor(x)), r"x: expected a NumPy array, got torch"),
    ]


def torch_tensor(a):
    torch = pytest.importorskip("torch")
    return torch.from_numpy(a)


@pytest.mark.parametrize("case", range(7))
def test_misuse_is_a_value_error_naming_the_argument(case):
    call, message = _misuses()[case]
    with pytest.raises(ValueError, match=message) as info:
        call()
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("name", ["lstmp", "attention", "elman", "two-inputs", "elementwise"])
def test_step_functions_of_user_cells_compute_what_the_kernel_computes(name):
    """The column-form step functions (rendered by latexify) with sizes other than I and H,
    softmax, a loss and a second input."""
    cell = kernel_cells.USER[name]
    m = load_module(cell)
    sizes = {"I": 3, "H": 4, "P": 2, "O": 5, "K": 2}
    sizes = {n: sizes[n] for n in m.SIZES}
    rng = np.random.default_rng(4)
    params = m.init_params(sizes, seed=4)
    inputs = {x: rng.dirichlet(np.ones(sizes[m.SIZE_OF[x]]), (5, 1)) if x in m.TARGETS else
              rng.standard_normal((5, 1, sizes[m.SIZE_OF[x]])) for x in m.INPUTS}
    state0 = {s: rng.standard_normal((1, sizes[m.SIZE_OF[s]])) for s in m.STATE}
    out, _, cache = m.forward(params, *inputs.values(), state0)
    dy = None if m.LOSS else rng.standard_normal(out.shape)
    dparams, dx, _ = m.backward(params, cache, *([] if m.LOSS else [dy]))
    dx = dx if isinstance(dx, tuple) else (dx,)
    arrays = _run_steps(m, params, inputs["x"], state0, dy, sizes, inputs)
    if m.LOSS:
        assert abs(arrays[m.LOSS][1:-1].sum() - out) < 1e-12 * abs(out)
    else:
        np.testing.assert_allclose(arrays[m.OUTPUT][1:-1, :, 0], out[:, 0], rtol=1e-12,
                                   atol=1e-14)
    free = [x for x in m.INPUTS if x not in m.TARGETS]
    for x, d in zip(free, dx):
        np.testing.assert_allclose(arrays[f"delta_{x}"][1:-1, :, 0], d[:, 0], rtol=1e-12,
                                   atol=1e-14)
    for block, grad in m.unpack(dparams).items():
        np.testing.assert_allclose(arrays[f"delta_{block}"].reshape(grad.shape), grad,
                                   rtol=1e-12, atol=1e-14, err_msg=block)


def test_the_pool_keeps_bounded_memory_over_many_sequence_lengths():
    """Sequences of many lengths: the arrays kept for reuse stay at most 4 of a shape, of the
    32 shapes kept last; the newest shapes are among them."""
    m = kernel("lstm")
    params, x, state0, dy, _ = problem(m)
    for T in range(1, 41):
        xs = np.resize(x, (T, *x.shape[1:]))
        _, _, cache = m.forward(params, xs, state0)
        m.backward(params, cache, np.resize(dy, (T, *dy.shape[1:])))
        del cache
    assert len(m._SPARE) <= 32 and all(len(v) <= 4 for v in m._SPARE.values())
    assert any(shape[0] == 41 for shape, _ in m._SPARE)        # T + 1 of the last call
    assert not any(shape[0] == 2 for shape, _ in m._SPARE)     # T + 1 of an early call
