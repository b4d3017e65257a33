"""scikit-learn's estimator checks on every sktune estimator."""
from sklearn.utils.estimator_checks import parametrize_with_checks

from sktune import LinearClassifier, LinearRegressor, MLPClassifier, MLPRegressor

_SAMPLE_WEIGHT_REASON = (
    "mini-batch SGD with shuffling visits repeated samples in other batches "
    "than a weight of 2 would, so the two fits differ (scikit-learn's own "
    "SGD estimators fail this check too)"
)
EXPECTED_FAILED = {
    "check_sample_weight_equivalence_on_dense_data": _SAMPLE_WEIGHT_REASON,
    "check_sample_weight_equivalence_on_sparse_data": _SAMPLE_WEIGHT_REASON,
}
# The checks' data sets are small (n < 200), so an MLP's default batch is
# the full set and a weight of 2 equals a repeated sample up to the order of
# floating-point sums (relative differences ~1e-7, above the check's 1e-7).
_MLP_EXPECTED_FAILED = {
    "check_sample_weight_equivalence_on_dense_data":
        "float summation order differs between weighted and repeated rows",
}
# A small network with a rate that trains in the checks' few epochs.
_MLP_KW = dict(hidden_layer_sizes=(16,), learning_rate=0.01, random_state=0)


def _expected_failed(estimator):
    if isinstance(estimator, (MLPRegressor, MLPClassifier)):
        return _MLP_EXPECTED_FAILED
    return EXPECTED_FAILED


@parametrize_with_checks(
    [LinearRegressor(random_state=0), LinearClassifier(random_state=0),
     MLPRegressor(**_MLP_KW), MLPClassifier(**_MLP_KW)],
    expected_failed_checks=_expected_failed,
)
def test_sklearn_compatible(estimator, check):
    check(estimator)
