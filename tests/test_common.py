"""scikit-learn's estimator checks, with an explicit table of the checks we expect to fail and why."""

from sklearn.utils.estimator_checks import parametrize_with_checks

from sklearn_lowrank import LowRankRNNRegressor

# Every entry says why the check cannot pass for a recurrent network on trial tensors. 2D input is given a
# documented meaning (trials of one time step), so every other check runs.
EXPECTED_FAILED_CHECKS = {
    "LowRankRNNRegressor": {
        "check_regressor_multioutput": (
            "predictions are float32, the dtype of every tensor of the package (DESIGN.md); casting them to "
            "float64 would double the memory of large (n_trials, n_timesteps, n_neurons) predictions"
        ),
    },
}


def _expected_failed_checks(estimator):
    return EXPECTED_FAILED_CHECKS.get(type(estimator).__name__, {})


def _estimators():
    # Few epochs keep the checks fast; random_state makes them deterministic.
    return [LowRankRNNRegressor(max_iter=20, random_state=0), LowRankRNNRegressor(rank=None, max_iter=20,
                                                                                  random_state=0)]


@parametrize_with_checks(_estimators(), expected_failed_checks=_expected_failed_checks)
def test_sklearn_compatible_estimator(estimator, check):
    check(estimator)
