"""Generated jax modules (bptt codegen --target jax): the derived BPTT as a custom_vjp against
jax autodiff of a plain loop over the same cell's equations (tests/oracles.py),
jax.test_util.check_grads (numerical differences) and the NumPy kernel, in float64; jit."""
import ast

import numpy as np
import pytest

from derive.codegen import generate_module, load_module

import oracles
from kernel_cells import CELLS, problem, swish_cell

jax = pytest.importorskip("jax", reason="jax is an optional test dependency: "
                                        "pip install -e '.[jax]'")
jax.config.update("jax_enable_x64", True)
import jax.numpy as jnp  # noqa: E402
from jax.test_util import check_grads  # noqa: E402


_modules = {}


def kernels(name):
    if name not in _modules:
        cell = CELLS[name]()
        _modules[name] = cell, load_module(cell, "jax"), load_module(cell)
    return _modules[name]


def relative(a, b):
    a, b = np.asarray(a, float), np.asarray(b, float)
    scale = max(np.abs(a).max(), np.abs(b).max())
    return 0.0 if scale == 0 else float(np.abs(a - b).max() / scale)


def loss_fn(cell, module, u, v, generated):
    """L(params, inputs, state0) by the generated module or by the plain loop."""
    def L(params, inputs, state0):
        if generated:
            out, stateT = module.run(params, *(inputs[x] for x in cell.inputs), state0)
        else:
            out, stateT = oracles.run(cell, "jax", params, inputs, state0)
        head = 2.5 * out if cell.loss else jnp.sum(out * u)   # a loss's gradient other than 1
        return head + sum(jnp.sum(stateT[s] * v[s]) for s in cell.state)
    return L


@pytest.mark.parametrize("name", CELLS)
def test_gradients_equal_jax_autodiff_of_a_plain_loop_and_the_numpy_kernel(name):
    cell, module, numpy_kernel = kernels(name)
    params, inputs, state0, u, v = problem(cell, numpy_kernel)
    params, inputs, state0 = (jax.tree_util.tree_map(jnp.asarray, a)
                              for a in (params, inputs, state0))
    L = loss_fn(cell, module, u, v, generated=True)
    L_ref = loss_fn(cell, module, u, v, generated=False)
    got = jax.jit(jax.grad(L, argnums=(0, 1, 2)))(params, inputs, state0)
    want = jax.jit(jax.grad(L_ref, argnums=(0, 1, 2)))(params, inputs, state0)
    assert abs(L(params, inputs, state0) - L_ref(params, inputs, state0)) < 1e-12 * max(
        1.0, abs(L_ref(params, inputs, state0)))
    free = lambda grads: {**grads[0], **{x: grads[1][x] for x in cell.inputs  # noqa: E731
                                         if x not in cell.targets}, **grads[2]}
    errors = {k: relative(free(got)[k], free(want)[k]) for k in free(want)}
    assert max(errors.values()) < 1e-10, errors
    # the NumPy kernel
    np_params = {k: np.asarray(a) for k, a in params.items()}
    out, stateT, cache = numpy_kernel.forward(np_params, *(np.asarray(inputs[x]) for x in cell.inputs),
                                              {s: np.asarray(a) for s, a in state0.items()})
    dparams, dx, dstate0 = numpy_kernel.backward(np_params, cache, *(() if cell.loss else (u,)),
                                                 v)
    if cell.loss:   # the NumPy kernel's L is the plain sum; the state term is not scaled
        dparams, dstate0 = ({k: 2.5 * a for k, a in d.items()} for d in
                            numpy_kernel.backward(np_params, cache, {s: v[s] / 2.5 for s in v})
                            [::2])
    assert max(relative(got[0][k], dparams[k]) for k in dparams) < 1e-10
    assert max(relative(got[2][s], dstate0[s]) for s in dstate0) < 1e-10


@pytest.mark.parametrize("name", ["graves-lstm", "elman", "lstmp"])
def test_check_grads_and_jit(name):
    cell, module, numpy_kernel = kernels(name)
    params, inputs, state0, u, v = problem(cell, numpy_kernel, T=3, B=2)
    params, inputs, state0 = (jax.tree_util.tree_map(jnp.asarray, a)
                              for a in (params, inputs, state0))
    L = loss_fn(cell, module, u, v, generated=True)
    free = {x: a for x, a in inputs.items() if x not in cell.targets}
    fixed = {x: a for x, a in inputs.items() if x in cell.targets}

    def f(params, free, state0):
        return L(params, {x: free[x] if x in free else fixed[x] for x in cell.inputs}, state0)
    check_grads(f, (params, free, state0), order=1, modes=["rev"], eps=1e-6)
    eager = jax.grad(f)(params, free, state0)
    jitted = jax.jit(jax.grad(f))(params, free, state0)
    assert max(relative(eager[k], jitted[k]) for k in eager) < 1e-12


def test_graves_lstm_gradients_with_jax_grad():
    """The acceptance example: jax.grad through the generated module, float64, 1e-10."""
    cell, module, numpy_kernel = kernels("graves-lstm")
    params = module.init_params(3, 8, seed=1, dtype=jnp.float64)
    x = jax.random.normal(jax.random.PRNGKey(2), (12, 4, 3), jnp.float64)

    def L(params):
        y, _ = module.forward(params, x)
        return jnp.sum(jnp.sin(y))

    def L_ref(params):
        zeros = {s: jnp.zeros((4, 8)) for s in cell.state}
        y, _ = oracles.run(cell, "jax", params, {"x": x}, zeros)
        return jnp.sum(jnp.sin(y))
    got = jax.jit(jax.grad(L))(params)
    want = jax.jit(jax.grad(L_ref))(params)
    assert max(relative(got[k], want[k]) for k in want) < 1e-10


def test_imports_only_jax():
    for name in ["graves-lstm", "elman", "clash"]:
        tree = ast.parse(generate_module(CELLS[name](), "jax"))
        imported = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
        assert imported == {"jax", "jax.numpy"}
        assert not any(isinstance(n, ast.ImportFrom) for n in ast.walk(tree))


def test_state0_is_checked():
    module = kernels("lstm")[1]
    params = module.init_params(3, 4)
    with pytest.raises(ValueError, match=r"state0: unexpected 's'; the states are h, c"):
        module.forward(params, jnp.zeros((2, 1, 3)), {"s": jnp.zeros((1, 4))})


def test_a_user_registered_activation():
    """Its NumPy source read with jnp.; against numerical differences."""
    k = load_module(swish_cell(), "jax")
    params = k.init_params(3, 4, dtype=jnp.float64)
    x = jnp.asarray(np.random.default_rng(0).standard_normal((3, 2, 3)))
    check_grads(lambda p: k.forward(p, x)[0].sum(), (params,), order=1, modes=["rev"])
