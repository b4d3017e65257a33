"""
Grid, random and Bayesian search on the same budget
===================================================

A ``StandardScaler`` + :class:`~sktune.LinearRegressor` pipeline is tuned on
the diabetes data over three hyperparameters:

* ``optimizer`` in {"sgd", "momentum", "adam"};
* ``learning_rate`` between 1e-4 and 0.3, on a log scale;
* ``alpha`` (the L2 strength) between 1e-5 and 1, on a log scale.

Each fit is full-batch gradient descent for only 5 epochs, so that only a
band of fast but stable learning rates does well. Three searches get
the same budget of 12 candidates, each scored by 3-fold cross-validation:

* scikit-learn's ``GridSearchCV`` on 2 values per numeric axis;
* ``RandomizedSearchCV`` drawing from ``scipy.stats.loguniform``;
* scikit-optimize's ``BayesSearchCV``, a Gaussian-process model of the score
  that chooses each next candidate after a few random ones.

The :doc:`/searching` page of the guide covers every search class, and
:doc:`/batched_search` the batched ``sktune.model_selection.GridSearchCV``.
"""

# %%
# The three searches
# ------------------
import matplotlib.pyplot as plt
import numpy as np
from scipy.stats import loguniform
from skopt import BayesSearchCV
from skopt.space import Categorical, Real
from sklearn.datasets import load_diabetes
from sklearn.model_selection import GridSearchCV, RandomizedSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

import sktune
from sktune.plot import SearchDisplay

X, y = load_diabetes(return_X_y=True)
y = (y - y.mean()) / y.std()  # R^2 is unchanged; the rates suit a unit scale

model = make_pipeline(
    StandardScaler(),
    sktune.LinearRegressor(penalty="l2", batch_size="full", max_iter=5, tol=None,
                           random_state=0),
)
optimizers = ["sgd", "momentum", "adam"]
lr_range, alpha_range = (1e-4, 0.3), (1e-5, 1.0)
budget = len(optimizers) * 2 * 2
# a fit that diverges would raise sktune.DivergenceError; error_score=-1
# (rather than NaN) lets the Bayesian search learn from it too
common = dict(cv=3, error_score=-1.0)
searches = {
    "grid": GridSearchCV(model, {
        "linearregressor__optimizer": optimizers,
        "linearregressor__learning_rate": list(lr_range),
        "linearregressor__alpha": list(alpha_range),
    }, **common),
    "random": RandomizedSearchCV(model, {
        "linearregressor__optimizer": optimizers,
        "linearregressor__learning_rate": loguniform(*lr_range),
        "linearregressor__alpha": loguniform(*alpha_range),
    }, n_iter=budget, random_state=0, **common),
    "bayes": BayesSearchCV(model, {
        "linearregressor__optimizer": Categorical(optimizers),
        "linearregressor__learning_rate": Real(*lr_range, prior="log-uniform"),
        "linearregressor__alpha": Real(*alpha_range, prior="log-uniform"),
    }, n_iter=budget, random_state=0,
        optimizer_kwargs=dict(n_initial_points=4, acq_optimizer="sampling"),
        **common),
}
for name, search in searches.items():
    # The Gaussian process works on tiny matrices, where BLAS threads cost
    # more than they give: one thread makes the Bayesian search faster.
    with threadpool_limits(limits=1, user_api="blas"):
        search.fit(X, y)
    best = {k.split("__")[1]: v for k, v in search.best_params_.items()}
    print(f"{name:>6}: best mean CV R^2 {search.best_score_:.3f} with "
          + ", ".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}"
                      for k, v in sorted(best.items())))

# %%
# Where each search looked
# ------------------------
# One row of :class:`~sktune.plot.SearchDisplay` panels per search: the mean
# cross-validated R^2 of every candidate against each hyperparameter (the
# learning rate and alpha on log axes, since the searches drew them so).
fig, axes = plt.subplots(3, 3, figsize=(12, 9), sharey=True, layout="constrained")
for row, (name, search) in zip(axes, searches.items()):
    SearchDisplay.from_search(search, params=["learning_rate", "alpha", "optimizer"],
                              ax=row)
    row[0].set_title(f"{name} search", loc="left")
    row[0].set_ylim(-0.6, 0.6)
plt.show()

# %%
# Progress on the same budget
# ---------------------------
# The best score found so far, in the order each search evaluated its
# candidates (for the grid, the order of ``ParameterGrid``).
fig, ax = plt.subplots(figsize=(6, 4), layout="constrained")
for name, search in searches.items():
    scores = np.asarray(search.cv_results_["mean_test_score"], dtype=float)
    ax.plot(np.arange(1, len(scores) + 1), np.maximum.accumulate(scores),
            drawstyle="steps-post", label=name)
ax.set(xlabel="candidates evaluated", ylabel="best mean CV R^2 so far")
ax.legend()
plt.show()

# %%
# In 5 epochs, only learning rates from a few hundredths up to a few tenths
# get anywhere, and the fastest of them are unstable with momentum. With two
# values per axis, whether the grid finds a good fit depends on where those
# values happen to fall: here its top learning rate of 0.3 works with plain
# SGD, and all its candidates with 1e-4 are useless. Random and Bayesian
# search try a new learning rate with every candidate, so they find the band
# whatever its position; the Bayesian search, once past its 4 random
# starting points, spends most of its candidates inside it.
