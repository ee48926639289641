"""Fast-weight memory rules as plain tensor functions, each in a recurrent (reference),
chunkwise and fully parallel form; layout ``(batch, time, heads, features)``."""

from fast_weights.ops.delta_rule import delta_chunkwise, delta_parallel, delta_recurrent
from fast_weights.ops.linear_rule import linear_chunkwise, linear_parallel, linear_recurrent

__all__ = [
    "delta_chunkwise",
    "delta_parallel",
    "delta_recurrent",
    "linear_chunkwise",
    "linear_parallel",
    "linear_recurrent",
]
