"""The bptt command: sheets in every format and notation, bad input, and no partial files."""
import os
import shutil
import socket
import stat
import subprocess
import sys
import textwrap
import threading
import time

import pytest

import bptt
from derive import cell_names

CELLS = ["rnn", "lstm", "gru", "graves-lstm"]
NOTATIONS = [(c, "vector") for c in CELLS] + [("rnn", "graves"), ("graves-lstm", "graves")]


def run(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "bptt", *args], capture_output=True, text=True,
                          cwd=cwd, env={**os.environ, "PYTHONPATH": os.getcwd()})


@pytest.mark.parametrize("cell,notation", NOTATIONS)
def test_tex_sheet_is_a_complete_document(cell, notation, capsys):
    assert bptt.main(["sheet", cell, "--notation", notation]) == 0
    tex = capsys.readouterr().out
    assert tex.startswith(r"\documentclass") and tex.rstrip().endswith(r"\end{document}")
    assert r"\usepackage{amsmath" in tex
    for title in ("Forward pass", "Backward pass", "Initial state", "Gradients"):
        assert rf"\subsection*{{{title}}}" in tex
    assert tex.count(r"\begin{align}") == 4  # numbered lines, one block per section


@pytest.mark.parametrize("cell,notation", NOTATIONS)
def test_pdf_sheet_compiles(cell, notation, tmp_path):
    if shutil.which("pdflatex") is None:
        pytest.skip("pdflatex is not installed")
    out = tmp_path / "sheet.pdf"
    assert bptt.main(["sheet", cell, "--notation", notation, "--format", "pdf",
                      "-o", str(out)]) == 0
    assert out.read_bytes().startswith(b"%PDF")


def test_markdown_sheet(capsys):
    assert bptt.main(["sheet", "lstm", "--format", "md"]) == 0
    md = capsys.readouterr().out
    assert md.startswith("# lstm")
    blocks = md.split("$$")[1::2]
    assert len(blocks) > 10 and all(r"\tag{" in b for b in blocks)
    state = next(b for b in blocks if b.strip().startswith(r"\delta c^{t} ="))
    assert r"+ \delta c^{t+1} \odot f^{t+1}" in state


def test_vector_sheet_writes_textbook_forms(capsys):
    bptt.main(["sheet", "graves-lstm"])
    tex = capsys.readouterr().out
    assert r"\delta y^{t} &= \Delta^{t} + R_{f}^\top \delta \bar{f}^{t+1}" in tex
    assert r"p_{i} \odot \delta \bar{i}^{t+1}" in tex and r"p_{o} \odot \delta \bar{o}^{t}" in tex
    assert r"\left(1 - o^{t}\right)" in tex  # sigma' through the output


def test_graves_sheet_uses_graves_symbols(capsys):
    bptt.main(["sheet", "graves-lstm", "--notation", "graves"])
    tex = capsys.readouterr().out
    for piece in (r"\epsilon_{s}^{t} &=", r"b_{\phi}^{t+1} \epsilon_{s}^{t+1}",
                  r"w_{c\iota} \delta_{\iota}^{t+1}", r"f'\left(a_{\omega}^{t}\right)",
                  r"\sum_{k=1}^{K} w_{ck}\delta_k^{t}", r"\sum_{\iota} w_{c\iota} \delta_{\iota}^{t+1}"):
        assert piece in tex


def test_cells_and_explain(capsys):
    assert bptt.main(["cells"]) == 0
    out = capsys.readouterr().out
    for name in cell_names():
        assert name in out
    assert bptt.main(["explain", "lstm"]) == 0
    out = capsys.readouterr().out
    assert "State: h^t, c^t." in out
    assert "c^(t+1) = c^t ⊙ f^(t+1) + g^(t+1) ⊙ i^(t+1)" in out  # read by step t+1's update
    assert "δc^(t+1) ⊙ f^(t+1): from step t+1" in out  # carried back from t+1


@pytest.mark.parametrize("args,message", [
    (["sheet", "lstn"], "unknown cell 'lstn'"),
    (["sheet", "lstm", "--notation", "greek"], "unknown notation 'greek'"),
    (["sheet", "gru", "--notation", "graves"], "not for cell 'gru'"),
    (["sheet", "lstm", "--format", "docx"], "unknown format 'docx'"),
    (["sheet", "lstm", "-o", "/nonexistent-dir/x.tex"], "cannot write /nonexistent-dir/x.tex"),
    (["sheet", "lstm", "--format", "pdf"], "needs -o FILE"),
    (["explain"], "required: cell"),
    (["frobnicate"], "invalid choice"),
])
def test_bad_input_is_one_line_exit_2(args, message):
    r = run(*args)
    assert r.returncode == 2
    assert r.stdout == ""
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0] and "Traceback" not in r.stderr


def test_debug_shows_the_traceback():
    r = run("--debug", "sheet", "lstn")
    assert r.returncode != 0 and "Traceback" in r.stderr


def test_failed_pdf_leaves_no_file(tmp_path, monkeypatch):
    out = tmp_path / "sheet.pdf"
    monkeypatch.setenv("PATH", "")  # no pdflatex
    assert bptt.main(["sheet", "rnn", "--format", "pdf", "-o", str(out)]) == 2
    assert not out.exists() and list(tmp_path.iterdir()) == []


def test_unwritable_target(tmp_path):
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file")
    assert bptt.main(["sheet", "rnn", "-o", str(blocker / "x.tex")]) == 2
    assert blocker.read_text() == "a file" and list(tmp_path.iterdir()) == [blocker]


def test_output_file_written_whole(tmp_path, capsys):
    out = tmp_path / "s.tex"
    assert bptt.main(["sheet", "gru", "-o", str(out)]) == 0
    assert out.read_text().rstrip().endswith(r"\end{document}")
    assert list(tmp_path.iterdir()) == [out]


def test_unrolled_sheet_shows_each_step(capsys, tmp_path):
    assert bptt.main(["sheet", "lstm", "--unrolled", "3"]) == 0
    tex = capsys.readouterr().out
    for k in (1, 2, 3):
        assert rf"\subsection*{{Unrolled forward pass, step {k}}}" in tex
        assert rf"\subsection*{{Unrolled backward pass, step {k}}}" in tex
    assert "Step 1 hands $h^{1}$, $c^{1}$ to step 2." in tex
    assert r"c^{2} &= f^{2} \odot c^{1}" in tex or r"c^{2} &= c^{1} \odot f^{2}" in tex
    # the boundary: at T = 3 nothing comes back from step 4
    step3 = tex.split(r"Unrolled backward pass, step 3}")[1].split(r"\subsection")[0]
    assert "^{4}" not in step3 and r"\delta c^{3} &= \delta h^{3}" in step3
    if shutil.which("pdflatex"):
        out = tmp_path / "u.pdf"
        assert bptt.main(["sheet", "graves-lstm", "--unrolled", "3", "--notation", "graves",
                          "--format", "pdf", "-o", str(out)]) == 0


def test_unrolled_bounds():
    r = run("sheet", "rnn", "--unrolled", "0")
    assert r.returncode == 2 and "--unrolled 0" in r.stderr


def test_with_code_in_markdown_is_math_blocks(capsys):
    assert bptt.main(["sheet", "rnn", "--format", "md", "--with-code"]) == 0
    md = capsys.readouterr().out
    code = md.split("## The step function, read as math")[1]
    assert r"\[" not in code and code.count("$$") == 2
    # rnn's pre-activation hbar, not Planck's constant
    assert r"\hbar" not in code and r"\bar{h} = W_{ih} \cdot x + b_{ih}" in code


# --- -o never damages what is at the path (issue 9, part 2) ------------------------------------

def test_output_through_a_symlink_keeps_the_link(tmp_path):
    real, link = tmp_path / "real.tex", tmp_path / "link.tex"
    real.write_text("old")
    link.symlink_to(real)
    assert bptt.main(["sheet", "rnn", "-o", str(link)]) == 0
    assert link.is_symlink() and os.readlink(link) == str(real)
    assert real.read_text().rstrip().endswith(r"\end{document}")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["link.tex", "real.tex"]


def test_existing_file_keeps_its_permissions(tmp_path):
    out = tmp_path / "s.tex"
    out.write_text("old")
    out.chmod(0o600)
    assert bptt.main(["sheet", "rnn", "-o", str(out)]) == 0
    assert out.stat().st_mode & 0o777 == 0o600 and out.read_text().startswith(r"\documentclass")


def test_new_file_follows_the_umask(tmp_path):
    old = os.umask(0o027)
    try:
        assert bptt.main(["sheet", "rnn", "-o", str(tmp_path / "s.tex")]) == 0
    finally:
        os.umask(old)
    assert (tmp_path / "s.tex").stat().st_mode & 0o777 == 0o640


def test_character_device_is_written_as_a_stream():
    assert bptt.main(["sheet", "rnn", "-o", os.devnull]) == 0
    assert os.path.exists(os.devnull) and not os.path.isfile(os.devnull)


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="no /dev/full on this system")
def test_full_disk_is_one_line_naming_the_path():
    r = run("sheet", "rnn", "-o", "/dev/full")
    assert r.returncode == 2 and r.stderr.count("\n") == 1
    assert "cannot write /dev/full" in r.stderr and "Traceback" not in r.stderr


def test_fifo_without_reader_is_refused_at_once(tmp_path):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    r = subprocess.run([sys.executable, "-m", "bptt", "sheet", "rnn", "-o", str(fifo)],
                       capture_output=True, text=True, timeout=60,
                       env={**os.environ, "PYTHONPATH": os.getcwd()})
    assert r.returncode == 2 and "no reader" in r.stderr
    assert stat.S_ISFIFO(fifo.lstat().st_mode)


def test_fifo_with_reader_gets_the_stream(tmp_path):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    got = []
    reader = threading.Thread(target=lambda: got.append(fifo.read_text()))
    reader.start()
    for _ in range(200):  # the reader must have opened its end before the writer tries
        if any(os.path.realpath(f"/proc/self/fd/{fd}") == str(fifo)
               for fd in os.listdir("/proc/self/fd")):
            break
        time.sleep(0.01)
    assert bptt.main(["sheet", "rnn", "-o", str(fifo)]) == 0
    reader.join(30)
    assert got and got[0].rstrip().endswith(r"\end{document}")
    assert stat.S_ISFIFO(fifo.lstat().st_mode)


def test_socket_is_refused(tmp_path):
    path = tmp_path / "sock"
    server = socket.socket(socket.AF_UNIX)
    try:
        server.bind(str(path))
        r = run("sheet", "rnn", "-o", str(path))
    finally:
        server.close()
    assert r.returncode == 2 and "socket" in r.stderr and stat.S_ISSOCK(path.lstat().st_mode)


# --- clean errors (issue 9, part 3) --------------------------------------------------------------

@pytest.mark.parametrize("args,message", [
    (["compare", "lstm", "--formula", "--debug"], "expected one argument"),
    (["compare", "lstm", "--notation", "", "--formula", "h^t = o^t"], "unknown notation ''"),
    (["verify", "rnn", "--numeric", "--hidden", "100000"], "hidden=100000 is above the limit"),
    (["verify", "rnn", "--numeric", "--steps", "0"], "steps must be an integer >= 1"),
    (["verify", "rnn", "--numeric", "--steps", "1"], "needs at least 2 steps"),
])
def test_more_bad_input_is_one_line_exit_2(args, message):
    r = run(*args)
    assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0]


HOSTILE = [  # (what, argv after "compare lstm --notation pytorch", words of the one-line error)
    ("500 terms", ["--formula", "h_t = " + "+".join(["o_t"] * 500)], "nested more than 64"),
    ("200 nested tanh", ["--formula", "h_t = " + r"\tanh(" * 200 + "c_t" + ")" * 200],
     "nested more than 64"),
    ("a formula of 5000 characters", ["--formula", "h_t = " + "o_t+" * 1250 + "o_t"],
     "longer than 4000 characters"),
    ("a number of 200 digits", ["--formula", "h_t = " + "9" * 200 + " o_t"],
     "a number of more than 100 digits"),
    ("(10)^{99999999}", ["--formula", r"h_t = (10)^{99999999} o_t"], "beyond the limit of 1000"),
    ("(f_t+1)^{99999999}", ["--formula", r"h_t = (f_t+1)^{99999999}"], "beyond the limit"),
    ("(f_t+1)^{999}", ["--formula", r"h_t = (f_t+1)^{999}"], "beyond the limit of 8"),
    ("h_{t+10}", ["--formula", r"h_t = h_{t+10}"], "more than 8 steps from t"),
    ("25,000 formulas", sum((["--formula", "h_t = o_t"] for _ in range(2001)), []),
     "at most 2000 in one run"),
]


@pytest.mark.parametrize("what,argv,words", HOSTILE, ids=[h[0] for h in HOSTILE])
def test_hostile_formulas_are_one_line_errors_at_once(what, argv, words):
    start = time.monotonic()
    r = run("compare", "lstm", "--notation", "pytorch", *argv)
    assert time.monotonic() - start < 30
    assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr[-500:]
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and words in lines[0] and len(lines[0]) < 500


@pytest.mark.parametrize("content,words", [
    (None, "larger than 1 MB"),                       # /dev/zero
    (b"h_t = o_t" + b" " * (2 << 20) + b"\n", "larger than 1 MB"),  # a very long line
    (b"h_t = o_t\n\0\n", "a NUL byte on line 2"),
    (b"h_t = o_t \xff\n", "not UTF-8"),
])
def test_unreadable_formula_files_are_one_line_errors(tmp_path, content, words):
    path = "/dev/zero"
    if content is not None:
        path = tmp_path / "f.tex"
        path.write_bytes(content)
    r = run("compare", "lstm", "--file", str(path))
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and words in r.stderr
    assert "\0" not in r.stderr and "Traceback" not in r.stderr


@pytest.mark.parametrize("name,text", [
    ("deep.json", '{"symbols": ' + "[" * 100000 + "]" * 100000 + "}"),
    ("deep.toml", "symbols = " + "[" * 100000 + "]" * 100000),
])
def test_deep_profile_files_are_one_line_errors(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text)
    r = run("compare", "lstm", "--notation", str(path), "--formula", "h^t = o^t")
    assert r.returncode == 2 and "nested too deeply" in r.stderr and "Traceback" not in r.stderr


def test_long_runs_report_progress(monkeypatch, capsys):
    from verify import compare as compare_module
    monkeypatch.setattr(compare_module, "PROGRESS_SECONDS", 0.0)
    formulas = ["--formula", "h_t = o_t"] * 3
    assert bptt.main(["compare", "lstm", "--notation", "pytorch", *formulas]) == 1
    err = capsys.readouterr().err
    assert "compared 1 of 3 formulas" in err and "compared 2 of 3 formulas" in err


def test_a_cell_file_with_factories_and_a_failing_builder(tmp_path):
    """A function annotated -> Cell that needs arguments is a factory, not a cell; one that
    fails is a one-line error naming it."""
    path = tmp_path / "cells.py"
    path.write_text(textwrap.dedent('''
        from derive.ir import Cell, CellBuilder, t, tanh

        def rnn_of(f) -> Cell:              # a factory: needs an argument
            c = CellBuilder("rnn_" + f.__name__, "test", "", input_size="H")
            h, W = c.quantity("h"), c.weight("W")
            c.let("h", f(c.x[t] + W @ h[t - 1]))
            return c.build("h")

        def plain() -> Cell:
            return rnn_of(tanh)
    '''))
    r = run("sheet", str(path), "--format", "md")
    assert r.returncode == 0 and "rnn_tanh" in r.stdout, r.stderr
    path.write_text(path.read_text() + "\ndef broken() -> Cell:\n    return 1 / 0\n")
    r = run("sheet", f"{path}:plain", "--format", "md")
    assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "broken(): building the cell failed: ZeroDivisionError" in lines[0]
