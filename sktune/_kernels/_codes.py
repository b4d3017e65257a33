"""Integer codes that cross the Python/kernel boundary.

Names live in :mod:`sktune.losses`, :mod:`sktune.penalties` and
:mod:`sktune.optim`; kernels only ever see these integers, so one compiled
kernel serves every loss, optimizer and penalty (Numba treats module-level
ints as compile-time constants).
"""

# losses (per output unless noted)
SQUARED_ERROR = 0
HUBER = 1
POISSON = 2  # prediction is the log-mean
LOGISTIC = 3  # sigmoid per output: binary and multilabel log loss
SOFTMAX = 4  # multinomial log loss over the whole row
HINGE = 5  # targets in {0, 1}, used as {-1, +1}

# optimizers
SGD = 0
MOMENTUM = 1
NESTEROV = 2
ADAM = 3
ADAMW = 4
RMSPROP = 5
ADAGRAD = 6

# hidden-layer activations
IDENTITY = 0
RELU = 1
TANH = 2
LOGISTIC_ACT = 3
LEAKY_RELU = 4
LEAKY_SLOPE = 0.01

# slots of the float hyperparameter vector
H_MOMENTUM = 0
H_BETA_1 = 1
H_BETA_2 = 2
H_EPSILON = 3
H_L2 = 4  # alpha * (1 - l1_ratio) or alpha for "l2"
H_L1 = 5  # alpha * l1_ratio or alpha for "l1"
H_CLIP = 6  # global-norm clip threshold, 0 = off
H_HUBER = 7  # huber delta
H_DROPOUT = 8  # dropout rate of hidden units
N_HYPER = 9

# slots of the integer code vector
I_LOSS = 0
I_OPTIMIZER = 1
I_BATCH = 2  # batch size
I_N_PENALIZED = 3  # params[:n_penalized] carry the penalty (weights, not biases)
I_AVERAGE_START = 4  # samples seen before averaging starts, -1 = off
I_SEED = 5
I_EPOCH = 6
I_DECOUPLED = 7  # 1: the L2 part is decoupled weight decay (AdamW)
I_ACTIVATION = 8  # hidden-layer activation (MLP)
# 1: add each batch's mean loss gradient into the last row of ``grad`` (a row
# no chunk uses), the epoch's sum for the gradient diagnostics
I_GRAD_SUM = 9
# 1: sparsity > 0, weights whose second moment is negative are pruned (held
# at zero by the optimizer step, left out of the clipping norm)
I_PRUNED = 10
N_ICODES = 11

#: The second moment ``v`` of a pruned weight. Every optimizer's own second
#: moment is >= 0, so a negative value marks the weight as pruned inside the
#: optimizer state itself: the mask travels with that state (partial_fit,
#: warm_start, pickling, a batched search's population rows, the GPU
#: copies) with no buffer or kernel argument of its own.
PRUNED = -1.0

# slots of the integer counter vector (state carried between calls)
C_STEP = 0  # optimizer step t
C_SEEN = 1  # samples seen
C_N_AVG = 2  # updates folded into the running average
N_COUNTERS = 3

# slots of the per-epoch statistics vector returned by a kernel
S_LOSS = 0  # sum of sample_weight * loss over the samples processed
S_WEIGHT = 1  # number of samples processed
S_DIVERGED = 2  # 1.0 when a non-finite loss or weight stopped the epoch
N_STATS = 3

# slots of the unit-address table ``fns`` (see :mod:`._jit`): the units
# a kernel calls by address, chosen for the fit's options
F_STEP = 0  # optimizer step over a parameter range (the fit's optimizer)
F_END = 1  # the end-of-batch step: chunk sums, loss, clipping, step, average
F_PASS = 2  # MLP: forward and backward pass of a row chunk
F_GEMM = 3  # MLP: vector-tile product (layers at least a vector wide)
F_DROP = 4  # MLP: dropout masks of a layer's outputs (only when dropout > 0)
F_DROP_GRAD = 5  # MLP: the masks applied to a layer's output gradient
F_ACT = 6  # MLP: bias plus the hidden activation, in place (the fit's activation)
F_ACT_GRAD = 7  # MLP: times the activation's derivative, in place
F_LOSS = 8  # MLP: output biases, loss and output gradient of a chunk (the fit's loss)
F_SMALL = 9  # MLP: scalar product of blocks too narrow for the vector tiles
N_FNS = 10
