"""The LaTeX the printers write, read back as Unicode text or as Graphviz HTML labels.

Pictures (Graphviz) and terminals cannot typeset LaTeX, yet they should show a quantity the
way the sheets do: ``\\delta\\bar{z}^{t+1}`` as δz̄ with a superscript t+1, Graves'
``\\epsilon_{s}^{t}`` as ε with subscript s. Only the small subset of LaTeX that
:mod:`derive.printers` emits is understood; the tables below are that subset.

    >>> latex_to_text(r"\\delta \\bar{z}^{t+1}")
    'δz̄^(t+1)'
    >>> latex_to_text(r"\\epsilon_{s}^{t} = b_{\\omega}^{t} h'\\left(s_{c}^{t}\\right)")
    "ε_s^t = b_ω^t h'(s_c^t)"
    >>> latex_to_html(r"R_{z}^\\top \\delta \\bar{z}^{t+1}")
    'R<SUB>z</SUB><SUP>T</SUP> δ<O>z</O><SUP>t+1</SUP>'
"""
from __future__ import annotations

from html import escape

#: command -> the text it stands for
SYMBOLS = {
    "alpha": "α", "beta": "β", "gamma": "γ", "delta": "δ", "epsilon": "ε", "varepsilon": "ε",
    "zeta": "ζ", "eta": "η", "theta": "θ", "iota": "ι", "kappa": "κ", "lambda": "λ", "mu": "μ",
    "nu": "ν", "xi": "ξ", "pi": "π", "rho": "ρ", "sigma": "σ", "tau": "τ", "phi": "φ",
    "varphi": "φ", "chi": "χ", "psi": "ψ", "omega": "ω", "Delta": "Δ", "Sigma": "Σ",
    "Phi": "Φ", "Omega": "Ω", "Gamma": "Γ", "Theta": "Θ", "Lambda": "Λ", "Psi": "Ψ",
    "odot": "⊙", "cdot": "·", "times": "×", "top": "T", "sum": "Σ", "partial": "∂",
    "tanh": "tanh", "exp": "exp", "log": "log", "to": "→", "leftarrow": "←", "infty": "∞",
    "langle": "⟨", "rangle": "⟩", "left": "", "right": "", "quad": " ", ",": " ", ";": " ",
    ":": " ", "!": "", " ": " ", "{": "{", "}": "}", "&": "",
}
#: accent command -> combining character (text) and HTML tag (Graphviz knows <O>, overline)
ACCENTS = {"bar": ("\u0304", "O"), "overline": ("\u0304", "O"), "tilde": ("\u0303", None),
           "hat": ("\u0302", None)}
#: commands that prefix the symbol after them (an adjoint's delta c): the space is dropped
PREFIXES = {"delta", "epsilon", "partial", "nabla"}
#: commands whose argument is shown as it is
WRAPPERS = {"mathrm", "mathbf", "mathit", "mathcal", "text", "operatorname", "boldsymbol"}


class _Reader:
    def __init__(self, source: str, html: bool) -> None:
        self.s, self.i, self.html = source, 0, html

    def text(self, s: str) -> str:
        return escape(s, quote=False) if self.html else s

    def until(self, stop: str | None) -> str:
        out = []
        while self.i < len(self.s) and self.s[self.i] != stop:
            out.append(self.item())
        self.i += 1  # the closing brace
        return "".join(out)

    def argument(self) -> str:
        while self.i < len(self.s) and self.s[self.i] == " ":
            self.i += 1
        if self.i < len(self.s) and self.s[self.i] == "{":
            self.i += 1
            return self.until("}")
        return self.item()

    def script(self, kind: str) -> str:
        arg = self.argument()
        if self.html:
            return f"<{kind}>{arg}</{kind}>"
        mark = "^" if kind == "SUP" else "_"
        plain = all(ch.isalnum() or ch in "'\u0304\u0303\u0302" for ch in arg)
        return f"{mark}{arg}" if plain else f"{mark}({arg})"

    def command(self) -> str:
        start = self.i
        self.i += 1
        if self.i < len(self.s) and not self.s[self.i].isalpha():
            self.i += 1
        else:
            while self.i < len(self.s) and self.s[self.i].isalpha():
                self.i += 1
        name = self.s[start + 1:self.i]
        if name in PREFIXES:
            while self.i < len(self.s) and self.s[self.i] == " ":
                self.i += 1
        if name in ACCENTS:
            arg = self.argument()
            combining, tag = ACCENTS[name]
            if self.html and tag:
                return f"<{tag}>{arg}</{tag}>"
            return "".join(ch + combining if ch.isalnum() else ch for ch in arg)
        if name in WRAPPERS:
            return self.argument()
        if name == "frac":
            num, den = self.argument(), self.argument()
            return f"{num}/{den}"
        return self.text(SYMBOLS.get(name, name))

    def item(self) -> str:
        ch = self.s[self.i]
        if ch == "\\":
            return self.command()
        self.i += 1
        if ch == "{":
            return self.until("}")
        if ch == "^":
            return self.script("SUP")
        if ch == "_":
            return self.script("SUB")
        if ch == "~":
            return " "
        return self.text(ch)


def _read(source: str, html: bool) -> str:
    out = _Reader(source, html).until(None)
    return " ".join(out.split())  # LaTeX's spaces are for the source, not for the reader


def latex_to_text(source: str) -> str:
    """Unicode text of a LaTeX expression: ``x^{t-1}`` -> ``x^(t-1)``."""
    return _read(source, html=False)


def latex_to_html(source: str) -> str:
    """A Graphviz HTML-like label (``<SUB>``, ``<SUP>``, ``<O>`` for bars) of LaTeX."""
    return _read(source, html=True)
