"""Optimizers and learning-rate schedules.

Optimizers are named by strings (``optimizer="adam"``) and run inside the
compiled epoch kernels; schedules are evaluated here, on the host, into one
learning rate per optimizer step.
"""
from ._optimizers import OPTIMIZERS, optimizer_code
from ._schedules import SCHEDULES, learning_rates, plateau_decay

__all__ = ["OPTIMIZERS", "SCHEDULES", "learning_rates", "optimizer_code", "plateau_decay"]
