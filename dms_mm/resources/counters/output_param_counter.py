"""Resource counter of parameters that scale with a model's output width."""
from ..width import Width
from .base_counter import BaseResourceCounter


class OutputParamCounter(BaseResourceCounter):
    """Parameters of a model-family module that are ``elements`` per channel
    of its output (a ViT's ``cls_token`` and ``pos_embed``); no FLOPs.
    Built by the mutator for each family root, not by op type.

    Args:
        name (str): The family root's name.
        module (nn.Module): The family root.
        elements (int): Parameters per output channel.
        width (Width): The output channels.
    """

    count_unknown_params = False  # params() is the whole of it

    def __init__(self, name, module, elements: int, width: Width) -> None:
        self.elements = int(elements)
        super().__init__(name, module, (), (), width, width)

    def flops(self, counts):
        return 0.0

    def params(self, counts):
        return self.out_width.count(counts) * self.elements
