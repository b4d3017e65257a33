"""
Plotting a fit and a search
===========================

:mod:`sktune.plot` has two displays in the style of scikit-learn's
(``RocCurveDisplay`` and friends):

* :class:`~sktune.plot.LossCurveDisplay` draws an estimator's training loss,
  its learning rate and, with ``early_stopping=True``, its validation score
  after every epoch;
* :class:`~sktune.plot.SearchDisplay` draws the mean cross-validated score of
  every candidate of a search against each searched hyperparameter.

Both accept a fitted pipeline (or search) directly. The :doc:`/plotting` page
of the guide describes their options.
"""

# %%
# Training curves of one fit
# --------------------------
# A :class:`~sktune.LinearRegressor` on the diabetes data, with a cosine
# learning-rate schedule (warm restarts) and early stopping, which holds out
# 10% of the training data, records the validation R^2 of every epoch and
# stops once it has not improved for ``n_iter_no_change=10`` epochs. The
# target is standardised too: the weights start at zero and Adam moves each
# by about ``learning_rate`` per step, so a target in the hundreds would take
# thousands of steps to reach.
import matplotlib.pyplot as plt
from sklearn.datasets import load_diabetes
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import sktune
from sktune.plot import LossCurveDisplay, SearchDisplay

X, y = load_diabetes(return_X_y=True)
y = (y - y.mean()) / y.std()
model = make_pipeline(
    StandardScaler(),
    sktune.LinearRegressor(lr_schedule="cosine", learning_rate=0.05,
                           early_stopping=True, max_iter=40, random_state=0),
).fit(X, y)

display = LossCurveDisplay.from_estimator(model)
plt.show()

# %%
# The training loss and, dotted, the validation loss are on the top axes,
# with the learning rate (dashed) on a second y axis; the validation score
# is below. Early stopping restored the weights
# of the best validation epoch, ``best_validation_score_``:
print(f"{model[-1].n_iter_} epochs, best validation R^2 "
      f"{model[-1].best_validation_score_:.3f}")

# %%
# Scores of a search
# ------------------
# A randomized search over the learning rate (drawn on a log scale) and the
# optimizer. :class:`~sktune.plot.SearchDisplay` draws one panel per
# hyperparameter; the red star is the best candidate.
from scipy.stats import loguniform
from sklearn.model_selection import RandomizedSearchCV

search = RandomizedSearchCV(
    make_pipeline(StandardScaler(), sktune.LinearRegressor(max_iter=30, tol=None)),
    {
        "linearregressor__learning_rate": loguniform(1e-4, 1e-1),
        "linearregressor__optimizer": ["sgd", "adam", "rmsprop"],
    },
    n_iter=20, cv=3, random_state=0,
).fit(X, y)

display = SearchDisplay.from_search(search)
plt.show()

# %%
# In 30 epochs, plain SGD gets somewhere only with a learning rate above
# about 0.01, while Adam and RMSprop, whose steps do not depend on the scale
# of the gradient, do well from 0.001 up.
print("best parameters:", search.best_params_)
print(f"best mean CV R^2: {search.best_score_:.3f}")
