"""Numba kernels. Imports nothing from scikit-learn."""
