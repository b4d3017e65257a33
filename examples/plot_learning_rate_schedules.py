"""
Learning-rate schedules side by side
====================================

The same :class:`~sktune.LinearRegressor` (Adam, mini-batches of 16, a
deliberately large initial rate of 0.05) is trained on a noisy regression
problem with each of the seven ``lr_schedule`` values:

* ``constant``: the rate never changes;
* ``invscaling``: ``learning_rate / t**power_t`` at optimizer step ``t``;
* ``exponential``: ``learning_rate * decay_rate**epoch``, applied smoothly;
* ``step``: multiplied by ``decay_rate`` every ``step_size`` epochs;
* ``linear``: down to ``min_learning_rate`` at ``max_iter``;
* ``cosine``: cosine annealing with warm restarts, each cycle twice as long
  as the one before;
* ``plateau``: multiplied by ``decay_rate`` whenever the training loss
  stalls for ``n_iter_no_change`` epochs.

The :doc:`/schedules` page of the guide gives the formulas.
"""

# %%
# The data and the fits
# ---------------------
# Correlated features and a noisy target, both standardised. Every fit runs
# its 30 epochs (``tol=None``). With ``tol=None`` the plateau schedule counts
# an epoch as stalled when its loss is no lower than the best so far.
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
y = X @ rng.randn(n_features) + rng.randn(n_samples)
X_train, X_test, y_train, y_test = train_test_split(X, y, random_state=0)
scaler = StandardScaler().fit(X_train)
X_train, X_test = scaler.transform(X_train), scaler.transform(X_test)
y_mean, y_std = y_train.mean(), y_train.std()
y_train, y_test = (y_train - y_mean) / y_std, (y_test - y_mean) / y_std

max_iter = 30
schedules = {
    "constant": {},
    "invscaling": dict(power_t=0.25),
    "exponential": dict(decay_rate=0.9),
    "step": dict(decay_rate=0.5, step_size=max_iter // 4),
    "linear": dict(min_learning_rate=0.0),
    # three cycles, of lengths T, 2T and 4T, that end at max_iter
    "cosine": dict(restart_period=max_iter / 7, restart_mult=2.0),
    "plateau": dict(decay_rate=0.5, n_iter_no_change=3),
}
models = {}
print(f"{'schedule':<13}{'final rate':>12}{'final loss':>12}{'test R^2':>10}")
for schedule, params in schedules.items():
    model = sktune.LinearRegressor(
        penalty=None, optimizer="adam", learning_rate=0.05, lr_schedule=schedule,
        batch_size=16, max_iter=max_iter, random_state=0, tol=None, **params)
    model.fit(X_train, y_train)
    models[schedule] = model
    print(f"{schedule:<13}{model.learning_rates_[-1]:>12.2e}"
          f"{model.loss_curve_[-1]:>12.5f}{model.score(X_test, y_test):>10.4f}")

# %%
# Rate and loss of every fit
# --------------------------
# Each estimator records the learning rate it ended every epoch with
# (``learning_rates_``), and :class:`~sktune.plot.LossCurveDisplay` draws it
# (dashed, right-hand axis) next to the training loss, one panel per schedule.
fig, axes = plt.subplots(2, 4, figsize=(14, 6.5), sharex=True, layout="constrained")
for i, (ax, (schedule, model)) in enumerate(zip(axes.flat, models.items())):
    display = LossCurveDisplay.from_estimator(model, ax=ax, log_loss=True,
                                              name=schedule)
    ax.set_title(schedule)
    display.lr_ax_.get_legend().remove()
    if i % 4:  # y labels on the outer panels only
        ax.set_ylabel("")
    if i % 4 != 3 and i != len(models) - 1:
        display.lr_ax_.set_ylabel("")
# the eighth panel holds the legend
axes.flat[-1].set_axis_off()
axes.flat[-1].legend([display.line_, display.lr_line_],
                     ["training loss", "learning rate"], loc="center")
plt.show()

# %%
# The losses on one plot
# ----------------------
# Overlaying the displays (``ax=first.axes_``) compares the losses directly;
# the learning rates are left out to keep it readable.
first = None
for schedule, model in models.items():
    display = LossCurveDisplay.from_estimator(
        model, ax=None if first is None else first.axes_, name=schedule,
        log_loss=True, show_learning_rate=False)
    first = first or display
first.ax_.legend(fontsize="small")
first.ax_.set_title("Training loss of each schedule")
plt.show()

# %%
# With a constant rate, the noise of the mini-batches keeps the weights
# moving around the optimum, and the loss stalls above the noise floor.
# Every decaying schedule gets closer; cosine annealing makes the loss worse
# for a while after each restart, and the plateau schedule halves its rate
# each time the loss stops improving.
