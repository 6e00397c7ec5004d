"""Finding cells: the built-in ones (derive/zoo.py) by name, a user's by file or module.

``load_cell`` accepts a built-in name, ``PATH.py`` (the file's only cell), ``PATH.py:NAME``,
``package.module:NAME`` and a paper's forward equations ``PATH.tex``/``PATH.md``
(derive/paper.py); a file may hold ``@cell`` step functions, ``Cell`` objects or functions
annotated to return a ``Cell``.
"""
from __future__ import annotations

import functools
import importlib
import importlib.util
import inspect
import re
import sys
import traceback
from pathlib import Path
from types import ModuleType

from .ir import Cell, CellError
from .paper import is_paper, read_paper


ALIASES = {"greff-lstm": "graves-lstm", "greff-vanilla": "graves-lstm"}


@functools.lru_cache(maxsize=None)
def builtin_cells() -> dict[str, Cell]:
    """The built-in cells by name (read from derive/zoo.py on first use)."""
    from .zoo import ZOO
    return {c.name: c for c in ZOO}


def get_cell(name: str) -> Cell:
    """A built-in cell by name (``rnn``, ``lstm``, ``gru``, ``graves-lstm``/``greff-lstm``)."""
    key = ALIASES.get(name, name)
    if key not in builtin_cells():
        raise CellError(f"unknown cell {name!r}; built-in cells: {', '.join(cell_names())}; "
                        "or a file of your own: PATH.py, PATH.py:NAME, package.module:NAME")
    return builtin_cells()[key]


def cell_names() -> list[str]:
    return [*builtin_cells(), *ALIASES]


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
    functions without required arguments annotated to return a ``Cell`` (a factory that
    needs arguments is not a cell), by their attribute name."""
    out: dict[str, Cell] = {}
    for attr, value in vars(module).items():
        if attr.startswith("_"):
            continue
        if isinstance(value, Cell):
            out[attr] = value
        elif (inspect.isfunction(value) and value.__module__ == module.__name__
              and inspect.signature(value).return_annotation in (Cell, "Cell")
              and not _required(value)):
            try:
                out[attr] = value()
            except CellError:
                raise
            except Exception as e:   # the user's code: one line naming the function
                raise CellError(f"{module.__name__}.{attr}(): building the cell failed: "
                                f"{type(e).__name__}: {e}") from None
    return out


def _required(f) -> bool:
    """Whether f has arguments without a default."""
    return any(p.default is p.empty and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
               for p in inspect.signature(f).parameters.values())


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


def parse_maps(items: list[str]) -> dict[str, str]:
    """``--map`` arguments ``SYMBOL=name`` (the last ``=`` splits: a symbol may hold one) as a
    table; CellError for an item without both sides."""
    mapping = {}
    for item in items:
        symbol, eq, name = item.rpartition("=")
        if not eq or not symbol.strip() or not name.strip():
            raise CellError(f"--map {item!r}: expected SYMBOL=name, e.g. '\\tilde h=n'")
        mapping[symbol.strip()] = name.strip()
    return mapping


def load_cells(spec: str, notation: str | None = None, mapping: dict[str, str] | None = None,
               constant_unit: bool = False) -> dict[str, Cell]:
    """Every cell a spec names: a built-in name, ``PATH.py``, ``PATH.tex``/``PATH.md`` (a
    paper's forward equations, read in ``notation`` with ``mapping``) or ``package.module``."""
    if is_paper(spec):
        paper = read_paper(spec, notation, mapping, constant_unit)
        return {paper.name: paper}
    if spec in cell_names():
        return {spec: get_cell(spec)}
    if spec.endswith(".py") or "/" in spec or "\\" in spec:
        return file_cells(_import_file(Path(spec)))
    return file_cells(_import_module(spec))


def load_cell(spec: str, notation: str | None = None,
              mapping: dict[str, str] | None = None, constant_unit: bool = False) -> Cell:
    """A cell by name (built-in), by file (``PATH.py``, ``PATH.py:NAME``), by module
    (``package.module:NAME``) or a paper's forward equations (``PATH.tex``, ``PATH.md``, read in
    ``notation``, default vector, with ``mapping``: symbol -> IR name or activation, and
    ``constant_unit``: a bias beside each product with the input)."""
    if is_paper(spec):
        return read_paper(spec, notation, mapping, constant_unit)
    for given, option in ((mapping, "--map"), (constant_unit, "--constant-unit")):
        if given:
            raise CellError(f"{option} applies to a paper's equations (PATH.tex, PATH.md), "
                            f"not to {spec}")
    if spec in cell_names():
        return get_cell(spec)
    path, colon, name = spec.rpartition(":")
    if not colon or not path or "/" in name or "\\" in name:  # no NAME (or a Windows drive)
        path, name = spec, None
    if not (path.endswith(".py") or Path(path).is_file()) and name is None and "." not in path:
        get_cell(spec)  # an unknown built-in name: its error lists them
    return _pick(load_cells(path), name, path)
