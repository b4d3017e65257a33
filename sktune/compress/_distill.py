"""Knowledge distillation: a student fitted on a teacher's soft outputs."""
from numbers import Real

import numpy as np
from sklearn.base import clone, is_classifier, is_regressor
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import LabelBinarizer
from sklearn.utils.multiclass import type_of_target
from sklearn.utils.validation import check_is_fitted

from ..base import BaseGradientEstimator

# log of the smallest probability read from a teacher (log 0 is -inf)
_TINY = 1e-12


def _softmax(Z):
    Z = Z - Z.max(axis=1, keepdims=True)
    E = np.exp(Z)
    return E / E.sum(axis=1, keepdims=True)


def _sigmoid(Z):
    return 0.5 * (1.0 + np.tanh(0.5 * Z))


def soft_targets(teacher, X, temperature):
    """The teacher's soft outputs on ``X`` and its hard labels.

    Returns ``(soft, labels, multilabel)``: ``soft`` has one column per
    class, ``softmax(logits / temperature)`` row by row, or, for a
    multilabel teacher, one column per label, ``sigmoid(logit /
    temperature)``. The logits are ``log(predict_proba)`` where the teacher
    has ``predict_proba`` (the log-probabilities differ from any logits of
    the same probabilities by a per-row constant, which the softmax
    ignores), else its ``decision_function`` (a binary teacher's single
    score ``d`` standing for the logits ``(0, d)``).
    """
    labels = teacher.predict(X)
    multilabel = type_of_target(labels) == "multilabel-indicator"
    if hasattr(teacher, "predict_proba"):
        P = np.clip(np.asarray(teacher.predict_proba(X), dtype=np.float64), _TINY, 1.0)
        if multilabel:
            logits = np.log(P) - np.log(np.clip(1.0 - P, _TINY, 1.0))
        else:
            logits = np.log(P)
    else:
        logits = np.asarray(teacher.decision_function(X), dtype=np.float64)
        if logits.ndim == 1 and not multilabel:
            logits = np.column_stack([np.zeros_like(logits), logits])
    logits = logits / temperature
    soft = _sigmoid(logits) if multilabel else _softmax(logits)
    return soft, labels, multilabel


def _check_number(value, name, low, high, closed_low):
    ok = isinstance(value, Real) and not isinstance(value, bool) and np.isfinite(value)
    if ok:
        ok = (value > low or (closed_low and value == low)) and (high is None or value <= high)
    if not ok:
        bracket = "[" if closed_low else "("
        upper = "inf)" if high is None else f"{high}]"
        raise ValueError(f"The '{name}' parameter of distill must be a float in the "
                         f"range {bracket}{low}, {upper}. Got {value!r} instead.")


def distill(teacher, student, X, y=None, *, temperature=2.0, alpha=0.5,
            sample_weight=None):
    """Fit a student model on a teacher's soft outputs (knowledge distillation).

    A clone of ``student`` is trained to reproduce the teacher's outputs on
    ``X``, mixed with the true targets when ``y`` is given:

    - classification: the student's log loss is taken against the soft
      targets ``T = alpha * S + (1 - alpha) * onehot(y)`` (``T = S`` without
      ``y``), where ``S = softmax(teacher_logits / temperature)`` (per label
      ``sigmoid(logit / temperature)`` for multilabel targets); as the
      cross-entropy is linear in its target, this is ``alpha *`` the
      cross-entropy to ``S`` plus ``(1 - alpha) *`` the usual log loss on
      ``y``. The student is trained, and predicts, at temperature 1: a
      temperature above 1 softens the targets, so that the teacher's
      relative confidence in the wrong classes (the "dark knowledge") is
      learnt too. The teacher's logits are the logarithms of its
      ``predict_proba`` (or its ``decision_function`` where it has none);
    - regression: the student's loss is taken against ``alpha *
      teacher.predict(X) + (1 - alpha) * y`` (the teacher's predictions
      without ``y``); ``temperature`` does not apply.

    Unlabelled data can be added to ``X`` with ``y=None``: the teacher
    labels it.

    Parameters
    ----------
    teacher : fitted estimator
        Any fitted scikit-learn classifier or regressor (a pipeline
        included): a classifier needs ``predict_proba`` or
        ``decision_function``.
    student : sktune estimator or Pipeline
        A :class:`~sktune.MLPClassifier` or :class:`~sktune.LinearClassifier`
        with ``loss="log_loss"`` for a classifier teacher, a
        :class:`~sktune.MLPRegressor` or :class:`~sktune.LinearRegressor`
        for a regressor teacher, or a :class:`~sklearn.pipeline.Pipeline`
        ending in one (its transformers are fitted on ``X``). It is cloned,
        not changed.
    X : array-like of shape (n_samples, n_features)
        The transfer set, as the teacher takes it (and the student, or its
        pipeline's first step).
    y : array-like of shape (n_samples,) or (n_samples, n_outputs), default=None
        True labels or values, mixed into the targets with weight
        ``1 - alpha``. None trains on the teacher's outputs only.
    temperature : float, default=2.0
        Softening of the teacher's probabilities, > 0 (1 takes them as they
        are).
    alpha : float, default=0.5
        Weight of the teacher's outputs against the true targets, in [0, 1]
        (only used with ``y``).
    sample_weight : array-like of shape (n_samples,), default=None
        Weight of each sample's loss.

    Returns
    -------
    student : sktune estimator or Pipeline
        The fitted clone of ``student``. A classifier's ``classes_`` are
        the teacher's.

    Raises
    ------
    ValueError
        If the student and the teacher are not both classifiers or both
        regressors, if a classifier student has ``loss="hinge"``, or if
        ``temperature`` or ``alpha`` is out of range.
    TypeError
        If ``student`` is not a sktune estimator.

    See Also
    --------
    prune : Remove weights or units from a fitted network.
    quantize : Store the weights of a fitted model in 8 or 16 bits.

    Examples
    --------
    >>> import numpy as np
    >>> from sktune import MLPClassifier
    >>> from sktune.compress import distill
    >>> rng = np.random.RandomState(0)
    >>> X = rng.randn(200, 4)
    >>> y = (X[:, 0] * X[:, 1] > 0).astype(int)
    >>> teacher = MLPClassifier((32,), learning_rate=0.01, max_iter=60,
    ...                         random_state=0).fit(X, y)
    >>> student = distill(teacher, MLPClassifier((8,), learning_rate=0.03,
    ...                   max_iter=100, random_state=0), X, y, temperature=2.0)
    >>> student.coefs_[0].shape
    (4, 8)
    >>> bool(student.score(X, y) > 0.9)
    True
    """
    _check_number(temperature, "temperature", 0, None, closed_low=False)
    _check_number(alpha, "alpha", 0, 1, closed_low=True)
    steps, last = [], student
    X_student = X
    if isinstance(student, Pipeline):
        steps = [(name, clone(step)) for name, step in student.steps[:-1]]
        last = student.steps[-1][1]
    if not isinstance(last, BaseGradientEstimator):
        raise TypeError("distill trains a sktune estimator (LinearRegressor, "
                        "LinearClassifier, MLPRegressor, MLPClassifier), or a "
                        "Pipeline ending in one, as the student; got "
                        f"{type(last).__name__}.")
    check_is_fitted(teacher)
    teacher_kind = ("classifier" if is_classifier(teacher)
                    else "regressor" if is_regressor(teacher) else None)
    student_kind = "classifier" if is_classifier(last) else "regressor"
    if teacher_kind != student_kind:
        raise ValueError(
            f"The student ({type(last).__name__}) is a {student_kind} but the "
            f"teacher ({type(teacher).__name__}) is "
            f"{'a ' + teacher_kind if teacher_kind else 'neither a classifier nor a regressor'}"
            "; distillation needs two models of the same task type.")
    model = clone(last)
    if student_kind == "classifier" and model.loss != "log_loss":
        raise ValueError(
            f"distill trains a classifier student on soft targets with the log loss; "
            f"got loss={model.loss!r}. Use loss='log_loss'.")
    for _, step in steps:  # the student's own transformers, fitted on X
        if step is not None and step != "passthrough":
            X_student = step.fit_transform(X_student, y)
    _fit_student(teacher, model, X, X_student, y, temperature, alpha, sample_weight)
    if not steps:
        return model
    return Pipeline(steps + [(student.steps[-1][0], model)], memory=student.memory,
                    verbose=student.verbose)


def _fit_student(teacher, model, X_teacher, X, y, temperature, alpha, sample_weight):
    """Fit ``model`` on ``X`` against the teacher's outputs on ``X_teacher``."""
    if not is_classifier(model):
        return model.fit(X, teacher_targets(teacher, model, X_teacher, y, temperature,
                                            alpha)[0], sample_weight=sample_weight)
    model._validate_params()
    y_fit, classes, targets = teacher_targets(teacher, model, X_teacher, y, temperature,
                                              alpha)
    return model._fit(X, y_fit, sample_weight, incremental=False, classes=classes,
                      targets=targets)


def teacher_targets(teacher, model, X_teacher, y, temperature, alpha):
    """What ``model`` trains on to learn the teacher's outputs on
    ``X_teacher``, mixed with ``y`` (see :func:`distill`):
    ``(y_fit, classes, targets)`` for ``model._fit``. A regressor's
    ``y_fit`` is the mixed target itself, with no ``classes`` or
    ``targets``."""
    if not is_classifier(model):
        target = np.asarray(teacher.predict(X_teacher), dtype=np.float64)
        if y is not None:
            y = np.asarray(y, dtype=np.float64)
            if y.shape != target.shape:
                raise ValueError(f"y has shape {y.shape}; the teacher predicts "
                                 f"shape {target.shape}.")
            target = alpha * target + (1.0 - alpha) * y
        return target, None, None
    soft, labels, multilabel = soft_targets(teacher, X_teacher, temperature)
    classes = np.asarray(teacher.classes_)
    hard = labels if y is None else np.asarray(y)
    if multilabel:
        if y is not None:
            soft = alpha * soft + (1.0 - alpha) * hard
        return hard, None, soft
    if y is not None:
        unseen = np.setdiff1d(np.unique(hard), classes)
        if unseen.size:
            raise ValueError(f"y contains labels {unseen.tolist()} that the teacher "
                             f"does not know: {classes.tolist()}.")
        onehot = LabelBinarizer().fit(classes).transform(hard)
        if len(classes) == 2:
            onehot = np.column_stack([1 - onehot[:, 0], onehot[:, 0]])
        soft = alpha * soft + (1.0 - alpha) * onehot
    if len(classes) == 2:
        soft = soft[:, 1:]  # the kernel's binary target: P(classes_[1])
    return hard, classes, soft
