"""Host side of training: the string -> code tables and the encoding of an
estimator's parameters for the kernels (:mod:`.encode`). No Numba here."""
