"""bptt.verify: independent checks of the derived equations (unrolled exact derivatives,
numeric gradient checks of generated kernels, comparison with textbook formulas)."""
