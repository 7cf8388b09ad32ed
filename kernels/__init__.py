"""Numeric kernels (noise, air, rasterisation) on NumPy or CuPy; no I/O."""

__all__: list[str] = []
