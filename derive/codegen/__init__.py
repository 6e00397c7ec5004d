"""Kernels generated from a cell's IR: forward and backward through time, batched, for NumPy,
torch and jax. One plan of the computation (``plan.py``) feeds one writer per target.

The plan, read from the equations and the derived backward pass:

* every matrix product ``W @ v`` joins the *group* of products with the same argument ``v``;
  a group is one stacked GEMM (the per-gate weights stacked in the packed parameters' order,
  so a packed parameter is used as is). The input's group runs for all steps at once before
  the loop; the group of a state ``h[t-1]`` runs once per step;
* an equation holding products keeps its value in a block of a stacked buffer (its *home*);
  backward, the adjoints of those equations fill the same stacked layout, so ``W^T delta`` of
  a group is again one product per step, and dL/dx and each dL/dW one product after the loop;
* names of the cell that clash with the generated code's own (``range``, ``np``, ``dx``) are
  renamed inside; parameters and states keep the cell's names as keys.

The writers: ``numpy_target.py`` (in-place NumPy, ``out=``, adjacent gate activations as one
call), ``torch_target.py`` (a ``torch.autograd.Function`` and an ``nn.Module``),
``jax_target.py`` (``jax.custom_vjp`` over ``lax.scan``); ``arrays.py`` holds what the torch
and jax writers share. Each module imports only its library.

How a NumPy module is called (the torch and jax modules alike, see docs/user-guide.md):

* ``forward(params, x, state0=None) -> (y, stateT, cache)`` and
  ``backward(params, cache, dy, dstateT=None) -> (dparams, dx, dstate0)``; sizes by name
  (``param_shapes(I, H)``, ``param_shapes({"I": 8, "H": 16, "P": 4})``, ``init_params(I=8, H=16)``);
* several inputs come in the order of ``INPUTS``: ``forward(params, x, u)``, and backward
  returns their gradients as a tuple ``(dparams, (dx, du), dstate0)``;
* a cell with a loss takes the loss's targets as inputs and returns the summed loss:
  ``forward(params, x, z) -> (L, stateT, cache)``; ``backward(params, cache, dstateT=None)``
  needs no ``dy`` and gives no gradient for the targets.

``generate_module`` gives the source, ``write_module`` writes it, ``load_module`` imports it,
``code_latex`` renders the NumPy module's per-step functions with latexify-py.
"""
from __future__ import annotations

import atexit
import importlib.util
import itertools
import os
import re
import shutil
import tempfile
from pathlib import Path
from types import ModuleType

from ..ir import Cell, CellError
from .jax_target import JaxWriter
from .numpy_target import ModuleWriter
from .torch_target import TorchWriter
from .plan import plan

__all__ = ["TARGETS", "code_latex", "generate_module", "load_module", "write_module"]

# --- public API ------------------------------------------------------------------------------

#: one writer per target, each printing the same plan
WRITERS: dict[str, type] = {"numpy": ModuleWriter, "torch": TorchWriter, "jax": JaxWriter}
TARGETS = tuple(WRITERS)


def generate_module(cell: Cell, target: str = "numpy") -> str:
    """The source of a standalone module (importing only the target's library) with the cell's
    forward and backward kernels (raises CellError for a cell it cannot generate, naming the
    operation, and for an unknown target)."""
    if target not in WRITERS:
        raise CellError(f"unknown target {target!r}; the targets are {', '.join(WRITERS)}")
    return WRITERS[target](plan(cell)).module()


def write_module(cell: Cell, path: str | os.PathLike, target: str = "numpy") -> None:
    """Write the generated module to ``path`` atomically: a temporary file, then a rename."""
    path = Path(path)
    source = generate_module(cell, target)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(source)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


_scratch_dir: Path | None = None
_serial = itertools.count()


def _scratch() -> Path:
    global _scratch_dir
    if _scratch_dir is None:
        _scratch_dir = Path(tempfile.mkdtemp(prefix="bptt-kernels-"))
        atexit.register(shutil.rmtree, _scratch_dir, True)
    return _scratch_dir


def load_module(cell_or_path: Cell | str | os.PathLike, target: str = "numpy") -> ModuleType:
    """Import a generated module from a file, or generate one for a cell into a temporary
    file (a real file, so that inspect and latexify can read its source).

    >>> import numpy as np
    >>> from derive.cells import get_cell
    >>> lstm = load_module(get_cell("lstm"))
    >>> lstm.STATE, lstm.param_shapes(3, 5)["weight_hh"]
    (('h', 'c'), (20, 5))
    >>> y, stateT, cache = lstm.forward(lstm.init_params(3, 5), np.zeros((7, 2, 3)))
    >>> y.shape, sorted(stateT)
    ((7, 2, 5), ['c', 'h'])
    """
    if isinstance(cell_or_path, Cell):
        stem = "".join(ch if ch.isalnum() else "_" for ch in cell_or_path.name)
        path = _scratch() / f"bptt_{stem}_{target}_{next(_serial)}.py"
        write_module(cell_or_path, path, target)
    else:
        path = Path(cell_or_path)
        if not path.is_file():
            raise FileNotFoundError(f"no generated module at {path}")
    spec = importlib.util.spec_from_file_location(f"bptt_kernel_{path.stem}_{next(_serial)}",
                                                  path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def code_latex(cell: Cell) -> str:
    """LaTeX of the generated per-step forward and backward updates, rendered by latexify-py
    from the generated source: two display blocks for an amsmath document; ``\\intercal``
    needs amssymb. The functions' final ``return`` rows (latexify's signature line) are
    left out."""
    import latexify

    module = load_module(cell)
    blocks = []
    for title, fn in (("forward step", module.forward_step),
                      ("backward step", module.backward_step)):
        tex = latexify.get_latex(fn, use_math_symbols=True, reduce_assignments=False)
        body = tex.partition(r"\begin{array}{l}")[2].removesuffix(r"\end{array}").strip()
        rows = body.split(r" \\ ")[:-1]
        array = r"\begin{array}{l} " + r" \\ ".join(rows) + r" \end{array}"
        # latexify 0.4.4 leaves "_" unescaped in \mathbf{W_hn} (transposes): W_{h}n otherwise
        array = re.sub(r"\\mathbf\{(\w+)\}",
                       lambda m: r"\mathbf{" + m[1].replace("_", r"\_") + "}", array)
        # use_math_symbols turns the rnn's pre-activation "hbar" into Planck's \hbar
        array = re.sub(r"\\hbar(?![a-zA-Z])", r"\\bar{h}", array)
        blocks.append(f"% {cell.name}: generated {title} (latexify-py)\n\\[ {array} \\]")
    return "\n".join(blocks) + "\n"
