"""A DMS op for a layer type of the user's own."""
from typing import Callable, Optional

from .ops import DMS_OP_MAP
from .sliced_ops import SLICED_OP_MAP


def register_dms_op(layer_type: type, op: Optional[type] = None,
                    sliced_op: Optional[type] = None) -> Callable:
    """Register the DMS op of ``layer_type`` (and of its subclasses that keep
    its forward); usable as a class decorator of the op.

    Args:
        layer_type (type): The layer class (an ``nn.Module``).
        op (type, optional): The DMS op: a class with ``convert_from(layer)``
            and ``to_static_op()``, usually a subclass of one of dms_mm's ops
            (``DMSConv2d``, ``DMSLinear``, ``DMSLayerNorm``, ...) that masks its
            input channels in its forward. When it is not a subclass of
            ``layer_type``, dms_mm derives one that is: the layer keeps its
            attributes and methods, the op's forward runs, and the export
            rebuilds ``layer_type`` with the kept channels.
        sliced_op (type, optional): The op of the pruning check, which slices
            the layer to the kept channels (mmrazor's dynamic ops do). Without
            it, a layer type that keeps its base's forward is checked by its
            base's sliced op; one that rewrites it leaves its units out, with
            that reason.

    Returns:
        The op (or, without ``op``, a decorator that registers its class).

    Example:
        >>> @register_dms_op(MyConv)
        ... class DMSMyConv(DMSConv2d):
        ...     def forward(self, x):
        ...         return my_conv(*self.masked_input_and_weight(x))
    """

    def register(op: type) -> type:
        DMS_OP_MAP.register(layer_type, op)
        if sliced_op is not None:
            SLICED_OP_MAP.register(layer_type, sliced_op)
        return op

    return register if op is None else register(op)
