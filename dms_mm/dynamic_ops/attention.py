"""Heads and head dims of multi-head attention, searched by DMS.

An attention module is described by an :class:`AttentionSpec`: the name of its
fused ``qkv`` linear (output laid out as ``[3, heads, head_dim]``, as in
mmpretrain's ``MultiheadAttention`` and most ViTs), of its output ``proj``
linear, and of the attributes that hold the head count and head dim.

Each searched attention gets three DMS mutables (:class:`DMSAttentionMutables`):
the heads, the q/k dims and the v dims, the dims shared by all heads. A forward
hook on ``qkv`` multiplies its output by ``m_head x m_qk`` (q and k) and
``m_head x m_v`` (v), the paper's ``Q' = Q m_qk m_head``, ``V' = V m_v m_head``.
The module's own forward is untouched, so its attention scale stays
``head_dim ** -0.5`` of the unpruned module; :class:`PrunedMultiheadAttention`
keeps that scale after export.
"""
from typing import Callable, Dict, NamedTuple, Optional, Tuple

import torch
import torch.nn.functional as F
from mmpretrain.models.utils.attention import MultiheadAttention
from torch import nn

from dms_mm.mutables import DMSMutableChannel


class AttentionSpec(NamedTuple):
    """Where the parts of one kind of attention module live.

    Args:
        qkv (str): Child name of the fused q/k/v linear.
        proj (str): Child name of the output projection linear.
        num_heads (str): Attribute holding the number of heads.
        head_dims (str): Attribute holding the dim of one head.
        kv (str, optional): Child name of a fused k/v linear (output laid out
            as ``[2, heads, head_dim]``) when q has a linear of its own: then
            ``qkv`` names the q linear. Defaults to None (q, k and v fused).
        seq_dims (int): How many dims before the channels make one attention
            sequence in the input of ``qkv`` (2 for windows laid out as
            ``(..., window_h, window_w, C)``). Defaults to 1.
    """
    qkv: str = 'qkv'
    proj: str = 'proj'
    num_heads: str = 'num_heads'
    head_dims: str = 'head_dims'
    kv: Optional[str] = None
    seq_dims: int = 1


class DMSAttentionMutables(nn.Module):
    """The heads, q/k dims and v dims of one attention module.

    Args:
        num_heads (int): Heads of the module.
        head_dims (int): Dim of one head (q, k and v alike before the search).
        search_dims (bool): Search the q/k and v dims too; False keeps them
            whole and searches heads only. Defaults to True.
        head_lambda (float): Top-k sharpness of the heads (DMS: 4).
        dim_lambda (float): Top-k sharpness of the dims (DMS: 1).
        min_keep (float): Lowest keep ratio of each. Defaults to 0.0.
        ema_decay (float): Importance EMA decay. Defaults to 0.99.
    """

    def __init__(self, num_heads: int, head_dims: int, search_dims: bool = True,
                 head_lambda: float = 4.0, dim_lambda: float = 1.0, min_keep: float = 0.0,
                 ema_decay: float = 0.99) -> None:
        super().__init__()
        self.num_heads, self.head_dims = int(num_heads), int(head_dims)
        self.heads = DMSMutableChannel(num_heads, min_keep=min_keep, lambda_scale=head_lambda,
                                       ema_decay=ema_decay)
        self.qk_dims = DMSMutableChannel(head_dims, min_keep=min_keep, lambda_scale=dim_lambda,
                                         ema_decay=ema_decay)
        self.v_dims = DMSMutableChannel(head_dims, min_keep=min_keep, lambda_scale=dim_lambda,
                                        ema_decay=ema_decay)
        if not search_dims:
            self.qk_dims.freeze()
            self.v_dims.freeze()

    def mutables(self):
        return [self.heads, self.qk_dims, self.v_dims]

    def qkv_mask(self) -> torch.Tensor:
        """This forward's mask over the ``3 * heads * head_dims`` qkv outputs."""
        heads = self.heads.mask[:, None]
        qk = (heads * self.qk_dims.mask[None, :]).flatten()
        v = (heads * self.v_dims.mask[None, :]).flatten()
        return torch.cat([qk, qk, v])

    def q_mask(self) -> torch.Tensor:
        """This forward's mask over the ``heads * head_dims`` outputs of a q linear."""
        return (self.heads.mask[:, None] * self.qk_dims.mask[None, :]).flatten()

    def kv_mask(self) -> torch.Tensor:
        """This forward's mask over the ``2 * heads * head_dims`` outputs of a
        fused k/v linear."""
        heads = self.heads.mask[:, None]
        return torch.cat([(heads * self.qk_dims.mask[None, :]).flatten(),
                          (heads * self.v_dims.mask[None, :]).flatten()])

    def kept(self) -> dict:
        return dict(heads=self.heads.kept_indices(), qk_dims=self.qk_dims.kept_indices(),
                    v_dims=self.v_dims.kept_indices())

    def qkv_rows(self) -> torch.Tensor:
        """Indices of the kept qkv output rows, in q, k, v order."""
        kept = self.kept()
        n, d = self.num_heads, self.head_dims
        rows = []
        for part, dims in ((0, kept['qk_dims']), (1, kept['qk_dims']), (2, kept['v_dims'])):
            rows += [part * n * d + h * d + i for h in kept['heads'] for i in dims]
        return torch.tensor(rows, dtype=torch.long)

    def q_rows(self) -> torch.Tensor:
        """Indices of the kept rows of a q linear."""
        return self.qkv_rows()[:self._kept_q()]

    def kv_rows(self) -> torch.Tensor:
        """Indices of the kept rows of a fused k/v linear."""
        return self.qkv_rows()[self._kept_q():] - self.num_heads * self.head_dims

    def _kept_q(self) -> int:
        kept = self.kept()
        return len(kept['heads']) * len(kept['qk_dims'])

    def proj_columns(self) -> torch.Tensor:
        kept = self.kept()
        d = self.head_dims
        return torch.tensor([h * d + i for h in kept['heads'] for i in kept['v_dims']],
                            dtype=torch.long)


class QKVMaskHook:
    """Forward hook on a q, k or v linear: its output times the attention
    masks (``mask``: a bound method of :class:`DMSAttentionMutables`, such as
    ``qkv_mask``)."""

    def __init__(self, mask: Callable[[], torch.Tensor]):
        self.mask = mask

    def __call__(self, module: nn.Module, args, output):
        return output * self.mask().to(output.dtype)


class PrunedMultiheadAttention(MultiheadAttention):
    """mmpretrain's ``MultiheadAttention`` after a DMS search: any head count,
    q/k and v head dims of their own, and the scale of the unpruned module.

    Built by :meth:`from_searched`; a plain torch module otherwise (explicit
    matmuls, so FLOP counters see the attention products).
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, tokens, _ = x.shape
        heads, qk, v = self.num_heads, self.qk_dims, self.v_dims
        qkv = self.qkv(x)
        q, k, val = qkv.split([heads * qk, heads * qk, heads * v], dim=-1)
        q = q.reshape(batch, tokens, heads, qk).transpose(1, 2)
        k = k.reshape(batch, tokens, heads, qk).transpose(1, 2)
        val = val.reshape(batch, tokens, heads, v).transpose(1, 2)
        attn = (q @ k.transpose(-2, -1)) * self.scale
        attn = attn.softmax(dim=-1)
        if self.training and self.attn_drop > 0:
            attn = F.dropout(attn, p=self.attn_drop)
        out = (attn @ val).transpose(1, 2).reshape(batch, tokens, heads * v)
        out = self.proj(out)
        out = self.out_drop(self.gamma1(self.proj_drop(out)))
        if self.v_shortcut:
            out = val.squeeze(1) + out
        return out

    @classmethod
    def from_searched(cls, module: MultiheadAttention, mutables: DMSAttentionMutables,
                      qkv: nn.Linear, proj: nn.Linear) -> 'PrunedMultiheadAttention':
        """The pruned module of ``module``.

        Args:
            module (MultiheadAttention): The searched module (its ``qkv`` and
                ``proj`` already sliced along the embedding).
            mutables (DMSAttentionMutables): Its mutables, at the final choice.
            qkv (nn.Linear): The static qkv linear (embedding already sliced).
            proj (nn.Linear): The static output linear.
        """
        new = cls.__new__(cls)
        # everything but the linears, as it is (dropouts, layer scale, flags)
        adopt_module(new, module, ('input_dims', 'v_shortcut', 'attn_drop', 'init_cfg',
                                   '_is_init'))
        rows, cols = mutables.qkv_rows().to(qkv.weight.device), \
            mutables.proj_columns().to(proj.weight.device)
        new.qkv = slice_linear(qkv, rows=rows)
        new.proj = slice_linear(proj, cols=cols)
        set_kept_heads(new, mutables)
        new.scale = float(getattr(module, 'scale', None) or mutables.head_dims**-0.5)
        return new

    def extra_repr(self) -> str:
        return (f'num_heads={self.num_heads}, qk_dims={self.qk_dims}, v_dims={self.v_dims}, '
                f'scale={self.scale:.5f}')


def adopt_module(new: nn.Module, module: nn.Module, keys) -> None:
    """Make ``new`` (made by ``cls.__new__``) a module holding ``module``'s
    children but its q/k/v and output linears (which the pruned form slices),
    and the attributes ``keys`` of it that it has."""
    nn.Module.__init__(new)
    for name, child in module.named_children():
        if name not in ('qkv', 'q', 'kv', 'proj'):
            new.add_module(name, child)
    for key in keys:
        if key in module.__dict__:
            new.__dict__[key] = module.__dict__[key]


def set_kept_heads(new: nn.Module, mutables: DMSAttentionMutables) -> None:
    """The head count and q/k and v head dims of a pruned attention, at the
    mutables' final choice (``embed_dims``: heads times v dims)."""
    kept = mutables.kept()
    new.num_heads = len(kept['heads'])
    new.qk_dims, new.v_dims = len(kept['qk_dims']), len(kept['v_dims'])
    new.head_dims = new.v_dims
    new.embed_dims = new.num_heads * new.v_dims


def slice_linear(linear: nn.Linear, rows: Optional[torch.Tensor] = None,
                 cols: Optional[torch.Tensor] = None) -> nn.Linear:
    """A new ``nn.Linear`` with the given output rows and input columns."""
    weight = linear.weight.detach()
    bias = linear.bias.detach() if linear.bias is not None else None
    if rows is not None:
        weight = weight[rows]
        bias = bias[rows] if bias is not None else None
    if cols is not None:
        weight = weight[:, cols]
    new = nn.Linear(weight.shape[1], weight.shape[0], bias=bias is not None,
                    device=weight.device, dtype=weight.dtype)
    with torch.no_grad():
        new.weight.copy_(weight)
        if bias is not None:
            new.bias.copy_(bias)
    new.train(linear.training)
    return new


class PrunedForm(NamedTuple):
    """How an attention type becomes static after a search.

    Args:
        build (Callable): ``build(module, mutables, qkv, proj)`` returns the
            pruned module (``qkv`` and ``proj`` already sliced along the
            embedding).
        head_params (tuple[str]): The module's own parameters with one column
            per head in their last dim (a relative-position bias table); the
            pruned form keeps the kept heads' columns, and the soft count
            counts them per head.
        spec (AttentionSpec): Where the form expects the module's parts.
    """
    build: Callable
    head_params: Tuple[str, ...] = ()
    spec: AttentionSpec = AttentionSpec()


_PRUNED_FORMS: Dict[type, PrunedForm] = {}


def register_pruned_attention(module_type: type, build: Callable,
                              head_params: Tuple[str, ...] = (),
                              spec: Optional[AttentionSpec] = None) -> None:
    """Give an attention class (matched exactly, not its subclasses, whose
    forwards may differ) the static form its searched modules export to
    (``spec``: where the form expects its parts; the default names)."""
    _PRUNED_FORMS[module_type] = PrunedForm(build, tuple(head_params), spec or AttentionSpec())


def pruned_form(module: nn.Module) -> Optional[PrunedForm]:
    """The registered static form of ``module``'s class, or None."""
    return _PRUNED_FORMS.get(type(module))


def head_param_elements(module: nn.Module) -> int:
    """Elements per head of the module's per-head parameters (0 if none)."""
    form = pruned_form(module)
    if form is None:
        return 0
    return sum(getattr(module, key).shape[:-1].numel() for key in form.head_params)


register_pruned_attention(MultiheadAttention, PrunedMultiheadAttention.from_searched)
