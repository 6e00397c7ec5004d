r"""Fuzz tests of the formula reader and ``compare`` (issue 9): random token soups and random
edits of valid formulas. The only outcomes allowed are a verdict or the documented error
(:class:`verify.compare.CompareError`, one line), each within a time bound; never another
exception, a traceback, or a hang.
"""
from __future__ import annotations

import os
import time

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from derive import get_cell
from derive.sheets import sections
from verify import catalog
from verify.compare import CompareError, Verdict, compare

SECONDS = 10  #: the bound on one formula
TOKENS = [
    "h", "c", "x", "W", "R", "o", "f", "i", "g", "z", "y", "a", "b", "s", "w", "t", "T", "k",
    "0", "1", "2", "10", "3.5", "_", "^", "{", "}", "(", ")", "[", "]", "+", "-", "=", "'", ",",
    "/", "*", ".", "<", ">", " ", "~", "&", r"\,", r"\odot", r"\circ", r"\cdot", r"\times",
    r"\tanh", r"\sigma", r"\exp", r"\delta", r"\Delta", r"\epsilon", r"\iota", r"\phi",
    r"\omega", r"\theta", r"\bar", r"\tilde", r"\hat", r"\mathbf", r"\mathrm", r"\top",
    r"\intercal", r"\sum", r"\frac", r"\partial", r"\nabla", r"\langle", r"\rangle", r"\left",
    r"\right", r"\Big", r"\prime", r"\operatorname", r"\ell", r"\mathcal", r"\{", r"\}", "L",
    "t+1", "t-1", "_t", "^t", "_{t-1}", "^{t+1}", "^{\\top}", "\\,", "\\sum_t", "\\sum_{t=1}^{T}",
]
VALID = [(s.name, c, e.latex) for s in catalog.SOURCES.values()
         for c, entries in s.equations.items() for e in entries]
VALID += [("graves", c, eq.replace("&=", "="))
          for c in ("rnn", "graves-lstm")
          for sec in sections(get_cell(c), "graves") for eq in sec.equations]
VALID += [("vector", c, eq.replace("&=", "="))
          for c in ("lstm", "gru")
          for sec in sections(get_cell(c), "vector") for eq in sec.equations]
EXAMPLES = int(os.environ.get("BPTT_FUZZ_EXAMPLES", "300"))  #: per test; more for a long hunt
SETTINGS = settings(max_examples=EXAMPLES, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.too_slow])


def _notation(source: str) -> str:
    return catalog.SOURCES[source].notation if source in catalog.SOURCES else source


def outcome(cell: str, formula: str, notation: str) -> str:
    """The verdict's kind or "error"; fails the test on anything else or on a slow answer
    (processor time: a machine busy with other work does not make a formula slow)."""
    start = time.process_time()
    try:
        result, = compare(cell, [formula], notation)
        assert isinstance(result, Verdict) and result.kind in (
            "holds", "differs", "convention", "unproven")
        kind = result.kind
    except CompareError as e:
        message = str(e)
        assert "\n" not in message and "\0" not in message and len(message) < 1000, message
        kind = "error"
    assert time.process_time() - start < SECONDS, formula
    return kind


@SETTINGS
@given(st.lists(st.sampled_from(TOKENS), min_size=1, max_size=40),
       st.sampled_from(["pytorch", "vector"]))
def test_token_soups_give_a_verdict_or_the_error(tokens, notation):
    outcome("lstm", "".join(tokens), notation)


@SETTINGS
@given(st.lists(st.sampled_from(TOKENS), min_size=1, max_size=30))
def test_token_soups_as_equations_give_a_verdict_or_the_error(tokens):
    outcome("graves-lstm", r"\epsilon_s^t = " + "".join(tokens), "graves")


@st.composite
def edited(draw):
    """A valid formula with one to three random edits: delete, insert or replace a piece."""
    source, cell, text = draw(st.sampled_from(VALID))
    for _ in range(draw(st.integers(1, 3))):
        at = draw(st.integers(0, len(text)))
        kind = draw(st.sampled_from(["delete", "insert", "replace"]))
        piece = draw(st.sampled_from(TOKENS))
        end = min(len(text), at + draw(st.integers(1, 6)))
        if kind == "delete":
            text = text[:at] + text[end:]
        elif kind == "insert":
            text = text[:at] + piece + text[at:]
        else:
            text = text[:at] + piece + text[end:]
    return cell, text, _notation(source)


@SETTINGS
@given(edited())
def test_edited_valid_formulas_give_a_verdict_or_the_error(case):
    outcome(*case)


@pytest.mark.parametrize("source,cell,text", VALID[:5])
def test_the_valid_formulas_themselves_are_not_errors(source, cell, text):
    assert outcome(cell, text, _notation(source)) in ("holds", "convention")
