"""Resource counter of parameters that no layer counter covers."""
from typing import Optional

from ..width import Width
from .base_counter import BaseResourceCounter


class ModuleParamsCounter(BaseResourceCounter):
    """The parameters a module holds itself when no layer counter counts
    them: a position embedding, a relative-position table, a bare layer
    scale, the projections ``nn.MultiheadAttention`` calls as functions. No
    FLOPs (the ops that read them are counted where they run).

    They are a constant of the structure: no DMS op slices them (the units
    whose channels such a parameter touches are left out or fixed). Inside a
    removable block the mutator scales them by its depth mask. Built by the
    mutator, not by op type.

    A layer that never runs in the forward (mmpretrain 1.2.0's DeiT3 holds an
    ``ln2`` it never calls) has no FLOPs, and its params are counted by its
    layer counter (``layer``), at its searched widths.

    Args:
        name (str): The module's name.
        module (nn.Module): The module.
        params (int): Its parameters not counted elsewhere.
        layer (BaseResourceCounter, optional): The counter of the layer, where
            it is one that never runs.
    """

    count_unknown_params = False  # params() is the whole of it

    def __init__(self, name: str, module, params: int,
                 layer: Optional[BaseResourceCounter] = None) -> None:
        self.num_params, self.layer = int(params), layer
        width = layer.out_width if layer is not None else Width(0)
        super().__init__(name, module, (), (), width, width)

    @property
    def searched(self) -> bool:
        return self.layer is not None and self.layer.searched

    def flops(self, counts):
        return 0.0

    def params(self, counts):
        if self.layer is not None:
            return self.layer.total_params(counts)
        return float(self.num_params)

    def __repr__(self) -> str:
        what = f', a {type(self.layer).__name__} that never runs' if self.layer else ''
        return f'ModuleParamsCounter({self.name or "the model"}: {self.num_params} params{what})'
