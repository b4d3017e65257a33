"""Default hyperparameter search spaces for the sktune estimators.

One table per model family (linear, MLP) says which values of each
hyperparameter are worth trying; :func:`search_space` renders it for the
search class at hand: lists for ``GridSearchCV``, scipy.stats distributions
for ``RandomizedSearchCV``, scikit-optimize dimensions for ``BayesSearchCV``.
"""
from scipy import stats
from sklearn.pipeline import Pipeline

from ..linear_model import LinearClassifier, LinearRegressor
from ..neural_network import MLPClassifier, MLPRegressor
from ..optim import OPTIMIZERS, SCHEDULES

KINDS = ("grid", "random", "bayes")

_LINEAR = (LinearRegressor, LinearClassifier)
_MLP = (MLPRegressor, MLPClassifier)
_SUPPORTED = ", ".join(cls.__name__ for cls in _LINEAR + _MLP)

# Ranges where scale matters (searched log-uniformly). Linear models on
# standardized features tolerate rates up to 1; hidden layers make larger
# steps diverge, hence the lower ceiling for the MLPs.
_LINEAR_LR = (1e-4, 1.0)
_MLP_LR = (1e-4, 1e-1)
_ALPHA = (1e-6, 1e-1)
_DROPOUT = (0.0, 0.5)
_BATCH_SIZES = [16, 32, 64, 128, 256]
_WIDTHS = (16, 256)  # one hidden layer, log2-uniform width (bayes)
_HIDDEN = [(32,), (64,), (128,), (64, 64), (128, 64)]
_ACTIVATIONS = ["relu", "tanh", "logistic", "leaky_relu"]
_PENALTIES = ["l2", "l1", "elasticnet"]
# fraction of weights pruned while training: dense, or sparse enough to matter
_SPARSITY_GRID = [0.0, 0.8]
_SPARSITIES = [0.0, 0.5, 0.8, 0.9]
_SPARSITY_RANGE = (0.0, 0.9)


def _grid(mlp):
    if mlp:
        return {
            "hidden_layer_sizes": [(32,), (64, 64)],
            "activation": ["relu", "tanh"],
            "learning_rate": [1e-3, 1e-2],
            "penalty": ["l2"],
            "alpha": [1e-5, 1e-3],
            "dropout": [0.0, 0.2],
            "sparsity": list(_SPARSITY_GRID),
        }
    return {
        "optimizer": ["sgd", "adam"],
        "learning_rate": [1e-3, 1e-2, 1e-1],
        "penalty": ["l2"],
        "alpha": [1e-5, 1e-3, 1e-1],
        "sparsity": list(_SPARSITY_GRID),
    }


def _random(mlp):
    lr = _MLP_LR if mlp else _LINEAR_LR
    space = {
        "optimizer": list(OPTIMIZERS),
        "learning_rate": stats.loguniform(*lr),
        "lr_schedule": list(SCHEDULES),
        "batch_size": list(_BATCH_SIZES),
        "penalty": list(_PENALTIES),
        "alpha": stats.loguniform(*_ALPHA),
        "l1_ratio": stats.uniform(0.0, 1.0),
        "sparsity": list(_SPARSITIES),
    }
    if mlp:
        low, high = _DROPOUT
        space.update(
            hidden_layer_sizes=list(_HIDDEN),
            activation=list(_ACTIVATIONS),
            dropout=stats.uniform(low, high - low),
        )
    return space


def _bayes(mlp):
    from skopt.space import Categorical, Integer, Real

    lr = _MLP_LR if mlp else _LINEAR_LR
    space = {
        "optimizer": Categorical(list(OPTIMIZERS)),
        "learning_rate": Real(*lr, prior="log-uniform"),
        "lr_schedule": Categorical(list(SCHEDULES)),
        "batch_size": Integer(_BATCH_SIZES[0], _BATCH_SIZES[-1], prior="log-uniform", base=2),
        "penalty": Categorical(list(_PENALTIES)),
        "alpha": Real(*_ALPHA, prior="log-uniform"),
        "l1_ratio": Real(0.0, 1.0),
        "sparsity": Real(*_SPARSITY_RANGE),
    }
    if mlp:
        # scikit-optimize encodes a dimension's values as a numpy array, which
        # does not hold tuples as single values. The estimator accepts an int
        # for one hidden layer, and an ordered width suits the Gaussian process.
        space.update(
            hidden_layer_sizes=Integer(*_WIDTHS, prior="log-uniform", base=2),
            activation=Categorical(list(_ACTIVATIONS)),
            dropout=Real(*_DROPOUT),
        )
    return space


_BUILDERS = {"grid": _grid, "random": _random, "bayes": _bayes}


def _final_estimator(estimator):
    """The sktune estimator (or class) to tune and its pipeline prefix."""
    prefix = ""
    while isinstance(estimator, Pipeline):
        name, estimator = estimator.steps[-1]
        prefix += name + "__"
    return estimator, prefix


def search_space(estimator, kind="grid", prefix=None):
    """Default hyperparameter space of an sktune estimator for a search.

    The space covers the optimizer, the learning rate and its schedule, the
    mini-batch size, the penalty (``alpha``, ``l1_ratio``) and the pruning
    ``sparsity`` (0 or 0.8 in the grid, one of 0, 0.5, 0.8 and 0.9 for a
    random search, in [0, 0.9] for a Bayesian one); for the MLPs also
    ``hidden_layer_sizes``, ``activation`` and ``dropout``. Scale
    parameters (``learning_rate``, ``alpha``) are searched log-uniformly:
    ``learning_rate`` in [1e-4, 1] for the linear models and [1e-4, 1e-1] for
    the MLPs, ``alpha`` in [1e-6, 1e-1]. ``max_iter`` is left out so that it
    can serve as the resource of a successive-halving search.

    Parameters
    ----------
    estimator : estimator instance or class, or Pipeline
        A :class:`~sktune.LinearRegressor`, :class:`~sktune.LinearClassifier`,
        :class:`~sktune.MLPRegressor` or :class:`~sktune.MLPClassifier`
        (instance, class or subclass), or a :class:`~sklearn.pipeline.Pipeline`
        whose last step is one. Only its type matters; its parameter values
        are not read.
    kind : {"grid", "random", "bayes"}, default="grid"
        The search class the space is for:

        - ``"grid"``: a small grid of lists for
          :class:`~sklearn.model_selection.GridSearchCV` and
          :class:`~sklearn.model_selection.HalvingGridSearchCV` (36
          candidates for the linear models, 64 for the MLPs; ``optimizer``
          and ``lr_schedule`` keep their defaults for the MLPs).
        - ``"random"``: ``scipy.stats`` distributions (``loguniform`` for
          ``learning_rate`` and ``alpha``, ``uniform`` for ``l1_ratio`` and
          ``dropout``) and lists for the categorical parameters, for
          :class:`~sklearn.model_selection.RandomizedSearchCV` and
          :class:`~sklearn.model_selection.HalvingRandomSearchCV`.
        - ``"bayes"``: ``skopt.space`` dimensions (``Real`` with
          ``prior="log-uniform"``, ``Integer``, ``Categorical``) for
          scikit-optimize's ``BayesSearchCV``. Here ``hidden_layer_sizes`` is
          an ``Integer``: the width of a single hidden layer.
    prefix : str or None, default=None
        Prepended to every key, e.g. ``"mlpregressor__"`` for a pipeline
        step. None means ``"<name>__"`` of the last step when ``estimator``
        is a pipeline (nested pipelines chain their names), and no prefix
        otherwise.

    Returns
    -------
    space : dict
        Parameter name to list, distribution or skopt dimension; a new
        dictionary (and new distribution objects) at every call.

    Raises
    ------
    TypeError
        If ``estimator`` is not (a pipeline ending in) one of the four sktune
        estimators.
    ValueError
        If ``kind`` is not one of "grid", "random" or "bayes".

    See Also
    --------
    sklearn.model_selection.GridSearchCV : Exhaustive search over a grid.
    sklearn.model_selection.RandomizedSearchCV : Search over distributions.

    Examples
    --------
    >>> from sklearn.model_selection import RandomizedSearchCV
    >>> from sklearn.pipeline import make_pipeline
    >>> from sklearn.preprocessing import StandardScaler
    >>> from sktune import LinearRegressor
    >>> from sktune.model_selection import search_space
    >>> sorted(search_space(LinearRegressor, "grid"))
    ['alpha', 'learning_rate', 'optimizer', 'penalty', 'sparsity']
    >>> pipe = make_pipeline(StandardScaler(), LinearRegressor(max_iter=20))
    >>> space = search_space(pipe, "random")
    >>> sorted(space)[:2]
    ['linearregressor__alpha', 'linearregressor__batch_size']
    >>> search = RandomizedSearchCV(pipe, space, n_iter=5, random_state=0)
    """
    if kind not in _BUILDERS:
        raise ValueError(
            f"kind must be one of {', '.join(map(repr, KINDS))}; got {kind!r}."
        )
    final, pipeline_prefix = _final_estimator(estimator)
    cls = final if isinstance(final, type) else type(final)
    if issubclass(cls, _MLP):
        mlp = True
    elif issubclass(cls, _LINEAR):
        mlp = False
    else:
        what = cls.__name__ if isinstance(final, type) else f"an instance of {cls.__name__}"
        raise TypeError(
            f"search_space supports the sktune estimators {_SUPPORTED} (as "
            f"instances, classes, or the last step of a Pipeline); got {what}."
        )
    if prefix is None:
        prefix = pipeline_prefix
    return {prefix + name: values for name, values in _BUILDERS[kind](mlp).items()}
