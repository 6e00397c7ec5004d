"""PyTorch as an outside oracle: the generated rnn, lstm and gru kernels against
torch.nn.RNNCell / LSTMCell / GRUCell looped over time, with autograd, in float64."""
import numpy as np
import pytest

from derive.cells import get_cell
from derive.codegen import load_module

torch = pytest.importorskip("torch")

TORCH_CELLS = {"rnn": torch.nn.RNNCell, "lstm": torch.nn.LSTMCell, "gru": torch.nn.GRUCell}
_modules = {}


def kernel(name):
    if name not in _modules:
        _modules[name] = load_module(get_cell(name))
    return _modules[name]


def relative(a, b):
    a, b = np.asarray(a, float), np.asarray(b, float)
    return np.abs(a - b).max() / np.abs(b).max()


def torch_run(name, params, x, state0, dy, dstateT, dtype=torch.float64):
    """y, stateT and the gradients of L = sum(dy * y) + sum(dstateT * stateT), by autograd."""
    T, B, I = x.shape
    H = next(iter(state0.values())).shape[1]
    cell = TORCH_CELLS[name](I, H).to(dtype)
    cell.load_state_dict({k: torch.from_numpy(v.copy()) for k, v in params.items()})
    xs = torch.tensor(x, requires_grad=True)
    s0 = {s: torch.tensor(a, requires_grad=True) for s, a in state0.items()}
    state = tuple(s0[s] for s in kernel(name).STATE)     # (h,) or (h, c)
    ys = []
    for k in range(T):
        state = cell(xs[k], state if name == "lstm" else state[0])
        state = state if isinstance(state, tuple) else (state,)
        ys.append(state[0])
    y = torch.stack(ys)
    loss = (y * torch.from_numpy(dy)).sum() + sum(
        (a * torch.from_numpy(dstateT[s])).sum() for s, a in zip(kernel(name).STATE, state))
    loss.backward()
    grads = {k: p.grad.numpy() for k, p in cell.named_parameters()}
    return (y.detach().numpy(), {s: a.detach().numpy() for s, a in zip(kernel(name).STATE, state)},
            grads, xs.grad.numpy(), {s: a.grad.numpy() for s, a in s0.items()})


def problem(m, T, B, I, H, dtype=np.float64, seed=3):
    rng = np.random.default_rng(seed)
    params = m.init_params(I, H, seed=seed, dtype=dtype)
    x = rng.standard_normal((T, B, I)).astype(dtype)
    state0 = {s: rng.standard_normal((B, H)).astype(dtype) for s in m.STATE}
    dy = rng.standard_normal((T, B, H)).astype(dtype)
    dstateT = {s: rng.standard_normal((B, H)).astype(dtype) for s in m.STATE}
    return params, x, state0, dy, dstateT


@pytest.mark.parametrize("name", TORCH_CELLS)
def test_parameters_are_those_of_the_torch_cell(name):
    for I, H in ((3, 5), (7, 2)):
        cell = TORCH_CELLS[name](I, H)
        assert kernel(name).param_shapes(I, H) == {k: tuple(v.shape)
                                                   for k, v in cell.named_parameters()}


@pytest.mark.parametrize("size", [(1, 1, 3, 4), (6, 3, 5, 7), (12, 4, 8, 16)],
                         ids=["T1", "T6", "T12"])
@pytest.mark.parametrize("name", TORCH_CELLS)
def test_agrees_with_torch_in_float64(name, size):
    m = kernel(name)
    params, x, state0, dy, dstateT = problem(m, *size)
    y, stateT, cache = m.forward(params, x, state0)
    dparams, dx, dstate0 = m.backward(params, cache, dy, dstateT)
    ty, tstateT, tgrads, tdx, tdstate0 = torch_run(name, params, x, state0, dy, dstateT)
    errors = {"y": relative(y, ty), "dx": relative(dx, tdx),
              **{f"stateT {s}": relative(stateT[s], tstateT[s]) for s in m.STATE},
              **{f"dstate0 {s}": relative(dstate0[s], tdstate0[s]) for s in m.STATE},
              **{f"d{k}": relative(dparams[k], tgrads[k]) for k in params}}
    assert max(errors.values()) < 1e-10, errors


@pytest.mark.parametrize("name", TORCH_CELLS)
def test_agrees_with_torch_in_float32(name):
    m = kernel(name)
    params, x, state0, dy, dstateT = problem(m, 8, 4, 6, 10, dtype=np.float32)
    y, stateT, cache = m.forward(params, x, state0)
    dparams, dx, dstate0 = m.backward(params, cache, dy, dstateT)
    ty, _, tgrads, tdx, _ = torch_run(name, params, x, state0, dy, dstateT, torch.float32)
    assert y.dtype == dx.dtype == np.float32
    assert relative(y, ty) < 1e-5 and relative(dx, tdx) < 1e-4
    assert max(relative(dparams[k], tgrads[k]) for k in params) < 1e-4
