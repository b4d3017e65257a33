"""Learning-rate schedules side by side.

Trains the same :class:`sktune.LinearRegressor` (Adam, mini-batches of 16, a
deliberately large initial rate of 0.05) on a noisy regression problem with
each of the seven ``lr_schedule`` values:

* ``constant``: the rate never changes;
* ``invscaling``: ``lr / t**power_t`` per optimizer step ``t``;
* ``exponential``: ``lr * decay_rate**epoch``, applied smoothly;
* ``step``: halved every ``step_size`` epochs;
* ``linear``: down to ``min_learning_rate`` at ``max_iter``;
* ``cosine``: cosine annealing with warm restarts (SGDR), cycles doubling;
* ``plateau``: halved whenever the training loss stalls for
  ``n_iter_no_change`` epochs.

The left panel shows the learning rate of every step, computed with
:func:`sktune.optim.learning_rates`, the function the estimators call
before each epoch (the plateau rate depends on the losses, so it is
replayed from the fitted ``loss_curve_`` with
:func:`sktune.optim.plateau_decay`, following the rule the estimator
applies). The right panel shows the resulting training-loss curves.

With a constant rate, mini-batch noise keeps the weights bouncing around
the optimum and the loss stalls above the noise floor; every decaying
schedule gets closer, cosine annealing temporarily worsens the loss at each
restart, and ``invscaling`` decays fastest at first.

Run ``python examples/learning_rate_schedules.py`` (``--show`` opens a
window; by default the figure is written to ``--out``, the
``SKTUNE_EXAMPLES_OUT`` environment variable, or a temporary directory).
"""
import argparse
import os
import tempfile
import warnings

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

import sktune
from sktune.optim import SCHEDULES, learning_rates, plateau_decay

LEARNING_RATE = 0.05
BATCH_SIZE = 16


def schedule_params(max_iter):
    """The parameters of each schedule (all others keep their defaults)."""
    return {
        "constant": {},
        "invscaling": dict(power_t=0.25),
        "exponential": dict(decay_rate=0.9),
        "step": dict(decay_rate=0.5, step_size=max(1, max_iter // 4)),
        "linear": dict(min_learning_rate=0.0),
        # three cycles of lengths T, 2T, 4T ending at max_iter
        "cosine": dict(restart_period=max_iter / 7, restart_mult=2.0),
        "plateau": dict(decay_rate=0.5, tol=1e-3, n_iter_no_change=3),
    }


def output_dir(out=None):
    """Where figures go: ``out``, ``$SKTUNE_EXAMPLES_OUT`` or a temporary directory."""
    if out is None:
        out = os.environ.get("SKTUNE_EXAMPLES_OUT") or os.path.join(
            tempfile.gettempdir(), "sktune-examples")
    os.makedirs(out, exist_ok=True)
    return str(out)


def new_figure(show, **kwargs):
    """A pyplot figure when showing, else a backend-free (Agg) Figure."""
    if show:
        import matplotlib.pyplot as plt

        return plt.figure(**kwargs)
    from matplotlib.figure import Figure

    return Figure(**kwargs)


def make_data(n_samples=2000, n_features=20, noise=1.0, random_state=0):
    """Correlated features and a noisy linear target, standardised and split."""
    rng = np.random.RandomState(random_state)
    shared = rng.randn(n_samples, 1)
    X = np.sqrt(0.9) * shared + np.sqrt(0.1) * rng.randn(n_samples, n_features)
    y = X @ rng.randn(n_features) + noise * rng.randn(n_samples)
    X_train, X_test, y_train, y_test = train_test_split(X, y, random_state=random_state)
    scaler = StandardScaler().fit(X_train)
    mean, std = y_train.mean(), y_train.std()
    return (scaler.transform(X_train), scaler.transform(X_test),
            (y_train - mean) / std, (y_test - mean) / std)


def step_rates(schedule, params, n_batches, max_iter):
    """Fractional epoch and learning rate of every step of a fit.

    The estimator numbers its steps ``t = 1, 2, ...`` and places step ``i``
    of epoch ``k`` at ``e = k + i / n_batches``.
    """
    t = np.arange(1, n_batches * max_iter + 1)
    e = (t - 1) / n_batches
    kwargs = {k: v for k, v in params.items()
              if k in ("power_t", "decay_rate", "step_size", "min_learning_rate",
                       "restart_period", "restart_mult")}
    return e, learning_rates(schedule, LEARNING_RATE, t, e, max_iter=max_iter, **kwargs)


def replay_plateau(loss_curve, params, learning_rate=LEARNING_RATE):
    """The plateau schedule's rate in each epoch, replayed from the losses.

    The rule of :class:`sktune.LinearRegressor` without early stopping: an
    epoch improves when its loss beats the best so far by ``tol``; after
    ``n_iter_no_change`` epochs without improvement the rate is multiplied
    by ``decay_rate`` (see :func:`sktune.optim.plateau_decay`).
    """
    tol = params.get("tol", 1e-4) or 0.0  # tol=None still watches for stalls
    patience = params.get("n_iter_no_change", 10)
    decay = params.get("decay_rate", 0.9)
    floor = params.get("min_learning_rate", 0.0)
    rates, current, best, stalled = [], learning_rate, np.inf, 0
    for loss in loss_curve:
        rates.append(current)
        stalled = 0 if loss < best - tol else stalled + 1
        best = min(best, loss)
        if stalled >= patience:
            new = plateau_decay(current, decay, floor)
            if new is not None:  # else the rate stays (and a fit with tol stops)
                current, stalled = new, 0
    return np.array(rates)


def main(n_samples=2000, max_iter=40, out=None, show=False, random_state=0):
    """Fit one model per schedule, plot rates and losses, print a table.

    Returns
    -------
    dict
        ``"results"``: per schedule, ``epochs`` and ``learning_rates`` (the
        rate of every step), ``loss_curve``, ``final_loss``, ``final_rate``
        and ``test_score`` (held-out R^2); ``"figures"``: the saved paths.
    """
    X_train, X_test, y_train, y_test = make_data(n_samples, random_state=random_state)
    n_batches = -(-len(y_train) // BATCH_SIZE)

    results = {}
    for schedule, params in schedule_params(max_iter).items():
        model = sktune.LinearRegressor(
            optimizer="adam", learning_rate=LEARNING_RATE, lr_schedule=schedule,
            batch_size=BATCH_SIZE, max_iter=max_iter, random_state=random_state,
            **{"tol": None, **params})
        with warnings.catch_warnings():
            # the plateau fit may use all its epochs; that is the point here
            warnings.simplefilter("ignore", ConvergenceWarning)
            model.fit(X_train, y_train)
        if schedule == "plateau":
            per_epoch = replay_plateau(model.loss_curve_, params)
            epochs = np.arange(len(per_epoch) * n_batches) / n_batches
            rates = np.repeat(per_epoch, n_batches)
        else:
            epochs, rates = step_rates(schedule, params, n_batches, model.n_iter_)
        results[schedule] = {
            "epochs": epochs,
            "learning_rates": rates,
            "loss_curve": list(model.loss_curve_),
            "final_loss": model.loss_curve_[-1],
            "final_rate": float(rates[-1]),
            "test_score": model.score(X_test, y_test),
        }
    assert set(results) == set(SCHEDULES)

    print(f"Adam, learning_rate={LEARNING_RATE}, batch_size={BATCH_SIZE}, "
          f"{max_iter} epochs, {len(y_train)} training samples")
    print(f"{'schedule':<13}{'final rate':>12}{'final loss':>12}{'test R^2':>10}")
    for schedule, r in results.items():
        print(f"{schedule:<13}{r['final_rate']:>12.2e}{r['final_loss']:>12.5f}"
              f"{r['test_score']:>10.4f}")

    fig = new_figure(show, figsize=(12, 4.5), layout="constrained")
    ax_rate, ax_loss = fig.subplots(1, 2)
    for schedule, r in results.items():
        line, = ax_rate.plot(r["epochs"], r["learning_rates"], label=schedule)
        curve = r["loss_curve"]
        ax_loss.plot(np.arange(1, len(curve) + 1), curve, color=line.get_color(),
                     label=schedule)
    ax_rate.set(xlabel="epoch", ylabel="learning rate",
                title="Learning rate of every step")
    ax_loss.set(xlabel="epoch", ylabel="training loss", yscale="log",
                title="Training loss")
    ax_rate.legend(fontsize="small")
    fig.suptitle("Learning-rate schedules: LinearRegressor, Adam on noisy data")

    path = os.path.join(output_dir(out), "learning_rate_schedules.png")
    fig.savefig(path, dpi=100)
    print(f"figure saved to {path}")
    if show:
        import matplotlib.pyplot as plt

        plt.show()
    return {"results": results, "figures": [path]}


def _parse_args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-samples", type=int, default=2000)
    parser.add_argument("--max-iter", type=int, default=40)
    parser.add_argument("--out", default=None, help="directory for the figure")
    parser.add_argument("--show", action="store_true", help="open a plot window")
    return vars(parser.parse_args())


if __name__ == "__main__":
    main(**_parse_args())
