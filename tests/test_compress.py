"""sktune.compress: quantization, distillation, model size, sparsify/densify."""
import pickle

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler

from sktune import LinearClassifier, LinearRegressor, MLPClassifier, MLPRegressor
from sktune.compress import (
    QuantizedClassifier,
    QuantizedRegressor,
    distill,
    model_size,
    quantize,
)

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


@pytest.fixture(scope="module")
def data():
    rng = np.random.RandomState(0)
    X = rng.randn(120, 5)
    y3 = np.digitize(X[:, 0] + 0.5 * X[:, 1], [-0.5, 0.5])  # three classes
    return X, y3


@pytest.fixture(scope="module")
def mlp(data):
    X, y = data
    return MLPClassifier((12,), learning_rate=0.01, max_iter=40, random_state=0).fit(X, y)


# ---------------------------------------------------------------- quantize

def test_int8_weights_are_symmetric_per_unit_and_predict_from_them(data, mlp):
    X, _ = data
    q = quantize(mlp, "int8")
    assert isinstance(q, QuantizedClassifier) and q.estimator_ is mlp
    for W, Wq, s in zip(mlp.coefs_, q.coefs_, q.scales_):
        assert Wq.dtype == np.int8 and s.dtype == np.float32
        assert np.abs(Wq).max(axis=0).tolist() == [127] * W.shape[1]
        # each weight within half a quantization step of the stored value
        assert np.all(np.abs(Wq * s.astype(float) - W) <= 0.5 * s + 1e-7)
    # the documented arithmetic: (a @ q) * scale + b per layer
    A = np.maximum(X @ q.coefs_[0].astype(float) * q.scales_[0] + q.intercepts_[0], 0)
    Z = A @ q.coefs_[1].astype(float) * q.scales_[1] + q.intercepts_[1]
    np.testing.assert_allclose(q.decision_function(X), Z, rtol=1e-12)
    assert np.mean(q.predict(X) == mlp.predict(X)) > 0.95
    np.testing.assert_allclose(q.predict_proba(X), mlp.predict_proba(X), atol=0.05)
    n_weights = sum(W.size for W in mlp.coefs_)
    n_units = sum(b.size for b in mlp.intercepts_)
    assert q.n_bytes_ == model_size(q) == n_weights + 8 * n_units
    assert model_size(q) < model_size(mlp) / 4  # vs float64 weights


def test_float16_probabilities_and_pickle(data, mlp):
    X, _ = data
    q = quantize(mlp, dtype="float16")
    assert q.coefs_[0].dtype == np.float16 and q.scales_ is None
    np.testing.assert_allclose(q.predict_proba(X), mlp.predict_proba(X), atol=2e-3)
    q2 = pickle.loads(pickle.dumps(q))
    np.testing.assert_array_equal(q2.predict_proba(X), q.predict_proba(X))
    assert q.score(X, mlp.predict(X)) > 0.98


def test_quantize_pipeline_linear_and_sparse(data):
    X, _ = data
    y = X @ [1.0, -2.0, 0.5, 0.0, 0.0]
    pipe = make_pipeline(StandardScaler(), LinearRegressor(max_iter=30, random_state=0))
    pipe.fit(X, y)
    qp = quantize(pipe)
    assert isinstance(qp, Pipeline) and isinstance(qp[-1], QuantizedRegressor)
    assert qp[0] is not pipe[0]  # the scaler is copied, the input untouched
    np.testing.assert_allclose(qp.predict(X), pipe.predict(X), atol=0.02 * np.abs(y).max())
    reg = pipe[-1]
    dense_pred = quantize(reg).predict(X)
    reg.sparsify()
    np.testing.assert_allclose(quantize(reg).predict(X), dense_pred)
    reg.densify()


def test_quantized_model_fits_a_clone(data):
    X, y = data
    q = QuantizedRegressor(MLPRegressor((4,), max_iter=5, random_state=0), "float16")
    q.fit(X, X[:, 0])
    assert not hasattr(q.estimator, "coefs_") and q.predict(X).shape == (120,)
    assert clone(q).get_params()["dtype"] == "float16"


def test_quantize_errors(data, mlp):
    with pytest.raises(NotFittedError):
        quantize(MLPClassifier())
    with pytest.raises(ValueError, match="'dtype' parameter.*'int4'"):
        quantize(mlp, dtype="int4")
    with pytest.raises(TypeError, match="sktune estimator"):
        quantize(StandardScaler().fit(data[0]))


# ---------------------------------------------------------------- size, sparsify

def test_model_size_and_sparsify_densify(data):
    X, y = data
    clf = LinearClassifier(penalty="l1", alpha=0.05, max_iter=30, random_state=0).fit(X, y)
    assert model_size(clf) == 8 * (3 * 5 + 3)
    proba = clf.predict_proba(X)
    assert clf.sparsify() is clf and sp.issparse(clf.coef_)
    C = clf.coef_
    assert C.nnz < 15
    assert model_size(clf) == C.data.nbytes + C.indices.nbytes + C.indptr.nbytes + 24
    np.testing.assert_allclose(clf.predict_proba(X), proba, rtol=1e-12)
    assert clf.densify() is clf and isinstance(clf.coef_, np.ndarray)
    reg = LinearRegressor(max_iter=5).fit(X, y.astype(float))
    pred = reg.predict(X)
    reg.sparsify()
    assert reg.coef_.shape == (1, 5)
    np.testing.assert_allclose(reg.predict(X), pred, rtol=1e-12)
    assert reg.densify().coef_.shape == (5,)
    assert model_size(make_pipeline(StandardScaler(), reg).fit(X, y)) == 8 * 6
    with pytest.raises(NotFittedError):
        model_size(MLPRegressor())


# ---------------------------------------------------------------- distill

def test_distill_alpha_zero_is_the_plain_fit(data):
    X, y = data
    teacher = LinearClassifier(max_iter=10, random_state=0).fit(X, y)
    student = MLPClassifier((4,), max_iter=10, random_state=0)
    got = distill(teacher, student, X, y, alpha=0.0)
    ref = clone(student).fit(X, y)
    assert got is not student and not hasattr(student, "coefs_")
    for a, b in zip(got.coefs_, ref.coefs_):
        np.testing.assert_array_equal(a, b)


def test_distilled_student_learns_the_soft_probabilities(data):
    X, y = data
    teacher = LinearClassifier(max_iter=30, random_state=0).fit(X, y)
    model = dict(learning_rate=0.05, max_iter=150, tol=None, penalty=None, random_state=1)
    soft = distill(teacher, LinearClassifier(**model), X, temperature=1.0)
    assert soft.classes_.tolist() == teacher.classes_.tolist()
    np.testing.assert_allclose(soft.predict_proba(X), teacher.predict_proba(X), atol=0.03)
    # a higher temperature trains toward flatter probabilities
    flat = distill(teacher, LinearClassifier(**model), X, temperature=3.0)
    assert flat.predict_proba(X).max(axis=1).mean() < soft.predict_proba(X).max(axis=1).mean() - 0.1
    # a binary teacher: one target column, P(classes_[1])
    yb = np.where(y > 0, "b", "a")
    tb = LinearClassifier(max_iter=30, random_state=0).fit(X, yb)
    sb = distill(tb, LinearClassifier(**model), X, temperature=1.0)
    np.testing.assert_allclose(sb.predict_proba(X), tb.predict_proba(X), atol=0.03)


def test_distill_regressor_mixes_teacher_and_targets(data):
    X, _ = data
    y = X[:, 0] - X[:, 1]
    teacher = LinearRegressor(max_iter=5, random_state=0).fit(X, 2 * y)
    student = LinearRegressor(max_iter=5, random_state=0)
    got = distill(teacher, student, X, y, alpha=0.25)
    ref = clone(student).fit(X, 0.25 * teacher.predict(X) + 0.75 * y)
    np.testing.assert_array_equal(got.coef_, ref.coef_)


def test_distill_errors(data, mlp):
    X, y = data
    with pytest.raises(ValueError, match="same task type"):
        distill(mlp, MLPRegressor(), X)
    with pytest.raises(ValueError, match="loss='hinge'"):
        distill(mlp, LinearClassifier(loss="hinge"), X)
    with pytest.raises(ValueError, match="'temperature' parameter"):
        distill(mlp, LinearClassifier(), X, temperature=0)
    with pytest.raises(ValueError, match="'alpha' parameter"):
        distill(mlp, LinearClassifier(), X, y, alpha=1.5)
    with pytest.raises(TypeError, match="student"):
        distill(mlp, StandardScaler(), X)
    with pytest.raises(NotFittedError):
        distill(MLPClassifier(), LinearClassifier(), X)


def test_distill_into_a_pipeline(data):
    X, y = data
    X_raw = 10.0 * X + 3.0
    teacher = make_pipeline(StandardScaler(), LinearClassifier(max_iter=10, random_state=0))
    teacher.fit(X_raw, y)
    student = make_pipeline(StandardScaler(), MLPClassifier((4,), max_iter=10, random_state=0))
    got = distill(teacher, student, X_raw, y, alpha=0.0)
    assert isinstance(got, Pipeline) and got is not student
    ref = clone(student).fit(X_raw, y)  # alpha=0: the labels alone
    np.testing.assert_array_equal(got.predict_proba(X_raw), ref.predict_proba(X_raw))
