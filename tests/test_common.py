"""scikit-learn's estimator checks on every sktune estimator."""
from sklearn.utils.estimator_checks import parametrize_with_checks

from sktune import LinearClassifier, LinearRegressor

_SAMPLE_WEIGHT_REASON = (
    "mini-batch SGD with shuffling visits repeated samples in other batches "
    "than a weight of 2 would, so the two fits differ (scikit-learn's own "
    "SGD estimators fail this check too)"
)
EXPECTED_FAILED = {
    "check_sample_weight_equivalence_on_dense_data": _SAMPLE_WEIGHT_REASON,
    "check_sample_weight_equivalence_on_sparse_data": _SAMPLE_WEIGHT_REASON,
}


@parametrize_with_checks(
    [LinearRegressor(random_state=0), LinearClassifier(random_state=0)],
    expected_failed_checks=lambda est: EXPECTED_FAILED,
)
def test_sklearn_compatible(estimator, check):
    check(estimator)
