"""
Choosing a learning rate and spotting vanishing gradients
=========================================================

Two questions every network raises: which learning rate, and are all its
layers learning? :func:`~sktune.model_selection.lr_find` answers the first
with a learning-rate range test; ``gradient_norms_`` (recorded by every fit)
and its panel in :class:`~sktune.plot.LossCurveDisplay` answer the second.
The :doc:`/learning_rate` page of the guide gives the rules.
"""

# %%
# A deep network of logistic units
# --------------------------------
# Six hidden layers of logistic units with scikit-learn's Glorot
# initialisation. Each layer multiplies the backward signal by the logistic
# slope (at most 1/4), so the first layers receive almost no gradient. With
# ``verbose=1`` the fit says so with a :class:`~sktune.GradientWarning`.
import contextlib
import io
import warnings

import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import make_friedman1
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

import sktune
from sktune.model_selection import lr_find
from sktune.plot import LossCurveDisplay

X, y = make_friedman1(n_samples=600, random_state=0)
X = StandardScaler().fit_transform(X)
y = (y - y.mean()) / y.std()
X_train, X_test, y_train, y_test = train_test_split(X, y, random_state=0)

common = dict(hidden_layer_sizes=(16,) * 6, optimizer="sgd", batch_size=32,
              max_iter=30, tol=None, random_state=0)
deep = sktune.MLPRegressor(activation="logistic", init="glorot", learning_rate=0.05,
                           verbose=1, **common)
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always", sktune.GradientWarning)
    with contextlib.redirect_stdout(io.StringIO()):  # the per-epoch lines
        deep.fit(X_train, y_train)
for w in caught:
    print(type(w.message).__name__ + ":", w.message)
print(f"held-out R^2: {deep.score(X_test, y_test):.3f}")
ratio = deep.gradient_norms_[-1] / deep.gradient_norms_[-1].max()
print("last epoch's gradient norm per layer / largest:", np.round(ratio, 5))

# %%
# The fix the warning names: ReLU units (He initialisation) keep every
# layer's gradient within a small factor of the others. The learning rate
# comes from the range test: :func:`~sktune.model_selection.lr_find` trains
# 100 mini-batches with an exponentially growing rate and suggests, for
# plain SGD, half the rate where the loss was lowest.
relu = sktune.MLPRegressor(activation="relu", **common)
finder = lr_find(relu, X_train, y_train, random_state=0)
print(f"suggested learning rate: {finder.suggestion_:.3g}")
finder.plot()

relu.set_params(learning_rate=finder.suggestion_).fit(X_train, y_train)
print(f"held-out R^2 with ReLU: {relu.score(X_test, y_test):.3f}")

# %%
# The gradient panels side by side: the logistic network's first layers sit
# orders of magnitude below its last one; the ReLU network's layers stay
# together.
fig, axes = plt.subplots(3, 2, sharex="col", figsize=(10, 7), layout="constrained",
                         gridspec_kw={"height_ratios": [3, 1, 2]})
for col, (model, name) in enumerate([(deep, "logistic"), (relu, "ReLU")]):
    axes[1, col].set_axis_off()  # no validation panel: no early stopping
    LossCurveDisplay.from_estimator(model, ax=axes[[0, 2], col], name=name,
                                    show_gradients=True, show_learning_rate=False)
plt.show()
