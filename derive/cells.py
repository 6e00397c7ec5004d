"""The built-in cells, each written once as its forward equations (../shared/notes/textbooks.md).

Nothing here says how to differentiate a cell: the backward pass is derived from these
equations alone (derive/derivation.py).
"""
from __future__ import annotations

import importlib
import importlib.util
import inspect
import re
import sys
import traceback
from pathlib import Path
from types import ModuleType
from typing import Callable

from .ir import Cell, CellBuilder, CellError, sigmoid, t, tanh


def torch_stacks(gates: str) -> dict[str, tuple[str, ...]]:
    """PyTorch's packed parameters: the per-gate blocks stacked by rows in the library's gate
    order (``weight_ih`` = W_i{gate}..., ``bias_hh`` = b_h{gate}...; the rnn's one gate is h)."""
    return {f"{name}_{src}": tuple(f"{p}_{src[0]}{g}" for g in gates)
            for name, p in (("weight", "W"), ("bias", "b")) for src in ("ih", "hh")}


def rnn() -> Cell:
    c = CellBuilder("rnn", "PyTorch torch.nn.RNNCell (Elman, tanh); Graves 2012 section 3.2",
                    "Elman RNN with tanh, two biases")
    x, h = c.x, c.quantity("h")
    W_ih, W_hh = c.weight("W_ih", "I"), c.weight("W_hh")
    b_ih, b_hh = c.vector("b_ih"), c.vector("b_hh")
    hbar = c.let("hbar", W_ih @ x[t] + b_ih + W_hh @ h[t - 1] + b_hh)
    c.let("h", tanh(hbar[t]))
    return c.build("h", stacks=torch_stacks("h"))


def lstm() -> Cell:
    c = CellBuilder("lstm", "PyTorch torch.nn.LSTMCell (gates i, f, g, o; no peepholes)",
                    "LSTM with forget gate, two biases, no peepholes")
    x, h, cs = c.x, c.quantity("h"), c.quantity("c")
    gates = {}
    for gate, act in (("i", sigmoid), ("f", sigmoid), ("g", tanh), ("o", sigmoid)):
        W, U = c.weight(f"W_i{gate}", "I"), c.weight(f"W_h{gate}")
        b, d = c.vector(f"b_i{gate}"), c.vector(f"b_h{gate}")
        pre = c.let(f"{gate}bar", W @ x[t] + b + U @ h[t - 1] + d)
        gates[gate] = c.let(gate, act(pre[t]))
    i, f, g, o = (gates[k][t] for k in "ifgo")
    cs = c.let("c", f * cs[t - 1] + i * g)
    c.let("h", o * tanh(cs[t]))
    return c.build("h", stacks=torch_stacks("ifgo"))


def gru() -> Cell:
    c = CellBuilder("gru", "PyTorch torch.nn.GRUCell (reset gate after the recurrent product)",
                    "GRU, PyTorch convention: r applied to W_hn h + b_hn")
    x, h = c.x, c.quantity("h")
    p = {f"{m}{k}": (c.weight(f"W_{m}{k}", "I" if m == "i" else "H"), c.vector(f"b_{m}{k}"))
         for k in "rzn" for m in "ih"}
    r, z = (c.let(k, sigmoid(c.let(f"{k}bar", p[f"i{k}"][0] @ x[t] + p[f"i{k}"][1]
                                   + p[f"h{k}"][0] @ h[t - 1] + p[f"h{k}"][1])[t]))
            for k in "rz")
    hn = c.let("nbar_h", p["hn"][0] @ h[t - 1] + p["hn"][1])
    nbar = c.let("nbar", p["in"][0] @ x[t] + p["in"][1] + r[t] * hn[t])
    n = c.let("n", tanh(nbar[t]))
    c.let("h", (1 - z[t]) * n[t] + z[t] * h[t - 1])
    return c.build("h", stacks=torch_stacks("rzn"))


def graves_lstm() -> Cell:
    c = CellBuilder("graves-lstm", "Graves 2012 section 4.6 = Greff et al. 2017 vanilla LSTM",
                    "LSTM with forget gate and peepholes; the output gate peeps at the current state")
    x, y, cs = c.x, c.quantity("y"), c.quantity("c")
    W = {k: c.weight(f"W_{k}", "I") for k in "zifo"}
    R = {k: c.weight(f"R_{k}") for k in "zifo"}
    b = {k: c.vector(f"b_{k}") for k in "zifo"}
    p = {k: c.vector(f"p_{k}") for k in "ifo"}

    def pre(k, peep=0):
        return W[k] @ x[t] + R[k] @ y[t - 1] + peep + b[k]

    z = c.let("z", tanh(c.let("zbar", pre("z"))[t]))
    i = c.let("i", sigmoid(c.let("ibar", pre("i", p["i"] * cs[t - 1]))[t]))
    f = c.let("f", sigmoid(c.let("fbar", pre("f", p["f"] * cs[t - 1]))[t]))
    cs = c.let("c", z[t] * i[t] + cs[t - 1] * f[t])
    o = c.let("o", sigmoid(c.let("obar", pre("o", p["o"] * cs[t]))[t]))
    c.let("y", tanh(cs[t]) * o[t])
    return c.build("y", stacks={"W": tuple(f"W_{k}" for k in "zifo"),
                                "R": tuple(f"R_{k}" for k in "zifo"),
                                "b": tuple(f"b_{k}" for k in "zifo")})


BUILTIN: dict[str, Callable[[], Cell]] = {
    "rnn": rnn, "lstm": lstm, "gru": gru, "graves-lstm": graves_lstm,
}
ALIASES = {"greff-lstm": "graves-lstm"}


def get_cell(name: str) -> Cell:
    """A built-in cell by name (``rnn``, ``lstm``, ``gru``, ``graves-lstm``/``greff-lstm``)."""
    key = ALIASES.get(name, name)
    if key not in BUILTIN:
        raise CellError(f"unknown cell {name!r}; built-in cells: {', '.join(cell_names())}; "
                        "or a file of your own: PATH.py, PATH.py:NAME, package.module:NAME")
    return BUILTIN[key]()


def cell_names() -> list[str]:
    return [*BUILTIN, *ALIASES]


# --- cells from files and modules ---------------------------------------------------------

def _import_file(path: Path) -> ModuleType:
    if not path.is_file():
        raise CellError(f"{path}: no such file")
    name = "bptt_user_cells_" + re.sub(r"\W", "_", str(path.resolve()))
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except CellError:
        del sys.modules[name]
        raise
    except SyntaxError as e:
        del sys.modules[name]
        raise CellError(f"{e.filename}:{e.lineno}: syntax error: {e.msg}") from None
    except Exception as e:  # the user's module failed to import: say where, in one line
        del sys.modules[name]
        tb = traceback.extract_tb(e.__traceback__)
        where = next((f"{f.filename}:{f.lineno}" for f in reversed(tb)
                      if f.filename == str(path) or Path(f.filename) == path.resolve()),
                     str(path))
        raise CellError(f"{where}: importing the cell file failed: "
                        f"{type(e).__name__}: {e}") from None
    return module


def _import_module(name: str) -> ModuleType:
    try:
        return importlib.import_module(name)
    except ImportError as e:
        raise CellError(f"cannot import module {name!r}: {e}") from None


def file_cells(module: ModuleType) -> dict[str, Cell]:
    """The cells a module defines: ``Cell`` objects (``@cell`` functions among them) and
    functions annotated to return a ``Cell``, by their attribute name."""
    out: dict[str, Cell] = {}
    for attr, value in vars(module).items():
        if attr.startswith("_"):
            continue
        if isinstance(value, Cell):
            out[attr] = value
        elif (inspect.isfunction(value) and value.__module__ == module.__name__
              and inspect.signature(value).return_annotation in (Cell, "Cell")):
            out[attr] = value()
    return out


def _pick(cells: dict[str, Cell], name: str | None, where: str) -> Cell:
    if name is not None:
        for attr, c in cells.items():
            if name in (attr, c.name):
                return c
        raise CellError(f"{where} has no cell {name!r}; its cells: "
                        f"{', '.join(cells) or 'none'}")
    if len(cells) == 1:
        return next(iter(cells.values()))
    if not cells:
        raise CellError(f"{where} defines no cell (write a step function with @cell, see the "
                        "user guide)")
    raise CellError(f"{where} defines several cells ({', '.join(cells)}): name one, "
                    f"{where}:NAME")


def load_cells(spec: str) -> dict[str, Cell]:
    """Every cell a spec names: a built-in name, ``PATH.py``, or ``package.module``."""
    if spec in cell_names():
        return {spec: get_cell(spec)}
    if spec.endswith(".py") or "/" in spec or "\\" in spec:
        return file_cells(_import_file(Path(spec)))
    return file_cells(_import_module(spec))


def load_cell(spec: str) -> Cell:
    """A cell by name (built-in), by file (``PATH.py``, ``PATH.py:NAME``) or by module
    (``package.module:NAME``)."""
    if spec in cell_names():
        return get_cell(spec)
    path, colon, name = spec.rpartition(":")
    if not colon or not path or "/" in name or "\\" in name:  # no NAME (or a Windows drive)
        path, name = spec, None
    if not (path.endswith(".py") or Path(path).is_file()) and name is None and "." not in path:
        get_cell(spec)  # an unknown built-in name: its error lists them
    return _pick(load_cells(path), name, path)
