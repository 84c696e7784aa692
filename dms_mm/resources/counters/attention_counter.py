"""Resource counter of a searched multi-head attention."""
import math

from ..width import Width
from .base_counter import BaseResourceCounter, tokens


class AttentionCounter(BaseResourceCounter):
    """One attention whose heads and head dims DMS searches: its q/k/v
    linears, ``q @ k^T``, ``attn @ v`` and the output projection (softmax is
    not counted, as in mmengine). Built by the mutator for each attention a
    model family finds, not by op type.

    Args:
        name (str): The attention's name.
        mutables (DMSAttentionMutables): Its heads, q/k dims and v dims.
        qkv (nn.Linear): Its fused qkv linear, or its q linear when ``kv``
            is given.
        proj (nn.Linear): Its output projection.
        in_shape (tuple): The input shape of ``qkv``, channels last.
        embed_width (Width): The embedding channels (input of ``qkv``).
        head_params (int): Parameter elements per head held by the attention
            module itself (a relative-position bias table). Defaults to 0.
        seq_dims (int): Dims before the channels that make one sequence
            (see :class:`~dms_mm.dynamic_ops.attention.AttentionSpec`).
            Defaults to 1.
        kv (tuple, optional): ``(linear, in_shape, in_width)`` of a fused k/v
            linear whose input may be another width and fewer tokens (a
            spatial-reduction attention). Defaults to None.
        proj_shape (tuple, optional): The input shape of ``proj``, where it
            sees other tokens than ``qkv`` (windows padded before the
            attention and cropped after it). Defaults to ``in_shape``.
    """

    count_unknown_params = False  # params() is the whole of it

    def __init__(self, name, mutables, qkv, proj, in_shape, embed_width: Width,
                 head_params: int = 0, seq_dims: int = 1, kv=None, proj_shape=None) -> None:
        self.mutables, self.qkv, self.proj = mutables, qkv, proj
        self.proj_tokens = tokens(proj_shape if proj_shape is not None else in_shape)
        self.head_params = int(head_params)
        self.kv = kv
        if kv is None:
            self.seq_kv = math.prod(in_shape[-1 - seq_dims:-1])
        else:
            self.seq_kv = math.prod(kv[1][-1 - seq_dims:-1])
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
        n_tokens = tokens(self.in_shape)
        if self.kv is None:
            linears = n_tokens * n_embed * (2 * q_width + v_width)
        else:
            _, kv_shape, kv_width = self.kv
            linears = (n_tokens * n_embed * q_width
                       + tokens(kv_shape) * kv_width.count(counts) * (q_width + v_width))
        return (linears
                + n_tokens * self.seq_kv * (q_width + v_width)  # q k^T and attn v
                + self.proj_tokens * v_width * n_embed)

    def params(self, counts):
        n_embed = self.in_width.count(counts)
        q_width, v_width = self._widths(counts)
        if self.kv is None:
            params = n_embed * (2 * q_width + v_width)
            bias = (2 * q_width + v_width) if self.qkv.bias is not None else 0
        else:
            kv, _, kv_width = self.kv
            params = n_embed * q_width + kv_width.count(counts) * (q_width + v_width)
            bias = (q_width if self.qkv.bias is not None else 0) + (
                q_width + v_width if kv.bias is not None else 0)
        params = params + bias + v_width * n_embed
        if self.proj.bias is not None:
            params = params + n_embed
        if self.head_params:
            params = params + self.head_params * counts.count(self.mutables.heads)
        return params
