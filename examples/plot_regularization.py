"""L1, L2 and dropout against overfitting.

A one-hidden-layer :class:`sktune.MLPRegressor` (128 ReLU units, Adam) sees
a small, noisy regression problem with many features: 200 training samples,
100 features of which only 10 carry signal. Without regularization the
network fits the training set perfectly (training R^2 near 1) while its
validation R^2 stalls around 0.5: it has learned the noise.

The same network is then trained with

* ``penalty="l2"`` (weight decay), which shrinks every weight;
* ``penalty="l1"``, whose proximal step sets weights to exact zeros, so
  that whole input features are switched off;
* ``dropout=0.3`` on the hidden units.

Each model is trained one epoch at a time with ``partial_fit`` so that its
training and validation R^2 can be recorded after every epoch. The first
figure shows these curves (the gap between them is the overfitting); the
second shows, for every input feature, the norm of its first-layer weights,
the informative features marked: L1 keeps them and removes most of the
others. The script prints the final scores and the number of exact-zero
weights each model has.

Run ``python examples/regularization.py`` (``--show`` opens a window; by
default the figures are written to ``--out``, the ``SKTUNE_EXAMPLES_OUT``
environment variable, or a temporary directory).
"""
import argparse
import os
import tempfile

import numpy as np
from sklearn.datasets import make_regression
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

import sktune

#: name -> MLPRegressor parameters on top of the shared ones.
VARIANTS = {
    "no regularization": {},
    "L2 (alpha=0.05)": dict(penalty="l2", alpha=0.05),
    "L1 (alpha=0.01)": dict(penalty="l1", alpha=0.01),
    "dropout (0.3)": dict(dropout=0.3),
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


def make_data(n_samples=400, n_features=100, n_informative=10, noise=30.0,
              random_state=0):
    """Half the samples for training, half for validation, standardised.

    Returns ``X_train, X_val, y_train, y_val, informative`` (a boolean mask
    of the features that carry signal).
    """
    X, y, coef = make_regression(n_samples, n_features, n_informative=n_informative,
                                 noise=noise, coef=True, random_state=random_state)
    X_train, X_val, y_train, y_val = train_test_split(
        X, y, train_size=0.5, random_state=random_state)
    scaler = StandardScaler().fit(X_train)
    mean, std = y_train.mean(), y_train.std()
    return (scaler.transform(X_train), scaler.transform(X_val),
            (y_train - mean) / std, (y_val - mean) / std, coef != 0)


def main(n_samples=400, n_features=100, max_iter=200, hidden_layer_sizes=(128,),
         learning_rate=1e-3, out=None, show=False, random_state=0):
    """Train every variant epoch by epoch, plot the curves, print a summary.

    Returns
    -------
    dict
        ``"results"``: per variant, ``train_scores`` and
        ``validation_scores`` (R^2 after each epoch), ``final_train_score``,
        ``final_validation_score``, ``best_validation_score``,
        ``n_zero_weights``, ``n_weights``, ``n_dropped_features`` (inputs
        whose first-layer weights are all zero) and ``feature_norms``;
        ``"figures"``: the saved paths.
    """
    X_train, X_val, y_train, y_val, informative = make_data(
        n_samples, n_features, n_informative=min(10, n_features),
        random_state=random_state)

    results = {}
    for name, params in VARIANTS.items():
        model = sktune.MLPRegressor(hidden_layer_sizes, learning_rate=learning_rate,
                                    batch_size=32, random_state=random_state, **params)
        train_scores, val_scores = [], []
        for _ in range(max_iter):
            model.partial_fit(X_train, y_train)  # one epoch
            train_scores.append(model.score(X_train, y_train))
            val_scores.append(model.score(X_val, y_val))
        first_layer = model.coefs_[0]  # (n_features, n_hidden)
        norms = np.linalg.norm(first_layer, axis=1)
        results[name] = {
            "train_scores": train_scores,
            "validation_scores": val_scores,
            "final_train_score": train_scores[-1],
            "final_validation_score": val_scores[-1],
            "best_validation_score": max(val_scores),
            "n_zero_weights": int(sum((W == 0).sum() for W in model.coefs_)),
            "n_weights": int(sum(W.size for W in model.coefs_)),
            "n_dropped_features": int((norms == 0).sum()),
            "n_informative_kept": int((norms[informative] > 0).sum()),
            "feature_norms": norms,
        }

    print(f"MLPRegressor{tuple(hidden_layer_sizes)}: {len(y_train)} training samples, "
          f"{n_features} features ({informative.sum()} informative), {max_iter} epochs")
    print(f"{'variant':<20}{'train R^2':>10}{'val R^2':>9}{'best val':>10}"
          f"{'zero weights':>16}{'dropped inputs':>16}")
    for name, r in results.items():
        zeros = f"{r['n_zero_weights']}/{r['n_weights']}"
        print(f"{name:<20}{r['final_train_score']:>10.3f}"
              f"{r['final_validation_score']:>9.3f}{r['best_validation_score']:>10.3f}"
              f"{zeros:>16}{r['n_dropped_features']:>16}")
    l1 = next(r for name, r in results.items() if name.startswith("L1"))
    print(f"L1 set {l1['n_zero_weights']} of {l1['n_weights']} weights to exactly zero, "
          f"removing {l1['n_dropped_features']} of {n_features} inputs entirely and "
          f"keeping {l1['n_informative_kept']} of the {informative.sum()} informative ones.")

    out = output_dir(out)
    fig = new_figure(show, figsize=(14, 4), layout="constrained")
    axes = fig.subplots(1, len(results), sharey=True)
    epochs = np.arange(1, max_iter + 1)
    for ax, (name, r) in zip(axes, results.items()):
        ax.plot(epochs, r["train_scores"], label="training")
        ax.plot(epochs, r["validation_scores"], label="validation")
        ax.set(title=name, xlabel="epoch", ylim=(-0.2, 1.02))
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("R^2")
    axes[0].legend(loc="lower right")
    fig.suptitle("Overfitting a small noisy dataset: training vs validation R^2")
    curves_path = os.path.join(out, "regularization_curves.png")
    fig.savefig(curves_path, dpi=100)

    fig2 = new_figure(show, figsize=(14, 3.5), layout="constrained")
    axes = fig2.subplots(1, len(results), sharey=True)
    features = np.arange(n_features)
    for ax, (name, r) in zip(axes, results.items()):
        norms = r["feature_norms"]
        ax.bar(features[~informative], norms[~informative], color="tab:gray",
               label="noise feature")
        ax.bar(features[informative], norms[informative], color="tab:red",
               label="informative feature")
        ax.set(title=name, xlabel="input feature")
    axes[0].set_ylabel("norm of first-layer weights")
    axes[0].legend()
    fig2.suptitle("Which inputs the network uses")
    weights_path = os.path.join(out, "regularization_weights.png")
    fig2.savefig(weights_path, dpi=100)

    print(f"figures saved to {curves_path} and {weights_path}")
    if show:
        import matplotlib.pyplot as plt

        plt.show()
    return {"results": results, "figures": [curves_path, weights_path]}


def _parse_args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-samples", type=int, default=400)
    parser.add_argument("--n-features", type=int, default=100)
    parser.add_argument("--max-iter", type=int, default=200)
    parser.add_argument("--learning-rate", type=float, default=1e-3)
    parser.add_argument("--out", default=None, help="directory for the figures")
    parser.add_argument("--show", action="store_true", help="open plot windows")
    return vars(parser.parse_args())


if __name__ == "__main__":
    main(**_parse_args())
