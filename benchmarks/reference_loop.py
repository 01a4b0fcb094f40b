"""A per-sample Python/NumPy SGD loop for the FM, the speed baseline.

This is the straightforward way to write FM training without compiled code:
one Python iteration per rating, slicing the sample's row out of a SciPy CSR
matrix and updating the active parameters with NumPy. The benchmark times it
on a subsample next to fmrec's compiled epoch.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp


def python_sgd_epoch(
    X: sp.csr_matrix,
    y: np.ndarray,
    order: np.ndarray,
    params: dict[str, np.ndarray],
    learning_rate: float,
    reg: float,
) -> None:
    """Run one SGD pass in Python over the rows in ``order``, in place."""
    w, V = params["w"], params["V"]
    for row in order:
        active = X[row].nonzero()[1]
        factors = V[active]
        factor_sum = factors.sum(axis=0)
        pairwise = 0.5 * np.sum(factor_sum**2 - np.sum(factors**2, axis=0))
        error = params["w0"][0] + w[active].sum() + pairwise - y[row]

        params["w0"][0] -= learning_rate * error
        w[active] -= learning_rate * (error + reg * w[active])
        V[active] -= learning_rate * (error * (factor_sum - factors) + reg * factors)
