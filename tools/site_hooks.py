"""MkDocs hooks: the documentation site's generated parts, made by the tool at build time.

* a page per built-in cell (``cells/NAME.md``, from ``derive.cells.cell_names()``): equations,
  state, graphs, explanation, a worked example, the kernel API, how to compare against it;
* the graphs (SVG, by Graphviz) of every cell, forward and backward, in every notation it has;
* directives in hand-written pages, ``<!-- bptt KIND CELL [options] -->``, replaced by the
  tool's output (the table :data:`DIRECTIVES`);
* the tutorial notebook as a page; MathJax copied from the npm package ``mathjax`` (no CDN).

``BPTT_MATHJAX`` names MathJax's ``es5`` folder; by default ``.cache/npm/node_modules/mathjax/es5``
(``npm install --prefix .cache/npm mathjax@3.2.2``, which ``tools/site.sh`` runs).
"""
from __future__ import annotations

import os
import posixpath
import re
import shlex
import sys
from functools import lru_cache
from pathlib import Path

from mkdocs.exceptions import PluginError
from mkdocs.structure.files import File, Files

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from derive import cell_names, derive, get_cell  # noqa: E402
from derive.explain import explain  # noqa: E402
from derive.graph import backward_graph, forward_graph, graph_bytes  # noqa: E402
from derive.printers import NOTATIONS, forward_latex  # noqa: E402
from derive.sheets import markdown as sheet_markdown  # noqa: E402
from derive.trace import format_markdown, trace  # noqa: E402

MATHJAX_PARTS = ("tex-chtml.js", "input/tex", "output/chtml", "ui", "a11y")
STEPS = 3


def mathjax_dir() -> Path:
    path = Path(os.environ.get("BPTT_MATHJAX", ROOT / ".cache/npm/node_modules/mathjax/es5"))
    if not (path / "tex-chtml.js").exists():
        raise PluginError(f"MathJax not found in {path}: run `npm install --prefix .cache/npm "
                          "mathjax@3.2.2` (tools/site.sh does) or set BPTT_MATHJAX")
    return path


def builtin_cells() -> list[str]:
    """The built-in cells once each (an alias is named on its cell's page)."""
    return list(dict.fromkeys(get_cell(name).name for name in cell_names()))


def notations(cell_name: str) -> list[str]:
    return [n for n, profiles in NOTATIONS.items() if None in profiles or cell_name in profiles]


# --- graphs -------------------------------------------------------------------------------

def graph_path(cell: str, backward: bool, notation: str) -> str:
    kind = "backward" if backward else "forward"
    return f"graphs/{cell}-{kind}-{notation}.svg"


#: a graph wider than this (points) with the steps side by side is drawn one step below the
#: other: the page is about 700 pixels wide, and a wider picture shrinks its labels
MAX_COLUMNS_WIDTH = 1000


@lru_cache(maxsize=None)
def graph_svg(cell: str, backward: bool, notation: str) -> bytes:
    draw = backward_graph if backward else forward_graph
    svg = graph_bytes(draw(get_cell(cell), steps=STEPS, notation=notation), "svg")
    width = re.search(rb'<svg width="(\d+)pt"', svg)
    if width and int(width.group(1)) > MAX_COLUMNS_WIDTH:
        svg = graph_bytes(draw(get_cell(cell), steps=STEPS, notation=notation, layout="rows"),
                          "svg")
    return svg


def figure(page_uri: str, cell: str, backward: bool = False, notation: str = "vector") -> str:
    src = posixpath.relpath(graph_path(cell, backward, notation), posixpath.dirname(page_uri))
    what = ("the backward pass: every arrow is one term of a derived recurrence; red arrows "
            "carry terms from step t+1, orange ones the boundary (0 at T+1)" if backward else
            "the forward pass: blue marks the state, which each step hands to the next")
    # Markdown links (not HTML) so that MkDocs checks them and makes them relative to the URL
    return (f'<figure class="bptt-graph" markdown="1">\n<div class="bptt-scroll" markdown="1">\n'
            f'[![{cell}: {what}]({src})]({src})\n</div>\n<figcaption>{cell} unrolled over '
            f'T = {STEPS} steps, {what} ({notation} notation; click for full size)</figcaption>\n'
            '</figure>\n')


# --- directives: <!-- bptt KIND CELL [options] --> -----------------------------------------

def _options(words: list[str]) -> dict:
    opts = {"notation": "vector", "backward": False, "steps": STEPS}
    it = iter(words)
    for w in it:
        if w == "--backward":
            opts["backward"] = True
        elif w in ("--notation", "--steps"):
            opts[w[2:]] = next(it)
        else:
            raise PluginError(f"bptt directive: unknown option {w!r}")
    opts["steps"] = int(opts["steps"])
    return opts


def _explain(page: str, cell: str, o: dict) -> str:
    return explain(get_cell(cell), o["notation"], "md")


def _equations(page: str, cell: str, o: dict) -> str:
    from derive.printers import get_notation
    return forward_latex(get_cell(cell), get_notation(o["notation"], get_cell(cell)))


def _backward(page: str, cell: str, o: dict) -> str:
    from derive.printers import backward_latex, get_notation
    c = get_cell(cell)
    return backward_latex(derive(c), get_notation(o["notation"], c))


DIRECTIVES = {
    "graph": lambda page, cell, o: figure(page, cell, o["backward"], o["notation"]),
    "trace": lambda page, cell, o: format_markdown(trace(get_cell(cell), steps=o["steps"]),
                                                   o["notation"]),
    "explain": _explain,
    "equations": _equations,
    "backward": _backward,
}
DIRECTIVE = re.compile(r"^([ \t]*)<!--\s*bptt\s+(.*?)-->", re.S | re.M)


def expand(markdown: str, page_uri: str) -> str:
    """Replace each directive by the tool's output, indented as the directive is (so that it
    can stand inside an admonition or a list)."""
    def one(match: re.Match) -> str:
        indent = match.group(1)
        kind, cell, *rest = shlex.split(match.group(2))
        if kind not in DIRECTIVES:
            raise PluginError(f"{page_uri}: unknown bptt directive {kind!r}; known: "
                              f"{', '.join(DIRECTIVES)}")
        out = DIRECTIVES[kind](page_uri, cell, _options(rest))
        return "\n".join(indent + line if line else "" for line in out.splitlines())
    return DIRECTIVE.sub(one, markdown)


# --- the page of a cell ---------------------------------------------------------------------

#: the worked example of a cell page: H = I = 1 and this for any other size name
TRACE_OTHER = 2
#: the sizes of the kernel example on a cell page: I and H, any other size name 2
EXAMPLE_SIZES = {"I": 3, "H": 4}
EXAMPLE_OTHER = 2


def kernel_example(name: str) -> str:
    """Python code that runs the generated kernel of ``name`` forward and backward, written for
    the cell's sizes, inputs and loss (tests/test_site.py runs it)."""
    from derive.trace import TARGET_DRAWS
    from derive.ir import LossBase, base_name
    cell = get_cell(name)
    sizes = {n: EXAMPLE_SIZES.get(n, EXAMPLE_OTHER) for n in cell.size_names}
    module = f"{name.replace('-', '_')}_kernel"
    one_hot = {base_name(f.args[1]) for eq in cell.equations for f in eq.rhs.atoms(LossBase)
               if type(f) in TARGET_DRAWS}
    lines = ["import numpy as np", f"import {module} as k",
             f"params = k.init_params({', '.join(f'{n}={v}' for n, v in sizes.items())}, seed=0)",
             "rng = np.random.default_rng(0)"]
    for x in cell.inputs:
        size = cell.size(x)
        if x in one_hot:
            lines.append(f"{x} = np.eye({sizes[size]})[rng.integers({sizes[size]}, size=(5, 2))]"
                         f"  # (T, B, {size}), one-hot targets")
        else:
            lines.append(f"{x} = rng.standard_normal((5, 2, {sizes[size]}))"
                         f"{' ' * 8}# (T, B, {size})")
    free = [x for x in cell.inputs if x not in cell.targets]
    grads = ", ".join(f"d{x}" for x in free)
    grads = f"({grads})" if len(free) > 1 else grads
    args = ", ".join(cell.inputs)
    if cell.loss:
        lines += [f"loss, stateT, cache = k.forward(params, {args})"
                  f"{' ' * 6}# L = the sum of {cell.loss}^t",
                  f"dparams, {grads}, dstate0 = k.backward(params, cache)"
                  "   # no dy: the loss is the cell's"]
    else:
        y = f"{cell.output}: (T, B, {cell.size(cell.output)})"
        lines += [f"y, stateT, cache = k.forward(params, {args}){' ' * 6}# {y}",
                  f"dparams, {grads}, dstate0 = k.backward(params, cache, dy=np.ones_like(y))"]
    return "\n".join(lines) + "\n"


def kernel_api(name: str) -> str:
    from derive.codegen import load_module
    cell = get_cell(name)
    kernel = load_module(cell)
    sizes = {n: EXAMPLE_SIZES.get(n, EXAMPLE_OTHER) for n in kernel.SIZES}
    shapes = kernel.param_shapes(sizes)
    rows = "\n".join(f"| `{p}` | {shape} |" for p, shape in shapes.items())
    given = ", ".join(f"{n} = {v}" for n, v in sizes.items())
    loss = (f" It computes its loss: `forward` returns L = the sum of `{cell.loss}[t]` over the "
            f"steps and the batch, and `backward` needs no gradient from above." if cell.loss
            else "")
    return f"""`bptt codegen {name} -o {name.replace('-', '_')}_kernel.py` writes a module that
imports only NumPy. `STATE = {kernel.STATE!r}`, `OUTPUT = {kernel.OUTPUT!r}`, `SIZES =
{kernel.SIZES!r}`.{loss} Its parameters for {given} (`param_shapes({sizes!r})`):

| parameter | shape |
| --- | --- |
{rows}

```python
{kernel_example(name)}```
"""


def cell_page(name: str) -> str:
    cell = get_cell(name)
    page = f"cells/{name}.md"
    aliases = [a for a in cell_names() if a != name and get_cell(a).name == name]
    also = f" Also known as {', '.join(f'`{a}`' for a in aliases)}." if aliases else ""
    sheet = sheet_markdown(cell).split("\n", 1)[1].replace("\n## ", "\n### ")
    graphs = "\n".join(figure(page, name, backward, n) for n in notations(name)
                       for backward in (False, True))
    state = ", ".join(f"${s}^t$" for s in cell.state)
    # the worked example at H = I = 1, any other size (P, K) 2: a softmax over one unit is 1
    other_sizes = {n: TRACE_OTHER for n in cell.size_names if n not in ("H", "I")}
    trace_options = "".join(f" --size {n}={v}" for n, v in other_sizes.items())
    trace_sizes = ", ".join(f"{n} = {other_sizes.get(n, 1)}" for n in cell.size_names)
    return f"""# {name}

{cell.description}. Source: {cell.source}.{also}

State: {state} (the quantities step t+1 reads from step t). Everything on this page is produced
by the tool from the cell's forward equations when the site is built.

## Equations

{sheet}

## The cell unrolled

{graphs}

## What is its state?

!!! example "`bptt explain {name}`"

{_indent(explain(cell, "vector", "md"))}

## A worked example

??? example "`bptt trace {name}{trace_options} --format md`: T = 3, {trace_sizes}, every number (click to open)"

{_indent(format_markdown(trace(cell, sizes=other_sizes), "vector"))}

## Kernel API

{kernel_api(name)}

## Checking and comparing

{checking(name)}
"""


def _indent(text: str) -> str:
    return "\n".join(("    " + line) if line else "" for line in text.splitlines())


def shell_quoted(formula: str) -> str:
    """The formula between single quotes for a POSIX shell."""
    return "'" + formula.replace("'", "'\"'\"'") + "'"


def compare_candidates(cell) -> list[str]:
    """The cell's own equations as the sheets print them (vector notation), in the order a
    page prefers to show one: the state adjoints, the other adjoints, the forward equations
    (state first)."""
    from derive.printers import latex
    backward = derive(cell)
    states = [str(adjoint_of) for adjoint_of in cell.state]
    adjoints = sorted(backward.adjoints, key=lambda eq: eq.name.removeprefix("delta_")
                      not in states)
    forward = sorted(cell.equations, key=lambda eq: eq.name not in cell.state)
    return [latex(eq, cell=cell).replace("&=", "=") for eq in (*adjoints, *forward)]


def compare_holds(name: str, formula: str) -> bool:
    """Does `bptt compare NAME --notation vector --formula FORMULA` exit 0 and say it holds?"""
    import contextlib
    import io
    from bptt import main
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(["compare", name, "--notation", "vector", "--formula", formula])
    return code == 0 and "1 of 1 hold" in out.getvalue()


@lru_cache(maxsize=None)
def compare_example(name: str) -> str | None:
    """The first of the cell's own equations that `bptt compare` reads and says holds, tried
    when the site is built (so a page never shows a failing example); None if none does."""
    return next((f for f in compare_candidates(get_cell(name)) if compare_holds(name, f)), None)


def checking(name: str) -> str:
    commands = [f"bptt verify {name}          # against the unrolled network and finite "
                "differences", f"bptt sheet {name} --format pdf -o {name}.pdf"]
    formula = compare_example(name)
    if formula is None:
        return ("```\n" + "\n".join(commands) + "\n```\n\n`bptt compare` does not read this "
                "cell's equations yet; paste a formula from a paper with `--notation` set to the "
                "paper's notation (see the [user guide](../user-guide.md)).\n")
    commands.append(f"bptt compare {name} --notation vector --formula {shell_quoted(formula)}")
    return ("```\n" + "\n".join(commands) + "\n```\n\nThe last line asks whether a formula "
            "(here one of the cell's own equations, as the derivation writes it, chosen when the "
            "site was built among those `bptt compare` reads today) holds for this cell; paste a "
            "formula from a paper instead, with `--notation` set to the paper's notation (see "
            "the [user guide](../user-guide.md)).\n")


# --- the tutorial notebook as a page, executed ------------------------------------------------

def notebook_page(path: Path) -> tuple[str, dict[str, bytes]]:
    """The notebook run from top to bottom (nbclient), as Markdown with its outputs: LaTeX as
    math, SVG as pictures (returned as files), text as code blocks."""
    import nbclient
    import nbformat
    nb = nbformat.read(path, as_version=4)
    nbclient.NotebookClient(nb, timeout=300, kernel_name="python3",
                            resources={"metadata": {"path": str(ROOT)}}).execute()
    out, pictures = [], {}
    for k, cell in enumerate(nb.cells):
        if cell.cell_type == "markdown":
            out += [cell.source, ""]
            if k == 0:
                out += ["[Download the notebook](tutorial.ipynb) and run it with Jupyter; "
                        "below it is shown as the site build ran it.", ""]
            continue
        out += [f"```python\n{cell.source}\n```", ""]
        for o in cell.get("outputs", []):
            if o.output_type == "error":
                raise PluginError(f"the tutorial notebook failed: {o.ename}: {o.evalue}")
            data = o.get("data", {})
            if "image/svg+xml" in data:
                uri = f"tutorial/output-{len(pictures) + 1}.svg"
                pictures[uri] = data["image/svg+xml"].encode()
                out += [f'<div class="bptt-scroll" markdown="1">\n[![output]({uri})]({uri})\n'
                        '</div>', ""]
            elif "text/latex" in data:
                out += [data["text/latex"].strip(), ""]
            else:
                text = o.get("text") or data.get("text/plain", "")
                if text:
                    out += ["```text\n" + text.rstrip() + "\n```", ""]
    return "\n".join(out), pictures


# --- hooks ------------------------------------------------------------------------------------

def on_config(config):
    mathjax_dir()
    cells_nav = [{name: f"cells/{name}.md"} for name in builtin_cells()]
    for entry in config["nav"]:
        if isinstance(entry, dict) and "Cells" in entry:
            entry["Cells"] = cells_nav
    return config


def on_files(files: Files, config) -> Files:
    def add(uri: str, content: str | bytes) -> None:
        files.append(File.generated(config, uri, content=content))
    for name in builtin_cells():
        add(f"cells/{name}.md", cell_page(name))
        for notation in notations(name):
            for backward in (False, True):
                add(graph_path(name, backward, notation), graph_svg(name, backward, notation))
    page, pictures = notebook_page(Path(config["docs_dir"]) / "tutorial.ipynb")
    add("tutorial.md", page)
    for uri, svg in pictures.items():
        add(uri, svg)
    es5 = mathjax_dir()
    for part in MATHJAX_PARTS:
        sources = [es5 / part] if (es5 / part).is_file() else sorted(
            p for p in (es5 / part).rglob("*") if p.is_file())
        for src in sources:
            add(f"mathjax/{src.relative_to(es5).as_posix()}", src.read_bytes())
    return files


def on_page_markdown(markdown: str, page, config, files) -> str:
    return expand(markdown, page.file.src_uri)
