"""The EVA-02 family: mmpretrain's ``ViTEVA02``, a ViT with rotary position
embeddings and SwiGLU MLPs.

As :class:`~dms_mm.mutators.model_family.VisionTransformerFamily`: one
embedding unit, an MLP-hidden unit per layer, the heads of each attention and
the depth of ``layers``. What differs:

* the rotary embedding turns pairs of dims inside each head by angles that
  depend on their position in the head, so the head dims stay whole and only
  whole heads are searched;
* the MLP's ``w12`` makes the gate and the value halves of the hidden width
  in one output, both read by ``w3``: the hidden unit holds both halves (and
  the hidden LayerNorm of ``sub_ln``).
"""
from mmpretrain.models.backbones.vit_eva02 import AttentionWithRoPE, ViTEVA02
from mmpretrain.models.utils import SwiGLUFFN
from torch import nn

from dms_mm.dynamic_ops.depth import BlockScale, BranchScaleHook

from .model_family import (
    VisionTransformerFamily,
    _free_dms_linear,
    _is_layer_norm,
    channel,
    register_model_family,
)


@register_model_family
class ViTEVA02Family(VisionTransformerFamily):
    """mmpretrain's ``ViTEVA02`` (exactly that class)."""

    module_types = (ViTEVA02, )
    exact_type = True

    def _check(self, name, root):
        for i, layer in enumerate(root.layers):
            where = f'{name}.layers.{i}'
            if type(layer.attn) is not AttentionWithRoPE:
                raise NotImplementedError(f'{where}.attn is {type(layer.attn).__name__}; the '
                                          'EVA-02 family handles AttentionWithRoPE')
            if not isinstance(layer.mlp, SwiGLUFFN) or layer.mlp.out_dims != root.embed_dims:
                raise NotImplementedError(f'{where}.mlp: only a SwiGLUFFN back to the '
                                          'embedding is handled')
            if any(True for _ in layer.mlp.gamma2.parameters()):
                raise NotImplementedError(f'{where}.mlp.gamma2: a layer scale in the MLP is not '
                                          'handled')

    def _in_mlp(self, sub):
        return '.mlp.' in sub

    def _layer_channels(self, prefix, layer, embed):
        return [channel(f'{prefix}.attn.qkv', 0, embed, False),
                channel(f'{prefix}.attn.proj', 0, embed, True),
                channel(f'{prefix}.mlp.w12', 0, embed, False),
                channel(f'{prefix}.mlp.w3', 0, embed, True)]

    def _hidden_unit(self, prefix, layer):
        hidden = layer.mlp.w3.in_features
        produced = [channel(f'{prefix}.mlp.w12', 0, hidden, True),
                    channel(f'{prefix}.mlp.w12', hidden, 2 * hidden, True)]
        read = [channel(f'{prefix}.mlp.w3', 0, hidden, False)]
        if _is_layer_norm(layer.mlp.norm):  # sub_ln
            produced.append(channel(f'{prefix}.mlp.norm', 0, hidden, True))
            read.append(channel(f'{prefix}.mlp.norm', 0, hidden, False))
        return dict(init_args=dict(num_channels=hidden),
                    channels=dict(output_related=produced, input_related=read))

    def search_dims(self) -> bool:
        return False  # rotary embeddings turn pairs of dims by their position in the head

    @staticmethod
    def _scale_layer(layer: nn.Module, mutable, index: int, name: str) -> None:
        """``x + m * attn(norm1(x))``, then ``y + m * mlp(norm2(y))``: on the
        weights of ``attn.proj`` and ``mlp.w3`` (only dropouts and drop path
        follow them), else on the branch outputs."""
        for key, last in (('attn', layer.attn.proj), ('mlp', layer.mlp.w3)):
            if _free_dms_linear(last):
                last.mask_outputs(BlockScale(mutable, index, f'{name}.{key}'))
            else:
                getattr(layer, key).register_forward_hook(
                    BranchScaleHook(mutable, index, f'{name}.{key}'))
