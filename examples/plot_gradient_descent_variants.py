"""
Gradient-descent variants on one problem
========================================

The same :class:`~sktune.LinearRegressor` (squared error, no penalty) is
trained on one regression problem with each classic variant of gradient
descent:

* batch gradient descent (``optimizer="sgd", batch_size="full"``): one
  exact-gradient step per epoch;
* mini-batch SGD (``batch_size=32``);
* stochastic gradient descent (``batch_size=1``): one step per sample;
* momentum, Nesterov momentum, Adam, RMSprop and Adagrad, on the same
  mini-batches of 32.

The features are strongly correlated (an ill-conditioned least-squares
problem), which is where the variants differ most.
"""

# %%
# The data
# --------
# Twenty features that share one common factor, and a noisy linear target.
# Features and target are standardised, so the training loss (half the mean
# squared error) starts near 0.5.
import time

import matplotlib.pyplot as plt
import numpy as np
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

import sktune
from sktune.plot import LossCurveDisplay

rng = np.random.RandomState(0)
n_samples, n_features = 1000, 20
shared = rng.randn(n_samples, 1)
X = np.sqrt(0.9) * shared + np.sqrt(0.1) * rng.randn(n_samples, n_features)
y = X @ rng.randn(n_features) + 0.5 * rng.randn(n_samples)
X_train, X_test, y_train, y_test = train_test_split(X, y, random_state=0)
scaler = StandardScaler().fit(X_train)
X_train, X_test = scaler.transform(X_train), scaler.transform(X_test)
y_mean, y_std = y_train.mean(), y_train.std()
y_train, y_test = (y_train - y_mean) / y_std, (y_test - y_mean) / y_std

# %%
# One model per variant
# ---------------------
# Every model trains for the same 30 epochs (``tol=None`` turns the
# convergence check off, so none stops early).
variants = {
    "batch GD (full batch)": dict(optimizer="sgd", batch_size="full", learning_rate=0.05),
    "mini-batch SGD (32)": dict(optimizer="sgd", batch_size=32, learning_rate=0.01),
    "stochastic GD (1)": dict(optimizer="sgd", batch_size=1, learning_rate=0.01),
    "momentum": dict(optimizer="momentum", batch_size=32, learning_rate=0.01),
    "Nesterov": dict(optimizer="nesterov", batch_size=32, learning_rate=0.01),
    "Adam": dict(optimizer="adam", batch_size=32, learning_rate=0.01),
    "RMSprop": dict(optimizer="rmsprop", batch_size=32, learning_rate=0.01),
    "Adagrad": dict(optimizer="adagrad", batch_size=32, learning_rate=0.1),
}
models = {}
print(f"{'variant':<24}{'updates':>9}{'final loss':>12}{'test R^2':>10}{'time (s)':>10}")
for name, params in variants.items():
    model = sktune.LinearRegressor(penalty=None, max_iter=30, tol=None,
                                   random_state=0, **params)
    started = time.perf_counter()
    model.fit(X_train, y_train)
    elapsed = time.perf_counter() - started
    models[name] = model
    print(f"{name:<24}{model.t_:>9}{model.loss_curve_[-1]:>12.4f}"
          f"{model.score(X_test, y_test):>10.4f}{elapsed:>10.3f}")

# %%
# The first fit of each optimizer includes compiling its kernel, so the
# times above say little about speed; ``updates`` is the number of optimizer
# steps (``t_``).
#
# Loss curves
# -----------
# :class:`~sktune.plot.LossCurveDisplay` draws each model's loss; passing the
# first display's ``axes_`` as ``ax`` overlays the others. The learning rate
# is constant here, so it is left out.
fig, ax = plt.subplots(figsize=(8, 5), layout="constrained")
for name, model in models.items():
    LossCurveDisplay.from_estimator(model, ax=ax, name=name, log_loss=True,
                                    show_learning_rate=False)
ax.legend(fontsize="small", ncols=2)
ax.set_title("LinearRegressor on correlated features")
plt.show()

# %%
# Batch gradient descent takes one cautious step per epoch and is still far
# from the optimum after 30 epochs; plain mini-batch SGD crawls along the
# narrow valley that the correlated features make. Momentum and the adaptive
# methods reach the noise floor within a few epochs. Stochastic updates get
# there too, but each of their epochs costs many more (tiny) steps. With a
# constant learning rate, RMSprop keeps jittering around the noise floor:
# :ref:`sphx_glr_auto_examples_plot_learning_rate_schedules.py` shows how a
# decaying rate fixes that.
