"""The PyTorch writer: a plan printed as a ``torch.autograd.Function`` (the whole sequence
forward, the derived BPTT backward; no autograd graph over the steps) and an ``nn.Module``.

The arrays are those of the NumPy kernel, as tensors: histories ``q`` of shape (T+1, B, n)
(step 0 the initial state), adjoints of shape (T+2, B, n) (step T+1 zero), the stacked
adjoints of a group of products one buffer, so that ``W^T delta`` is one product per step.
"""
from __future__ import annotations

import sympy as sp

from ..ir import Delta, MatVec, base_name, t, time_offset
from .arrays import ARRAY_HELPERS, ArrayPrinter, ArrayWriter, Code, Target
from .plan import POOL_HELPER, SIZES_HELPER, _cols, _group_of, _index, _is_product, _width

# Elementwise functions: the torch source of f(a). An activation without a row is written
# from its NumPy source with np. read as torch. (which suits sources that only use functions
# both libraries have). Adding a function is adding a row.
TORCH_FUNCTIONS: dict[str, str] = {
    "sigmoid": "torch.sigmoid({a})", "tanh": "torch.tanh({a})", "relu": "torch.relu({a})",
    "leaky_relu": "torch.nn.functional.leaky_relu({a}, 0.01)",
    "softplus": "torch.nn.functional.softplus({a})", "elu": "torch.nn.functional.elu({a})",
    "softsign": "torch.nn.functional.softsign({a})",
    "relu_prime": "({a} > 0).to({a}.dtype)",
    "leaky_relu_prime": "torch.where({a} > 0, 1.0, torch.full_like({a}, 0.01))",
    "softplus_prime": "torch.sigmoid({a})",
    "elu_prime": "torch.where({a} > 0, 1.0, torch.exp(torch.clamp({a}, max=0)))",
    "softsign_prime": "1 / (1 + torch.abs({a}))**2",
    "sigmoid_prime": "(torch.sigmoid({a}) * (1 - torch.sigmoid({a})))",
    "tanh_prime": "(1 - torch.tanh({a})**2)",
    "exp": "torch.exp({a})", "log": "torch.log({a})",
}
TORCH = Target(
    functions=TORCH_FUNCTIONS, library="torch", unit_sum="({v}).sum(-1, keepdim=True)",
    softmax="torch.softmax({a}, -1)", concat="torch.cat", zeros="{like}.new_zeros({shape})")



class TorchPrinter(ArrayPrinter):
    """Whole-array expressions with fewer torch calls: ``(1 - s)*s*d`` (the derivative of a
    sigmoid s) as one ``_dsigmoid(d, s)``, ``(1 - s**2)*d`` (of a tanh) as one
    ``_dtanh(d, s)``, and a stacked product plus other terms as one ``torch.addmm``. Every
    call on a (B, n) block costs a few microseconds of dispatch, about as much as its
    arithmetic at the sizes of an RNN, so the count of calls per step is the cost."""

    def _print_Indexed(self, q):
        index = q.indices[0]
        name = "dy" if q.base == Delta else base_name(q)
        rows = self.w.rows.get(name)
        if self.mode != "step" or rows is None or not index.has(t) or _is_product(q) \
                or (name in self.w.local and index == t):
            return super()._print_Indexed(q)
        k = int(index - t)
        inputs = name in self.w.cell.inputs or q.base == Delta   # counted from 0
        return f"{rows}[{_index(k - 1 if inputs else k)}]"

    def _print_Mul(self, e):
        factors = list(e.args)
        for f in factors:
            s = 1 - f
            if isinstance(f, sp.Add) and s in factors:
                kind, rest = "_dsigmoid", [g for g in factors if g is not f]
                rest.remove(s)
            elif isinstance(f, sp.Add) and isinstance(s, sp.Pow) and s.exp == 2:
                kind, s, rest = "_dtanh", s.base, [g for g in factors if g is not f]
            else:
                continue
            d = sp.Mul(*rest)
            if d.atoms(sp.Indexed) or d.atoms(Code):
                return f"{kind}({self._print(d)}, {self._print(s)})"
        return super()._print_Mul(e)

    def _print_Add(self, e, order=None):
        products = [a for a in e.args if _is_product(a)]
        rest = sp.Add(*(a for a in e.args if a not in products))
        if self.mode != "all" and len(products) == 1 and (rest.atoms(sp.Indexed)
                                                          or rest.atoms(Code)):
            q = products[0]
            index = q.indices[0]
            step = _index(int(index - t)) if index.has(t) else str(int(index))
            return (f"torch.addmm({self._print(rest)}, {self.w.delta_at(_group_of(q), step)}, "
                    f"{self.w.weight(_group_of(q))})")
        # a + b*c as one addcmul (b, c tensors, a not a number)
        for term in e.args:
            factors = term.args if isinstance(term, sp.Mul) else ()
            rest = e - term
            if len(factors) == 2 and not any(f.is_number for f in factors) and not any(
                    _is_product(f) for f in factors) and (rest.atoms(sp.Indexed)
                                                          or rest.atoms(Code)):
                b, c = factors
                return (f"torch.addcmul({self._print(rest)}, {self._print(b)}, "
                        f"{self._print(c)})")
        return super()._print_Add(e, order)


# fused calls the torch module uses (TorchPrinter), after the shared helpers
TORCH_HELPERS = '''

def _steps_addmm(b, a, w):
    """b + a @ w for all steps at once: one GEMM."""
    return torch.addmm(b, a.reshape(-1, a.shape[-1]), w).reshape(*a.shape[:-1], w.shape[-1])


_dsigmoid = torch.ops.aten.sigmoid_backward  # (d, s): d * s * (1 - s), one call
_dtanh = torch.ops.aten.tanh_backward        # (d, s): d * (1 - s**2), one call


def _scratch(like, shape):
    """An uninitialised tensor on like's device: on the CPU one of an earlier backward if there
    is one. torch's CPU allocator gives large blocks back to the system, and fresh memory
    costs a page fault per page (gru, T, B, H = 100, 64, 512: a tenth of the call)."""
    if like.device.type != "cpu":
        return like.new_empty(shape)
    try:
        return _SPARE[(tuple(shape), like.dtype)].pop()   # atomic: never shared by two calls
    except (KeyError, IndexError):
        return like.new_empty(shape)


def _recycle(gradients, *buffers):
    """The gradients, none of them memory of the buffers (a copy where one is), and the
    CPU buffers kept for the next backward."""
    memory = {b.untyped_storage().data_ptr() for b in buffers}
    gradients = tuple(g.clone() if g is not None and g.untyped_storage().data_ptr() in memory
                      else g for g in gradients)
    for b in buffers:
        if b.device.type == "cpu":
            _keep((tuple(b.shape), b.dtype), b)
    return gradients
'''

# in-place activations (a merged product's blocks activated where they are)
IN_PLACE = {"sigmoid": "torch.sigmoid_", "tanh": "torch.tanh_", "relu": "torch.relu_"}

# class names: words of a cell's name that are written in capitals
ACRONYMS = {"rnn", "lstm", "gru", "mgu", "lstmp", "cifg"}


def class_name(cell_name: str) -> str:
    """``graves-lstm`` -> ``GravesLSTM``."""
    words = [w for w in cell_name.replace("_", "-").split("-") if w]
    name = "".join(w.upper() if w.lower() in ACRONYMS else w[:1].upper() + w[1:] for w in words)
    return name if name.isidentifier() else f"Cell{name}"


class TorchWriter(ArrayWriter):
    target = TORCH

    def __init__(self, p) -> None:
        super().__init__(p)
        self.step, self.all, self.fixed = (TorchPrinter(self, m) for m in ("step", "all", "fixed"))
        c = self.cell
        # the constant terms of an equation with an input's product: added to that product
        # once for all steps (hoisted group, block) -> their sum; equation -> the terms
        self.constants_of: dict[tuple[int, int], sp.Expr] = {}
        self.folded: dict[str, set] = {}
        for eq in c.equations:
            hoisted = [b for b in self.products_of(eq).values() if p.hoisted(p.groups[b[0]])]
            terms = {a for a in sp.Add.make_args(super().rhs(eq))
                     if not a.has(MatVec) and not a.atoms(sp.Indexed) and a.free_symbols}
            if hoisted and terms:
                self.constants_of[min(hoisted)] = sp.Add(*terms)
                self.folded[eq.name] = terms
        # a step's product that adds an input's product of the same layout (one addmm):
        # recurrent group -> the hoisted group it takes in
        self.merged: dict[int, int] = {}
        for gi, g in enumerate(p.groups):
            gh = next((gh for gh, h in enumerate(p.groups) if p.hoisted(h)
                       and h.layout == g.layout and gh not in self.merged.values()), None)
            if not p.hoisted(g) and gh is not None:
                self.merged[gi] = gh
        # a merged product whose every block is only activated (nothing else reads the
        # pre-activations): written into the activations' buffer and activated in place
        self.in_place: dict[int, tuple[str, list, list[str]]] = {}
        equations = {eq.name: eq for eq in c.equations}
        for gi in self.merged:
            pre = {q: a for a, q in p.aliases.items()}
            acts = [pre.get(q) for q in p.groups[gi].layout]
            extra = {q: sp.Add(*(a for a in sp.Add.make_args(self.rhs(equations[q]))
                                 if not isinstance(a, MatVec)))
                     for q in p.groups[gi].layout}
            earlier = all(time_offset(r) < 0 or base_name(r) in c.inputs
                          for e in extra.values() for r in e.atoms(sp.Indexed)) and all(
                b[0] in (gi, self.merged[gi]) for q in p.groups[gi].layout
                for b in self.products_of(equations[q]).values())
            if earlier and all(a and type(equations[a].rhs).__name__ in IN_PLACE for a in acts):
                self.in_place[gi] = (p.fresh("_".join(acts)),
                                     [(a, equations[a].rhs, extra[q])
                                      for a, q in zip(acts, p.groups[gi].layout)],
                                     [p.size(q) for q in p.groups[gi].layout])
                self.computed |= {*acts, *p.groups[gi].layout}
        # histories (T+1, B, n) only for what the backward pass, the next step or the
        # caller reads; the rest are a step's own variables
        earlier = {base_name(r) for eq in c.equations for r in eq.rhs.atoms(sp.Indexed)
                   if time_offset(r) != 0}
        kept = {*self.saved(), *c.state, c.output, c.loss, *earlier}
        self.rows: dict[str, str] = {}      # inside a loop: array -> its steps, unbound
        self._row_names: dict[str, str] = {}
        self.local = {q for q in (*c.quantities, *p.cached.values()) if q not in kept}
        self.local -= {a for _, acts, _ in self.in_place.values() for a, *_ in acts}

    def rhs(self, eq):
        rhs = super().rhs(eq)
        folded = self.folded.get(eq.name)
        return sp.Add(*(a for a in sp.Add.make_args(rhs) if a not in folded)) if folded else rhs

    def block_code(self, gi, k, product_var):
        if gi in self.merged.values():
            return sp.S.Zero        # in the step's product already (see step_product)
        return super().block_code(gi, k, product_var)

    def step_product_lines(self, gi, products, at, printer):
        if gi not in self.merged:
            return super().step_product_lines(gi, products, at, printer)
        product = (f"torch.addmm({at[self.merged[gi]]}, "
                   f"{printer.doprint(self.p.groups[gi].arg)}, {self.weight(gi)}.T")
        if gi not in self.in_place:
            return [f"    {products[gi]} = {product})"]
        # the pre-activations written into the activations' buffer, activated in place:
        # one call for each run of adjacent blocks of the same function
        buf, acts, widths = self.in_place[gi]
        row = f"{self.rows.get(buf, buf)}[t]"
        lines = [f"    {product}, out={row})"]
        lines += [f"    {row}[:, {_cols(k, k + 1, widths)}].add_({printer.doprint(extra)})"
                  for k, (_, _, extra) in enumerate(acts) if extra != 0]
        a = 0
        for b in range(1, len(acts) + 1):
            if b == len(acts) or type(acts[b][1]) is not type(acts[a][1]):
                names = ", ".join(q for q, *_ in acts[a:b])
                lines.append(f"    {IN_PLACE[type(acts[a][1]).__name__]}"
                             f"({row}[:, {_cols(a, b, widths)}])  # {names}")
                a = b
        return lines

    def row_name(self, name: str) -> str:
        if name not in self._row_names:
            self._row_names[name] = self.p.fresh(f"{name}_")
        return self._row_names[name]

    def unbound_loop(self, names, loop) -> list[str]:
        """A loop's lines with the steps of the arrays ``names`` read from tuples of views
        made once before it (``q_[t]`` is q[t]: indexing a tensor costs a call each time,
        a tuple nothing); ``loop()`` writes the loop."""
        self.rows = {n: self.row_name(n) for n in names}
        body = loop()
        text = "\n".join(body)
        used = [n for n in names if f"{self.rows[n]}[" in text]
        self.rows = {}
        return [f"{self.row_name(n)} = {n}.unbind(0)" for n in used] + body

    @staticmethod
    def statement(target, code):
        if target.endswith("[t]"):
            return f"{target}.copy_({code})"    # into the step's view
        return f"{target} = {code}"

    def delta_at(self, gi, step):
        buf, a = self.p.delta_of[gi]
        rows = self.rows.get(buf.name)
        if rows is None or "t" not in step:
            return super().delta_at(gi, step)
        n = len(self.p.groups[gi].products)
        if (a, a + n) == (0, len(buf.holds)):
            return f"{rows}[{step}]"
        return f"{rows}[{step}][:, {_cols(a, a + n, buf.widths)}]"

    def adjoint_step(self, eq, dstateT):
        """As the shared one, with the whole right side one expression for t < T (so that a
        stacked product and the terms at t are one addmm)."""
        split = self.later_and_rest(eq)
        if split is None or split[0] == 0 or split[1] == 0:
            return super().adjoint_step(eq, dstateT)
        return (f"{self.step.doprint(eq.rhs)} if t < T else {dstateT} + "
                f"{self.step.doprint(split[1])}")

    def module(self) -> str:
        c, p = self.cell, self.p
        flat = ", ".join([*c.inputs, *(f"_{s}0" for s in c.state),
                          *(self.param_var(k) for k in p.packed())])
        result = "loss" if c.loss else "y"
        L = [f'"""{self.docstring("torch")}\n"""', "import torch", "", *self.constants(), "",
             "",
             *self.param_shapes_source(),
             "",
             "",
             "class BPTT(torch.autograd.Function):",
             f'    """{result}, stateT of the whole sequence; backward is the derived BPTT."""',
             "",
             "    @staticmethod",
             f"    def forward(ctx, {flat}):",
             f"        T, B = {c.inputs[0]}.shape[:2]",
             *self.indent(self.unpack_sizes(), 2),
             *self.indent(self.forward_body(), 2),
             f"        ctx.save_for_backward({', '.join(self.saved_tensors())})",
             "        ctx.sizes = T, B",
             f"        return ({self.result()}, {', '.join(f'{s}[T].clone()' for s in c.state)})",
             "",
             "    @staticmethod",
             "    @torch.autograd.function.once_differentiable",
             f"    def backward(ctx, d{result}, {', '.join(f'_dT_{s}' for s in c.state)}):",
             f"        {', '.join(self.saved_tensors())}, = ctx.saved_tensors",
             "        T, B = ctx.sizes",
             *self.indent(self.backward_call(result), 2),
             "",
             "",
             f"def _bptt(T, B, {', '.join(self.saved_tensors())}, {'dy' if not c.loss else 'dloss'}, "
             f"{', '.join(f'_dT_{s}' for s in c.state)}):",
             '    """The derived backward pass: gradients of the inputs, initial state and packed',
             '    parameters, in the order of BPTT.forward\'s arguments."""',
             *self.indent(self.unpack_sizes(), 1),
             *self.indent(self.backward_body(), 1),
             "",
             "",
             *self.module_class(),
             ARRAY_HELPERS + TORCH_HELPERS + POOL_HELPER + SIZES_HELPER]
        return "\n".join(line for line in L if line is not None)

    # -- pieces ------------------------------------------------------------------------------

    def unpack_sizes(self) -> list[str]:
        return self.size_lines(self.param_var)

    def backward_call(self, result: str) -> list[str]:
        c = self.cell   # (unused outputs get zero gradients: autograd materializes them)
        args = ", ".join(["T", "B", *self.saved_tensors()])
        states = ", ".join(f"_dT_{s}" for s in c.state)
        if not c.loss:
            return [f"return _bptt({args}, dy, {states})"]
        # L enters with the weight dloss (the derived pass has it 1): by linearity
        # B(g, D) = g B(1, D / g), and B(0, D) = B(1, D) - B(1, 0)
        zero = ", ".join(f"torch.zeros_like(_dT_{s})" for s in c.state)
        return [
            "if dloss != 0:",
            f"    grads = _bptt({args}, 1, {', '.join(f'_dT_{s} / dloss' for s in c.state)})",
            "    return tuple(None if g is None else g * dloss for g in grads)",
            f"with_state = _bptt({args}, 1, {states})",
            f"without = _bptt({args}, 1, {zero})",
            "return tuple(None if g is None else g - h for g, h in zip(with_state, without))"]

    def module_class(self) -> list[str]:
        c, p = self.cell, self.p
        name = class_name(c.name)
        init = "H" if "H" in c.size_names else c.size(c.output)
        inputs = ", ".join(c.inputs)
        result = "loss" if c.loss else "y"
        keys = list(p.packed())
        return [
            f"class {name}(torch.nn.Module):",
            f'    """The {c.name} cell over whole sequences: forward({inputs}, state0=None) ->',
            f"    ({result}, stateT) with {self.input_shapes()}, state0/stateT state name -> (B, n);",
            "    sizes positionally in the order of SIZES, as a dict or by name. Gradients are",
            '    the derived BPTT (BPTT.backward), not autograd through the steps."""',
            "",
            "    def __init__(self, *sizes, device=None, dtype=None, **named):",
            "        super().__init__()",
            "        self.sizes = _sizes(sizes, named)",
            "        for name, shape in param_shapes(self.sizes).items():",
            "            self.register_parameter(name, torch.nn.Parameter(",
            "                torch.empty(shape, device=device, dtype=dtype)))",
            "        self.reset_parameters()",
            "",
            "    def reset_parameters(self):",
            f'        """Uniform in (-1/sqrt({p.name(init)}), 1/sqrt({p.name(init)})), as PyTorch '
            'does."""',
            f"        bound = self.sizes[{p.name(init)!r}] ** -0.5",
            "        for weight in self.parameters():",
            "            torch.nn.init.uniform_(weight, -bound, bound)",
            "",
            f"    def forward(self, {inputs}, state0=None):",
            f"        for name, a in zip(INPUTS, ({inputs},)):",
            "            if not isinstance(a, torch.Tensor) or a.dim() != 3 or "
            "a.shape[2] != self.sizes[SIZE_OF[name]]:",
            "                raise ValueError(f\"{name}: expected a tensor of shape (T, B, "
            "{self.sizes[SIZE_OF[name]]}), got {getattr(a, 'shape', type(a).__name__)}\")",
            f"        B = {c.inputs[0]}.shape[1]",
            "        state0 = {} if state0 is None else state0",
            "        if not isinstance(state0, dict) or not set(state0) <= set(STATE):",
            "            raise ValueError(f\"state0: expected a dict with keys among "
            "{', '.join(STATE)}, got {state0!r:.60}\")",
            f"        zero = {{s: {c.inputs[0]}.new_zeros((B, self.sizes[SIZE_OF[s]])) "
            "for s in STATE}",
            "        states = [state0.get(s, zero[s]) for s in STATE]",
            f"        out = BPTT.apply({inputs}, *states, "
            f"{', '.join(f'self.{k}' for k in keys)})",
            "        return out[0], dict(zip(STATE, out[1:]))",
            "",
            "    def extra_repr(self):",
            "        return ', '.join(f'{k}={v}' for k, v in self.sizes.items())",
        ]

    def forward_body(self) -> list[str]:
        c, p = self.cell, self.p
        x0 = c.inputs[0]
        L = [f"{self.weight(gi)} = {self.stack(gi)}" for gi in range(len(p.groups))]
        L += self.vector_views(eq.rhs for eq in c.equations)
        blocks = {}
        for buf, acts, widths in self.in_place.values():
            L.append(f"{buf} = {x0}.new_empty((T + 1, B, {_width(widths)}))")
            for k, (a, *_) in enumerate(acts):
                L.append(f"{a} = {buf}[:, :, {_cols(k, k + 1, widths)}]")
                blocks[a] = buf
        L += [f"{q} = {x0}.new_empty((T + 1, B, {p.size(q)}))"
              for q in (*c.quantities, *p.cached.values())
              if q not in self.local and q not in blocks and q not in self.computed]
        L += [f"{s}[0] = _{s}0" for s in c.state]
        L += [f"{name}[0] = {self.step.doprint(f(sp.IndexedBase(q)[0]))}"
              for (f, q), name in p.cached.items() if q in c.state and name not in self.local]
        products = {}
        for gi, g in enumerate(p.groups):
            products[gi] = p.fresh(f"{g.source}_products")
            if not p.hoisted(g):
                continue
            consts = [self.constants_of.get((gi, k)) for k in range(len(g.products))]
            if not any(consts):
                L.append(f"{products[gi]} = _steps_matmul({g.source}, {self.weight(gi)}.T)")
                continue
            widths = [p.size(q.equation) for q in g.products]
            parts = [self.step.doprint(k) if k is not None else f"{x0}.new_zeros({w})"
                     for k, w in zip(consts, widths)]
            bias = parts[0] if len(parts) == 1 else f"torch.cat([{', '.join(parts)}])"
            L.append(f"# the constant terms of {', '.join(q.equation for q in g.products)}: "
                     "added once for all steps")
            L.append(f"{products[gi]} = _steps_addmm({bias}, {g.source}, {self.weight(gi)}.T)")
        def loop():
            return ["for t in range(1, T + 1):"] + self.step_body(
                products, lambda v: f"{self.rows.get(v, v)}[t - 1]",
                lambda q: q if q in self.local else f"{self.rows.get(q, q)}[t]", self.step)
        arrays = [*(buf for buf, *_ in self.in_place.values()),
                  *(q for q in (*c.quantities, *p.cached.values()) if q not in self.local
                    and q not in self.computed), *blocks,
                  *(products[gi] for gi, g in enumerate(p.groups) if p.hoisted(g)), *c.inputs]
        L += self.unbound_loop(list(dict.fromkeys(arrays)), loop)
        return L

    def saved_tensors(self) -> list[str]:
        return [*self.cell.inputs, *(self.param_var(k) for k in self.p.packed()), *self.saved()]

    def result(self) -> str:
        c = self.cell
        return f"{c.loss}[1:].sum()" if c.loss else f"{c.output}[1:].clone()"

    def backward_body(self) -> list[str]:
        c, p = self.cell, self.p
        x0 = c.inputs[0]
        L = [f"{self.weight(gi)} = {self.stack(gi)}" for gi in range(len(p.groups))]
        L += self.vector_views(eq.rhs for eq in (*p.adjoints, *p.initial, *p.gradients))
        written = {eq.name for eq in self.in_loop()}
        for buf in p.backward_buffers:
            if all(f"delta_{q}" in written for q in buf.holds):
                # every step writes every block: only steps 0 and T+1 need zeros
                L.append(f"{buf.name} = _scratch({x0}, (T + 2, B, {buf.width}))")
                L.append(f"{buf.name}[0] = {buf.name}[T + 1] = 0")
            else:
                L.append(f"{buf.name} = _scratch({x0}, (T + 2, B, {buf.width})).zero_()")
            for k, q in enumerate(buf.holds):
                if buf.blocks[k]:
                    L.append(f"{buf.blocks[k]} = {buf.name}[:, :, {_cols(k, k + 1, buf.widths)}]"
                             if len(buf.holds) > 1 else f"{buf.blocks[k]} = {buf.name}")
        for eq in self.in_loop():
            if eq.name not in p.adjoint_home:
                L.append(f"{eq.name} = _scratch({x0}, (T + 2, B, {p.size(eq.name)}))")
                L.append(f"{eq.name}[0] = {eq.name}[T + 1] = 0")
        def loop():
            lines = ["for t in range(T, 0, -1):"]
            for eq in self.in_loop():
                row = f"{self.rows[eq.name]}[t]"
                lines.append(f"    {self.statement(row, self.adjoint_step(eq, f'_dT_{eq.name[6:]}'))}")
                lines += [f"    {self.rows[buf]}[t][:, {cols}].copy_({row})"
                          for buf, cols in self.copies(eq)]
            return lines
        arrays = [*(eq.name for eq in self.in_loop()), *(b.name for b in p.backward_buffers),
                  *self.saved(), *c.inputs, "dy"]
        L += self.unbound_loop(list(dict.fromkeys(arrays)), loop)
        L += self.sum_lines()
        L += self.gradient_lines()
        scratch = [b.name for b in p.backward_buffers] + [
            eq.name for eq in self.in_loop() if eq.name not in p.adjoint_home]
        L.append(f"return _recycle(({', '.join(self.gradients())},), {', '.join(scratch)})")
        return L
