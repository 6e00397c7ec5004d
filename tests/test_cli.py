"""The bptt command: sheets in every format and notation, bad input, and no partial files."""
import os
import shutil
import subprocess
import sys

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
    (["sheet", "lstm", "--notation", "graves"], "not for cell 'lstm'"),
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
