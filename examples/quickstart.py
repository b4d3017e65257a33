"""
Quickstart: tune sktune estimators with GridSearchCV
====================================================

Fits a :class:`~sktune.LinearRegressor` on the diabetes data and a
:class:`~sktune.LinearClassifier` on the breast-cancer data, each behind a
``StandardScaler`` in a pipeline, tunes the optimizer, the learning rate and
the batch size with scikit-learn's ``GridSearchCV``, and prints the best
parameters and the score on a held-out split.

Both estimators use ``lr_schedule="exponential"``: the learning rate shrinks
by ``decay_rate=0.9`` per epoch, so the noise of the mini-batch updates dies
down, the training loss stops improving and each fit ends well before
``max_iter`` (with a constant rate, many of these fits would still be
bouncing around after 200 epochs and warn that they had not converged).

Run it with ``python examples/quickstart.py``.
"""

from sklearn.datasets import load_breast_cancer, load_diabetes
from sklearn.model_selection import GridSearchCV, train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import sktune


def search_grid(step_name):
    """The same small grid for either estimator, keyed by its pipeline step."""
    return {
        f"{step_name}__optimizer": ["sgd", "adam"],
        f"{step_name}__learning_rate": [0.01, 0.1],
        f"{step_name}__batch_size": [16, 64],
    }


def tune(estimator, X, y):
    """Grid-search ``estimator`` behind a StandardScaler; return the search and test split."""
    X_train, X_test, y_train, y_test = train_test_split(X, y, random_state=0)
    pipeline = make_pipeline(StandardScaler(), estimator)
    step_name = pipeline.steps[-1][0]
    search = GridSearchCV(pipeline, search_grid(step_name), cv=3)
    search.fit(X_train, y_train)
    return search, X_test, y_test


def main():
    X, y = load_diabetes(return_X_y=True)
    regressor = sktune.LinearRegressor(
        penalty="l2", alpha=1e-3, lr_schedule="exponential", decay_rate=0.9,
        random_state=0,
    )
    search, X_test, y_test = tune(regressor, X, y)
    print("LinearRegressor on diabetes")
    print(f"  best params: {search.best_params_}")
    print(f"  held-out R^2: {search.score(X_test, y_test):.3f}")

    X, y = load_breast_cancer(return_X_y=True)
    classifier = sktune.LinearClassifier(
        loss="log_loss", penalty="l2", alpha=1e-3, lr_schedule="exponential",
        decay_rate=0.9, random_state=0,
    )
    search, X_test, y_test = tune(classifier, X, y)
    print("LinearClassifier on breast cancer")
    print(f"  best params: {search.best_params_}")
    print(f"  held-out accuracy: {search.score(X_test, y_test):.3f}")


if __name__ == "__main__":
    main()
