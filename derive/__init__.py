"""bptt.derive: cells as per-step SymPy equations, the BPTT derivation, printers, code generation.

>>> from derive import get_cell, derive, t
>>> cell = get_cell("graves-lstm")
>>> cell.state                      # the quantities read at t-1
('y', 'c')
>>> f = cell.equation("f").lhs.base  # the forget gate
>>> derive(cell).adjoint_of("c").rhs.has(f[t + 1])  # dL/dc^t needs f^{t+1}
True
"""
from .cells import cell_names, get_cell
from .derivation import Backward, derive, through_outputs
from .ir import (Cell, CellBuilder, CellError, Equation, MatVec, MatVecT, Outer, T, Weight,
                 sigmoid, t, tanh)

__all__ = ["Backward", "Cell", "CellBuilder", "CellError", "Equation", "MatVec", "MatVecT",
           "Outer", "T", "Weight", "cell_names", "derive", "get_cell", "sigmoid", "t", "tanh",
           "through_outputs"]
