"""The topic model's regression reaches the optimum of its stated objective.

The checks compute the objective's gradient densely, independently of the fitter's sparse
arithmetic: at the optimum of a strictly convex objective it is zero, and nowhere else.
"""

import numpy as np
import pytest

from aggregator.pipeline import logistic


def problem(seed: int, rows: int = 300, width: int = 40, classes: int = 4) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rnd = np.random.default_rng(seed)
    dense = rnd.random((rows, width)) * (rnd.random((rows, width)) < 0.15)  # sparse, like TF-IDF rows
    truth = rnd.normal(size=(width, classes)) * 3
    labels = (dense @ truth + rnd.gumbel(size=(rows, classes))).argmax(axis=1)
    return dense, labels, rnd.uniform(0.3, 2.0, rows)


def sparse(dense: np.ndarray) -> logistic.SparseRows:
    return logistic.SparseRows.from_dicts([{j: v for j, v in enumerate(row) if v} for row in dense], dense.shape[1])


def dense_gradient(dense, labels, weights, coef, intercept, c):
    logits = dense @ coef + intercept
    p = np.exp(logits - logits.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    p[np.arange(len(labels)), labels] -= 1
    residual = p * weights[:, None]
    return dense.T @ residual + coef / c, residual.sum(axis=0)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_the_fit_is_the_optimum_of_the_penalised_likelihood(seed):
    dense, labels, weights = problem(seed)
    coef, intercept = logistic.fit(sparse(dense), labels, weights, 4, c=10.0, tolerance=1e-8)

    g_coef, g_intercept = dense_gradient(dense, labels, weights, coef, intercept, 10.0)
    assert np.abs(g_coef).max() < 1e-5 * weights.sum()
    assert np.abs(g_intercept).max() < 1e-5 * weights.sum()
    assert np.abs(coef).max() > 0.5  # it learned something, not a zero model that happens to be flat


def test_the_fitted_model_predicts_the_classes_it_was_taught():
    dense, labels, weights = problem(4, rows=600)
    coef, intercept = logistic.fit(sparse(dense), labels, weights, 4, c=10.0)

    accuracy = ((dense @ coef + intercept).argmax(axis=1) == labels).mean()
    assert accuracy > 0.8


def test_a_heavier_example_pulls_harder():
    dense = np.array([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    labels = np.array([0, 1, 1])
    even, _ = logistic.fit(sparse(dense), labels, np.ones(3), 2, c=10.0, intercept=False)
    heavy, _ = logistic.fit(sparse(dense), labels, np.array([5.0, 1.0, 1.0]), 2, c=10.0, intercept=False)
    assert even[0, 0] - even[0, 1] == pytest.approx(0.0, abs=1e-3)  # one vote each way: undecided
    assert heavy[0, 0] - heavy[0, 1] > 1.0


def test_two_classes_give_the_binary_model_at_twice_the_penalty_constant():
    dense, labels, weights = problem(5, classes=2)
    coef, _ = logistic.fit(sparse(dense), labels, weights, 2, c=3.0, intercept=False, tolerance=1e-9)

    direction = coef[:, 1] - coef[:, 0]
    # binary objective at C = 6: ‖d‖²/2 + C Σ s·log(1 + exp(-y d·x)), y in {-1, 1}
    signs = np.where(labels == 1, 1.0, -1.0)
    margin = signs * (dense @ direction)
    gradient = direction - 6.0 * dense.T @ (weights * signs / (1 + np.exp(margin)))
    assert np.abs(gradient).max() < 1e-4 * weights.sum()


def test_a_matrix_with_empty_rows_and_columns_multiplies_correctly():
    dense = np.array([[0.0, 2.0, 0.0], [0.0, 0.0, 0.0], [1.0, 0.0, 0.0]])
    matrix = sparse(dense)
    right = np.arange(6, dtype=float).reshape(3, 2)
    np.testing.assert_allclose(matrix.dot(right), dense @ right)
    np.testing.assert_allclose(matrix.transposed_dot(np.arange(6, dtype=float).reshape(3, 2)), dense.T @ np.arange(6).reshape(3, 2))
