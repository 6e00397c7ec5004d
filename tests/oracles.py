"""Independent oracles for the kernels of every target: a cell's forward equations evaluated
step by step by a small interpreter of the IR (no plan, no derivation), in torch or jax, so
that the library's own autodiff of a plain loop gives the reference gradients."""
import sympy as sp

from derive.ir import LossBase, MatVec, Softmax, UnitSum, base_name, t

# activation name -> (torch function, jax function), written independently of the generator
TORCH_OPS = {
    "sigmoid": "torch.sigmoid", "tanh": "torch.tanh", "relu": "torch.relu",
    "leaky_relu": "lambda a: torch.nn.functional.leaky_relu(a, 0.01)",
    "softplus": "torch.nn.functional.softplus", "elu": "torch.nn.functional.elu",
    "softsign": "torch.nn.functional.softsign", "exp": "torch.exp", "log": "torch.log",
}
JAX_OPS = {
    "sigmoid": "jax.nn.sigmoid", "tanh": "jnp.tanh", "relu": "jax.nn.relu",
    "leaky_relu": "lambda a: jax.nn.leaky_relu(a, 0.01)", "softplus": "jax.nn.softplus",
    "elu": "jax.nn.elu", "softsign": "jax.nn.soft_sign", "exp": "jnp.exp", "log": "jnp.log",
}


def members(cell, packed: dict, shapes_of) -> dict:
    """The per-equation parameters as row blocks of the packed ones (keys: cell's names)."""
    out = {}
    stacked = {m: (k, ms) for k, ms in cell.stacks.items() for m in ms}
    for name in cell.params:
        if name in stacked:
            key, ms = stacked[name]
            rows = packed[key].shape[0] // len(ms)
            j = ms.index(name)
            out[name] = packed[key][j * rows:(j + 1) * rows]
        else:
            out[name] = packed[name]
    return out


def run(cell, lib: str, params: dict, inputs: dict, state0: dict):
    """(outputs of every step stacked, or the summed loss; final states), by a plain loop."""
    if lib == "torch":
        import torch as xp
        ops = {k: eval(v, {"torch": xp}) for k, v in TORCH_OPS.items()}
        softmax = lambda a: xp.softmax(a, -1)        # noqa: E731
        unit_sum = lambda v: v.sum(-1, keepdim=True)  # noqa: E731
        stack = xp.stack
    else:
        import jax
        import jax.numpy as xp
        ops = {k: eval(v, {"jax": jax, "jnp": xp}) for k, v in JAX_OPS.items()}
        softmax = lambda a: jax.nn.softmax(a, axis=-1)       # noqa: E731
        unit_sum = lambda v: xp.sum(v, axis=-1, keepdims=True)  # noqa: E731
        stack = xp.stack
    p = members(cell, params, None)
    T = next(iter(inputs.values())).shape[0]
    prev = dict(state0)
    outs, total = [], 0.0

    def ev(e, now):
        if isinstance(e, sp.Indexed):
            name, k = base_name(e), int(e.indices[0] - t)
            return now[name] if k == 0 else prev[name]
        if isinstance(e, sp.Symbol):
            return p[str(e)]
        if e.is_Number:
            return float(e)
        if isinstance(e, MatVec):
            return ev(e.args[1], now) @ p[str(e.args[0])].T
        if isinstance(e, sp.Add):
            out = ev(e.args[0], now)
            for a in e.args[1:]:
                out = out + ev(a, now)
            return out
        if isinstance(e, sp.Mul):
            out = ev(e.args[0], now)
            for a in e.args[1:]:
                out = out * ev(a, now)
            return out
        if isinstance(e, sp.Pow):
            return ev(e.args[0], now) ** float(e.args[1])
        if isinstance(e, Softmax):
            return softmax(ev(e.args[0], now))
        if isinstance(e, UnitSum):
            return unit_sum(ev(e.args[0], now))
        if isinstance(e, LossBase):
            return ev(type(e).value(*e.args), now)
        return ops[type(e).__name__](ev(e.args[0], now))

    for k in range(T):
        now = {x: a[k] for x, a in inputs.items()}
        for eq in cell.equations:
            now[eq.name] = ev(eq.rhs, now)
        prev = {q: now[q] for q in cell.quantities}
        if cell.loss:
            total = total + now[cell.loss].sum()
        else:
            outs.append(now[cell.output])
    return (total if cell.loss else stack(outs)), {s: prev[s] for s in cell.state}
