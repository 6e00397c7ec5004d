"""bptt: derive, print, generate and check backpropagation through time for recurrent cells.

The command-line program and the small public API::

    >>> import bptt
    >>> cell = bptt.get_cell("lstm")
    >>> cell.state
    ('h', 'c')
    >>> print(bptt.plain(bptt.derive(cell).adjoint_of("c")))
    delta_c[t] = tanh'(c[t])*delta_h[t]*o[t] + delta_c[t+1]*f[t+1]
"""
from __future__ import annotations

import argparse
import errno
import json
import os
import stat
import sys
import tempfile
from pathlib import Path


from derive import Backward, Cell, CellBuilder, CellError, cell_names, derive, get_cell, t
from derive.cells import load_cell, load_cells, parse_maps
from derive.frontend import cell
from derive.ir import (activation, cross_entropy, elu, exp, identity, leaky_relu, log, relu,
                       sigmoid, softplus, softsign, squared_error, tanh)
from derive.ir import Softmax as softmax
from derive.printers import latex, plain
from derive.sheets import FORMATS, render

__all__ = ["Backward", "Cell", "CellBuilder", "CellError", "activation", "cell", "cell_names",
           "cross_entropy", "derive", "elu", "exp", "get_cell", "identity", "latex",
           "leaky_relu", "load_cell", "log", "main", "plain", "relu", "render", "sigmoid",
           "softmax", "softplus", "softsign", "squared_error", "t", "tanh"]


class UsageError(ValueError):
    """Bad command-line input: printed as one line, exit code 2."""


def write_output(data: str | bytes, path: str | None) -> None:
    """Write to standard output (no path, or ``-``) or to ``path``, never damaging what is there.

    | what is at ``path``            | what happens                                              |
    | ------------------------------ | --------------------------------------------------------- |
    | nothing, or a regular file     | temp file in the same folder, then rename: never a half-  |
    |                                | written file; an existing file keeps its permissions      |
    | a symlink                      | followed: its target is written as above, the link stays  |
    | a character device (/dev/null) | written to as a stream                                    |
    | a FIFO                         | written to as a stream if a reader is there, else refused |
    | a directory, socket, block dev | refused                                                   |

    Every failure (no folder, full disk, no permission) is a UsageError naming the path."""
    if path is None or path == "-":
        if isinstance(data, bytes):
            raise UsageError("binary output (pdf) needs -o FILE")
        sys.stdout.write(data)
        return
    payload = data.encode() if isinstance(data, str) else data
    target = Path(os.path.realpath(path))  # a symlink is followed; the link itself stays
    try:
        try:
            mode = os.stat(target).st_mode
        except FileNotFoundError:
            mode = None
        if mode is not None and not stat.S_ISREG(mode):
            _write_stream(payload, path, target, mode)
        else:
            _write_atomically(payload, target, mode)
    except OSError as e:
        raise UsageError(f"cannot write {path}: {e.strerror or e}") from None


def _write_stream(payload: bytes, path: str, target: Path, mode: int) -> None:
    """A character device or a FIFO (with a reader) is written to in place; nothing else."""
    if stat.S_ISDIR(mode):
        raise UsageError(f"cannot write {path}: it is a directory")
    if not (stat.S_ISCHR(mode) or stat.S_ISFIFO(mode)):
        kind = "socket" if stat.S_ISSOCK(mode) else "block device" if stat.S_ISBLK(mode) \
            else "special file"
        raise UsageError(f"cannot write {path}: it is a {kind}, not a regular file")
    try:  # O_NONBLOCK: a FIFO without a reader fails at once (ENXIO) instead of hanging
        fd = os.open(target, os.O_WRONLY | os.O_NONBLOCK)
    except OSError as e:
        if e.errno == errno.ENXIO:
            raise UsageError(f"cannot write {path}: a FIFO with no reader") from None
        raise
    try:
        os.set_blocking(fd, True)
        view = memoryview(payload)
        while view:
            view = view[os.write(fd, view):]
    finally:
        os.close(fd)


def _write_atomically(payload: bytes, target: Path, mode: int | None) -> None:
    """Temp file beside the target, flushed to disk, then renamed over it."""
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(payload)
            f.flush()
            os.fsync(f.fileno())
        if mode is None:  # a new file: what the umask allows, as open() would give
            umask = os.umask(0)
            os.umask(umask)
            os.chmod(tmp, 0o666 & ~umask)
        else:
            os.chmod(tmp, stat.S_IMODE(mode))
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


# --- commands ------------------------------------------------------------------------------

def _cell(args: argparse.Namespace) -> Cell:
    """The command's cell; a paper's equations (.tex, .md) are read in its --notation, --map."""
    mapping = parse_maps(getattr(args, "map", None) or [])
    return load_cell(args.cell, getattr(args, "notation", None), mapping,
                     getattr(args, "constant_unit", False))


def cmd_cells(args: argparse.Namespace) -> int:
    if args.spec is None:
        listed = {name: get_cell(name) for name in cell_names()}
    elif args.spec.lower().endswith((".tex", ".md")):
        cell = _cell(argparse.Namespace(cell=args.spec, notation=args.notation, map=args.map,
                                        constant_unit=args.constant_unit))
        listed = {cell.name: cell}
    else:
        listed = load_cells(args.spec)
    for name, c in listed.items():
        alias = f" (alias of {c.name})" if c.name != name and args.spec is None else ""
        sizes = ", ".join(f"{q}: {c.size(q)}" for q in c.state)
        print(f"{name}{alias}\n    {c.description}\n    source: {c.source}\n"
              f"    state: {sizes}")
    return 0


def cmd_sheet(args: argparse.Namespace) -> int:
    cell = _cell(args)
    code = ""
    if args.with_code:
        from derive.sheets import code_latex
        code = code_latex(cell)
    if args.unrolled is not None and not 1 <= args.unrolled <= 10:
        raise UsageError(f"--unrolled {args.unrolled}: choose 1 to 10 steps")
    if args.format == "pdf" and args.output in (None, "-"):  # before pdflatex is looked for
        raise UsageError("binary output (pdf) needs -o FILE")
    write_output(render(cell, args.notation, args.format, args.unrolled, code), args.output)
    return 0


def explain(cell: Cell, notation: str = "vector", fmt: str = "text") -> str:
    """What the state of ``cell`` is, in words and equations (see derive/explain.py)."""
    from derive.explain import explain as explain_cell
    return explain_cell(cell, notation, fmt)


def cmd_explain(args: argparse.Namespace) -> int:
    if args.format not in ("text", "md"):
        raise UsageError(f"--format {args.format}: choose text or md")
    print(explain(_cell(args), args.notation, args.format), end="")
    return 0


def cmd_trace(args: argparse.Namespace) -> int:
    from derive.trace import FORMATS, trace
    if args.format not in FORMATS:
        raise UsageError(f"--format {args.format}: choose one of {', '.join(FORMATS)}")
    for option, value, top in (("--steps", args.steps, 10), ("--hidden", args.hidden, 4),
                               ("--inputs", args.inputs, 4)):
        if not 1 <= value <= top:
            raise UsageError(f"{option} {value}: choose 1 to {top}")
    sizes = {}
    for item in args.size:
        name, _, value = item.partition("=")
        if not (name.isidentifier() and value.isdigit() and 1 <= int(value) <= 4):
            raise UsageError(f"--size {item}: write NAME=N with N from 1 to 4 (e.g. --size P=2)")
        sizes[name] = int(value)
    cell = _cell(args)
    example = trace(cell, steps=args.steps, hidden=args.hidden, inputs=args.inputs,
                    seed=args.seed, sizes=sizes)
    write_output(FORMATS[args.format](example, args.notation), args.output)
    return 0


def cmd_graph(args: argparse.Namespace) -> int:
    from derive.graph import GRAPH_FORMATS, backward_graph, forward_graph, graph_bytes
    fmt = Path(args.output).suffix.lstrip(".").lower()
    if fmt not in GRAPH_FORMATS:
        raise UsageError(f"-o {args.output}: the name must end in "
                         f"{', '.join('.' + f for f in GRAPH_FORMATS)}")
    if not 1 <= args.steps <= 8:
        raise UsageError(f"--steps {args.steps}: choose 1 to 8")
    cell = _cell(args)
    if args.backward:
        dot = backward_graph(cell, steps=args.steps, notation=args.notation, layout=args.layout)
    else:
        dot = forward_graph(cell, steps=args.steps, notation=args.notation, layout=args.layout)
    write_output(graph_bytes(dot, fmt), args.output)
    return 0


def cmd_codegen(args: argparse.Namespace) -> int:
    from derive.codegen import generate_module
    write_output(generate_module(_cell(args), args.target), args.output)
    return 0


def cmd_verify(args: argparse.Namespace) -> int:
    from verify.unrolled import check_sizes
    cell = _cell(args)
    both = args.numeric == args.symbolic
    sizes = {name: value for name, value in (("steps", args.steps), ("hidden", args.hidden),
                                              ("inputs", args.inputs)) if value is not None}
    check_sizes(**sizes)  # one set of limits for both checks
    ok = True
    if args.symbolic or both:
        from verify.unrolled import check_unrolled
        report = check_unrolled(cell, **sizes)
        print(report.format())
        ok &= report.ok
    if args.numeric or both:
        from verify.numeric import check_numeric
        if sizes.get("steps", 2) < 2:
            raise UsageError(f"--steps {args.steps}: the numeric check needs at least 2 steps")
        report = check_numeric(cell, **sizes)
        print(report.format())
        ok &= report.ok
    return 0 if ok else 1


def cmd_compare(args: argparse.Namespace) -> int:
    from verify.compare import run_compare
    return run_compare(args)


# --- argument parsing ----------------------------------------------------------------------

class Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, exit 2 (argparse prints usage too)
        raise UsageError(f"{self.prog}: {message}")


def _paper_arguments(p: argparse.ArgumentParser, notation: bool = False) -> None:
    """How a paper's equations (a .tex or .md cell) are read: --map, --constant-unit, and
    --notation where the command has none of its own."""
    if notation:
        p.add_argument("--notation", help="how a paper's equations (.tex, .md) are read: vector "
                       "(default), pytorch, greff, graves, cho, or a profile file")
    p.add_argument("--map", action="append", default=[], metavar="SYMBOL=name",
                   help="a paper's equations: name a symbol ('u=x', '\\phi=tanh') (repeatable)")
    p.add_argument("--constant-unit", action="store_true", help="a paper's equations: its input "
                   "carries a constant unit, a bias is added beside each product with the input")


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="bptt", description=__doc__.splitlines()[0])
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=Parser)
    cells_help = (f"a built-in cell ({', '.join(cell_names())}) or your own: PATH.py, "
                  "PATH.py:NAME, package.module:NAME, or a paper's forward equations PATH.tex, "
                  "PATH.md (read in --notation)")

    p = sub.add_parser("cells", help="list the built-in cells, or a file's cells, and their "
                       "state variables")
    p.add_argument("spec", nargs="?", help="a cell file PATH.py or module (default: the "
                   "built-in cells)")
    _paper_arguments(p, notation=True)
    p.set_defaults(run=cmd_cells)

    p = sub.add_parser("sheet", help="the equation sheet of a cell")
    p.add_argument("cell", help=cells_help)
    p.add_argument("--notation", default="vector",
                   help="vector (default), pytorch, greff, graves, cho, or a profile file")
    p.add_argument("--format", default="tex", help=f"one of {', '.join(FORMATS)} (default tex)")
    p.add_argument("-o", "--output", help="output file (default: standard output)")
    p.add_argument("--with-code", action="store_true",
                   help="append the generated kernel's step functions, rendered as math")
    p.add_argument("--unrolled", type=int, metavar="T",
                   help="add the forward and backward passes unrolled over T steps")
    _paper_arguments(p)
    p.set_defaults(run=cmd_sheet)

    p = sub.add_parser("explain", help="what the state of a cell is, and where its gradient "
                       "comes from")
    p.add_argument("cell", help=cells_help)
    p.add_argument("--notation", default="vector",
                   help="vector (default), pytorch, greff, graves, cho, or a profile file")
    p.add_argument("--format", default="text", help="text (default) or md (Markdown, LaTeX)")
    _paper_arguments(p)
    p.set_defaults(run=cmd_explain)

    p = sub.add_parser("graph", help="the cell unrolled over T steps as a picture (Graphviz): "
                       "the forward pass, or with --backward the adjoints and their terms")
    p.add_argument("cell", help=cells_help)
    p.add_argument("--steps", type=int, default=3, help="time steps T (default 3)")
    p.add_argument("--backward", action="store_true",
                   help="the backward pass: one arrow per term of a derived recurrence")
    p.add_argument("--layout", default="auto", help="the steps side by side (columns), "
                   "one below the other (rows), or auto (columns for small cells)")
    p.add_argument("--notation", default="vector",
                   help="vector (default), pytorch, greff, graves, cho, or a profile file")
    p.add_argument("-o", "--output", required=True,
                   help="FILE.svg, .png, .pdf (need Graphviz's dot) or .dot")
    _paper_arguments(p)
    p.set_defaults(run=cmd_graph)

    p = sub.add_parser("trace", help="a worked example in numbers: the forward pass step by "
                       "step, then each adjoint from t = T down to 1 as its terms")
    p.add_argument("cell", help=cells_help)
    p.add_argument("--steps", type=int, default=3, help="time steps T (default 3)")
    p.add_argument("--hidden", type=int, default=1, help="hidden size H (default 1)")
    p.add_argument("--inputs", type=int, default=1, help="input size I (default 1)")
    p.add_argument("--size", action="append", default=[], metavar="NAME=N",
                   help="any other size of the cell (P, K, ...; default 1), e.g. --size K=3")
    p.add_argument("--seed", type=int, default=0, help="seed of the drawn numbers (default 0)")
    p.add_argument("--format", default="text", help="text (default), md or json")
    p.add_argument("--notation", default="vector",
                   help="vector (default), pytorch, greff, graves, cho, or a profile file")
    p.add_argument("-o", "--output", help="output file (default: standard output)")
    _paper_arguments(p)
    p.set_defaults(run=cmd_trace)

    p = sub.add_parser("codegen", help="write a standalone forward/backward module (NumPy, "
                       "torch or jax)")
    p.add_argument("cell", help=cells_help)
    p.add_argument("--target", choices=("numpy", "torch", "jax"), default="numpy",
                   help="the library the module imports (default numpy)")
    p.add_argument("-o", "--output", required=True, help="the module to write (PATH.py)")
    _paper_arguments(p, notation=True)
    p.set_defaults(run=cmd_codegen)

    p = sub.add_parser("verify", help="check the derived recurrences (symbolic unrolled check "
                       "and numeric checks of the generated kernel; both by default)")
    p.add_argument("cell", help=cells_help)
    p.add_argument("--steps", type=int, help="steps T (default 3 symbolic, 4 numeric)")
    p.add_argument("--hidden", type=int, help="units of size H (default 3 symbolic, 4 numeric)")
    p.add_argument("--inputs", type=int, help="units of size I (default 2 symbolic, 3 numeric); "
                   "other sizes (P, K, ...) get numbers of their own")
    p.add_argument("--symbolic", action="store_true", help="only the unrolled exact check")
    p.add_argument("--numeric", action="store_true",
                   help="only the numeric checks of the generated kernel")
    _paper_arguments(p, notation=True)
    p.set_defaults(run=cmd_verify)

    p = sub.add_parser("compare", help="check textbook formulas (LaTeX) against the derivation")
    p.add_argument("cell", help=cells_help)
    p.add_argument("--notation", help="vector (default), pytorch, greff, graves, cho, or a "
                   ".json/.toml profile file")
    p.add_argument("--formula", action="append", default=[], help="a LaTeX equation (repeatable)")
    p.add_argument("--file", help="a file with one LaTeX equation per line")
    p.add_argument("--map", action="append", default=[], metavar="SYMBOL=quantity",
                   help="map a symbol to a quantity of the cell, or to an expression of its "
                   "parameters: 'b_h=b_ih+b_hh', 'W_xh=W_ih^T' (repeatable)")
    p.add_argument("--constant-unit", action="store_true",
                   help="the input carries a constant unit: W x includes the biases beside it")
    p.add_argument("--source", help="a built-in catalog of published equations: graves2012, "
                   "greff2017, pytorch, cho2014, chung2014")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(run=cmd_compare)
    return parser


def _printable(message: str, limit: int = 400) -> str:
    """One line: whitespace collapsed, control characters (NUL) escaped, at most ``limit``."""
    text = "".join(c if c.isprintable() else repr(c)[1:-1] for c in " ".join(message.split()))
    return text if len(text) <= limit else text[:limit - 3] + "..."


def _debug_flag(argv: list[str]) -> bool:
    """``--debug`` before the command, where it is the flag (after it, it is some option's
    value, e.g. ``--formula --debug``): read before parsing, so parse errors honour it too."""
    for arg in argv:
        if arg == "--debug":
            return True
        if not arg.startswith("-"):
            return False
    return False


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    debug = _debug_flag(argv)
    try:
        args = build_parser().parse_args(argv)
        return args.run(args)
    except (UsageError, CellError, OSError, json.JSONDecodeError) as e:
        if debug:
            raise
        message = str(e) if not isinstance(e, OSError) else \
            ": ".join(str(x) for x in (e.strerror or e, e.filename) if x is not None)
        print(f"bptt: error: {_printable(message)}", file=sys.stderr)
        return 2
    except (RecursionError, MemoryError) as e:  # a safety net: the bounds should prevent it
        if debug:
            raise
        print(f"bptt: error: the input is too large or too deeply nested "
              f"({type(e).__name__})", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
