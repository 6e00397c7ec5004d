"""Equation sheets: a cell's forward pass, derived backward pass and gradients as a document.

A sheet is a list of sections of numbered equations (:func:`sections`), written out as a LaTeX
document, as Markdown with ``$$`` blocks, or as a PDF compiled from the LaTeX.
"""
from __future__ import annotations

import ast
import importlib.util
import inspect
import re
import shutil
import subprocess
import tempfile
import textwrap
from dataclasses import dataclass
from pathlib import Path

import sympy as sp

from .derivation import Backward, derive, loss_assumptions, through_outputs
from .ir import SCALAR, Cell, CellError, LossBase, base_name, t
from .printers import LOSS_LATEX, TextbookLatexPrinter, get_notation, vector_symbol

FORMATS = ("tex", "md", "pdf")


class SheetError(CellError):
    """A sheet that cannot be produced (unknown format, no pdflatex, a failed compilation)."""


@dataclass(frozen=True)
class Section:
    title: str
    text: str                 # LaTeX prose under the title
    equations: tuple[str, ...]  # each "lhs &= rhs"


def sections(cell: Cell, notation: str = "vector", unrolled: int | None = None) -> list[Section]:
    """The sheet's content; ``unrolled`` adds the forward and backward passes over that many
    steps."""
    profile = get_notation(notation, cell)
    printer = TextbookLatexPrinter(profile, cell)
    backward = derive(cell)
    # vector notation writes sigma' as sigma(1 - sigma); Graves f'(a_j) of a named network
    # input, and through the output where the cell names none (elman-softmax's hidden layer)
    backward = backward.map(lambda e: through_outputs(e, cell, unnamed_only=profile.per_unit))

    def show(eqs):
        return tuple(printer.equation(eq) for eq in eqs
                     if base_name(eq.lhs) not in profile.inline)

    state = ", ".join(f"${printer.doprint(cell.equation(s).lhs)}$" for s in cell.state)
    out = [
        Section("Forward pass", rf"One time step $t = 1, \dots, T$. {profile.description}. "
                rf"State variables (read at $t-1$): {state}; initial state at $t = 0$. "
                f"{sizes_text(cell, printer)} {loss_text(cell, printer, backward)}".rstrip(),
                show(cell.equations)),
        Section("Backward pass", "Adjoint recurrences, computed for $t = T, \\dots, 1$ with "
                "the boundary: every adjoint at $T+1$ is zero. Terms at $t+1$ are the "
                "gradient carried back through the state.", show(backward.adjoints)),
        Section("Initial state", "The gradient with respect to the initial state.",
                show(backward.initial)),
        Section("Gradients", "Parameter gradients, summed over the sequence.",
                show(backward.gradients)),
    ]
    if unrolled:
        out += _unrolled_sections(cell, backward, unrolled, show, printer)
    return out


def sizes_text(cell: Cell, printer: TextbookLatexPrinter) -> str:
    """Sizes: the inputs and quantities grouped by their space, then the parameters' shapes."""
    def space(shape: tuple[str, ...]) -> str:
        dims = r" \times ".join(d for d in shape if d != SCALAR)
        return r"\mathbb{R}" + (f"^{{{dims}}}" if dims else "")

    def group(items) -> str:
        by_space: dict[str, list[str]] = {}
        for symbol, shape in items:
            by_space.setdefault(space(shape), []).append(symbol)
        return "; ".join(rf"${', '.join(symbols)} \in {where}$"
                         for where, symbols in by_space.items())

    quantities = group((printer.doprint(_at_t(q)), (cell.size(q),))
                       for q in (*cell.inputs, *cell.quantities)
                       if q not in printer.notation.inline)
    text = f"Sizes: {quantities}."
    if not printer.notation.per_unit:  # per-unit notations have scalar weights
        params = group((printer.doprint(p.symbol), p.shape) for p in cell.params.values())
        text += f" Parameters: {params}."
    return text


def _at_t(name: str) -> sp.Indexed:
    return sp.IndexedBase(name)[t]


def loss_text(cell: Cell, printer: TextbookLatexPrinter, backward: Backward) -> str:
    """Where the gradient comes from: the cell's own loss (with what it assumes), or above."""
    if not cell.loss:
        if printer.notation.per_unit:  # the notation's description names it
            return ""
        return (rf"$\Delta^t = \partial L/\partial {printer.doprint(_at_t(cell.output))}$ is "
                "the gradient from the layer above.")
    loss = printer.doprint(_at_t(cell.loss))
    functions = {type(f) for eq in cell.equations for f in eq.rhs.atoms(LossBase)}
    defined = ", ".join(f"${LOSS_LATEX[f][0]}(y, z) = {LOSS_LATEX[f][1]}$"
                        for f in sorted(functions, key=str) if f in LOSS_LATEX)
    text = (rf"The cell computes its own loss: $L = \sum_{{t=1}}^{{T}} {loss}$, so no gradient "
            f"arrives from above{'; ' + defined if defined else ''}.")
    assumed = [f"${printer.doprint(a)} = {printer.doprint(b)}$"
               for a, b in loss_assumptions(cell).items() if a.has(t) and not a.has(t - 1)
               and not a.has(t + 1)]
    if assumed:
        text += (" The backward pass assumes that the targets are distributions (their units "
                 f"sum to one): {', '.join(assumed)}.")
    errors = {f.args[0] - f.args[1] for eq in cell.equations for f in eq.rhs.atoms(LossBase)}
    textbook = [printer.equation(eq).replace("&=", "=") for eq in backward.adjoints
                if eq.rhs in errors]
    if textbook:
        text += f" The adjoint is the prediction minus the target: ${'$, $'.join(textbook)}$."
    return text


def _unrolled_sections(cell: Cell, backward: Backward, steps: int, show,
                       printer: TextbookLatexPrinter) -> list[Section]:
    from .unroll import unroll_backward, unroll_forward
    def handed(k):  # the state that step k hands to step k+1
        state = ", ".join(f"${printer.doprint(cell.equation(s).lhs.subs(t, k))}$"
                          for s in cell.state)
        return f"Step {k} hands {state} to step {k + 1}." if k < steps else "The last step."

    forward = [Section(f"Unrolled forward pass, step {k}", handed(k), show(eqs))
               for k, eqs in enumerate(unroll_forward(cell, steps), start=1)]
    backward_steps = unroll_backward(backward, steps)
    back = [Section(f"Unrolled backward pass, step {k}", "", show(eqs))
            for k, eqs in zip(range(steps, 0, -1), backward_steps)]
    if len(backward_steps) > steps:
        back.append(Section("Unrolled backward pass, initial state", "", show(backward_steps[-1])))
    return forward + back


def title(cell: Cell) -> str:
    return f"{cell.name}: {cell.description}"


def tex(cell: Cell, notation: str = "vector", unrolled: int | None = None,
        code: str = "") -> str:
    """A complete LaTeX document (amsmath), one numbered line per equation."""
    parts = [r"\documentclass[10pt]{article}", r"\usepackage[a4paper,margin=18mm]{geometry}",
             r"\usepackage{amsmath,amssymb}", r"\allowdisplaybreaks", r"\begin{document}",
             rf"\section*{{{_escape(title(cell))}}}", _escape(f"Source: {cell.source}.")]
    for sec in sections(cell, notation, unrolled):
        parts += [rf"\subsection*{{{sec.title}}}", sec.text]
        if sec.equations:
            parts += [r"\begin{align}", " \\\\\n".join(sec.equations), r"\end{align}"]
    if code:
        parts += [rf"\subsection*{{{_code_title(cell)}}}", code]
    parts.append(r"\end{document}")
    return "\n".join(parts) + "\n"


def markdown(cell: Cell, notation: str = "vector", unrolled: int | None = None) -> str:
    """Markdown with one ``$$`` block per equation, numbered with ``\\tag``."""
    lines = [f"# {title(cell)}", "", f"Source: {cell.source}.", ""]
    n = 0
    for sec in sections(cell, notation, unrolled):
        lines += [f"## {sec.title}", "", _md_text(sec.text), ""]
        for eq in sec.equations:
            n += 1
            lines += ["$$", eq.replace("&=", "=") + rf" \tag{{{n}}}", "$$", ""]
    return "\n".join(lines)


def _md_text(text: str) -> str:
    r"""A section's LaTeX prose for Markdown: ``\texttt{a\_b.json}`` (a file's name) as code."""
    return re.sub(r"\\texttt\{((?:[^{}\\]|\\.)*)\}",
                  lambda m: "`" + re.sub(r"\\(.)", r"\1", m.group(1)) + "`", text)


def code_latex(cell: Cell) -> str:
    """The ``--with-code`` LaTeX: the cell's own step function (``@cell``) when it has one,
    else the generated kernel's step functions; ``% title`` lines and ``\\[ ... \\]`` blocks."""
    if cell.function is None:
        from .codegen import code_latex as generated
        return generated(cell)
    return step_function_latex(cell)


def _code_title(cell: Cell) -> str:
    return ("Generated code, read as math" if cell.function is None
            else "The step function, read as math")


class _Parenthesize(ast.NodeTransformer):
    """latexify 0.4.4 drops the parentheses of ``W @ (f * h)`` (it treats @ and * as one
    associative product): a one-element tuple keeps them, printed as ``(f h)``."""
    GROUPED = (ast.Mult, ast.MatMult, ast.Div)

    def visit_BinOp(self, node: ast.BinOp) -> ast.AST:
        self.generic_visit(node)
        right = node.right
        if (isinstance(node.op, (ast.Mult, ast.MatMult)) and isinstance(right, ast.BinOp)
                and isinstance(right.op, self.GROUPED)
                and ast.MatMult in (type(node.op), type(right.op))):
            node.right = ast.Tuple([right], ast.Load())
        return node


def step_function_latex(cell: Cell) -> str:
    """The user's step function rendered by latexify-py (one ``\\[ array \\]`` block); names
    written as in the sheets (``W_f`` -> ``W_{f}``, ``h_tilde`` -> ``\\tilde{h}``)."""
    import latexify

    tree = ast.parse(textwrap.dedent(inspect.getsource(cell.function)))
    fn = next(n for n in tree.body if isinstance(n, ast.FunctionDef))
    fn.decorator_list = []
    source = ast.unparse(ast.fix_missing_locations(_Parenthesize().visit(fn)))
    with tempfile.TemporaryDirectory() as tmp:  # latexify reads the source from a file
        path = Path(tmp) / f"_bptt_step_{fn.name}.py"
        path.write_text(source + "\n")
        spec = importlib.util.spec_from_file_location(path.stem, path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        # no use_math_symbols: it makes rnn's "hbar" Planck's \hbar; the sheets' own
        # vector_symbol below writes Greek names (alpha) and accents (hbar, h_tilde)
        tex = latexify.get_latex(getattr(module, fn.name), reduce_assignments=False)
    names = {*cell.inputs, *cell.quantities, *cell.params}
    tex = re.sub(r"\\mathrm\{([\w\\]+)\}", lambda m: vector_symbol(m[1].replace("\\_", "_"))
                 if m[1].replace("\\_", "_") in names else m[0], tex)
    return f"% {cell.name}: the step function (latexify-py)\n\\[ {tex} \\]\n"


def _markdown_code(code: str, title: str) -> str:
    """The --with-code LaTeX (``% title`` lines and ``\\[ ... \\]`` blocks) as Markdown."""
    lines = [f"## {title}", ""]
    for line in code.splitlines():
        if line.startswith("%"):
            lines += [line.lstrip("% "), ""]
        elif line.startswith(r"\["):
            lines += ["$$", line.removeprefix(r"\[").removesuffix(r"\]").strip(), "$$", ""]
    return "\n".join(lines)


def pdf(tex_source: str) -> bytes:
    """Compile a LaTeX document with pdflatex; SheetError when it is missing or fails."""
    exe = shutil.which("pdflatex")
    if exe is None:
        raise SheetError("--format pdf needs pdflatex, which is not installed "
                         "(Debian: apt-get install texlive-latex-base)")
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "sheet.tex").write_text(tex_source)
        run = subprocess.run([exe, "-interaction=nonstopmode", "-halt-on-error", "sheet.tex"],
                             cwd=tmp, capture_output=True, text=True, timeout=120)
        out = Path(tmp) / "sheet.pdf"
        if run.returncode != 0 or not out.exists():
            error = next((line for line in run.stdout.splitlines() if line.startswith("!")),
                         f"exit code {run.returncode}")
            raise SheetError(f"pdflatex failed: {error}")
        return out.read_bytes()


def render(cell: Cell, notation: str = "vector", fmt: str = "tex",
           unrolled: int | None = None, code: str = "") -> str | bytes:
    """The sheet in ``fmt`` (tex, md: text; pdf: bytes)."""
    if fmt not in FORMATS:
        raise SheetError(f"unknown format {fmt!r}; formats: {', '.join(FORMATS)}")
    if fmt == "md":
        return markdown(cell, notation, unrolled) + (_markdown_code(code, _code_title(cell))
                                                     if code else "")
    source = tex(cell, notation, unrolled, code)
    return pdf(source) if fmt == "pdf" else source


def _escape(text: str) -> str:
    for a, b in (("_", r"\_"), ("&", r"\&"), ("%", r"\%"), ("#", r"\#"), ("^", r"\^{}")):
        text = text.replace(a, b)
    return text

