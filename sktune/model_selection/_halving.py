"""Successive halving and Hyperband whose survivors resume, trained in batches.

:class:`HalvingGridSearchCV` and :class:`HalvingRandomSearchCV` are
scikit-learn's halving searches (same constructor, same ``fit``, same
``cv_results_``) on the batched machinery of :mod:`._batched`: each rung's
candidates x folds are trained together, and with ``resource="max_iter"``
(``"<step>__max_iter"`` in a pipeline) a survivor's fit is not started again
at the next rung but continued from the epoch where its previous rung
stopped. A sktune fit continued from epoch ``r`` to ``3 r`` is the fit of
``3 r`` epochs (the epoch orders, dropout masks and schedules are keyed by
the epoch count, and the epoch loop carries early stopping, plateau and
divergence state), so the results are those of scikit-learn's search, which
refits every survivor from scratch with ``max_iter=r_i``. The one schedule
whose path depends on ``max_iter`` itself, ``"linear"``, is trained from the
first epoch at each rung instead.

:class:`HyperbandSearchCV` runs Hyperband's brackets of successive halving
on the same machinery.
"""
from math import ceil, floor, log
from numbers import Integral, Real
from typing import ClassVar

import numpy as np
from sklearn.experimental import enable_halving_search_cv  # noqa: F401
from sklearn.model_selection import HalvingGridSearchCV as _SkHalvingGridSearchCV
from sklearn.model_selection import HalvingRandomSearchCV as _SkHalvingRandomSearchCV
from sklearn.model_selection import ParameterSampler
from sklearn.model_selection._search import BaseSearchCV
from sklearn.model_selection._search_successive_halving import (
    BaseSuccessiveHalving,
    _SubsampleMetaSplitter,
)
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions

from ..base import fill_doc
from ._batched import _BatchedSearchMixin, _param_names, _split_pipeline

__all__ = ["HalvingGridSearchCV", "HalvingRandomSearchCV", "HyperbandSearchCV"]


_HALVING_DESCRIPTION = """
    Each rung's candidates x folds are trained together, as in
    :class:`GridSearchCV`, when the estimator (or the last step of a
    :class:`~sklearn.pipeline.Pipeline`) is a sktune estimator on
    ``device="cpu"``. With ``resource="max_iter"`` (``"<step>__max_iter"``
    for a pipeline), a survivor is not refitted from scratch at the next
    rung, as scikit-learn does: its fit continues from the epoch where the
    previous rung stopped, which is bitwise the fit with the larger
    ``max_iter`` (so the results are scikit-learn's), at a fraction of the
    epochs. Candidates with ``lr_schedule="linear"``, whose rate decays to
    ``max_iter`` itself, are trained from the first epoch at every rung.
    Other resources (``"n_samples"``, ...) train each rung afresh, as
    scikit-learn does.
"""

_HALVING_PARAMS_DOC = """
    factor : int or float, default=3
        Each rung keeps the best ``1 / factor`` of its candidates and gives
        them ``factor`` times the resource.
    resource : "n_samples" or str, default=%(resource)s
        What grows from rung to rung: the number of training samples, or a
        parameter of the estimator such as ``"max_iter"`` (epochs;
        ``"<step>__max_iter"`` in a pipeline), which resumes survivors.
    max_resources : int or "auto", default=%(max_resources)s
        The most resource a candidate gets; ``"auto"`` (``n_samples`` only)
        is the number of samples.
    min_resources : %(min_resources_type)s, default=%(min_resources)s
        Resource of the first rung: an int, ``"smallest"`` (1 for a
        parameter, ``2 * n_splits`` samples, times the classes for a
        classifier)%(exhaust)s.
"""

_HALVING_TAIL_DOC = """
    cv : int, cross-validation generator or iterable, default=5
        The splits, which must be the same on every call (a shuffling
        splitter needs an int ``random_state``).
    scoring : str, callable or None, default=None
        A single scorer name or callable; None uses the estimator's
        ``score``.
    refit : bool or callable, default=True
        Refit the best candidate of the last rung on the whole data, with
        its resource, as ``best_estimator_``.
    error_score : "raise" or float, default=np.nan
        Score given to a candidate whose fit raises on a fold.
    return_train_score : bool, default=True
        Also record the scores on the training folds.
    random_state : int, RandomState instance or None, default=None
        Seeds the subsampling of ``resource="n_samples"`` and the drawing
        of candidates (not the estimators' own ``random_state``).
    n_jobs : int or None, default=None
        Caps the threads of the batched training; without batching, the
        number of joblib jobs, as in scikit-learn.
    verbose : int, default=0
        Amount of progress messages.
"""

_HALVING_ATTRIBUTES_DOC = """
    n_resources_ : list of int
        Resource of each rung.
    n_candidates_ : list of int
        Candidates evaluated at each rung.
    n_iterations_ : int
        Rungs run.
    min_resources_ : int
        Resource of the first rung.
    max_resources_ : int
        The most resource a candidate may get.
    cv_results_ : dict of ndarray
        scikit-learn's results, one row per candidate and rung, with its
        ``iter`` and ``n_resources``.
    best_estimator_ : estimator
        The best candidate of the last rung refitted on the whole data.
    best_score_ : float
        Its mean cross-validated score at the last rung.
    best_params_ : dict
        Its parameters (with the resource).
    best_index_ : int
        Its row in ``cv_results_``.
    batched_info_ : dict or None
        ``kernel_calls``, ``fits_restored``, ``fits_unbatched``,
        ``epochs_trained`` (model-epochs trained) and ``epochs_resumed``
        (epochs that continued fits did not train again); None when the
        search ran scikit-learn's path.
"""


class _HalvingMixin(_BatchedSearchMixin):
    """What a halving search adds to the batched one: its resource."""

    _resumes = True

    _space_attribute = "param_grid"

    def _searched_names(self):
        names = _param_names(getattr(self, self._space_attribute))
        if names is not None and self.resource != "n_samples":
            names = names | {self.resource}
        return names

    def _resume_key(self):
        pipeline, final_name, _ = _split_pipeline(self.estimator)
        key = "max_iter" if pipeline is None else final_name + "__max_iter"
        return key if self.resource == key else None


@fill_doc(description=_HALVING_DESCRIPTION,
          halving_params=_HALVING_PARAMS_DOC.replace("%(resource)s", '"n_samples"')
          .replace("%(max_resources)s", '"auto"')
          .replace("%(min_resources_type)s", 'int, "smallest" or "exhaust"')
          .replace("%(min_resources)s", '"exhaust"')
          .replace("%(exhaust)s", ' or ``"exhaust"`` (the largest that lets the '
                   "last rung use up to ``max_resources``)"),
          tail=_HALVING_TAIL_DOC, attributes=_HALVING_ATTRIBUTES_DOC)
class HalvingGridSearchCV(_HalvingMixin, _SkHalvingGridSearchCV):
    """Successive halving over a grid, survivors resumed and rungs batched.

    A drop-in replacement of scikit-learn's
    :class:`~sklearn.model_selection.HalvingGridSearchCV` (no
    ``enable_halving_search_cv`` import needed): the same constructor,
    ``fit`` and results.
    %(description)s

    Parameters
    ----------
    estimator : estimator object
        The estimator (or pipeline) to tune; cloned for every candidate.
    param_grid : dict or list of dict
        Parameter names to lists of values; every combination is a
        candidate of the first rung.
    %(halving_params)s
    aggressive_elimination : bool, default=False
        Repeat the first rung's resource until few enough candidates remain
        for the last rung to get ``max_resources``.
    %(tail)s

    Attributes
    ----------
    %(attributes)s

    See Also
    --------
    HalvingRandomSearchCV : Candidates drawn from distributions.
    HyperbandSearchCV : Several halving brackets, for continuous spaces.
    GridSearchCV : Every candidate with the full budget.

    Examples
    --------
    >>> import numpy as np
    >>> from sktune import LinearRegressor
    >>> from sktune.model_selection import HalvingGridSearchCV
    >>> rng = np.random.RandomState(0)
    >>> X = rng.randn(60, 3)
    >>> y = X @ [1.0, -2.0, 0.5] + 0.1 * rng.randn(60)
    >>> reg = LinearRegressor(tol=None, random_state=0)
    >>> grid = {"learning_rate": [0.001, 0.01, 0.1]}
    >>> search = HalvingGridSearchCV(reg, grid, resource="max_iter",
    ...                              max_resources=9, cv=3).fit(X, y)
    >>> search.n_resources_, search.n_candidates_
    ([3, 9], [3, 1])
    >>> search.batched_info_["epochs_resumed"]
    9
    """

    _space_attribute = "param_grid"


@fill_doc(description=_HALVING_DESCRIPTION,
          halving_params=_HALVING_PARAMS_DOC.replace("%(resource)s", '"n_samples"')
          .replace("%(max_resources)s", '"auto"')
          .replace("%(min_resources_type)s", 'int, "smallest" or "exhaust"')
          .replace("%(min_resources)s", '"smallest"')
          .replace("%(exhaust)s", ' or ``"exhaust"`` (the largest that lets the '
                   "last rung use up to ``max_resources``)"),
          tail=_HALVING_TAIL_DOC, attributes=_HALVING_ATTRIBUTES_DOC)
class HalvingRandomSearchCV(_HalvingMixin, _SkHalvingRandomSearchCV):
    """Successive halving over random candidates, survivors resumed and rungs batched.

    A drop-in replacement of scikit-learn's
    :class:`~sklearn.model_selection.HalvingRandomSearchCV`; the candidates
    are drawn by scikit-learn's own code.
    %(description)s

    Parameters
    ----------
    estimator : estimator object
        The estimator (or pipeline) to tune; cloned for every candidate.
    param_distributions : dict or list of dict
        Parameter names to lists (sampled uniformly) or distributions with
        an ``rvs`` method (``scipy.stats``, :func:`search_space`).
    n_candidates : int or "exhaust", default="exhaust"
        Candidates of the first rung; ``"exhaust"`` takes as many as let the
        last rung use ``max_resources``.
    %(halving_params)s
    aggressive_elimination : bool, default=False
        Repeat the first rung's resource until few enough candidates remain
        for the last rung to get ``max_resources``.
    %(tail)s

    Attributes
    ----------
    %(attributes)s

    See Also
    --------
    HalvingGridSearchCV : Every combination of a grid.
    HyperbandSearchCV : Several halving brackets with different trade-offs.

    Examples
    --------
    >>> import numpy as np
    >>> from scipy.stats import loguniform
    >>> from sktune import LinearRegressor
    >>> from sktune.model_selection import HalvingRandomSearchCV
    >>> rng = np.random.RandomState(0)
    >>> X = rng.randn(60, 3)
    >>> y = X @ [1.0, -2.0, 0.5] + 0.1 * rng.randn(60)
    >>> reg = LinearRegressor(tol=None, random_state=0)
    >>> space = {"learning_rate": loguniform(1e-3, 1e-1)}
    >>> search = HalvingRandomSearchCV(reg, space, n_candidates=4,
    ...                                resource="max_iter", max_resources=8,
    ...                                factor=2, cv=3, random_state=0).fit(X, y)
    >>> search.n_resources_
    [1, 2, 4]
    """

    _space_attribute = "param_distributions"


def _rung_top_k(results, k, bracket, itr):
    """The ``k`` best candidates of rung ``itr`` of ``bracket`` (NaN last),
    in scikit-learn's order (worst first)."""
    rows = np.flatnonzero((np.asarray(results["bracket"]) == bracket)
                          & (np.asarray(results["iter"]) == itr))
    scores = np.asarray(results["mean_test_score"])[rows]
    order = np.roll(np.argsort(scores), np.count_nonzero(np.isnan(scores)))
    params = np.asarray(results["params"])
    return list(params[rows][order[-k:]])


class _HyperbandBase(BaseSuccessiveHalving):
    """Hyperband's brackets on scikit-learn's halving machinery."""

    _parameter_constraints: ClassVar[dict] = {
        **{k: v for k, v in BaseSuccessiveHalving._parameter_constraints.items()
           if k != "aggressive_elimination"},
        "param_distributions": [dict, list],
        "factor": [Interval(Real, 1, None, closed="neither")],
        "min_resources": [Interval(Integral, 0, None, closed="neither"),
                          StrOptions({"smallest"})],
    }

    def __init__(self, estimator, param_distributions, *, factor=3, resource="max_iter",
                 max_resources=81, min_resources="smallest", cv=5, scoring=None,
                 refit=True, error_score=np.nan, return_train_score=True,
                 random_state=None, n_jobs=None, verbose=0):
        BaseSearchCV.__init__(self, estimator, scoring=scoring, n_jobs=n_jobs,
                              refit=refit, cv=cv, verbose=verbose,
                              error_score=error_score,
                              return_train_score=return_train_score)
        self.param_distributions = param_distributions
        self.factor = factor
        self.resource = resource
        self.max_resources = max_resources
        self.min_resources = min_resources
        self.random_state = random_state

    def _generate_candidate_params(self):
        raise NotImplementedError  # drawn per bracket in _run_search

    @staticmethod
    def _select_best_index(refit, refit_metric, results):
        """The best candidate among those trained with the full resource
        (the last rung of every bracket)."""
        resources = np.asarray(results["n_resources"])
        rows = np.flatnonzero(resources == resources.max())
        scores = np.asarray(results["mean_test_score"])[rows]
        if np.isnan(scores).all():
            return rows[0]
        return rows[np.nanargmax(scores)]

    def _run_search(self, evaluate_candidates, *, callback_ctx=None):
        # scikit-learn's experimental callbacks are not followed into the
        # brackets (each evaluation runs without a callback context)
        eta = self.factor
        R, r0 = self.max_resources_, self.min_resources_
        s_max = floor(log(R // r0, eta))
        rng = check_random_state(self.random_state)
        self.n_resources_, self.n_candidates_ = [], []
        self.n_brackets_ = s_max + 1
        for bracket, s in enumerate(range(s_max, -1, -1)):
            n = ceil((s_max + 1) / (s + 1) * eta**s)
            candidates = list(ParameterSampler(self.param_distributions, n,
                                               random_state=rng))
            if self.resource != "n_samples" and any(self.resource in c for c in candidates):
                raise ValueError(
                    f"Cannot use parameter {self.resource} as the resource since "
                    "it is part of the searched parameters.")
            for itr in range(s + 1):
                n_resources = min(int(r0 * eta**(s_max - s + itr)), R)
                self.n_resources_.append(n_resources)
                self.n_candidates_.append(len(candidates))
                if self.verbose:
                    print(f"bracket {bracket}, rung {itr}: {len(candidates)} "
                          f"candidates, n_resources {n_resources}")
                if self.resource == "n_samples":
                    cv = _SubsampleMetaSplitter(
                        base_cv=self._checked_cv_orig,
                        fraction=n_resources / self._n_samples_orig,
                        subsample_test=True, random_state=self.random_state)
                else:
                    candidates = [{**c, self.resource: n_resources} for c in candidates]
                    cv = self._checked_cv_orig
                n_c = len(candidates)
                more = {"iter": [itr] * n_c, "n_resources": [n_resources] * n_c,
                        "bracket": [bracket] * n_c}
                results = evaluate_candidates(candidates, cv, more_results=more)
                candidates = _rung_top_k(results, ceil(n_c / eta), bracket, itr)
        self.n_iterations_ = len(self.n_resources_)
        self.n_remaining_candidates_ = len(candidates)


@fill_doc(description=_HALVING_DESCRIPTION,
          halving_params=_HALVING_PARAMS_DOC.replace("%(resource)s", '"max_iter"')
          .replace("%(max_resources)s", "81")
          .replace("%(min_resources_type)s", 'int or "smallest"')
          .replace("%(min_resources)s", '"smallest"')
          .replace("%(exhaust)s", ""),
          tail=_HALVING_TAIL_DOC, attributes=_HALVING_ATTRIBUTES_DOC)
class HyperbandSearchCV(_HalvingMixin, _HyperbandBase):
    """Hyperband: brackets of successive halving over random candidates.

    Successive halving bets on the first rung: with a small
    ``min_resources``, a candidate that learns slowly but well is dropped
    early. Hyperband (Li et al., 2018) hedges that bet with brackets: with
    ``s_max = floor(log(max_resources / min_resources, factor))``, bracket
    ``s = s_max, ..., 0`` draws ``ceil((s_max + 1) / (s + 1) * factor**s)``
    candidates and halves them from ``max_resources * factor**-s`` up to
    ``max_resources``; the last bracket is a plain random search with the
    full budget. The brackets run one after the other and each rung is
    batched (the synchronous form: its results depend on ``random_state``
    only, never on timing, unlike asynchronous halving).
    %(description)s

    Parameters
    ----------
    estimator : estimator object
        The estimator (or pipeline) to tune; cloned for every candidate.
    param_distributions : dict or list of dict
        Parameter names to lists (sampled uniformly) or distributions with
        an ``rvs`` method (``scipy.stats``, :func:`search_space`).
    %(halving_params)s
    %(tail)s

    Attributes
    ----------
    %(attributes)s
    n_brackets_ : int
        Brackets run (``s_max + 1``); ``cv_results_["bracket"]`` numbers
        them in the order they ran.

    See Also
    --------
    HalvingRandomSearchCV : One bracket.
    RandomizedSearchCV : Every candidate with the full budget.

    Examples
    --------
    >>> import numpy as np
    >>> from scipy.stats import loguniform
    >>> from sktune import LinearRegressor
    >>> from sktune.model_selection import HyperbandSearchCV
    >>> rng = np.random.RandomState(0)
    >>> X = rng.randn(60, 3)
    >>> y = X @ [1.0, -2.0, 0.5] + 0.1 * rng.randn(60)
    >>> reg = LinearRegressor(tol=None, random_state=0)
    >>> space = {"learning_rate": loguniform(1e-3, 1e-1)}
    >>> search = HyperbandSearchCV(reg, space, max_resources=9, cv=3,
    ...                            random_state=0).fit(X, y)
    >>> search.n_brackets_, search.n_resources_
    (3, [1, 3, 9, 3, 9, 9])
    """

    _space_attribute = "param_distributions"
