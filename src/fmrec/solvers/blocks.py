"""Block-structured FM input: per-row indexes into shared block matrices.

Features that repeat across many ratings, such as the list of items a user
rated, are stored once per block row (once per user) instead of once per
rating. Solvers that understand blocks work on the block rows; the others
materialise the full rows with :meth:`Blocks.to_sparse`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from fmrec.kernels.relational import block_row_terms, combine_blocks

# Factor columns per pass of :meth:`Blocks.predict`.
PREDICT_COLUMNS = 512


@dataclass
class Block:
    """One block: a sparse matrix of block rows and each rating's row in it.

    ``offset`` is the block's first column in the full feature space.
    ``index[r] == -1`` means that rating r has no row in this block, so its
    part of the input is zero. Training data must give every rating a row.
    """

    matrix: sp.csr_matrix
    index: np.ndarray
    offset: int

    def __post_init__(self) -> None:
        self.matrix = sp.csr_matrix(self.matrix, dtype=np.float64)
        self.matrix.sort_indices()
        self.index = np.ascontiguousarray(self.index, dtype=np.int32)

    @property
    def n_columns(self) -> int:
        return self.matrix.shape[1]

    def with_index(self, index: np.ndarray) -> Block:
        return Block(self.matrix, index, self.offset)

    def row_terms(self, w: np.ndarray, V: np.ndarray):
        m = self.matrix
        return block_row_terms(
            m.indptr.astype(np.int64),
            m.indices.astype(np.int64),
            m.data,
            self.offset,
            w,
            V,
        )


@dataclass
class Blocks:
    """FM input rows given as blocks: row r is the concatenation, over blocks,
    of row ``index[r]`` of each block matrix at that block's column offset."""

    blocks: list[Block]

    @classmethod
    def from_sparse(cls, X: sp.spmatrix) -> Blocks:
        """Wrap plain rows: one block whose row r is row r of ``X``."""
        return cls([Block(X, np.arange(X.shape[0]), 0)])

    @property
    def n_rows(self) -> int:
        return self.blocks[0].index.size

    @property
    def n_features(self) -> int:
        return max(block.offset + block.n_columns for block in self.blocks)

    def take(self, rows: np.ndarray) -> Blocks:
        return Blocks([block.with_index(block.index[rows]) for block in self.blocks])

    def predict(self, w0: float, w: np.ndarray, V: np.ndarray) -> np.ndarray:
        """Return the FM output of every row.

        The pairwise term is a sum over the factor columns, so a wide ``V``
        (the stacked samples of MCMC) is taken ``PREDICT_COLUMNS`` columns at
        a time, which bounds the per-block-row sums held in memory.
        """
        indexes = tuple(block.index for block in self.blocks)
        output = None
        for start in range(0, max(V.shape[1], 1), PREDICT_COLUMNS):
            columns = np.ascontiguousarray(V[:, start : start + PREDICT_COLUMNS])
            first = start == 0
            weights = w if first else np.zeros_like(w)
            scalars, factor_sums = [], []
            for block in self.blocks:
                scalar, Q, _ = block.row_terms(weights, columns)
                scalars.append(scalar)
                factor_sums.append(Q)
            part = combine_blocks(
                w0 if first else 0.0, indexes, tuple(scalars), tuple(factor_sums)
            )
            output = part if output is None else output + part
        return output

    def to_sparse(self) -> sp.csr_matrix:
        """Materialise the full rows (for solvers that need them, such as SGD)."""
        if len(self.blocks) == 1 and _is_identity(self.blocks[0]):
            return self.blocks[0].matrix
        parts = []
        for block in self.blocks:
            present = block.index >= 0
            rows = block.matrix[np.where(present, block.index, 0)]
            rows = sp.diags(present.astype(np.float64)) @ rows
            left = sp.csr_matrix((self.n_rows, block.offset))
            right = sp.csr_matrix(
                (self.n_rows, self.n_features - block.offset - block.n_columns)
            )
            parts.append(sp.hstack([left, rows, right], format="csr"))
        return sum(parts[1:], parts[0]).tocsr()


def _is_identity(block: Block) -> bool:
    return (
        block.offset == 0
        and block.index.size == block.matrix.shape[0]
        and bool(np.array_equal(block.index, np.arange(block.index.size)))
    )
