"""The step-function front end: what it reads, and the one-line errors for what it refuses."""
import textwrap

import pytest
import sympy as sp

import bptt
from derive.cells import load_cell, load_cells
from derive.derivation import derive
from derive.ir import CellBuilder, CellError, MatVec, Softmax, t, tanh
from verify.unrolled import check_unrolled


def write(tmp_path, body, name="cell_file.py"):
    path = tmp_path / name
    path.write_text("from bptt import *\n" + textwrap.dedent(body).lstrip("\n"))
    return path


def read(tmp_path, body):
    return load_cell(str(write(tmp_path, body)))


def error(tmp_path, body):
    with pytest.raises(CellError) as e:
        read(tmp_path, body)
    message = str(e.value)
    assert "\n" not in message
    return message


# --- what it reads ----------------------------------------------------------------------------

def test_the_issue_example_mgu(tmp_path):
    c = read(tmp_path, '''
        @cell(source="Zhou et al. 2016", description="minimal gated unit")
        def mgu(x, h, W_f, U_f, b_f, W_h, U_h, b_h):
            f = sigmoid(W_f @ x + U_f @ h + b_f)
            h_tilde = tanh(W_h @ x + U_h @ (f * h) + b_h)
            h = (1 - f) * h + f * h_tilde
            return h
    ''')
    assert (c.name, c.source, c.description) == ("mgu", "Zhou et al. 2016", "minimal gated unit")
    assert c.state == ("h",) and c.inputs == ("x",) and c.output == "h"
    assert c.quantities == ("f", "h_tilde", "h")
    assert {p: v.shape for p, v in c.params.items()} == {
        "W_f": ("H", "I"), "U_f": ("H", "H"), "b_f": ("H",), "W_h": ("H", "I"),
        "U_h": ("H", "H"), "b_h": ("H",)}
    h, f, x = (sp.IndexedBase(n) for n in "hfx")
    # before its assignment h is read at t-1, after it at t
    assert c.equation("h_tilde").rhs == tanh(MatVec(c.params["W_h"].symbol, x[t]) + MatVec(
        c.params["U_h"].symbol, f[t] * h[t - 1]) + sp.Symbol("b_h"))
    assert check_unrolled(c, steps=2).ok


def test_step_function_and_builder_give_the_same_ir(tmp_path):
    c = read(tmp_path, '''
        @cell(name="tiny", source="s", description="d")
        def tiny(x, h, W, U, b):
            hbar = W @ x + U @ h + b
            h = tanh(hbar)
            return h
    ''')
    b = CellBuilder("tiny", "s", "d")
    x, h = b.x, b.quantity("h")
    W, U, bias = b.weight("W", "I"), b.weight("U"), b.vector("b")
    hbar = b.let("hbar", W @ x[t] + U @ h[t - 1] + bias)
    b.let("h", tanh(hbar[t]))
    built = b.build("h")
    assert c == built and c.sizes == built.sizes


def test_sizes_from_annotations_and_use(tmp_path):
    c = read(tmp_path, '''
        @cell
        def proj(x, h: "P", c, W: ("H", "I"), U, b, W_r):
            c = tanh(W @ x + U @ h + b) * c
            h = W_r @ c
            return h
    ''')
    assert c.name == "proj" and c.state == ("h", "c")
    assert c.sizes == {"x": "I", "c": "H", "h": "P"}
    assert c.params["U"].shape == ("H", "P") and c.params["W_r"].shape == ("P", "H")
    assert c.size_names == ("I", "H", "P")


def test_softmax_and_cross_entropy_give_the_textbook_delta(tmp_path):
    c = read(tmp_path, '''
        @cell
        def elman(x, z: "K", h, W, U, b, V, c):
            h = tanh(W @ x + U @ h + b)
            a = V @ h + c
            y = softmax(a)
            loss = cross_entropy(y, z)
            return y
    ''')
    assert c.inputs == ("x", "z") and c.targets == ("z",) and c.loss == "loss"
    assert c.sizes["y"] == c.sizes["z"] == "K" and c.sizes["loss"] == "1"
    assert c.equation("y").rhs == Softmax(sp.IndexedBase("a")[t])
    backward = derive(c)
    y, z = sp.IndexedBase("y"), sp.IndexedBase("z")
    assert backward.adjoint_of("a").rhs == y[t] - z[t]
    assert backward.assumptions == ("UnitSum(z[t]) = 1",)
    assert not any(eq.rhs.has(sp.IndexedBase("Delta")) for eq in backward.equations)


def test_every_exported_function_is_read(tmp_path):
    c = read(tmp_path, '''
        @cell
        def every(x, h, W, U, b):
            a = W @ x + U @ h + b
            e = relu(a) + leaky_relu(a) * softplus(a) - elu(a) / (2 + softsign(a))
            h = identity(sigmoid(e) ** 2) + exp(-a) * log(1 + sigmoid(a)) + tanh(a)
            return h
    ''')
    names = {type(f).__name__ for f in c.equation("e").rhs.atoms(sp.Function)}
    assert {"relu", "leaky_relu", "softplus", "elu", "softsign"} <= names
    assert check_unrolled(c, steps=2).ok


def test_a_registered_activation_works_in_the_front_end_and_derivation(tmp_path):
    path = write(tmp_path, '''
        import sympy
        swish = activation("swish_t", lambda a: a / (1 + sympy.exp(-a)),
                           numpy="{a} / (1 + np.exp(-{a}))",
                           numpy_prime="(1 + np.exp(-{a}) * (1 + {a})) / (1 + np.exp(-{a}))**2")
        swish_t = swish

        @cell
        def sw(x, h, W, U):
            h = swish_t(W @ x + U @ h)
            return h
    ''')
    c = load_cell(str(path))
    assert any(type(f).__name__ == "swish_t" for f in c.equation("h").rhs.atoms(sp.Function))
    assert check_unrolled(c, steps=2).ok


# --- files on the command line ----------------------------------------------------------------

def test_files_with_several_cells_and_names(tmp_path):
    path = write(tmp_path, '''
        @cell
        def one(x, h, W):
            h = tanh(W @ x + h)
            return h

        @cell(name="two-step")
        def two(x, h, W):
            h = sigmoid(W @ x) * h
            return h

        def built() -> Cell:
            b = CellBuilder("built", "test")
            h = b.quantity("h")
            b.let("h", tanh(b.weight("W", "I") @ b.x[t] + h[t - 1]))
            return b.build("h")
    ''')
    assert list(load_cells(str(path))) == ["one", "two", "built"]
    assert load_cell(f"{path}:two").name == "two-step"
    assert load_cell(f"{path}:two-step").name == "two-step"
    assert load_cell(f"{path}:built").name == "built"
    with pytest.raises(CellError, match="several cells .*one, two, built.*:NAME"):
        load_cell(str(path))
    with pytest.raises(CellError, match="no cell 'three'"):
        load_cell(f"{path}:three")


def test_module_spec(tmp_path, monkeypatch):
    write(tmp_path, '''
        @cell
        def modcell(x, h, W):
            h = tanh(W @ x + h)
            return h
    ''', name="my_cells_mod.py")
    monkeypatch.syspath_prepend(str(tmp_path))
    assert load_cell("my_cells_mod:modcell").name == "modcell"
    with pytest.raises(CellError, match="cannot import module 'no_such_mod_xyz'"):
        load_cell("no_such_mod_xyz:c")


@pytest.mark.parametrize("command", [["sheet"], ["sheet", "--format", "md"], ["explain"],
                                     ["verify", "--symbolic", "--steps", "2"], ["cells"]])
def test_cli_on_a_user_file(tmp_path, capsys, command):
    path = write(tmp_path, '''
        @cell(description="minimal gated unit")
        def mgu(x, h, W_f, U_f, b_f, W_h, U_h, b_h):
            f = sigmoid(W_f @ x + U_f @ h + b_f)
            h_tilde = tanh(W_h @ x + U_h @ (f * h) + b_h)
            h = (1 - f) * h + f * h_tilde
            return h
    ''')
    args = [command[0], str(path), *command[1:]]
    assert bptt.main(args) == 0
    out = capsys.readouterr().out
    assert "h" in out and out.strip()


def test_cli_errors_are_one_line_with_exit_2(tmp_path, capsys):
    path = write(tmp_path, '''
        @cell
        def bad(x, h, W):
            for k in range(3):
                h = W @ h
            return h
    ''')
    assert bptt.main(["sheet", str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and f"{path}:4: a for loop is not allowed" in err
    assert bptt.main(["sheet", str(tmp_path / "missing.py")]) == 2
    assert "no such file" in capsys.readouterr().err


# --- mistakes, each named with its file and line ----------------------------------------------

MISTAKES = {
    "loop": ('''
        @cell
        def c(x, h, W):
            for k in range(2):
                h = tanh(W @ x)
            return h
    ''', r":4: a for loop is not allowed"),
    "if": ('''
        @cell
        def c(x, h, W):
            if True:
                h = tanh(W @ x + h)
            return h
    ''', r":4: an if statement is not allowed"),
    "numpy": ('''
        import numpy as np
        @cell
        def c(x, h, W):
            h = np.tanh(W @ x + h)
            return h
    ''', r":5: np.tanh\(\.\.\.\): .*write tanh\(\.\.\.\) \(from bptt import tanh\)"),
    "other function": ('''
        def helper(a):
            return a
        @cell
        def c(x, h, W):
            h = helper(W @ x + h)
            return h
    ''', r":6: helper\(\.\.\.\) is not one of bptt's functions"),
    "attribute": ('''
        @cell
        def c(x, h, W):
            h = tanh(W.T @ x + h)
            return h
    ''', r":4: .*W\.T.*"),
    "index": ('''
        @cell
        def c(x, h, W):
            h = tanh(W @ x + h[t - 1])
            return h
    ''', r":4: h\[t - 1\]: write h without an index"),
    "x @ W": ('''
        @cell
        def c(x, h, W, U):
            h = tanh(x @ W + U @ h)
            return h
    ''', r":4: x @ W: a matrix multiplies a column vector from the left: write W @ x"),
    "misspelled state": ('''
        @cell
        def c(x, h, W, U):
            hh = tanh(W @ x + U @ h)
            return hh
    ''', r"no state: .*"),
    "misspelled read": ('''
        @cell
        def c(x, h, W, U):
            a = tanh(W @ x + U @ hh)
            h = a
            return h
    ''', r":4: unknown name hh: .*did you mean h\?"),
    "size mismatch": ('''
        @cell
        def c(x, h: "P", W: ("H", "I"), b):
            h = tanh(W @ x) + h
            return h
    ''', r":4: size mismatch in .*has size H, .*has size P"),
    "matrix columns": ('''
        @cell
        def c(x, h, W: ("H", "P")):
            h = tanh(W @ x + h)
            return h
    ''', r":4: size mismatch in W @ x: W has P columns, x has size I"),
    "reserved name": ('''
        @cell
        def c(x, h, delta_W):
            h = tanh(delta_W @ x + h)
            return h
    ''', r"delta_W.* clashes with the toolkit's own symbols"),
    "assigned twice": ('''
        @cell
        def c(x, h, W):
            a = W @ x
            a = tanh(a)
            h = a * h
            return h
    ''', r":5: a is assigned twice"),
    "unused argument": ('''
        @cell
        def c(x, h, W, V):
            h = tanh(W @ x + h)
            return h
    ''', r"argument V is never used"),
    "return an expression": ('''
        @cell
        def c(x, h, W):
            h = tanh(W @ x + h)
            return h * 2
    ''', r":5: return h \* 2: return the output quantity by name"),
    "power operator": ('''
        @cell
        def c(x, h, W):
            h = tanh(W @ x + h) ^ 2
            return h
    ''', r":4: operator BitXor .*use \*\* for a power"),
    "imported elsewhere": ('''
        from math import exp
        @cell
        def c(x, h, W):
            h = exp(W @ x) * h
            return h
    ''', r":5: exp here is math's; import it from bptt"),
}


@pytest.mark.parametrize("name", MISTAKES)
def test_mistakes_are_named_with_file_and_line(tmp_path, name):
    body, pattern = MISTAKES[name]
    message = error(tmp_path, body)
    assert message.startswith(str(tmp_path / "cell_file.py") + ":")
    assert __import__("re").search(pattern, message), message


# --- the builder refuses the same things -------------------------------------------------------

def test_builder_names_the_missing_time_index():
    b = CellBuilder("c", "test")
    h = b.quantity("h")
    b.let("h", tanh(b.weight("W", "I") @ b.x + h[t - 1]))
    with pytest.raises(CellError, match=r"reads x without a time index: write x\[t\]"):
        b.build("h")


@pytest.mark.parametrize("declare, message", [
    (lambda b: (b.vector("b"), b.vector("b")), "declared twice"),
    (lambda b: b.vector("Delta"), "clashes"),
    (lambda b: b.weight("t"), "clashes"),
    (lambda b: b.vector("h}"), "identifier"),
    (lambda b: b.vector("x"), "name of a quantity"),
])
def test_builder_refuses_bad_names(declare, message):
    b = CellBuilder("c", "test")
    with pytest.raises(CellError, match=message):
        declare(b)


def test_builder_refuses_operations_no_stage_supports():
    b = CellBuilder("c", "test")
    h = b.quantity("h")
    b.let("h", sp.Abs(b.weight("W", "I") @ b.x[t]) + h[t - 1])
    with pytest.raises(CellError, match="operation Abs"):
        b.build("h")


# --- the user guide's cell files work as written ----------------------------------------------

def guide_cell_files():
    import pathlib
    import re
    text = (pathlib.Path(__file__).parent.parent / "docs" / "user-guide.md").read_text()
    return {m.group(1): m.group(0)[len("```python\n"):-3]
            for m in re.finditer(r"```python\n# (\w+\.py)[^\n]*\n.*?```", text, re.S)}


@pytest.mark.parametrize("name", sorted(guide_cell_files()))
def test_user_guide_cell_files(tmp_path, name):
    path = tmp_path / name
    path.write_text(guide_cell_files()[name])
    cell = load_cell(str(path))
    assert check_unrolled(cell, steps=2).ok
    assert bptt.main(["sheet", str(path), "--format", "md", "-o", str(tmp_path / "s.md")]) == 0


def test_user_guide_has_the_two_worked_cells():
    assert set(guide_cell_files()) >= {"lstmp_cell.py", "elman_cell.py"}
