"""The size of a model's parameters."""
from ._layers import check_sktune_model, nbytes, split_pipeline


def model_size(estimator):
    """Count the bytes of a fitted model's parameters, as they are stored.

    Dense weights count their ``nbytes``; sparse ones (after
    :meth:`~sktune.LinearClassifier.sparsify`, or a pruned network stored
    sparse) their data, index and index-pointer arrays; a quantized model
    its stored int8 or float16 weights, scales and biases
    (``n_bytes_`` of :class:`QuantizedClassifier`). Biases count too. Training state
    (optimizer moments, diagnostics) does not.

    Parameters
    ----------
    estimator : sktune estimator, quantized model or Pipeline
        A fitted model; for a pipeline, its last step (the transformers'
        few statistics are not counted).

    Returns
    -------
    n_bytes : int
        Bytes of the weights and biases.

    Raises
    ------
    NotFittedError
        If the model is not fitted.
    TypeError
        If it is not a sktune model.

    See Also
    --------
    quantize : Store the weights in 8 or 16 bits.
    sktune.LinearClassifier.sparsify : Store a linear model's coefficients sparse.

    Examples
    --------
    >>> import numpy as np
    >>> from sktune import LinearRegressor
    >>> from sktune.compress import model_size
    >>> X = np.eye(4)
    >>> reg = LinearRegressor(max_iter=5).fit(X, [1.0, 0.0, 0.0, 2.0])
    >>> model_size(reg)  # 4 coefficients and 1 intercept in float64
    40
    """
    from ._quantize import _BaseQuantized

    _, last = split_pipeline(estimator)
    if isinstance(last, _BaseQuantized):
        from sklearn.utils.validation import check_is_fitted

        check_is_fitted(last)
        return int(last.n_bytes_)
    check_sktune_model(last, "model_size")
    if hasattr(last, "coefs_"):
        weights, biases = last.coefs_, last.intercepts_
    else:
        weights, biases = [last.coef_], [last.intercept_]
    return sum(nbytes(a) for a in list(weights) + list(biases))
