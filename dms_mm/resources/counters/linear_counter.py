"""Resource counter of linear layers."""
from dms_mm.registry import RESOURCE_COUNTERS

from .base_counter import BaseResourceCounter, tokens


@RESOURCE_COUNTERS.register_module(name='Linear')
class LinearCounter(BaseResourceCounter):
    """``nn.Linear`` and its subclasses: kept inputs x kept outputs per token."""

    @staticmethod
    def channels(module):
        return module.in_features, module.out_features

    def flops(self, counts):
        return self.in_width.count(counts) * self.out_width.count(counts) * tokens(
            self.in_shape)

    def params(self, counts):
        n_out = self.out_width.count(counts)
        params = self.in_width.count(counts) * n_out
        if self.module.bias is not None:
            params = params + n_out
        return params
