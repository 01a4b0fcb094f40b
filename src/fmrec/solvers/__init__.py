"""Training algorithms for the Factorization Machine.

Each solver updates a :class:`~fmrec.solvers.base.FMParams` in place through
compiled kernels; the estimator in :mod:`fmrec.model` validates input, owns
the random state and decides when to stop.
"""

from fmrec.solvers.base import FMParams, Rows
from fmrec.solvers.sgd import SGDSolver

__all__ = ["FMParams", "Rows", "SGDSolver"]
