"""Multinomial logistic regression with an L2 penalty, fitted by L-BFGS on sparse rows.

The topic model (`topic_model`) is TF-IDF features (and, beside them, a dense block: the
sentence encoder's vector, `SparseBesideDense`) with this regression on top. It is fitted
with numpy alone: scikit-learn and scipy would add about 100 MB to every process that fits
(the poller, `aggregator worker`, a web worker refitting after an editor's correction), which
is 40% of the memory a whole poll cycle may use.

The objective is Σᵢ sᵢ·(−log p(yᵢ | xᵢ)) + ‖W‖² / 2C, intercepts unpenalised: what
scikit-learn's `LogisticRegression(C=C)` minimises for more than two classes. For two, it fits
one weight vector; here the difference of the two classes' vectors is that vector at 2C. The objective
is strictly convex in W, so there is one optimum and any method that converges reaches it;
`fit` stops when the largest partial derivative, per unit of sample weight, is below
`tolerance`.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property

import numpy as np

__all__ = ["SparseBesideDense", "SparseRows", "fit"]

MEMORY = 10  # (step, gradient change) pairs L-BFGS keeps
ARMIJO = 1e-4  # the sufficient decrease a step must achieve


@dataclass(frozen=True)
class SparseRows:
    """A sparse matrix as its stored values, each with its row and column, in row order."""

    rows: np.ndarray
    columns: np.ndarray
    values: np.ndarray
    shape: tuple[int, int]

    @classmethod
    def from_dicts(cls, rows: Sequence[Mapping[int, float]], width: int) -> SparseRows:
        """One row per mapping of column -> value."""
        lengths = [len(row) for row in rows]
        return cls(
            np.repeat(np.arange(len(rows)), lengths),
            np.fromiter((column for row in rows for column in row), np.int64, sum(lengths)),
            np.fromiter((value for row in rows for value in row.values()), np.float64, sum(lengths)),
            (len(rows), width),
        )

    def dot(self, right: np.ndarray) -> np.ndarray:
        """self @ right, for a dense `right` of shape (width, k)."""
        return _sum_by(self.rows, self.values[:, None] * right[self.columns], self.shape[0])

    def transposed_dot(self, right: np.ndarray) -> np.ndarray:
        """self.T @ right, for a dense `right` of shape (height, k)."""
        order = self._by_column
        return _sum_by(self.columns[order], (self.values[:, None] * right[self.rows])[order], self.shape[1])

    @cached_property
    def _by_column(self) -> np.ndarray:
        return np.argsort(self.columns, kind="stable")


@dataclass(frozen=True)
class SparseBesideDense:
    """Sparse columns followed by dense ones (a sentence vector per row, say), as one matrix."""

    sparse: SparseRows
    dense: np.ndarray  # (height, dense width)

    @property
    def shape(self) -> tuple[int, int]:
        return self.sparse.shape[0], self.sparse.shape[1] + self.dense.shape[1]

    def dot(self, right: np.ndarray) -> np.ndarray:
        width = self.sparse.shape[1]
        return self.sparse.dot(right[:width]) + self.dense @ right[width:]

    def transposed_dot(self, right: np.ndarray) -> np.ndarray:
        return np.vstack([self.sparse.transposed_dot(right), self.dense.T @ right])


def _sum_by(groups: np.ndarray, products: np.ndarray, size: int) -> np.ndarray:
    """Rows of `products` summed by their (sorted) group."""
    out = np.zeros((size, products.shape[1]))
    if len(groups):
        starts = np.flatnonzero(np.r_[True, groups[1:] != groups[:-1]])
        out[groups[starts]] = np.add.reduceat(products, starts, axis=0)
    return out


def fit(
    matrix: SparseRows | SparseBesideDense,
    labels: np.ndarray,
    sample_weights: np.ndarray,
    classes: int,
    c: float,
    *,
    intercept: bool = True,
    tolerance: float = 1e-5,
    max_iterations: int = 2000,
) -> tuple[np.ndarray, np.ndarray]:
    """Weights (width × classes) and intercepts (classes) minimising the objective above;
    `labels` are class indices."""
    height, width = matrix.shape
    picked = (np.arange(height), labels)

    def objective(theta: np.ndarray) -> tuple[float, np.ndarray]:
        weights = theta[: width * classes].reshape(width, classes)
        logits = matrix.dot(weights)
        if intercept:
            logits += theta[width * classes :]
        logits -= logits.max(axis=1, keepdims=True)
        log_p = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
        value = -float(sample_weights @ log_p[picked]) + float((weights * weights).sum()) / (2 * c)
        residual = np.exp(log_p)
        residual[picked] -= 1.0
        residual *= sample_weights[:, None]
        gradient = matrix.transposed_dot(residual) + weights / c
        parts = [gradient.ravel(), residual.sum(axis=0)] if intercept else [gradient.ravel()]
        return value, np.concatenate(parts)

    start = np.zeros(width * classes + (classes if intercept else 0))
    theta = _lbfgs(objective, start, tolerance * float(sample_weights.sum()), max_iterations)
    return theta[: width * classes].reshape(width, classes), theta[width * classes :] if intercept else np.zeros(classes)


def _lbfgs(objective: Callable[[np.ndarray], tuple[float, np.ndarray]], x: np.ndarray, tolerance: float, max_iterations: int) -> np.ndarray:
    """Limited-memory BFGS with a backtracking (Armijo) line search; on a convex objective
    every accepted pair has positive curvature, so the update never needs repair."""
    value, gradient = objective(x)
    history: deque[tuple[np.ndarray, np.ndarray, float]] = deque(maxlen=MEMORY)
    for _ in range(max_iterations):
        if np.abs(gradient).max() <= tolerance:
            break
        direction = -_two_loop(gradient, history)
        slope = float(gradient @ direction)
        if slope >= 0:  # not a descent direction (rounding): start again from steepest descent
            history.clear()
            direction, slope = -gradient, -float(gradient @ gradient)
        step = 1.0 if history else 1.0 / max(1.0, float(np.abs(gradient).max()))
        while True:
            candidate = x + step * direction
            new_value, new_gradient = objective(candidate)
            if new_value <= value + ARMIJO * step * slope:
                break
            step /= 2
            if step < 1e-12:
                return x  # no further decrease is representable
        change, gradient_change = candidate - x, new_gradient - gradient
        curvature = float(change @ gradient_change)
        if curvature > 0:
            history.append((change, gradient_change, 1.0 / curvature))
        x, value, gradient = candidate, new_value, new_gradient
    return x


def _two_loop(gradient: np.ndarray, history: deque[tuple[np.ndarray, np.ndarray, float]]) -> np.ndarray:
    """The inverse-Hessian estimate of the stored pairs applied to the gradient."""
    q = gradient.copy()
    alphas = []
    for change, gradient_change, rho in reversed(history):
        alpha = rho * float(change @ q)
        q -= alpha * gradient_change
        alphas.append(alpha)
    if history:
        change, gradient_change, _ = history[-1]
        q *= float(change @ gradient_change) / float(gradient_change @ gradient_change)
    for (change, gradient_change, rho), alpha in zip(history, reversed(alphas), strict=True):
        beta = rho * float(gradient_change @ q)
        q += (alpha - beta) * change
    return q
