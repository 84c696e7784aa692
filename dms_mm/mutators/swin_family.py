"""The Swin Transformer family: mmpretrain's ``SwinTransformer``.

torch.fx cannot trace Swin's forward (it iterates over the feature map's
shape), so without a family only its depth would be searched. The family
describes it instead:

* one stream unit per stage: the patch embedding's or the previous patch
  merging's output, every LayerNorm of the stage, each block's ``qkv`` and FFN
  input and its ``proj`` and FFN output, and the next patch merging's input
  (its ``nn.Unfold`` lays the 2x2 neighbours of a channel side by side, so the
  merging reads each stream channel four times); the last stage's stream is
  the backbone output that the neck and head read;
* an MLP-hidden unit per block;
* the heads, q/k and v dims of each window attention, exported with the
  relative-position table's kept columns
  (:class:`~dms_mm.dynamic_ops.window_attention.PrunedWindowMSA`);
* depth: the blocks of each stage, a block's attention and MLP residuals
  scaled by one mask.

Handled: one output (the last stage, ``out_indices=(-1, )``, as classifiers
use it), taken before any downsampling, without an absolute position
embedding. Other Swins are left to the generic search (depth only) and the
log says why.
"""
from typing import List, Optional

from mmpretrain.models.backbones import SwinTransformer
from mmpretrain.models.utils.attention import WindowMSA
from torch import nn

from dms_mm.dynamic_ops import window_attention  # noqa: F401  (registers PrunedWindowMSA)
from dms_mm.dynamic_ops.attention import AttentionSpec
from dms_mm.dynamic_ops.depth import BlockInfo, StageInfo

from .model_family import (
    FamilyStage,
    ModelFamily,
    StandInConv,
    _scale_transformer_layer,
    channel,
    register_model_family,
)


def _unsupported(root: SwinTransformer) -> Optional[str]:
    """Why the family does not handle ``root``, or None."""
    last = len(root.stages) - 1
    if sorted(root.out_indices) != [last]:
        return (f'out_indices={tuple(root.out_indices)}: the family handles the last stage '
                f'alone (out_indices=({last}, ))')
    if root.out_after_downsample:
        return 'out_after_downsample=True'
    if root.use_abs_pos_embed:
        return 'use_abs_pos_embed=True (a position embedding read outside any layer)'
    for s, stage in enumerate(root.stages):
        for j, block in enumerate(stage.blocks):
            if type(block.attn.w_msa) is not WindowMSA:
                return (f'stages.{s}.blocks.{j}.attn.w_msa is {type(block.attn.w_msa).__name__}'
                        ', not WindowMSA')
        merging = stage.downsample
        if merging is not None and (merging.sampler.kernel_size != (2, 2)
                                    or getattr(merging, 'use_post_norm', False)):
            return f'stages.{s}.downsample merges {merging.sampler.kernel_size} patches'
    return None


@register_model_family
class SwinTransformerFamily(ModelFamily):
    """mmpretrain's ``SwinTransformer`` (exactly that class; see the module
    docstring for what is searched)."""

    module_types = (SwinTransformer, )
    exact_type = True

    def unsupported(self, name, root):
        reason = _unsupported(root)
        return None if reason is None else f'{reason} (its depth only is searched)'

    def stand_in(self, name, root):
        conv = root.patch_embed.projection
        stride = conv.stride[0] * 2**sum(s.downsample is not None for s in root.stages)
        return StandInConv(conv.in_channels, root.num_features[-1], stride, ['map'])

    def input_channels(self, name, root):
        conv = root.patch_embed.projection
        return [channel(f'{name}.patch_embed.projection', 0, conv.in_channels, False)]

    def _stream(self, name: str, root: SwinTransformer, s: int) -> List:
        """The channels of stage ``s``'s stream."""
        width = root.stages[s].embed_dims
        if s == 0:
            producer = f'{name}.patch_embed.projection'
            norms = [f'{name}.patch_embed.norm'] if root.patch_embed.norm is not None else []
        else:
            producer = f'{name}.stages.{s - 1}.downsample.reduction'
            norms = []
        channels = [channel(producer, 0, width, True)]
        stage = f'{name}.stages.{s}'
        for j in range(len(root.stages[s].blocks)):
            block = f'{stage}.blocks.{j}'
            norms += [f'{block}.norm1', f'{block}.norm2']
            channels += [
                channel(f'{block}.attn.w_msa.qkv', 0, width, False),
                channel(f'{block}.attn.w_msa.proj', 0, width, True),
                channel(f'{block}.ffn.layers.0.0', 0, width, False),
                channel(f'{block}.ffn.layers.1', 0, width, True),
            ]
        merging = root.stages[s].downsample
        if merging is not None:  # reads each channel at the 4 positions of a 2x2 patch
            if merging.norm is not None:
                norms.append(f'{stage}.downsample.norm')
            channels.append(channel(f'{stage}.downsample.reduction', 0, 4 * width, False))
        if s in root.out_indices:
            norms.append(f'{name}.norm{s}')
        for norm in norms:
            size = 4 * width if norm.endswith('downsample.norm') else width
            channels += [channel(norm, 0, size, True), channel(norm, 0, size, False)]
        return channels

    def output_channels(self, name, root):
        last = len(root.stages) - 1
        return root.stages[last].embed_dims, self._stream(name, root, last)

    def inner_units(self, name, root):
        units = []
        for s, stage in enumerate(root.stages):
            if s < len(root.stages) - 1:
                channels = self._stream(name, root, s)
                units.append(dict(
                    init_args=dict(num_channels=stage.embed_dims),
                    channels=dict(
                        output_related=[c for c in channels if c['is_output_channel']],
                        input_related=[c for c in channels if not c['is_output_channel']])))
            for j, block in enumerate(stage.blocks):
                hidden = block.ffn.layers[0][0].out_features
                prefix = f'{name}.stages.{s}.blocks.{j}.ffn.layers'
                units.append(dict(
                    init_args=dict(num_channels=hidden),
                    channels=dict(output_related=[channel(f'{prefix}.0.0', 0, hidden, True)],
                                  input_related=[channel(f'{prefix}.1', 0, hidden, False)])))
        return units

    def attentions(self, name, root):
        return [(f'{name}.stages.{s}.blocks.{j}.attn.w_msa', AttentionSpec())
                for s, stage in enumerate(root.stages) for j in range(len(stage.blocks))]

    def stages(self, name, root):
        reason = 'Swin block: attention and MLP residuals scaled by one mask'
        return [FamilyStage(StageInfo(f'{name}.stages.{s}.blocks', [
            BlockInfo(f'{name}.stages.{s}.blocks.{j}', True, reason)
            for j in range(len(stage.blocks))]), _scale_transformer_layer)
            for s, stage in enumerate(root.stages)]

    def finish_static(self, root: nn.Module, kept_output, removed) -> None:
        widths = [stage.blocks[0].norm1.normalized_shape[0] if len(stage.blocks) else None
                  for stage in root.stages]
        for s, stage in enumerate(root.stages):
            if widths[s] is not None:
                stage.embed_dims = widths[s]
        if kept_output is not None:
            last = len(root.stages) - 1
            features = list(root.num_features)
            features[last] = int(len(kept_output))
            root.num_features = features
