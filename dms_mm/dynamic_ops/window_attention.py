"""Swin's window attention after a DMS search.

mmpretrain's ``WindowMSA`` reshapes its qkv output by ``C // num_heads``, with
``C`` its input width, and adds a relative-position bias with one column per
head. Once heads, head dims or the embedding are pruned those no longer agree,
so the static model gets :class:`PrunedWindowMSA`: the same computation with
its own head count, q/k and v dims, the bias table's kept columns, and the
scale of the unpruned module.
"""
import torch
from mmpretrain.models.utils.attention import WindowMSA
from torch import nn

from .attention import (
    DMSAttentionMutables,
    adopt_module,
    register_pruned_attention,
    set_kept_heads,
    slice_linear,
)


class PrunedWindowMSA(WindowMSA):
    """``WindowMSA`` with any head count and q/k and v head dims of their own.

    Built by :meth:`from_searched`.
    """

    def forward(self, x: torch.Tensor, mask=None) -> torch.Tensor:
        windows, tokens, _ = x.shape
        heads, qk, v = self.num_heads, self.qk_dims, self.v_dims
        q, k, val = self.qkv(x).split([heads * qk, heads * qk, heads * v], dim=-1)
        q = q.reshape(windows, tokens, heads, qk).transpose(1, 2) * self.scale
        k = k.reshape(windows, tokens, heads, qk).transpose(1, 2)
        val = val.reshape(windows, tokens, heads, v).transpose(1, 2)
        attn = q @ k.transpose(-2, -1)
        area = self.window_size[0] * self.window_size[1]
        bias = self.relative_position_bias_table[self.relative_position_index.view(-1)]
        attn = attn + bias.view(area, area, heads).permute(2, 0, 1).unsqueeze(0)
        if mask is not None:
            groups = mask.shape[0]
            attn = attn.view(windows // groups, groups, heads, tokens, tokens)
            attn = (attn + mask.unsqueeze(1).unsqueeze(0)).view(-1, heads, tokens, tokens)
        attn = self.attn_drop(self.softmax(attn))
        out = (attn @ val).transpose(1, 2).reshape(windows, tokens, heads * v)
        return self.proj_drop(self.proj(out))

    @classmethod
    def from_searched(cls, module: WindowMSA, mutables: DMSAttentionMutables,
                      qkv: nn.Linear, proj: nn.Linear) -> 'PrunedWindowMSA':
        """The pruned module of ``module``.

        Args:
            module (WindowMSA): The searched module.
            mutables (DMSAttentionMutables): Its mutables, at the final choice.
            qkv (nn.Linear): Its qkv linear, already sliced along the embedding.
            proj (nn.Linear): Its output linear, already sliced along the
                embedding.
        """
        new = cls.__new__(cls)
        adopt_module(new, module, ('window_size', 'scale', 'init_cfg', '_is_init'))
        new.register_buffer('relative_position_index', module.relative_position_index)
        kept = mutables.kept()
        heads = torch.as_tensor(kept['heads'], dtype=torch.long,
                                device=module.relative_position_bias_table.device)
        table = module.relative_position_bias_table.detach()[:, heads].clone()
        new.relative_position_bias_table = nn.Parameter(
            table, requires_grad=module.relative_position_bias_table.requires_grad)
        new.qkv = slice_linear(qkv, rows=mutables.qkv_rows().to(qkv.weight.device))
        new.proj = slice_linear(proj, cols=mutables.proj_columns().to(proj.weight.device))
        set_kept_heads(new, mutables)
        new.embed_dims = new.proj.out_features  # WindowMSA's: its input width
        return new

    def extra_repr(self) -> str:
        return (f'num_heads={self.num_heads}, qk_dims={self.qk_dims}, v_dims={self.v_dims}, '
                f'window_size={tuple(self.window_size)}, scale={self.scale:.5f}')


register_pruned_attention(WindowMSA, PrunedWindowMSA.from_searched,
                          head_params=('relative_position_bias_table', ))
