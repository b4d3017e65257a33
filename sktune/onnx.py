"""ONNX export of sktune models through skl2onnx.

Importing this module registers a converter for each sktune model with
skl2onnx (``update_registered_converter``), after which
``skl2onnx.to_onnx(model_or_pipeline, X[:1])`` converts pipelines holding
:class:`~sktune.LinearRegressor`, :class:`~sktune.LinearClassifier`,
:class:`~sktune.MLPRegressor`, :class:`~sktune.MLPClassifier` and the
quantized models of :mod:`sktune.compress` (needs ``pip install
sktune[onnx]``).

The graph computes what ``predict`` computes, in the type of the input
(float32 or float64): a ``MatMul`` and an ``Add`` per layer and the hidden
activation (``Relu``, ``Tanh``, ``Sigmoid``, or ``Max(z, 0.01 z)`` for the
leaky ReLU). Sparse (``sparsify``) and pruned weights are written dense.
Quantized weights are written as stored, int8 or float16, and ``Cast`` to
the input's type in the graph; an int8 layer multiplies by its per-unit
scales after the product, as :class:`~sktune.compress.QuantizedClassifier`
does.

Outputs follow skl2onnx's conventions: a regressor has one output
``variable`` of shape (n_samples, n_outputs); a classifier has
``label`` (the class labels; an (n_samples, n_labels) 0/1 matrix for
multilabel targets) and ``probabilities`` (``predict_proba``; the
``decision_function`` scores for ``loss="hinge"`` or with the option
``raw_scores``, ``(-s, s)`` for a binary model's single score ``s``), which
skl2onnx turns into a list of dictionaries unless the option
``zipmap=False`` is given. Supported options of the classifiers:
``zipmap`` (True, False, "columns"), ``output_class_labels`` and
``raw_scores``; any other option raises a ValueError. ONNX's ``ZipMap``
takes float32 only, so a classifier converted for float64 inputs needs
``zipmap=False`` (as scikit-learn's own classifiers do).

Examples
--------
>>> import numpy as np
>>> import onnxruntime as ort
>>> import skl2onnx
>>> import sktune.onnx  # registers the converters
>>> from sktune import LinearRegressor
>>> X = np.random.RandomState(0).randn(40, 3)
>>> reg = LinearRegressor(max_iter=20, random_state=0).fit(X, X @ [1.0, 2.0, 3.0])
>>> onx = skl2onnx.to_onnx(reg, X[:1].astype(np.float32))
>>> sess = ort.InferenceSession(onx.SerializeToString(),
...                             providers=["CPUExecutionProvider"])
>>> out = sess.run(None, {"X": X.astype(np.float32)})[0]
>>> bool(np.allclose(out.ravel(), reg.predict(X), atol=1e-4))
True
"""
import numpy as np
from onnx import TensorProto, numpy_helper
from skl2onnx import update_registered_converter
from skl2onnx._parse import _parse_sklearn_classifier, _parse_sklearn_simple_model
from skl2onnx.common.data_types import (
    DoubleTensorType,
    FloatTensorType,
    Int64TensorType,
    StringTensorType,
)
from sklearn.base import is_classifier

from ._kernels import _codes as C
from .compress._layers import dense, layers, output_kind
from .compress._quantize import QuantizedClassifier, QuantizedRegressor
from .linear_model import LinearClassifier, LinearRegressor
from .neural_network import MLPClassifier, MLPRegressor

__all__ = []

#: options of the classifiers' converters and their allowed values
CLASSIFIER_OPTIONS = {
    "zipmap": [True, False, "columns"],
    "output_class_labels": [False, True],
    "raw_scores": [False, True],
}

_ACTIVATION_OPS = {"relu": "Relu", "tanh": "Tanh", "logistic": "Sigmoid"}


def _model_of(model):
    """The sktune estimator whose outputs ``model`` reproduces."""
    return getattr(model, "estimator_", model)


def _check_options(scope, model):
    """Raise a ValueError for an option or a value the converter does not support."""
    options = scope.get_options(model) or {}
    allowed = CLASSIFIER_OPTIONS if is_classifier(model) else {}
    for name, value in options.items():
        if name not in allowed:
            supported = ", ".join(repr(k) for k in allowed) or "none"
            raise ValueError(
                f"The ONNX converter of {type(model).__name__} does not support the "
                f"option {name!r} (supported options: {supported}).")
        if value is not None and value not in allowed[name]:
            raise ValueError(
                f"Option {name!r} of the ONNX converter of {type(model).__name__} "
                f"must be one of {allowed[name]}; got {value!r}.")
    return options


def _parse(scope, model, inputs, custom_parsers=None):
    options = _check_options(scope, model)
    if is_classifier(model):
        if (isinstance(inputs[0].type, DoubleTensorType)
                and options.get("zipmap", True) is not False):
            raise ValueError(
                "ONNX's ZipMap takes float32 probabilities only: convert a "
                f"{type(model).__name__} for float64 inputs with options="
                "{'zipmap': False} (or convert it for float32 inputs).")
        return _parse_sklearn_classifier(scope, model, inputs, custom_parsers=custom_parsers)
    return _parse_sklearn_simple_model(scope, model, inputs, custom_parsers=custom_parsers)


def _float_type(variable):
    return DoubleTensorType if isinstance(variable.type, DoubleTensorType) else FloatTensorType


def _labels(model):
    """``(classes as stored in the graph, ONNX element type)``."""
    classes = np.asarray(model.classes_)
    if classes.dtype.kind in "iub":
        return classes.astype(np.int64), TensorProto.INT64
    if classes.dtype.kind == "f":
        if not np.all(classes == np.round(classes)):
            raise ValueError("The ONNX export needs integer or string class labels; "
                             f"got {classes.tolist()}.")
        return classes.astype(np.int64), TensorProto.INT64
    return np.array([str(c) for c in classes], dtype=object), TensorProto.STRING


def _shape_regressor(operator):
    model = _model_of(operator.raw_operator)
    N = operator.inputs[0].get_first_dimension()
    n_out = int(np.asarray(model.intercepts_[-1] if hasattr(model, "coefs_")
                           else model.intercept_).shape[0])
    operator.outputs[0].type = _float_type(operator.inputs[0])([N, n_out])


def _shape_classifier(operator):
    model = _model_of(operator.raw_operator)
    N = operator.inputs[0].get_first_dimension()
    kind = output_kind(model)
    n_cols = len(model.classes_)
    if kind.startswith("multilabel"):
        label = Int64TensorType([N, n_cols])
    else:
        _, etype = _labels(model)
        label = (StringTensorType if etype == TensorProto.STRING else Int64TensorType)([N])
    operator.outputs[0].type = label
    operator.outputs[1].type = _float_type(operator.inputs[0])([N, n_cols])


class _Graph:
    """Small helpers that add named nodes and initializers."""

    def __init__(self, scope, container, np_dtype):
        self.scope, self.container, self.np_dtype = scope, container, np_dtype
        self.proto = TensorProto.DOUBLE if np_dtype == np.float64 else TensorProto.FLOAT

    def const(self, array, name="c", cast=True):
        """An initializer holding ``array`` (in the graph's float type when
        ``cast``, else as it is, e.g. int8 or float16)."""
        array = np.asarray(array)
        if cast:
            array = array.astype(self.np_dtype)
        unique = self.scope.get_unique_variable_name(name)
        if array.dtype == object:
            self.container.add_initializer(unique, TensorProto.STRING, list(array.shape),
                                           [s.encode("utf-8") for s in array.ravel()])
        else:
            self.container.add_initializer(unique, None, None,
                                           numpy_helper.from_array(array, unique))
        return unique

    def node(self, op, inputs, output=None, **attrs):
        output = output or self.scope.get_unique_variable_name(op.lower())
        self.container.add_node(op, inputs, output,
                                name=self.scope.get_unique_operator_name(op), **attrs)
        return output


def _forward(graph, model, x):
    """Add the network's forward pass from input ``x``; return the raw
    outputs' name (n_samples, n_outputs)."""
    quantized = isinstance(model, (QuantizedClassifier, QuantizedRegressor))
    if quantized:
        weights, biases = model.coefs_, model.intercepts_
        scales = model.scales_ or [None] * len(weights)
        activation = model.activation_
    else:
        weights, biases, activation = layers(model)
        scales = [None] * len(weights)
    a = x
    last = len(weights) - 1
    for layer, (W, b, s) in enumerate(zip(weights, biases, scales)):
        if quantized:  # the stored int8/float16 weights, cast in the graph
            w = graph.node("Cast", [graph.const(W, "w", cast=False)], to=graph.proto)
        else:
            w = graph.const(dense(W), "w")
        z = graph.node("MatMul", [a, w])
        if s is not None:
            z = graph.node("Mul", [z, graph.const(s.reshape(1, -1), "scale")])
        z = graph.node("Add", [z, graph.const(np.asarray(b).reshape(1, -1), "b")])
        if layer < last and activation not in (None, "identity"):
            if activation == "leaky_relu":
                slope = graph.node("Mul", [z, graph.const(np.array(C.LEAKY_SLOPE), "slope")])
                z = graph.node("Max", [z, slope])
            else:
                z = graph.node(_ACTIVATION_OPS[activation], [z])
        a = z
    return a


def _input(graph, operator):
    x = operator.inputs[0].full_name
    if not isinstance(operator.inputs[0].type, (FloatTensorType, DoubleTensorType)):
        x = graph.node("Cast", [x], to=graph.proto)
    return x


def _np_dtype(operator):
    return np.float64 if isinstance(operator.inputs[0].type, DoubleTensorType) else np.float32


def _convert_regressor(scope, operator, container):
    model = operator.raw_operator
    graph = _Graph(scope, container, _np_dtype(operator))
    raw = _forward(graph, model, _input(graph, operator))
    op = "Exp" if output_kind(_model_of(model)) == "poisson" else "Identity"
    graph.node(op, [raw], operator.outputs[0].full_name)


def _convert_classifier(scope, operator, container):
    model = operator.raw_operator
    est = _model_of(model)
    options = container.get_options(model, dict(raw_scores=False))
    graph = _Graph(scope, container, _np_dtype(operator))
    raw = _forward(graph, model, _input(graph, operator))
    kind = output_kind(est)
    label_out, scores_out = operator.outputs[0].full_name, operator.outputs[1].full_name
    scores = kind in ("hinge", "multilabel_hinge") or options.get("raw_scores")
    if kind.startswith("multilabel"):
        graph.node("Identity" if scores else "Sigmoid", [raw], scores_out)
        graph.node("Cast", [graph.node("Greater", [raw, graph.const(np.array(0.0), "zero")])], label_out, to=TensorProto.INT64)
        return
    classes, _ = _labels(est)
    if kind in ("binary", "hinge") and len(classes) == 2:  # one score s per row
        if scores:
            graph.node("Concat", [graph.node("Neg", [raw]), raw], scores_out, axis=1)
        else:
            p1 = graph.node("Sigmoid", [raw])
            p0 = graph.node("Sub", [graph.const(np.array(1.0), "one"), p1])
            graph.node("Concat", [p0, p1], scores_out, axis=1)
        index = graph.node("Cast", [graph.node("Greater", [raw, graph.const(np.array(0.0), "zero")])], to=TensorProto.INT64)
        index = graph.node("Reshape", [index, graph.const(np.array([-1]), "flat", cast=False)])
    else:
        if scores:
            graph.node("Identity", [raw], scores_out)
        else:
            graph.node("Softmax", [raw], scores_out, axis=1)
        index = graph.node("ArgMax", [raw], axis=1, keepdims=0)
    graph.node("Gather", [graph.const(classes, "classes", cast=False), index], label_out, axis=0)


def _register():
    for cls in (LinearRegressor, MLPRegressor, QuantizedRegressor):
        update_registered_converter(cls, "Sktune" + cls.__name__, _shape_regressor,
                                    _convert_regressor, parser=_parse,
                                    options="passthrough")
    for cls in (LinearClassifier, MLPClassifier, QuantizedClassifier):
        update_registered_converter(cls, "Sktune" + cls.__name__, _shape_classifier,
                                    _convert_classifier, parser=_parse,
                                    options="passthrough")


_register()
