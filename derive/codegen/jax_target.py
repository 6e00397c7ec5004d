"""The JAX writer (to come)."""
from __future__ import annotations

from .arrays import ArrayWriter


class JaxWriter(ArrayWriter):
    pass
