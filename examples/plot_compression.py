"""
Accuracy against model size: pruning, quantization and distillation
===================================================================

A one-hidden-layer :class:`~sktune.MLPClassifier` (64 ReLU units) learns the
8x8 digits. Its weights are then made smaller in the ways
:mod:`sktune.compress` offers:

* pruning while training, with the estimators' ``sparsity`` parameter;
* pruning after training by weight magnitude, with
  :func:`~sktune.compress.prune` and a few epochs of fine-tuning;
* removing whole hidden units, ``prune(..., method="units")``;
* storing the weights in int8 or float16, :func:`~sktune.compress.quantize`;
* a 16-unit student trained on the soft outputs of a 128-unit teacher,
  :func:`~sktune.compress.distill`.

Every model's held-out accuracy is drawn against its size in bytes.
Pruned weights are counted as a sparse matrix would store them (8 bytes
per non-zero value and 4 for its column index): zeros inside a dense array
save nothing until the weights are stored sparse. The :doc:`/compressing`
page of the guide describes each technique.
"""

# %%
# The data and the dense model
# ----------------------------
import matplotlib.pyplot as plt
import numpy as np
import scipy.sparse as sp
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

from sktune import MLPClassifier
from sktune.compress import distill, model_size, prune, quantize
from sktune.plot import LossCurveDisplay

X, y = load_digits(return_X_y=True)
X_train, X_test, y_train, y_test = train_test_split(X, y, random_state=0, stratify=y)
scaler = StandardScaler().fit(X_train)
X_train, X_test = scaler.transform(X_train), scaler.transform(X_test)

params = dict(learning_rate=0.003, max_iter=30, random_state=0)
dense = MLPClassifier((64,), **params).fit(X_train, y_train)


def sparse_bytes(model):
    """Bytes of the weights stored as CSR matrices, plus the biases."""
    total = 0
    for W, b in zip(model.coefs_, model.intercepts_):
        csr = sp.csr_matrix(W)
        total += csr.data.nbytes + csr.indices.nbytes + csr.indptr.nbytes + b.nbytes
    return total


results = {"dense": [(model_size(dense), dense.score(X_test, y_test))]}

# %%
# Pruning and unit removal
# ------------------------
# ``sparsity`` prunes while training (a model per level); ``prune`` starts
# from the dense model and fine-tunes for 5 epochs; ``method="units"`` keeps
# a fraction of the hidden units and returns a smaller dense network.
levels = [0.5, 0.8, 0.9]
in_training = {s: MLPClassifier((64,), sparsity=s, **params).fit(X_train, y_train)
               for s in levels}
results["sparsity= (training)"] = [
    (sparse_bytes(m), m.score(X_test, y_test)) for m in in_training.values()]
results["prune() + 5 epochs"] = []
for s in levels:
    m = prune(dense, X_train, y_train, sparsity=s, fine_tune_epochs=5)
    results["prune() + 5 epochs"].append((sparse_bytes(m), m.score(X_test, y_test)))
results["unit removal"] = []
for s in [0.25, 0.5, 0.75]:
    m = prune(dense, X_train, y_train, sparsity=s, method="units")
    results["unit removal"].append((model_size(m), m.score(X_test, y_test)))

# %%
# Quantization and distillation
# -----------------------------
# The student learns from the teacher's probabilities at temperature 3 on
# the training rows and two noisy copies of them, which the teacher labels.
for dtype in ["float16", "int8"]:
    q = quantize(dense, dtype)
    results[dtype] = [(model_size(q), q.score(X_test, y_test))]

teacher = MLPClassifier((128,), **params).fit(X_train, y_train)
rng = np.random.RandomState(0)
X_transfer = np.vstack([X_train] + [X_train + 0.3 * rng.randn(*X_train.shape)
                                    for _ in range(2)])
student = distill(teacher, MLPClassifier((16,), **params), X_transfer, temperature=3.0)
alone = MLPClassifier((16,), **params).fit(X_train, y_train)
results["(128,) teacher"] = [(model_size(teacher), teacher.score(X_test, y_test))]
results["(16,) distilled"] = [(model_size(student), student.score(X_test, y_test))]
results["(16,) labels only"] = [(model_size(alone), alone.score(X_test, y_test))]

# %%
# Accuracy against size
# ---------------------
fig, ax = plt.subplots(figsize=(7, 4.5))
for name, points in results.items():
    size, acc = np.array(points).T
    ax.plot(size / 1024, 100 * acc, "o-" if len(points) > 1 else "s", label=name)
ax.set_xscale("log")
ax.set_xlabel("model size (KiB, log scale)")
ax.set_ylabel("held-out accuracy (%)")
ax.set_title("digits: compressing an MLPClassifier((64,))")
ax.legend(fontsize=8, loc="lower right")
ax.grid(alpha=0.3)
fig.tight_layout()
plt.show()

# %%
# int8 stores about a quarter of the float32 size (an eighth of these
# float64 weights: one byte per weight, plus a float32 scale and bias per
# unit). Unit removal gives smaller dense networks, and it is the only
# pruning here that also makes predictions faster; magnitude pruning only
# pays once the weights are stored sparse. ``benchmarks/bench_compress.py``
# measures each technique's loss over five seeds.
#
# The cost of pruning while training
# ----------------------------------
# The training loss of the dense model and of the 90%-sparse one: the
# weights are removed gradually over the epochs, and the loss recovers.
fig, ax = plt.subplots(figsize=(6, 3.5))
LossCurveDisplay.from_estimator(dense, ax=ax, name="dense", show_learning_rate=False)
LossCurveDisplay.from_estimator(in_training[0.9], ax=ax, name="sparsity=0.9",
                                show_learning_rate=False)
fig.tight_layout()
plt.show()
