"""Compiled numeric kernels of the 2-way Factorization Machine.

The kernels take plain arrays and scalars and return arrays. They know nothing
about files, ids or users, hold no global state and do no I/O, so they can run
inside any worker process unchanged. Validation and policy live in the callers.
"""

from fmrec.kernels.fm import fm_predict, fm_row_terms
from fmrec.kernels.sgd import sgd_epoch

__all__ = ["fm_predict", "fm_row_terms", "sgd_epoch"]
