"""Resource counter of embedding tables."""
from dms_mm.registry import RESOURCE_COUNTERS

from .base_counter import BaseResourceCounter


@RESOURCE_COUNTERS.register_module(name='Embedding')
class EmbeddingCounter(BaseResourceCounter):
    """``nn.Embedding``: a row per token id, a column per kept channel; a
    lookup costs no FLOPs (mmengine counts none)."""

    @staticmethod
    def channels(module):
        return module.num_embeddings, module.embedding_dim

    def flops(self, counts):
        return 0.0

    def params(self, counts):
        return self.module.num_embeddings * self.out_width.count(counts)
