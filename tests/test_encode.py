"""``sktune._engine.encode``: the one place strings become kernel codes."""
import numpy as np
import pytest

from sktune import LinearClassifier, LinearRegressor, MLPClassifier, MLPRegressor
from sktune._engine.encode import (
    ACTIVATIONS, CLASSIFICATION_LOSSES, DEVICES, OPTIMIZERS, PENALTIES, REGRESSION_LOSSES,
    average_start, encode, loss_code, penalty_strengths,
)
from sktune._kernels import _codes as C


class _State:
    n_penalized = 7
    seed = 123


def test_tables_are_distinct_codes_and_re_exported():
    import sktune.losses
    import sktune.optim
    import sktune.penalties
    from sktune._device import DEVICES as devices

    for table in (OPTIMIZERS, ACTIVATIONS,
                  {**REGRESSION_LOSSES, **CLASSIFICATION_LOSSES}):
        assert len(set(table.values())) == len(table)
    assert sktune.optim.OPTIMIZERS is OPTIMIZERS
    assert sktune.losses.REGRESSION_LOSSES is REGRESSION_LOSSES
    assert sktune.penalties.PENALTIES is PENALTIES
    assert devices is DEVICES


def test_encode_regressor_every_slot():
    est = LinearRegressor(optimizer="adamw", momentum=0.5, beta_1=0.8, beta_2=0.99,
                          epsilon=1e-6, penalty="elasticnet", alpha=0.2, l1_ratio=0.25,
                          clip_norm=3.0, loss="huber", huber_delta=2.5, average=10)
    hyper, icodes = encode(est, _State(), 32)
    assert hyper.shape == (C.N_HYPER,) and icodes.shape == (C.N_ICODES,)
    assert icodes.dtype == np.int64
    np.testing.assert_allclose(
        hyper[[C.H_MOMENTUM, C.H_BETA_1, C.H_BETA_2, C.H_EPSILON, C.H_L2, C.H_L1,
               C.H_CLIP, C.H_HUBER, C.H_DROPOUT]],
        [0.5, 0.8, 0.99, 1e-6, 0.15, 0.05, 3.0, 2.5, 0.0])
    assert icodes[C.I_LOSS] == C.HUBER
    assert icodes[C.I_OPTIMIZER] == C.ADAMW and icodes[C.I_DECOUPLED] == 1
    assert icodes[C.I_BATCH] == 32
    assert icodes[C.I_N_PENALIZED] == 7 and icodes[C.I_SEED] == 123
    assert icodes[C.I_AVERAGE_START] == 10
    assert icodes[C.I_ACTIVATION] == C.IDENTITY  # linear models have none


def test_encode_mlp_activation_and_dropout():
    hyper, icodes = encode(MLPRegressor(activation="tanh", dropout=0.3, optimizer="sgd",
                                       clip_norm=None), _State(), 8)
    assert icodes[C.I_ACTIVATION] == C.TANH and hyper[C.H_DROPOUT] == 0.3
    assert hyper[C.H_CLIP] == 0.0 and icodes[C.I_DECOUPLED] == 0
    assert icodes[C.I_OPTIMIZER] == C.SGD


@pytest.mark.parametrize("Est", [LinearClassifier, MLPClassifier])
@pytest.mark.parametrize("n_classes, loss, expected", [
    (2, "log_loss", C.LOGISTIC), (3, "log_loss", C.SOFTMAX), (3, "hinge", C.HINGE)])
def test_encode_classifier_loss_follows_classes(Est, n_classes, loss, expected):
    rng = np.random.RandomState(0)
    X = rng.randn(30, 3)
    y = np.arange(30) % n_classes
    kw = {"hidden_layer_sizes": (4,)} if Est is MLPClassifier else {}
    est = Est(loss=loss, max_iter=1, tol=None, random_state=0, **kw).fit(X, y)
    assert encode(est, est._train_state, 4)[1][C.I_LOSS] == expected


def test_encode_multilabel_keeps_one_sigmoid_per_output():
    rng = np.random.RandomState(0)
    X = rng.randn(30, 3)
    Y = (rng.rand(30, 3) > 0.5).astype(int)
    est = MLPClassifier((4,), max_iter=1, tol=None, random_state=0).fit(X, Y)
    assert encode(est, est._train_state, 4)[1][C.I_LOSS] == C.LOGISTIC


@pytest.mark.parametrize("average, expected", [(False, -1), (0, -1), (True, 0), (5, 5)])
def test_average_start(average, expected):
    assert average_start(average) == expected


def test_penalty_strengths_and_loss_code_helpers():
    assert penalty_strengths(None, 1.0, 0.5) == (0.0, 0.0)
    assert penalty_strengths("l2", 0.1, 0.5) == (0.1, 0.0)
    assert penalty_strengths("l1", 0.1, 0.5) == (0.0, 0.1)
    assert penalty_strengths("elasticnet", 1.0, 0.25) == (0.75, 0.25)
    assert loss_code("log_loss", 5, multilabel=True) == C.LOGISTIC
    with pytest.raises(KeyError):
        loss_code("absolute_error")


@pytest.mark.parametrize("l2, l1", [(0.0, 0.0), (0.3, 0.0), (0.0, 0.2), (0.3, 0.2)])
def test_penalty_value_of_each_term(l2, l1):
    from sktune.penalties import penalty_value

    w = np.array([3.0, -4.0, 0.5], dtype=np.float32)
    expected = 0.5 * l2 * 25.25 + l1 * 7.5
    assert penalty_value(w, l2, l1) == pytest.approx(expected, rel=1e-12)
    # a non-finite weight is a non-finite penalty whichever term is on
    if l2 or l1:
        assert not np.isfinite(penalty_value(np.array([np.inf, 1.0]), l2, l1))


@pytest.mark.parametrize("Est", [LinearClassifier, MLPClassifier])
@pytest.mark.parametrize("y", [
    np.array([0, 1, 1, 0]), np.array([3, 7, 7, 9, 3]), np.array([True, False, True]),
    np.array([-1, 1], dtype=np.int8), np.array([5, 5, 6], dtype=np.uint16),
    np.array([0.0, 1.0, 2.0]), np.array(["a", "b", "a"]),
    np.array([0, 10**12, 0]), np.array([-(2**62), 2**62]),  # too wide to count
    np.array([2**63 + 5, 2**63 + 9, 2**63 + 5], dtype=np.uint64),
])
def test_integer_labels_encode_as_type_of_target_says(Est, y):
    # 1-D integer labels skip scikit-learn's type_of_target: the same type,
    # classes and one-hot columns as the general path
    from sklearn.preprocessing import LabelBinarizer
    from sklearn.utils.multiclass import type_of_target

    from sktune import base

    est = Est()
    Y = est._encode_targets(y, np.float64, reset=True)
    assert type_of_target(y) in ("binary", "multiclass")
    assert base._integer_labels(y) == (y.dtype.kind in "iub")
    np.testing.assert_array_equal(est.classes_, np.unique(y))
    assert est.classes_.dtype == np.unique(y).dtype
    np.testing.assert_array_equal(Y, LabelBinarizer().fit(y).transform(y))
    assert est._n_outputs == Y.shape[1]


def test_dense_label_codes_are_unique_and_searchsorted():
    from sktune.base import _dense_label_codes

    rng = np.random.default_rng(0)
    for dtype in (np.int8, np.int64, np.uint8, np.uint32, np.bool_):
        for lo, hi in ((0, 2), (-5, 40), (3, 200)):
            info = np.iinfo(dtype) if dtype is not np.bool_ else None
            if info is not None and (lo < info.min or hi > info.max):
                continue
            y = rng.integers(lo, hi, 500).astype(dtype)
            labels, codes = _dense_label_codes(y)
            np.testing.assert_array_equal(labels, np.unique(y))
            assert labels.dtype == y.dtype
            np.testing.assert_array_equal(codes, np.searchsorted(np.unique(y), y))
    assert _dense_label_codes(np.array([0, 10**9])) is None


@pytest.mark.parametrize("Est", [LinearClassifier, MLPClassifier])
def test_labels_encode_in_the_order_of_given_classes(Est):
    from sklearn.preprocessing import LabelBinarizer

    y = np.array([2, 1, 2, 2])
    est = Est()
    Y = est._encode_targets(y, np.float64, reset=True, classes=[0, 1, 2, 3])
    np.testing.assert_array_equal(est.classes_, [0, 1, 2, 3])
    np.testing.assert_array_equal(Y, LabelBinarizer().fit([0, 1, 2, 3]).transform(y))
    # a later call with fewer labels keeps the classes' columns
    Y = est._encode_targets(np.array([3, 3]), np.float64, reset=False)
    np.testing.assert_array_equal(Y, [[0, 0, 0, 1], [0, 0, 0, 1]])
    with pytest.raises(ValueError, match=r"y contains labels \[7\] not in classes"):
        est._encode_targets(np.array([1, 7]), np.float64, reset=False)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_weighted_mean_is_numpys_average(dtype):
    from sktune.base import _weighted_mean

    rng = np.random.default_rng(0)
    Y = rng.random((1000, 3)).astype(dtype)
    sw = rng.uniform(0, 2, 1000).astype(dtype)
    np.testing.assert_allclose(_weighted_mean(Y, sw), np.average(Y, axis=0, weights=sw),
                               rtol=1e-12 if dtype == np.float64 else 1e-6)
    np.testing.assert_array_equal(_weighted_mean(Y, np.zeros(1000, dtype)), Y.mean(axis=0))


@pytest.mark.parametrize("Est", [LinearClassifier, MLPClassifier])
def test_continuous_and_single_class_targets_still_refused(Est):
    with pytest.raises(ValueError, match="Unknown label type: 'continuous'"):
        Est()._encode_targets(np.array([0.5, 1.0, 2.0]), np.float64, reset=True)
    with pytest.raises(ValueError, match="greater than one"):
        Est()._encode_targets(np.array([4, 4, 4]), np.float64, reset=True)
