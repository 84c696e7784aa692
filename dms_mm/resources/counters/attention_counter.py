"""Resource counter of a searched multi-head attention."""
from ..width import Width
from .base_counter import BaseResourceCounter, tokens


class AttentionCounter(BaseResourceCounter):
    """One attention whose heads and head dims DMS searches: its fused qkv
    linear, ``q @ k^T``, ``attn @ v`` and the output projection (softmax is
    not counted, as in mmengine). Built by the mutator for each attention a
    model family finds, not by op type.

    Args:
        name (str): The attention's name.
        mutables (DMSAttentionMutables): Its heads, q/k dims and v dims.
        qkv (nn.Linear): Its fused qkv linear.
        proj (nn.Linear): Its output projection.
        in_shape (tuple): The ``(B, N, C)`` input shape of ``qkv``.
        embed_width (Width): The embedding channels (input of ``qkv``).
    """

    count_unknown_params = False  # params() is the whole of it

    def __init__(self, name, mutables, qkv, proj, in_shape, embed_width: Width) -> None:
        self.mutables, self.qkv, self.proj = mutables, qkv, proj
        super().__init__(name, qkv, in_shape, in_shape, embed_width, embed_width)

    @property
    def searched(self) -> bool:
        return True

    def _widths(self, counts):
        heads, qk, v = (counts.count(m) for m in self.mutables.mutables())
        return heads * qk, heads * v

    def flops(self, counts):
        n_embed = self.in_width.count(counts)
        q_width, v_width = self._widths(counts)
        batch, seq = self.in_shape[0], self.in_shape[-2]
        n_tokens = tokens(self.in_shape)
        return (n_tokens * n_embed * (2 * q_width + v_width)  # qkv
                + batch * seq * seq * (q_width + v_width)  # q k^T and attn v
                + n_tokens * v_width * n_embed)  # proj

    def params(self, counts):
        n_embed = self.in_width.count(counts)
        q_width, v_width = self._widths(counts)
        qkv_out = 2 * q_width + v_width
        params = n_embed * qkv_out + v_width * n_embed
        if self.qkv.bias is not None:
            params = params + qkv_out
        if self.proj.bias is not None:
            params = params + n_embed
        return params
