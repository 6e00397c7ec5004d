r"""The built-in catalog of published equations (../shared/notes/textbooks.md), as printed.

Each :class:`Source` lists, per cell, every equation the source gives for it, one entry per
equation (a display line with two equations is two entries), in the source's own notation and
typography. ``bptt compare CELL --source NAME`` checks them all. Nothing here says whether an
equation holds: that is decided by :func:`verify.compare.compare`, which also names the
conventions in which a source differs from a cell (Cho's reset placement, Chung's update).

>>> [len(get_source(s).entries(c)) for s, c in
...  [("graves2012", "graves-lstm"), ("greff2017", "graves-lstm"), ("pytorch", "gru")]]
[16, 32, 4]
"""
from __future__ import annotations

from dataclasses import dataclass

from derive.ir import CellError

__all__ = ["CatalogError", "Entry", "Source", "SOURCES", "get_source"]


class CatalogError(CellError):
    """An unknown source, or a source that gives no equations for a cell."""


@dataclass(frozen=True)
class Entry:
    latex: str
    where: str  #: section or equation of the source, and what the entry stands for


@dataclass(frozen=True)
class Source:
    name: str
    title: str
    notation: str  #: the profile the equations are written in (verify/notations.py)
    equations: dict[str, tuple[Entry, ...]]  #: cell -> its equations

    def entries(self, cell: str) -> tuple[Entry, ...]:
        if cell not in self.equations:
            raise CatalogError(f"source {self.name!r} gives equations for "
                               f"{', '.join(self.equations)}, not for cell {cell!r}")
        return self.equations[cell]


def _entries(where: str, *latex: str) -> tuple[Entry, ...]:
    return tuple(Entry(text, where) for text in latex)


# Graves' weight gradient is a schema over every weight w_ij (section 3.2): b_i^t is the
# activation that w_ij multiplies (b^{t-1} for a recurrent weight, x^t for an input weight).
_GRAVES_GRADIENT = r"\frac{\partial\mathcal L}{\partial w_{ij}}=\sum_{t=1}^{T}\delta_j^t\,b_i^t"

GRAVES_2012 = Source("graves2012", "Graves 2012, Supervised Sequence Labelling with RNNs",
                     "graves", {
    "rnn": _entries(
        "section 3.2",
        r"a_h^t=\sum_{i=1}^{I} w_{ih}x_i^t+\sum_{h'=1}^{H} w_{h'h}b_{h'}^{t-1}",
        r"b_h^t=\theta_h(a_h^t)",
        r"a_k^t=\sum_{h=1}^{H} w_{hk}b_h^t",
        r"\delta_h^t=\theta'(a_h^t)\Big(\sum_{k=1}^{K}\delta_k^t w_{hk}"
        r"+\sum_{h'=1}^{H}\delta_{h'}^{t+1}w_{hh'}\Big)",
        _GRAVES_GRADIENT),
    "graves-lstm": _entries(
        "section 4.6, forward",
        r"a_\iota^t=\sum_{i=1}^{I}w_{i\iota}x_i^t+\sum_{h=1}^{H}w_{h\iota}b_h^{t-1}"
        r"+\sum_{c=1}^{C}w_{c\iota}s_c^{t-1}",
        r"b_\iota^t=f(a_\iota^t)",
        r"a_\phi^t=\sum_{i=1}^{I}w_{i\phi}x_i^t+\sum_{h=1}^{H}w_{h\phi}b_h^{t-1}"
        r"+\sum_{c=1}^{C}w_{c\phi}s_c^{t-1}",
        r"b_\phi^t=f(a_\phi^t)",
        r"a_c^t=\sum_{i=1}^{I}w_{ic}x_i^t+\sum_{h=1}^{H}w_{hc}b_h^{t-1}",
        r"s_c^t=b_\phi^t s_c^{t-1}+b_\iota^t g(a_c^t)",
        r"a_\omega^t=\sum_{i=1}^{I}w_{i\omega}x_i^t+\sum_{h=1}^{H}w_{h\omega}b_h^{t-1}"
        r"+\sum_{c=1}^{C}w_{c\omega}s_c^{t}",
        r"b_\omega^t=f(a_\omega^t)",
        r"b_c^t=b_\omega^t h(s_c^t)") + _entries(
        "section 4.6, backward",
        r"\epsilon_c^t=\sum_{k=1}^{K}w_{ck}\delta_k^t+\sum_{g=1}^{G}w_{cg}\delta_g^{t+1}",
        r"\delta_\omega^t=f'(a_\omega^t)\sum_{c=1}^{C}h(s_c^t)\epsilon_c^t",
        r"\epsilon_s^t=b_\omega^t h'(s_c^t)\epsilon_c^t+b_\phi^{t+1}\epsilon_s^{t+1}"
        r"+w_{c\iota}\delta_\iota^{t+1}+w_{c\phi}\delta_\phi^{t+1}+w_{c\omega}\delta_\omega^t",
        r"\delta_c^t=b_\iota^t g'(a_c^t)\epsilon_s^t",
        r"\delta_\phi^t=f'(a_\phi^t)\sum_{c=1}^{C}s_c^{t-1}\epsilon_s^t",
        r"\delta_\iota^t=f'(a_\iota^t)\sum_{c=1}^{C}g(a_c^t)\epsilon_s^t") + _entries(
        "section 3.2, the weight gradient, for every weight of the block", _GRAVES_GRADIENT),
})

GREFF_2017 = Source("greff2017", "Greff et al. 2017, LSTM: A Search Space Odyssey", "greff", {
    "graves-lstm": _entries(
        "forward pass",
        r"\bar z^t=W_zx^t+R_zy^{t-1}+b_z", r"z^t=g(\bar z^t)",
        r"\bar i^t=W_ix^t+R_iy^{t-1}+p_i\odot c^{t-1}+b_i", r"i^t=\sigma(\bar i^t)",
        r"\bar f^t=W_fx^t+R_fy^{t-1}+p_f\odot c^{t-1}+b_f", r"f^t=\sigma(\bar f^t)",
        r"c^t=z^t\odot i^t+c^{t-1}\odot f^t",
        r"\bar o^t=W_ox^t+R_oy^{t-1}+p_o\odot c^t+b_o", r"o^t=\sigma(\bar o^t)",
        r"y^t=h(c^t)\odot o^t") + _entries(
        "backward pass",
        r"\delta y^t=\Delta^t+R_z^\top\delta z^{t+1}+R_i^\top\delta i^{t+1}"
        r"+R_f^\top\delta f^{t+1}+R_o^\top\delta o^{t+1}",
        r"\delta\bar o^t=\delta y^t\odot h(c^t)\odot\sigma'(\bar o^t)",
        r"\delta c^t=\delta y^t\odot o^t\odot h'(c^t)+p_o\odot\delta\bar o^t"
        r"+p_i\odot\delta\bar i^{t+1}+p_f\odot\delta\bar f^{t+1}+\delta c^{t+1}\odot f^{t+1}",
        r"\delta\bar f^t=\delta c^t\odot c^{t-1}\odot\sigma'(\bar f^t)",
        r"\delta\bar i^t=\delta c^t\odot z^t\odot\sigma'(\bar i^t)",
        r"\delta\bar z^t=\delta c^t\odot i^t\odot g'(\bar z^t)",
        r"\delta x^t=W_z^\top\delta\bar z^t+W_i^\top\delta\bar i^t+W_f^\top\delta\bar f^t"
        r"+W_o^\top\delta\bar o^t") + tuple(
        Entry(latex, f"weight gradients, * = {g}") for g in "zifo" for latex in (
            rf"\delta W_{g}=\sum_t\langle\delta\bar {g}^t, x^t\rangle",
            rf"\delta R_{g}=\sum_t\langle\delta\bar {g}^{{t+1}}, y^t\rangle",
            rf"\delta b_{g}=\sum_t\delta\bar {g}^t")) + _entries(
        "peephole gradients",
        r"\delta p_i=\sum_t c^t\odot\delta\bar i^{t+1}",
        r"\delta p_f=\sum_t c^t\odot\delta\bar f^{t+1}",
        r"\delta p_o=\sum_t c^t\odot\delta\bar o^t"),
})

PYTORCH = Source("pytorch", "the PyTorch documentation (RNNCell, LSTMCell, GRUCell)", "pytorch", {
    "rnn": _entries("torch.nn.RNNCell", r"h_t=\tanh(W_{ih}x_t+b_{ih}+W_{hh}h_{t-1}+b_{hh})"),
    "lstm": _entries(
        "torch.nn.LSTMCell",
        r"i_t=\sigma(W_{ii}x_t+b_{ii}+W_{hi}h_{t-1}+b_{hi})",
        r"f_t=\sigma(W_{if}x_t+b_{if}+W_{hf}h_{t-1}+b_{hf})",
        r"g_t=\tanh(W_{ig}x_t+b_{ig}+W_{hg}h_{t-1}+b_{hg})",
        r"o_t=\sigma(W_{io}x_t+b_{io}+W_{ho}h_{t-1}+b_{ho})",
        r"c_t=f_t\odot c_{t-1}+i_t\odot g_t", r"h_t=o_t\odot\tanh(c_t)"),
    "gru": _entries(
        "torch.nn.GRUCell",
        r"r_t=\sigma(W_{ir}x_t+b_{ir}+W_{hr}h_{t-1}+b_{hr})",
        r"z_t=\sigma(W_{iz}x_t+b_{iz}+W_{hz}h_{t-1}+b_{hz})",
        r"n_t=\tanh(W_{in}x_t+b_{in}+r_t\odot(W_{hn}h_{t-1}+b_{hn}))",
        r"h_t=(1-z_t)\odot n_t+z_t\odot h_{t-1}"),
})

CHO_2014 = Source("cho2014", "Cho et al. 2014 (arXiv:1406.1078 v3), biases omitted", "cho", {
    "gru": _entries(
        "GRU, section 2.3",
        r"r=\sigma(W_rx+U_rh^{\langle t-1\rangle})", r"z=\sigma(W_zx+U_zh^{\langle t-1\rangle})",
        r"\tilde h^{\langle t\rangle}=\phi(Wx+U(r\odot h^{\langle t-1\rangle}))",
        r"h^{\langle t\rangle}=z\odot h^{\langle t-1\rangle}"
        r"+(1-z)\odot\tilde h^{\langle t\rangle}"),
})

CHUNG_2014 = Source("chung2014", "Chung et al. 2014, the GRU update", "cho", {
    "gru": _entries("GRU update", r"h=(1-z) h^{t-1}+z\tilde h"),
})

SOURCES: dict[str, Source] = {s.name: s for s in (GRAVES_2012, GREFF_2017, PYTORCH, CHO_2014,
                                                   CHUNG_2014)}


def get_source(name: str) -> Source:
    if name not in SOURCES:
        raise CatalogError(f"unknown source {name!r}; sources: {', '.join(SOURCES)}")
    return SOURCES[name]
