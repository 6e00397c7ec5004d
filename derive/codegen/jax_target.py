"""The JAX writer: a plan printed as a ``jax.custom_vjp`` function whose forward is one
``lax.scan`` over the steps and whose backward is the derived BPTT as a reverse scan;
jit-able, parameters a dict (a pytree).

Inside a scan step a quantity read at t is a local variable, at t-1 ``prev[q]`` (forward) or
``vm[q]`` (backward), at t+1 ``vp[q]``; an adjoint at t+1 is ``dn[delta_q]``. After the scans
the histories are (T+1, B, n) and the adjoints (T+2, B, n) arrays, as in the other targets,
so the gradient sums are printed by the shared code.
"""
from __future__ import annotations

import sympy as sp

from ..ir import CellError, Delta, base_name, t
from .arrays import ARRAY_HELPERS, ArrayPrinter, ArrayWriter, Code, Target
from .plan import SIZES_HELPER, _cols, _group_of, _is_product

JAX = Target(
    functions={"sigmoid": "jax.nn.sigmoid({a})", "tanh": "jnp.tanh({a})",
               "exp": "jnp.exp({a})", "log": "jnp.log({a})",
               "sigmoid_prime": "(jax.nn.sigmoid({a}) * (1 - jax.nn.sigmoid({a})))",
               "tanh_prime": "(1 - jnp.tanh({a})**2)"},
    library="jnp", unit_sum="jnp.sum({v}, axis=-1, keepdims=True)",
    softmax="jax.nn.softmax({a}, axis=-1)", concat="jnp.concatenate",
    zeros="jnp.zeros({shape}, {like}.dtype)")
# (every other activation: its NumPy source with np. read as jnp.)


class ScanPrinter(ArrayPrinter):
    """Expressions of one scan step (see the module docstring)."""

    def __init__(self, writer: "JaxWriter", backward: bool) -> None:
        super().__init__(writer, "step")
        self.backward = backward

    def _print_Indexed(self, q):
        index = q.indices[0]
        if not index.has(t):
            return super()._print_Indexed(q)
        k = int(index - t)
        if _is_product(q):
            gi = _group_of(q)
            layout = self.w.p.groups[gi].layout
            buf, a = self.w.p.delta_of[gi]
            if k == 1 and (a, a + len(layout)) == (0, len(buf.holds)):
                return f"(dn[{buf.name!r}] @ {self.w.weight(gi)})"    # carried stacked
            parts = [self.adjoint(f"delta_{e}", k) for e in layout]
            stacked = parts[0] if len(parts) == 1 else f"jnp.concatenate([{', '.join(parts)}], -1)"
            return f"({stacked} @ {self.w.weight(gi)})"
        name = base_name(q)
        if q.base == Delta:
            return "xs['dy']"
        if name in self.w.cell.inputs:
            return f"xs[{name!r}]"
        if name.startswith("delta_"):
            return self.adjoint(name, k)
        if not self.backward:
            return name if k == 0 else f"prev[{name!r}]"
        return {0: "v0", -1: "vm", 1: "vp"}[k] + f"[{name!r}]"

    def adjoint(self, name: str, k: int) -> str:
        return name if k == 0 else f"dn[{name!r}]"


class AfterScanPrinter(ArrayPrinter):
    """The sums after the backward scan: an adjoint is the scan's (T, B, n) output, its
    steps 1..T (no zero rows at 0 and T+1: padding them costs a copy of each)."""

    def _print_Indexed(self, q):
        name = str(q.base)
        if not (name.startswith("delta_") and name[6:] in self.w.cell.quantities):
            return super()._print_Indexed(q)
        index = q.indices[0]
        if not index.has(t):
            return f"{name}[{int(index) - 1}]"
        if index != t:
            raise CellError(f"codegen: a sum over t reads {q}")
        return name


class JaxWriter(ArrayWriter):
    target = JAX

    def __init__(self, p) -> None:
        super().__init__(p)
        self.all, self.fixed = AfterScanPrinter(self, "all"), AfterScanPrinter(self, "fixed")
        self.scan_forward = ScanPrinter(self, backward=False)
        self.scan_backward = ScanPrinter(self, backward=True)

    def module(self) -> str:
        c, p = self.cell, self.p
        result = "loss" if c.loss else "y"
        init = "H" if "H" in c.size_names else c.size(c.output)
        inputs = ", ".join(c.inputs)
        L = [f'"""{self.docstring("jax")}\n"""',
             "import jax",
             "import jax.numpy as jnp",
             "", *self.constants(), "", "",
             *self.param_shapes_source(),
             "",
             "",
             "def init_params(*sizes, seed=0, dtype=jnp.float32, **named):",
             f'    """Parameters drawn uniformly from (-1/sqrt({p.name(init)}), '
             f'1/sqrt({p.name(init)})), as PyTorch does."""',
             "    sizes = _sizes(sizes, named)",
             f"    bound = sizes[{p.name(init)!r}] ** -0.5",
             "    keys = jax.random.split(jax.random.PRNGKey(seed), len(PARAMS))",
             "    return {name: jax.random.uniform(key, shape, dtype, -bound, bound)",
             "            for key, (name, shape) in zip(keys, param_shapes(sizes).items())}",
             "",
             "",
             "@jax.custom_vjp",
             f"def run(params, {inputs}, state0):",
             f'    """({result}, stateT) of the cell over {self.input_shapes()}; params: name ->',
             "    array (a pytree), state0: state name -> (B, n) array. Differentiable "
             "(jax.grad, jax.vjp)",
             '    by the derived BPTT; jit-able."""',
             f"    return _forward(params, ({inputs},), state0)[:2]",
             "",
             "",
             f"def _run_forward(params, {inputs}, state0):",
             f"    {result}, stateT, saved = _forward(params, ({inputs},), state0)",
             f"    return ({result}, stateT), (params, ({inputs},), saved)",
             "",
             "",
             "def _run_backward(residuals, cotangents):",
             "    params, inputs, saved = residuals",
             f"    d{result}, dstateT = cotangents",
             *self.indent(self.backward_call(result), 1),
             "",
             "",
             "run.defvjp(_run_forward, _run_backward)",
             "",
             "",
             f"def forward(params, {inputs}, state0=None):",
             f'    """run with state0 optional (missing states are zero): ({result}, stateT)."""',
             f"    B = {c.inputs[0]}.shape[1]",
             "    state0 = {} if state0 is None else dict(state0)",
             "    for s in state0:",
             "        if s not in STATE:",
             "            raise ValueError(f\"state0: unexpected {s!r}; the states are "
             "{', '.join(STATE)}\")",
             f"    sizes = _sizes_of(params, ({inputs},))",
             f"    state0 = {{s: state0[s] if s in state0 else jnp.zeros((B, sizes[SIZE_OF[s]]), "
             f"{c.inputs[0]}.dtype) for s in STATE}}",
             f"    return run(params, {inputs}, state0)",
             "",
             "",
             "def _forward(params, inputs, state0):",
             f"    ({inputs},) = inputs",
             f"    T, B = {c.inputs[0]}.shape[:2]",
             *self.indent(self.forward_body(), 1),
             "",
             "",
             "def _backward(params, inputs, saved, dy, dstateT):",
             '    """The derived backward pass: the gradients of params, inputs and state0."""',
             f"    ({inputs},) = inputs",
             f"    T, B = {c.inputs[0]}.shape[:2]",
             *self.indent(self.backward_body(), 1),
             "",
             "",
             "def _sizes_of(params, inputs):",
             '    """The sizes, read from the inputs and parameters."""',
             f"    ({inputs},) = inputs",
             *self.indent(self.size_lines(lambda key: f"params[{key!r}]"), 1),
             f"    return dict(zip(SIZES, ({', '.join(c.size_names)},)))",
             ARRAY_HELPERS + SIZES_HELPER]
        return "\n".join(line for line in L if line is not None)

    def ref(self, key: str) -> str:
        return f"params[{key!r}]"

    def backward_call(self, result: str) -> list[str]:
        c = self.cell
        head = ["dstateT = {s: dstateT[s] for s in STATE}"]
        if not c.loss:
            return head + ["return _backward(params, inputs, saved, dy, dstateT)"]
        # L enters with the weight dloss (the derived pass has it 1): by linearity
        # B(g, D) = (g - 1) B(1, 0) + B(1, D)
        return head + [
            "zero = {s: jnp.zeros_like(a) for s, a in dstateT.items()}",
            "base = _backward(params, inputs, saved, None, zero)",
            "full = _backward(params, inputs, saved, None, dstateT)",
            "return jax.tree_util.tree_map(lambda b, f: (dloss - 1) * b + f, base, full)"]

    # -- forward -------------------------------------------------------------------------------

    def forward_body(self) -> list[str]:
        c, p = self.cell, self.p
        L = self.size_lines(self.ref)
        L += [f"{self.weight(gi)} = {self.stack(gi)}" for gi in range(len(p.groups))]
        L += self.vector_views(eq.rhs for eq in c.equations)
        scanned = {x: x for x in c.inputs}
        products = {}
        for gi, g in enumerate(p.groups):
            products[gi] = p.fresh(f"{g.source}_products")
            if p.hoisted(g):
                L.append(f"{products[gi]} = _steps_matmul({g.source}, {self.weight(gi)}.T)")
                scanned[products[gi]] = products[gi]
        keep = self.kept()
        body = ["def step(prev, xs):"]
        body += self.step_body(products, lambda v: f"xs[{v!r}]", lambda q: q, self.scan_forward)
        body.append(f"    return {{{', '.join(f'{s!r}: {s}' for s in c.state)}}}, "
                    f"{{{', '.join(f'{q!r}: {q}' for q in keep)}}}")
        L += body
        xs = ", ".join(f"{k!r}: {v}" for k, v in scanned.items())
        L.append(f"stateT, ys = jax.lax.scan(step, "
                 f"{{{', '.join(f'{s!r}: state0[{p.name(s)!r}]' for s in c.state)}}}, "
                 f"{{{xs}}})")
        # histories (T+1, B, n): step 0 the initial state (or its activation), else zeros
        for q in keep:
            first = self.first_row(q)
            L.append(f"{q} = jnp.concatenate([{first}[None], ys[{q!r}]])")
        result = f"{c.loss}[1:].sum()" if c.loss else f"{c.output}[1:]"
        saved = ", ".join(f"{q!r}: {q}" for q in self.saved())
        L.append(f"return {result}, {{{', '.join(f'{p.name(s)!r}: stateT[{s!r}]' for s in c.state)}}}, "
                 f"{{{saved}}}")
        return L

    def first_row(self, q: str) -> str:
        """Step 0 of a history: the initial state, an activation of it, else zeros."""
        c, p = self.cell, self.p
        if q in c.state:
            return f"state0[{p.name(q)!r}]"
        for (f, s), name in p.cached.items():
            if name == q and s in c.state:
                return self.fixed.doprint(f(Code(f"state0[{p.name(s)!r}]")))
        return f"jnp.zeros_like(ys[{q!r}][0])"

    def kept(self) -> list[str]:
        """What each forward step hands out: the histories backward reads, the output (or the
        loss)."""
        c = self.cell
        want = [*self.saved(), c.loss or c.output]
        return list(dict.fromkeys(want))

    # -- backward ------------------------------------------------------------------------------

    def backward_body(self) -> list[str]:
        c, p = self.cell, self.p
        x0 = c.inputs[0]
        L = self.size_lines(self.ref)
        L += [f"{self.weight(gi)} = {self.stack(gi)}" for gi in range(len(p.groups))]
        L += self.vector_views(eq.rhs for eq in (*p.adjoints, *p.initial, *p.gradients))
        L += [f"{q} = saved[{q!r}]" for q in self.saved()]
        in_loop = self.in_loop()
        reads = {(str(q.base), int(q.indices[0] - t)) for eq in in_loop
                 for q in eq.rhs.atoms(sp.Indexed) if q.indices[0].has(t)}
        window = {0: "1:", -1: ":-1"}
        xs = {"is_last": "jnp.arange(T) == T - 1"}
        if not c.loss:
            xs["dy"] = "dy"
        for name, k in sorted(reads):
            if name in c.inputs:
                xs[name] = name
            elif name in self.saved():
                key = {0: "v0", -1: "vm", 1: "vp"}[k]
                xs.setdefault(key, {})
                xs[key][name] = (f"{name}[{window[k]}]" if k != 1 else
                                 f"jnp.concatenate([{name}[2:], jnp.zeros_like({name}[:1])])")
        body = ["def step(dn, xs):",
                "    v0, vm, vp = xs.get('v0'), xs.get('vm'), xs.get('vp')"]
        for eq in in_loop:
            body.append(f"    {eq.name} = {self.adjoint_rhs(eq)}")
        names = [eq.name for eq in in_loop]
        # the stacked adjoints of each buffer, built once per step: carried (the next
        # step's product reads them) and handed out (the sums after the scan read them)
        stacked = {}
        for buf in p.backward_buffers:
            parts = [f"delta_{q}" for q in buf.holds]
            stacked[buf.name] = (parts[0] if len(parts) == 1 else
                                 f"jnp.concatenate([{', '.join(parts)}], -1)")
        body += [f"    {b} = {code}" for b, code in stacked.items()]
        homed = {n for n in names if n in p.adjoint_home}
        body.append(f"    out = {{{', '.join(f'{n!r}: {n}' for n in (*names, *stacked))}}}")
        body.append(f"    return out, {{{', '.join(f'{n!r}: {n}' for n in names if n not in homed)}"
                    f"{', ' if len(homed) < len(names) and stacked else ''}"
                    f"{', '.join(f'{b!r}: {b}' for b in stacked)}}}")
        L += body
        zero = ", ".join([f"{n!r}: jnp.zeros((B, {p.size(n)}), {x0}.dtype)" for n in names]
                         + [f"{buf.name!r}: jnp.zeros((B, {buf.width}), {x0}.dtype)"
                            for buf in p.backward_buffers])

        def text(v):
            return v if isinstance(v, str) else "{" + ", ".join(f"{k!r}: {w}" for k, w in v.items()) + "}"
        L.append(f"_, ys = jax.lax.scan(step, {{{zero}}}, {{"
                 + ", ".join(f"{k!r}: {text(v)}" for k, v in xs.items()) + "}, reverse=True)")
        # adjoints (T, B, n) of steps 1..T; those of a buffer, its columns
        L += [f"{b} = ys[{b!r}]" for b in stacked]
        for n in names:
            if n not in homed:
                L.append(f"{n} = ys[{n!r}]")
                continue
            buf, k = p.adjoint_home[n]
            L.append(f"{n} = {buf.name}" if len(buf.holds) == 1 else
                     f"{n} = {buf.name}[..., {_cols(k, k + 1, buf.widths)}]")
        L += self.sum_lines()
        L += self.gradient_lines()
        c_inputs = [f"delta_{x}" if x not in c.targets else f"jnp.zeros_like({x})"
                    for x in c.inputs]
        L.append(f"dparams = {{{', '.join(f'{k!r}: _d{k}' for k in p.packed())}}}")
        L.append(f"dstate0 = {{{', '.join(f'{p.name(s)!r}: delta_{s}_0' for s in c.state)}}}")
        L.append(f"return (dparams, {', '.join(c_inputs)}, dstate0)")
        return L

    def buffer_all(self, name: str) -> str:
        return name            # the scan's output: steps 1..T already

    def delta_at(self, gi: int, step: str) -> str:
        buf, a = self.p.delta_of[gi]
        n = len(self.p.groups[gi].products)
        rows = ":" if step == "1:T + 1" else str(int(step) - 1)
        cols = None if (a, a + n) == (0, len(buf.holds)) else _cols(a, a + n, buf.widths)
        if rows == ":":
            return buf.name if cols is None else f"{buf.name}[..., {cols}]"
        return f"{buf.name}[{rows}]" if cols is None else f"{buf.name}[{rows}, :, {cols}]"

    def adjoint_rhs(self, eq) -> str:
        name = eq.name[6:]
        pr = self.scan_backward
        if name not in self.cell.state:
            return pr.doprint(eq.rhs)
        later = sp.Add(*(a for a in sp.Add.make_args(eq.rhs)
                         if any(q.indices[0] == t + 1 for q in a.atoms(sp.Indexed))))
        rest = eq.rhs - later
        dT = f"dstateT[{self.p.name(name)!r}]"
        head = (f"jnp.where(xs['is_last'], {dT}, {pr.doprint(later)})" if later != 0
                else f"jnp.where(xs['is_last'], {dT}, 0)")
        return head if rest == 0 else f"{head} + {pr.doprint(rest)}"
