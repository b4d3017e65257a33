"""
L1, L2 and dropout against overfitting
======================================

A one-hidden-layer :class:`~sktune.MLPRegressor` (64 ReLU units, Adam) sees a
small, noisy regression problem with many features: 150 training samples and
50 features, of which only 10 carry signal. Without regularization the
network fits its training data perfectly and generalises poorly.

The same network is then trained with

* ``penalty="l2"`` (weight decay), which shrinks every weight;
* ``penalty="l1"``, whose proximal step sets weights to exact zeros, so that
  whole input features can be switched off;
* ``dropout=0.3`` on the hidden units.

The :doc:`/regularization` page of the guide describes the penalties.
"""

# %%
# The data
# --------
import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import make_regression
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

import sktune
from sktune.plot import LossCurveDisplay

X, y, coef = make_regression(300, 50, n_informative=10, noise=30.0, coef=True,
                             random_state=0)
informative = coef != 0
X_train, X_test, y_train, y_test = train_test_split(X, y, train_size=0.5,
                                                    random_state=0)
scaler = StandardScaler().fit(X_train)
X_train, X_test = scaler.transform(X_train), scaler.transform(X_test)
y_mean, y_std = y_train.mean(), y_train.std()
y_train, y_test = (y_train - y_mean) / y_std, (y_test - y_mean) / y_std

# %%
# Four networks
# -------------
# ``early_stopping=True`` holds out a quarter of the training data and
# records the validation R^2 after every epoch; with ``tol=None`` every fit
# runs all its epochs, and at the end keeps the weights of its best
# validation epoch.
variants = {
    "no regularization": dict(penalty=None),
    "L2 (alpha=0.05)": dict(penalty="l2", alpha=0.05),
    "L1 (alpha=0.01)": dict(penalty="l1", alpha=0.01),
    "dropout (0.3)": dict(penalty=None, dropout=0.3),
}
models = {}
for name, params in variants.items():
    models[name] = sktune.MLPRegressor(
        (64,), learning_rate=3e-3, batch_size=32, max_iter=80, tol=None,
        early_stopping=True, validation_fraction=0.25, random_state=0, **params,
    ).fit(X_train, y_train)

print(f"{'variant':<20}{'train R^2':>10}{'test R^2':>10}{'zero weights':>15}")
for name, model in models.items():
    n_zero = sum(int((W == 0).sum()) for W in model.coefs_)
    n_weights = sum(W.size for W in model.coefs_)
    print(f"{name:<20}{model.score(X_train, y_train):>10.3f}"
          f"{model.score(X_test, y_test):>10.3f}{f'{n_zero}/{n_weights}':>15}")

# %%
# Training loss and validation score
# ----------------------------------
# :class:`~sktune.plot.LossCurveDisplay` puts the training loss (with the
# penalty) on top, with the validation loss dotted beside it, and the
# validation R^2 below; passing the first display's ``axes_`` overlays the
# other networks.
first = None
for name, model in models.items():
    display = LossCurveDisplay.from_estimator(
        model, ax=None if first is None else first.axes_, name=name,
        log_loss=True, show_learning_rate=False)
    first = first or display
first.validation_ax_.set_ylim(-0.2, 1.0)
first.figure_.set_size_inches(8, 6)
plt.show()

# %%
# Without regularization the training loss falls towards zero (the network
# memorises its 112 training samples, noise included) while the validation
# loss levels off far above it and the validation score stalls early. Each of the three remedies keeps the training loss up
# and lets the validation score climb much higher.
#
# Which inputs the networks use
# -----------------------------
# The norm of each input's first-layer weights. L1 keeps the informative
# inputs (red) and sets most of the others to exactly zero.
fig, axes = plt.subplots(1, len(models), figsize=(14, 3.2), sharey=True,
                         layout="constrained")
features = np.arange(X.shape[1])
for ax, (name, model) in zip(axes, models.items()):
    norms = np.linalg.norm(model.coefs_[0], axis=1)
    ax.bar(features[~informative], norms[~informative], color="tab:gray",
           label="noise feature")
    ax.bar(features[informative], norms[informative], color="tab:red",
           label="informative feature")
    ax.set(title=name, xlabel="input feature")
axes[0].set_ylabel("norm of first-layer weights")
axes[2].legend(fontsize="small")  # the L1 panel has room for it
plt.show()

l1 = models["L1 (alpha=0.01)"]
dropped = int((np.linalg.norm(l1.coefs_[0], axis=1) == 0).sum())
print(f"L1 switched off {dropped} of {X.shape[1]} inputs entirely.")
