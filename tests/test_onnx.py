"""ONNX export: onnxruntime reproduces predict / predict_proba of every model."""
import warnings

import numpy as np
import pytest
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

pytest.importorskip("skl2onnx")
ort = pytest.importorskip("onnxruntime")
import skl2onnx

import sktune.onnx  # noqa: F401  (registers the converters)
from sktune import LinearClassifier, LinearRegressor, MLPClassifier, MLPRegressor
from sktune.compress import quantize

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

TOL = {np.float32: 1e-5, np.float64: 1e-9}

rng = np.random.RandomState(0)
X = rng.randn(50, 4)
TARGETS = {
    "binary": np.where(X[:, 0] > 0, "yes", "no"),
    "multiclass": np.digitize(X[:, 0] + X[:, 1], [-0.5, 0.5]),
    "multilabel": np.column_stack([X[:, 0] > 0, X[:, 1] > 0]).astype(int),
    "multioutput": np.column_stack([X[:, 0], X[:, 1] - X[:, 2]]),
    "continuous": X[:, 0] + 0.5 * X[:, 3],
    "counts": np.abs(np.column_stack([X[:, 0], X[:, 1] - X[:, 2]])),
}

CASES = [
    (LinearClassifier(max_iter=3), "binary"),
    (LinearClassifier(max_iter=3, loss="hinge"), "multiclass"),
    (MLPClassifier((6,), max_iter=3, activation="tanh"), "multiclass"),
    (MLPClassifier((6, 3), max_iter=3, activation="leaky_relu"), "binary"),
    (MLPClassifier((6,), max_iter=3, activation="logistic"), "multilabel"),
    (LinearRegressor(max_iter=3), "multioutput"),
    (MLPRegressor((6,), max_iter=3), "continuous"),
    (MLPRegressor((6,), max_iter=3, loss="poisson"), "counts"),
]


def _run(model, dtype, options=None):
    onx = skl2onnx.to_onnx(model, X[:1].astype(dtype), options=options)
    sess = ort.InferenceSession(onx.SerializeToString(), providers=["CPUExecutionProvider"])
    return sess.run(None, {sess.get_inputs()[0].name: X.astype(dtype)})


def _check(model, dtype, zipmap=False):
    Xd = X.astype(dtype)
    last = model[-1] if hasattr(model, "steps") else model
    options = None if zipmap else {id(last): {"zipmap": False}}
    if not hasattr(last, "classes_"):
        (out,) = _run(model, dtype)
        ref = model.predict(Xd).reshape(out.shape)
        np.testing.assert_allclose(out, ref, rtol=TOL[dtype], atol=TOL[dtype])
        return
    label, scores = _run(model, dtype, options)
    np.testing.assert_array_equal(label, model.predict(Xd))
    if zipmap:  # a list of {class: probability} per row
        scores = np.array([[row[c] for c in last.classes_] for row in scores])
    if hasattr(model, "predict_proba"):
        ref = model.predict_proba(Xd)
    else:
        ref = model.decision_function(Xd)
        ref = np.column_stack([-ref, ref]) if ref.ndim == 1 else ref
    np.testing.assert_allclose(scores, ref, atol=TOL[dtype], rtol=0)


@pytest.mark.parametrize("est, target", CASES, ids=lambda c: getattr(c, "__name__", str(c)))
def test_onnx_matches_predict(est, target):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pipe = make_pipeline(StandardScaler(), est.set_params(random_state=0))
        pipe.fit(X, TARGETS[target])
    for dtype in (np.float32, np.float64):
        _check(pipe, dtype)
    for dtype_q in ("int8", "float16"):
        _check(quantize(pipe, dtype_q), np.float32)
    _check(quantize(pipe), np.float64)


def test_zipmap_default_sparse_coef_and_options():
    clf = LinearClassifier(penalty="l1", alpha=0.1, max_iter=5, random_state=0)
    clf.fit(X, TARGETS["multiclass"]).sparsify()
    _check(clf, np.float32, zipmap=True)
    _, raw = _run(clf, np.float32, {id(clf): {"zipmap": False, "raw_scores": True}})
    np.testing.assert_allclose(raw, clf.decision_function(X), atol=1e-5)
    with pytest.raises(ValueError, match="option 'nocl'"):
        _run(clf, np.float32, {id(clf): {"nocl": True}})
    with pytest.raises(ValueError, match="'zipmap'.*'sideways'"):
        _run(clf, np.float32, {id(clf): {"zipmap": "sideways"}})
    with pytest.raises(ValueError, match="zipmap': False"):
        _run(clf, np.float64)
