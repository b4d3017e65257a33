"""Optuna's OptunaSearchCV with pruning, on sktune estimators (skipped
without optuna and optuna-integration)."""
import numpy as np
import pytest
from sklearn.model_selection import KFold

from sktune import LinearClassifier, LinearRegressor

optuna = pytest.importorskip("optuna")
OptunaSearchCV = pytest.importorskip("optuna_integration").OptunaSearchCV
SPACE = {"learning_rate": optuna.distributions.FloatDistribution(1e-4, 0.1, log=True)}

pytestmark = [pytest.mark.filterwarnings("ignore::FutureWarning"),
              pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning")]


@pytest.fixture(scope="module")
def data():
    rng = np.random.RandomState(0)
    X = rng.randn(80, 4)
    y = X @ [1.0, -2.0, 0.5, 0.0] + 0.3 * rng.randn(80)
    return X, y


def _study(pruner):
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    sampler = optuna.samplers.GridSampler({"learning_rate": [1e-4, 0.1]}, seed=0)
    return optuna.create_study(direction="maximize", sampler=sampler, pruner=pruner)


def test_pruning_search_trains_epochs_through_partial_fit(data):
    X, y = data
    # R² below 0 at an epoch prunes: the tiny learning rate is cut after one
    search = OptunaSearchCV(
        LinearRegressor(max_iter=3, tol=None, random_state=0), SPACE, cv=KFold(2),
        enable_pruning=True, max_iter=3, n_trials=2,
        study=_study(optuna.pruners.ThresholdPruner(lower=0.0)), random_state=0)
    search.fit(X, y)
    states = {t.params["learning_rate"]: t for t in search.trials_}
    pruned, complete = states[1e-4], states[0.1]
    assert pruned.state == optuna.trial.TrialState.PRUNED
    assert list(pruned.intermediate_values) == [0]
    assert complete.state == optuna.trial.TrialState.COMPLETE
    assert search.best_params_ == {"learning_rate": 0.1}
    # each reported step is the mean CV score of a fit of that many epochs:
    # sktune's partial_fit resumes a fit exactly
    for step, value in complete.intermediate_values.items():
        scores = [LinearRegressor(learning_rate=0.1, max_iter=step + 1, tol=None,
                                  random_state=0).fit(X[tr], y[tr]).score(X[te], y[te])
                  for tr, te in KFold(2).split(X)]
        assert value == pytest.approx(np.mean(scores), rel=1e-12)
    # the refit is a fit of the same epochs
    assert search.best_estimator_.n_iter_ == 3
    assert search.best_estimator_.score(X, y) > 0.0


def test_pruning_search_with_a_classifier(data):
    X, y = data
    search = OptunaSearchCV(
        LinearClassifier(max_iter=2, tol=None, random_state=0), SPACE, cv=2,
        enable_pruning=True, max_iter=2, n_trials=2,
        study=_study(optuna.pruners.NopPruner()), random_state=0)
    search.fit(X, (y > 0).astype(int))
    assert all(len(t.intermediate_values) == 2 for t in search.trials_)
    assert 0.5 < search.best_score_ <= 1.0
    np.testing.assert_array_equal(search.classes_, [0, 1])
