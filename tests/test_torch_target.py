"""Generated torch modules (bptt codegen --target torch): gradients of the derived BPTT
against torch autograd of a plain loop over the same cell's equations (tests/oracles.py),
torch.autograd.gradcheck (central differences) and the NumPy kernel, in float64; the
nn.Module wrapper: names, layouts, sizes, training."""
import ast
import re
from pathlib import Path

import numpy as np
import pytest

from derive.cells import builtin_cells, get_cell
from derive.codegen import generate_module, load_module

import oracles
from kernel_cells import CELLS, problem, swish_cell

torch = pytest.importorskip("torch")

_modules = {}


def kernels(name):
    if name not in _modules:
        cell = CELLS[name]() if name in CELLS else get_cell(name)
        _modules[name] = cell, load_module(cell, "torch"), load_module(cell)
    return _modules[name]


def tensors(arrays):
    return {k: torch.tensor(a, requires_grad=True) for k, a in arrays.items()}


def loss_of(cell, out, stateT, u, v, weight=2.5):
    """sum(u * y) + sum(v * stateT); a loss cell's summed loss weighted (so that its
    backward is called with a gradient other than 1)."""
    head = weight * out if cell.loss else (out * torch.from_numpy(u)).sum()
    return head + sum((stateT[s] * torch.from_numpy(v[s])).sum() for s in cell.state)


def relative(a, b):
    a, b = np.asarray(a, float), np.asarray(b, float)
    scale = max(np.abs(a).max(), np.abs(b).max())
    return 0.0 if scale == 0 else float(np.abs(a - b).max() / scale)


def gradients(cell, module, params, inputs, state0, u, v, generated, weight=2.5):
    """L and its gradients (params, free inputs, state0), by the generated BPTT or by torch
    autograd of the plain loop."""
    P, X, S = tensors(params), tensors(inputs), tensors(state0)
    if generated:
        flat = [X[x] for x in cell.inputs] + [S[s] for s in cell.state] + list(P.values())
        out, *states = module.BPTT.apply(*flat)
        stateT = dict(zip(cell.state, states))
    else:
        out, stateT = oracles.run(cell, "torch", P, X, S)
    L = loss_of(cell, out, stateT, u, v, weight)
    free = [X[x] for x in cell.inputs if x not in cell.targets]
    grads = torch.autograd.grad(L, [*P.values(), *free, *S.values()])
    return float(L.detach()), [g.numpy() for g in grads]


@pytest.mark.parametrize("name", CELLS)
def test_gradients_equal_autograd_of_a_plain_loop_and_the_numpy_kernel(name):
    cell, module, numpy_kernel = kernels(name)
    params, inputs, state0, u, v = problem(cell, numpy_kernel)
    L, got = gradients(cell, module, params, inputs, state0, u, v, generated=True)
    L_ref, want = gradients(cell, module, params, inputs, state0, u, v, generated=False)
    assert abs(L - L_ref) <= 1e-12 * max(1.0, abs(L_ref))
    errors = [relative(a, b) for a, b in zip(got, want)]
    assert max(errors) < 1e-10, errors
    # the NumPy kernel: same loss, same gradients
    out, stateT, cache = numpy_kernel.forward(params, *inputs.values(), state0)
    dy = () if cell.loss else (u,)
    if cell.loss:   # the NumPy kernel's L is the plain sum: compare with weight 1
        _, got = gradients(cell, module, params, inputs, state0, u, v, True, weight=1.0)
    dparams, dx, dstate0 = numpy_kernel.backward(params, cache, *dy, v)
    dx = dx if isinstance(dx, tuple) else (dx,)
    numpy_grads = [*dparams.values(), *dx, *dstate0.values()]
    assert max(relative(a, b) for a, b in zip(got, numpy_grads)) < 1e-10


@pytest.mark.parametrize("name", [n for n in builtin_cells() if n not in CELLS])
def test_zoo_cells(name):
    """Every other cell of the zoo: the same comparison (the torch writer's fused calls,
    in-place activations and per-step views must hold for all of them)."""
    test_gradients_equal_autograd_of_a_plain_loop_and_the_numpy_kernel(name)


@pytest.mark.parametrize("name", ["graves-lstm", "gru", "elman", "lstmp", "attention"])
def test_gradcheck(name):
    cell, module, numpy_kernel = kernels(name)
    params, inputs, state0, _, _ = problem(cell, numpy_kernel, T=3, B=2)
    flat = [torch.tensor(a, requires_grad=cell.inputs[k] not in cell.targets)
            for k, a in enumerate(inputs.values())]
    flat += [torch.tensor(a, requires_grad=True) for a in (*state0.values(), *params.values())]
    assert torch.autograd.gradcheck(module.BPTT.apply, flat, eps=1e-6, atol=1e-8, rtol=1e-6)


# --- the nn.Module ------------------------------------------------------------------------

@pytest.mark.parametrize("name, cls", [("graves-lstm", "GravesLSTM"), ("lstm", "LSTM"),
                                       ("gru", "GRU"), ("rnn", "RNN"), ("mgu", "MGU"),
                                       ("two-inputs", "TwoInputs")])
def test_class_names(name, cls):
    assert hasattr(kernels(name)[1], cls)


@pytest.mark.parametrize("name, cls", [("lstm", "LSTM"), ("gru", "GRU"), ("rnn", "RNN")])
def test_pytorch_names_layouts_and_results(name, cls):
    module = kernels(name)[1]
    ours = getattr(module, cls)(3, 4).double()
    theirs = getattr(torch.nn, cls)(3, 4).double()
    names = {k.removesuffix("_l0"): v.shape for k, v in theirs.named_parameters()}
    assert {k: v.shape for k, v in ours.named_parameters()} == names
    ours.load_state_dict({k.removesuffix("_l0"): v for k, v in theirs.state_dict().items()})
    x = torch.randn(6, 2, 3, dtype=torch.float64)
    y, stateT = ours(x)
    y_ref, h = theirs(x)
    assert torch.allclose(y, y_ref, rtol=1e-12, atol=1e-14)
    assert torch.allclose(stateT["h"], (h[0] if name == "lstm" else h)[0], atol=1e-14)


def test_sizes_positional_by_name_and_keywords():
    module = kernels("lstmp")[1]
    a, b = module.LSTMP(3, 4, 2), module.LSTMP(I=3, H=4, P=2)
    assert a.sizes == b.sizes == {"I": 3, "H": 4, "P": 2}
    assert a.W_r.shape == (2, 4)
    with pytest.raises(ValueError, match=r"sizes: missing 'P'"):
        module.LSTMP(3, 4)
    with pytest.raises(ValueError, match=r"x: expected a tensor of shape \(T, B, 3\)"):
        a(torch.zeros(2, 1, 4))
    with pytest.raises(ValueError, match=r"state0: expected a dict"):
        a(torch.zeros(2, 1, 3), torch.zeros(1, 2))


def test_float32_and_the_default_dtype():
    module = kernels("graves-lstm")[1]
    net = module.GravesLSTM(3, 4)
    y, stateT = net(torch.randn(5, 2, 3))
    y.sum().backward()
    assert y.dtype == torch.float32 and net.R.grad.dtype == torch.float32


def test_imports_only_torch():
    for name in ["graves-lstm", "elman", "clash"]:
        tree = ast.parse(generate_module(CELLS[name](), "torch"))
        imported = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
        assert imported == {"torch"}
        assert not any(isinstance(n, ast.ImportFrom) for n in ast.walk(tree))


def test_no_autograd_graph_over_the_steps():
    """The forward runs without recording; the output's graph is the one BPTT node."""
    module = kernels("graves-lstm")[1]
    y, _ = module.GravesLSTM(3, 4)(torch.randn(5, 2, 3))
    assert type(y.grad_fn).__name__ == "BPTTBackward"


def test_the_training_example_of_the_user_guide_runs(tmp_path, monkeypatch):
    """The 20-line example in docs/user-guide.md: the loss goes down."""
    guide = (Path(__file__).parents[1] / "docs" / "user-guide.md").read_text()
    code = re.search(r"```python\n(# train a generated GravesLSTM.*?)```", guide, re.S)[1]
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PYTHONPATH", str(Path(__file__).parents[1]))  # this checkout's bptt
    monkeypatch.setattr("sys.path", list(__import__("sys").path))      # undo its insert
    namespace = {}
    exec(compile(code, "user-guide.md", "exec"), namespace)
    losses = namespace["losses"]
    assert losses[-1] < 0.5 * losses[0]


def test_graves_lstm_module_gradients_equal_autograd():
    """The acceptance example: k.GravesLSTM(I, H) in float64, gradients of the derived BPTT
    against autograd of the plain loop to 1e-10."""
    cell, module, _ = kernels("graves-lstm")
    torch.manual_seed(3)
    net = module.GravesLSTM(3, 8).double()
    x = torch.randn(12, 4, 3, dtype=torch.float64, requires_grad=True)
    y, stateT = net(x)
    (torch.sin(y).sum() + stateT["c"].sum()).backward()
    params = {k: v.detach().clone().requires_grad_() for k, v in net.named_parameters()}
    x_ref = x.detach().clone().requires_grad_()
    zeros = {s: torch.zeros(4, 8, dtype=torch.float64) for s in cell.state}
    y_ref, state_ref = oracles.run(cell, "torch", params, {"x": x_ref}, zeros)
    (torch.sin(y_ref).sum() + state_ref["c"].sum()).backward()
    for k, v in net.named_parameters():
        assert relative(v.grad, params[k].grad) < 1e-10, k
    assert relative(x.grad, x_ref.grad) < 1e-10


def test_a_user_registered_activation_works_in_numpy_and_torch():
    """An activation added with one call (ir.activation) has no row in the torch table: its
    NumPy source is read with torch.; checked against central differences (NumPy) and
    gradcheck (torch)."""
    from verify.numeric import check_numeric
    cell = swish_cell()
    assert check_numeric(cell).ok
    module = load_module(cell, "torch")
    rng = np.random.default_rng(0)
    flat = [torch.tensor(rng.standard_normal(shape), requires_grad=True)
            for shape in [(3, 2, 3), (2, 4), *module.param_shapes(3, 4).values()]]
    assert torch.autograd.gradcheck(module.BPTT.apply, flat, eps=1e-6, atol=1e-8, rtol=1e-6)


@pytest.mark.parametrize("name", ["elman", "regression"])
def test_a_loss_cell_with_zero_weight_on_its_loss(name):
    """L = 0 * loss + sum(v * stateT): the backward's other branch (the loss's gradient 0)."""
    cell, module, numpy_kernel = kernels(name)
    params, inputs, state0, u, v = problem(cell, numpy_kernel)
    _, got = gradients(cell, module, params, inputs, state0, u, v, True, weight=0.0)
    _, want = gradients(cell, module, params, inputs, state0, u, v, False, weight=0.0)
    assert max(relative(a, b) for a, b in zip(got, want)) < 1e-10


@pytest.mark.parametrize("name", ["bare", "lstm", "gru", "elman", "two-inputs"])
def test_backward_buffers_are_reused_and_gradients_never_are(name):
    """backward's buffers go to a pool that the next backward takes from; the gradients it
    returned are not among them (a bare adjoint is copied), so they keep their values."""
    cell = CELLS[name]()
    module, numpy_kernel = load_module(cell, "torch"), load_module(cell)
    params, inputs, state0, u, v = problem(cell, numpy_kernel)
    _, first = gradients(cell, module, params, inputs, state0, u, v, generated=True)
    kept = [g.copy() for g in first]
    assert module._SPARE and all(module._SPARE.values())
    pooled = {id(b) for spare in module._SPARE.values() for b in spare}
    _, second = gradients(cell, module, {k: 2 * a for k, a in params.items()}, inputs, state0,
                          u, v, generated=True)
    assert pooled & {id(b) for spare in module._SPARE.values() for b in spare}
    assert all(np.array_equal(a, b) for a, b in zip(first, kept))
    assert any(not np.array_equal(a, b) for a, b in zip(first, second))
