"""The attentions of Twins (PCPVT, SVT) after a DMS search.

``GlobalSubsampledAttention`` (GSA, the spatial-reduction attention of PVT)
has a q linear of its own and a fused k/v linear that reads the tokens after a
strided convolution; ``LocallyGroupedSelfAttention`` (LSA) attends within
windows. Both reshape by ``C // num_heads`` or ``embed_dims``, which no longer
hold once heads, head dims or the embedding are pruned, so the static model
gets :class:`PrunedGlobalSubsampledAttention` and
:class:`PrunedLocallyGroupedSelfAttention`: the same computations with their
own head count, q/k and v dims, and the scale of the unpruned module.
"""
import torch
import torch.nn.functional as F
from mmpretrain.models.backbones.twins import (
    GlobalSubsampledAttention,
    LocallyGroupedSelfAttention,
)
from torch import nn

from .attention import (
    AttentionSpec,
    DMSAttentionMutables,
    adopt_module,
    register_pruned_attention,
    set_kept_heads,
    slice_linear,
)

#: where GSA keeps its parts: a q linear and a fused k/v linear
GSA_SPEC = AttentionSpec(qkv='q', kv='kv')
#: LSA's qkv reads windows laid out as (B, rows, cols, window, window, C)
LSA_SPEC = AttentionSpec(seq_dims=2)


class PrunedGlobalSubsampledAttention(GlobalSubsampledAttention):
    """GSA with any head count and q/k and v head dims of their own; the
    reduced tokens keep whatever width the search left them."""

    def forward(self, x: torch.Tensor, hw_shape) -> torch.Tensor:
        batch, tokens, _ = x.shape
        heads, qk, v = self.num_heads, self.qk_dims, self.v_dims
        q = self.q(x).reshape(batch, tokens, heads, qk).transpose(1, 2)
        if self.sr_ratio > 1:
            x = x.transpose(1, 2).reshape(batch, x.shape[-1], *hw_shape)
            x = self.norm(self.sr(x).flatten(2).transpose(1, 2))
        k, val = self.kv(x).split([heads * qk, heads * v], dim=-1)
        k = k.reshape(batch, -1, heads, qk).transpose(1, 2)
        val = val.reshape(batch, -1, heads, v).transpose(1, 2)
        out = F.scaled_dot_product_attention(
            q, k, val, dropout_p=self.attn_drop if self.training else 0., scale=self.scale)
        out = out.transpose(1, 2).reshape(batch, tokens, heads * v)
        return self.out_drop(self.proj_drop(self.proj(out)))

    @classmethod
    def from_searched(cls, module: GlobalSubsampledAttention, mutables: DMSAttentionMutables,
                      q: nn.Linear, proj: nn.Linear) -> 'PrunedGlobalSubsampledAttention':
        """The pruned module of ``module`` (its linears already sliced along
        the embedding)."""
        new = cls.__new__(cls)
        adopt_module(new, module, ('input_dims', 'v_shortcut', 'attn_drop', 'qkv_bias', 'sr_ratio',
                             'init_cfg', '_is_init'))
        new.q = slice_linear(q, rows=mutables.q_rows().to(q.weight.device))
        new.kv = slice_linear(module.kv, rows=mutables.kv_rows().to(module.kv.weight.device))
        new.proj = slice_linear(proj, cols=mutables.proj_columns().to(proj.weight.device))
        set_kept_heads(new, mutables)
        # torch's attention scales by the unpruned head dim's root
        new.scale = float(mutables.head_dims**-0.5)
        return new

    def extra_repr(self) -> str:
        return (f'num_heads={self.num_heads}, qk_dims={self.qk_dims}, v_dims={self.v_dims}, '
                f'sr_ratio={self.sr_ratio}, scale={self.scale:.5f}')


class PrunedLocallyGroupedSelfAttention(LocallyGroupedSelfAttention):
    """LSA with any head count and q/k and v head dims of their own."""

    def forward(self, x: torch.Tensor, hw_shape) -> torch.Tensor:
        batch, tokens, channels = x.shape
        height, width = hw_shape
        size = self.window_size
        heads, qk, v = self.num_heads, self.qk_dims, self.v_dims
        x = x.view(batch, height, width, channels)
        pad_r, pad_b = (size - width % size) % size, (size - height % size) % size
        x = F.pad(x, (0, 0, 0, pad_r, 0, pad_b))
        rows, cols = x.shape[1] // size, x.shape[2] // size
        # the padding mask as LSA computes it (a slice from -0 marks every position)
        mask = torch.zeros((1, x.shape[1], x.shape[2]), device=x.device)
        mask[:, -pad_b:, :].fill_(1)
        mask[:, :, -pad_r:].fill_(1)
        mask = mask.reshape(1, rows, size, cols, size).transpose(2, 3).reshape(
            1, rows * cols, size * size)
        attn_mask = mask.unsqueeze(2) - mask.unsqueeze(3)
        attn_mask = attn_mask.masked_fill(attn_mask != 0, -1000.0).masked_fill(
            attn_mask == 0, 0.0)
        x = x.reshape(batch, rows, size, cols, size, channels).transpose(2, 3)
        parts = self.qkv(x).split([heads * qk, heads * qk, heads * v], dim=-1)
        q, k, val = (part.reshape(batch, rows * cols, size * size, heads, -1).transpose(2, 3)
                     for part in parts)
        attn = (q @ k.transpose(-2, -1)) * self.scale + attn_mask.unsqueeze(2)
        attn = self.attn_drop(attn.softmax(dim=-1))
        out = (attn @ val).transpose(2, 3).reshape(batch, rows, cols, size, size, heads * v)
        out = out.transpose(2, 3).reshape(batch, rows * size, cols * size, heads * v)
        out = out[:, :height, :width, :].reshape(batch, tokens, heads * v)
        return self.proj_drop(self.proj(out))

    @classmethod
    def from_searched(cls, module: LocallyGroupedSelfAttention, mutables: DMSAttentionMutables,
                      qkv: nn.Linear, proj: nn.Linear) -> 'PrunedLocallyGroupedSelfAttention':
        """The pruned module of ``module`` (its linears already sliced along
        the embedding)."""
        new = cls.__new__(cls)
        adopt_module(new, module, ('scale', 'window_size', 'init_cfg', '_is_init'))
        new.qkv = slice_linear(qkv, rows=mutables.qkv_rows().to(qkv.weight.device))
        new.proj = slice_linear(proj, cols=mutables.proj_columns().to(proj.weight.device))
        set_kept_heads(new, mutables)
        return new

    def extra_repr(self) -> str:
        return (f'num_heads={self.num_heads}, qk_dims={self.qk_dims}, v_dims={self.v_dims}, '
                f'window_size={self.window_size}, scale={self.scale:.5f}')


register_pruned_attention(GlobalSubsampledAttention, PrunedGlobalSubsampledAttention.from_searched,
                          spec=GSA_SPEC)
register_pruned_attention(LocallyGroupedSelfAttention,
                          PrunedLocallyGroupedSelfAttention.from_searched, spec=LSA_SPEC)
