"""Gradient-descent variants on one problem.

Trains the same :class:`sktune.LinearRegressor` (squared error, no penalty)
on one regression problem with each classic variant of gradient descent:

* batch gradient descent (``optimizer="sgd", batch_size="full"``): one
  exact-gradient step per epoch;
* mini-batch SGD (``batch_size=32``);
* stochastic gradient descent (``batch_size=1``): one step per sample;
* momentum and Nesterov momentum, Adam, RMSprop and Adagrad, on the same
  mini-batches of 32.

The features are strongly correlated (an ill-conditioned least-squares
problem, condition number about 15 after standardisation), which is where
the variants differ most: batch gradient descent takes few, cautious steps
and is still far from the optimum after 50 epochs, plain mini-batch SGD
crawls along the narrow valley, while momentum and the adaptive methods
reach the noise floor within a few epochs. Stochastic updates get there fast
too, but each of their epochs costs many more (tiny) steps. With a constant
learning rate, RMSprop keeps jittering around the noise floor (its steps do
not shrink as the gradients do); ``learning_rate_schedules.py`` shows how
decaying the rate fixes that.

The figure shows the training loss (half the mean squared error of the
standardised target) per epoch and against wall-clock time; the printed
table gives the final training loss and the held-out R^2 of each variant.

Run ``python examples/gradient_descent_variants.py`` (``--show`` opens a
window; by default the figure is written to ``--out``, the
``SKTUNE_EXAMPLES_OUT`` environment variable, or a temporary directory).
"""
import argparse
import os
import tempfile
import time

import numpy as np
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

import sktune

#: name -> estimator parameters; every variant shares the rest of the setup.
VARIANTS = {
    "batch GD (full batch)": dict(optimizer="sgd", batch_size="full", learning_rate=0.05),
    "mini-batch SGD (32)": dict(optimizer="sgd", batch_size=32, learning_rate=0.01),
    "stochastic GD (1)": dict(optimizer="sgd", batch_size=1, learning_rate=0.01),
    "momentum": dict(optimizer="momentum", batch_size=32, learning_rate=0.01),
    "Nesterov": dict(optimizer="nesterov", batch_size=32, learning_rate=0.01),
    "Adam": dict(optimizer="adam", batch_size=32, learning_rate=0.01),
    "RMSprop": dict(optimizer="rmsprop", batch_size=32, learning_rate=0.01),
    "Adagrad": dict(optimizer="adagrad", batch_size=32, learning_rate=0.1),
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


def make_data(n_samples=2000, n_features=20, noise=0.5, random_state=0):
    """Correlated features (one shared factor) and a noisy linear target.

    Returns standardised ``X_train, X_test, y_train, y_test``.
    """
    rng = np.random.RandomState(random_state)
    shared = rng.randn(n_samples, 1)
    X = np.sqrt(0.9) * shared + np.sqrt(0.1) * rng.randn(n_samples, n_features)
    y = X @ rng.randn(n_features) + noise * rng.randn(n_samples)
    X_train, X_test, y_train, y_test = train_test_split(X, y, random_state=random_state)
    scaler = StandardScaler().fit(X_train)
    mean, std = y_train.mean(), y_train.std()
    return (scaler.transform(X_train), scaler.transform(X_test),
            (y_train - mean) / std, (y_test - mean) / std)


def main(n_samples=2000, max_iter=50, out=None, show=False, random_state=0):
    """Fit every variant, plot the loss curves, print a table.

    Returns
    -------
    dict
        ``"results"``: per variant, ``loss_curve`` (list), ``final_loss``,
        ``test_score`` (held-out R^2), ``n_updates`` and ``fit_time`` (s);
        ``"figures"``: the paths of the saved figures.
    """
    X_train, X_test, y_train, y_test = make_data(n_samples, random_state=random_state)

    # compile the kernels once, so that the timings below are training only
    sktune.LinearRegressor(max_iter=1, tol=None).fit(X_train[:10], y_train[:10])

    results = {}
    for name, params in VARIANTS.items():
        model = sktune.LinearRegressor(max_iter=max_iter, tol=None,
                                       random_state=random_state, **params)
        started = time.perf_counter()
        model.fit(X_train, y_train)
        elapsed = time.perf_counter() - started
        results[name] = {
            "loss_curve": list(model.loss_curve_),
            "final_loss": model.loss_curve_[-1],
            "test_score": model.score(X_test, y_test),
            "n_updates": model.t_,
            "fit_time": elapsed,
        }

    print(f"{len(y_train)} training samples, {X_train.shape[1]} correlated features, "
          f"{max_iter} epochs")
    print(f"{'variant':<24}{'updates':>9}{'final loss':>12}{'test R^2':>10}{'time (s)':>10}")
    for name, r in results.items():
        print(f"{name:<24}{r['n_updates']:>9}{r['final_loss']:>12.4f}"
              f"{r['test_score']:>10.4f}{r['fit_time']:>10.3f}")

    fig = new_figure(show, figsize=(12, 4.5), layout="constrained")
    ax_epoch, ax_time = fig.subplots(1, 2)
    for name, r in results.items():
        curve = np.asarray(r["loss_curve"])
        epochs = np.arange(1, len(curve) + 1)
        line, = ax_epoch.plot(epochs, curve, label=name)
        # the fit time spread evenly over the epochs
        ax_time.plot(epochs * r["fit_time"] / len(curve), curve, color=line.get_color(),
                     label=name)
    ax_epoch.set(xlabel="epoch", ylabel="training loss", yscale="log",
                 title="Loss per epoch")
    ax_time.set(xlabel="training time (s)", ylabel="training loss", yscale="log",
                xscale="log", title="Loss against wall-clock time")
    ax_epoch.legend(fontsize="small")
    fig.suptitle("Gradient-descent variants: LinearRegressor, correlated features")

    path = os.path.join(output_dir(out), "gradient_descent_variants.png")
    fig.savefig(path, dpi=100)
    print(f"figure saved to {path}")
    if show:
        import matplotlib.pyplot as plt

        plt.show()
    return {"results": results, "figures": [path]}


def _parse_args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-samples", type=int, default=2000)
    parser.add_argument("--max-iter", type=int, default=50)
    parser.add_argument("--out", default=None, help="directory for the figure")
    parser.add_argument("--show", action="store_true", help="open a plot window")
    return vars(parser.parse_args())


if __name__ == "__main__":
    main(**_parse_args())
