"""Every public object of sktune has a numpydoc docstring, and its examples run.

The public API is what a user imports: ``sktune.__all__`` (the estimators,
``DivergenceError``, ``precompile``) and the ``__all__`` of the public
submodules below; for each class, the public methods that sktune defines
(``fit``, ``predict``, ``plot``, ``from_estimator``, ...). Methods inherited
unchanged from scikit-learn (``score``, ``get_params``, ``set_params``, the
search's ``predict``, ...) keep scikit-learn's docstrings and are not
checked here.
"""
import doctest
import importlib
import inspect
import pydoc
import re

import pytest

import sktune

PUBLIC_MODULES = ["sktune", "sktune.model_selection", "sktune.plot", "sktune.optim",
                  "sktune.losses", "sktune.penalties", "sktune.compress",
                  "sktune.callbacks", "sktune.dask"]

# numpydoc error codes tolerated, each with why
ALLOWED = {
    "ES01": "An extended summary is optional where the one-line summary says it all.",
    "RT02": "Returned values are named ('self : object'), scikit-learn's convention.",
}
ALLOWED_FOR_METHODS = {
    "SA01": "A method's See Also would only list its sibling methods; its class has one.",
    "EX01": "Methods are shown (and run) in the Examples of their class.",
}


def _public_objects():
    """``(import path, object)`` of every public class and function."""
    found = {}
    for module_name in PUBLIC_MODULES:
        module = importlib.import_module(module_name)
        for name in module.__all__:
            obj = getattr(module, name)
            if inspect.isclass(obj) or inspect.isfunction(obj):
                found.setdefault(f"{module_name}.{name}", obj)
    return found


def _canonical(obj):
    """Where ``obj`` is defined: ``sktune.precompile`` names the function only
    until the submodule of the same name is imported, then the module."""
    return f"{obj.__module__}.{obj.__qualname__}"


def _sktune_methods(path, cls):
    """Public methods of ``cls`` defined by sktune (not inherited from sklearn)."""
    methods = {}
    for name in dir(cls):
        if name.startswith("_"):
            continue
        attr = getattr(cls, name, None)
        if callable(attr) and (getattr(attr, "__module__", None) or "").startswith("sktune"):
            methods[f"{path}.{name}"] = attr
    return methods


OBJECTS = _public_objects()
METHODS = {}
# the import path numpydoc loads each object from
VALIDATE_AS = {path: _canonical(obj) for path, obj in OBJECTS.items()}
for _path, _obj in OBJECTS.items():
    if inspect.isclass(_obj):
        for _method in _sktune_methods(_path, _obj):
            METHODS[_method] = getattr(_obj, _method.rsplit(".", 1)[1])
            VALIDATE_AS[_method] = _canonical(_obj) + "." + _method.rsplit(".", 1)[1]


def test_the_public_api_is_covered():
    # a guard against an enumeration that silently finds nothing
    for path in ["sktune.MLPRegressor", "sktune.LinearClassifier", "sktune.DivergenceError",
                 "sktune.precompile", "sktune.model_selection.GridSearchCV",
                 "sktune.model_selection.search_space", "sktune.plot.SearchDisplay",
                 "sktune.optim.learning_rates", "sktune.penalties.penalty_value"]:
        assert path in OBJECTS
    for path in ["sktune.MLPClassifier.fit", "sktune.MLPClassifier.partial_fit",
                 "sktune.MLPClassifier.predict_proba", "sktune.LinearClassifier.decision_function",
                 "sktune.LinearRegressor.predict", "sktune.model_selection.GridSearchCV.fit",
                 "sktune.plot.LossCurveDisplay.from_estimator", "sktune.plot.SearchDisplay.plot"]:
        assert path in METHODS


@pytest.mark.parametrize("path", sorted(OBJECTS) + sorted(METHODS))
def test_numpydoc_validation(path):
    validate = pytest.importorskip("numpydoc.validate").validate
    allowed = dict(ALLOWED)
    if path in METHODS:
        allowed.update(ALLOWED_FOR_METHODS)
    errors = [f"{code}: {message}" for code, message in validate(VALIDATE_AS[path])["errors"]
              if code not in allowed]
    assert not errors, f"{path}:\n" + "\n".join(errors)


@pytest.mark.parametrize("name", ["LinearRegressor", "LinearClassifier",
                                  "MLPRegressor", "MLPClassifier"])
def test_estimators_have_a_real_docstring(name):
    cls = getattr(sktune, name)
    doc = cls.__doc__
    assert doc is not None
    for section in ["Parameters", "Attributes", "See Also", "Examples"]:
        assert re.search(rf"^\s*{section}\n\s*-+$", doc, re.M), section
    assert "%(" not in doc
    # every constructor parameter is described, once
    for param in inspect.signature(cls).parameters:
        assert len(re.findall(rf"^\s*{param} : ", doc, re.M)) == 1, param


def test_help_shows_parameters():
    text = pydoc.render_doc(sktune.MLPRegressor, renderer=pydoc.plaintext)
    assert re.search(r"Parameters\n[ |]*-{10}\n", text)
    assert "hidden_layer_sizes : array-like of int or int, default=(100,)" in text
    assert "Units of each hidden layer" in text
    assert "learning_rate : float, default=0.001" in text
    assert "loss_curve_ : list of float" in text
    # the methods a user calls document their parameters too
    assert "sample_weight : array-like of shape (n_samples,), default=None" in text


def _doctests():
    finder = doctest.DocTestFinder()
    tests = {}
    for path, obj in {**OBJECTS, **METHODS}.items():
        module = inspect.getmodule(obj)
        for test in finder.find(obj, path, module=module):
            if test.examples:
                tests.setdefault((test.filename, test.lineno), test)
    return sorted(tests.values(), key=lambda t: t.name)


DOCTESTS = _doctests()


def test_doctests_are_found():
    names = {t.name for t in DOCTESTS}
    assert {"sktune.MLPRegressor", "sktune.plot.SearchDisplay",
            "sktune.model_selection.GridSearchCV"} <= names


@pytest.mark.parametrize("test", DOCTESTS, ids=[t.name for t in DOCTESTS])
def test_docstring_examples_run(test):
    pytest.importorskip("matplotlib")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    runner = doctest.DocTestRunner(
        optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    output = []
    try:
        runner.run(test, out=output.append)
    finally:
        plt.close("all")
    assert runner.failures == 0, "".join(output)
