"""The MLP-Mixer family: mmpretrain's ``MlpMixer``.

Its forward asserts the input's shape, which torch.fx cannot trace, and its
token-mixing MLP acts across the tokens of a transposed map, which mmrazor's
channel graph would take for channels. The family describes it:

* one embedding unit: the patch embedding's output, every LayerNorm, each
  channel-mixing MLP's input and output, and what reads the backbone output;
* per layer, the hidden width of the token-mixing MLP (its input and output
  are the tokens, which stay) and of the channel-mixing MLP;
* depth: the layers, the token- and channel-mixing residuals of one layer
  scaled by one mask.

The output is ``(B, C, tokens)`` (channels first), as MLP-Mixer returns it.
"""
from typing import Dict, List

from mmpretrain.models.backbones import MlpMixer
from torch import nn

from dms_mm.dynamic_ops.depth import BlockInfo, BranchScaleHook, StageInfo

from .model_family import (
    FamilyStage,
    ModelFamily,
    StandInConv,
    channel,
    register_model_family,
    scale_ffn_branch,
)


def _hidden(prefix: str, ffn: nn.Module) -> Dict:
    """The unit of an mmcv FFN's hidden width (two linears)."""
    width = ffn.layers[0][0].out_features
    return dict(init_args=dict(num_channels=width), channels=dict(
        output_related=[channel(f'{prefix}.layers.0.0', 0, width, True)],
        input_related=[channel(f'{prefix}.layers.1', 0, width, False)]))


def _scale_mixer_block(block: nn.Module, mutable, index: int, name: str) -> None:
    """``x + m * token_mix(...)``, then ``y + m * channel_mix(norm2(y))``."""
    block.token_mix.register_forward_hook(BranchScaleHook(mutable, index, f'{name}.token_mix'))
    scale_ffn_branch(block.channel_mix, mutable, index, f'{name}.channel_mix')


@register_model_family
class MlpMixerFamily(ModelFamily):
    """mmpretrain's ``MlpMixer`` (exactly that class)."""

    module_types = (MlpMixer, )
    exact_type = True

    def unsupported(self, name, root):
        if list(root.out_indices) != [root.num_layers - 1]:
            raise NotImplementedError(f'{name}: MlpMixer with out_indices={root.out_indices}: '
                                      'the family handles the output of the last layer')
        return None

    def stand_in(self, name, root):
        conv = root.patch_embed.projection
        return StandInConv(conv.in_channels, root.embed_dims, conv.stride[0], ['map_tokens'])

    def input_channels(self, name, root):
        conv = root.patch_embed.projection
        return [channel(f'{name}.patch_embed.projection', 0, conv.in_channels, False)]

    def output_channels(self, name, root):
        embed = root.embed_dims
        channels = [channel(f'{name}.patch_embed.projection', 0, embed, True)]
        for sub, module in root.named_modules():
            if sub and isinstance(module, nn.LayerNorm):
                channels += [channel(f'{name}.{sub}', 0, embed, True),
                             channel(f'{name}.{sub}', 0, embed, False)]
        for i in range(len(root.layers)):
            prefix = f'{name}.layers.{i}.channel_mix.layers'
            channels += [channel(f'{prefix}.0.0', 0, embed, False),
                         channel(f'{prefix}.1', 0, embed, True)]
        return embed, channels

    def inner_units(self, name, root) -> List[Dict]:
        units = []
        for i, layer in enumerate(root.layers):
            units.append(_hidden(f'{name}.layers.{i}.token_mix', layer.token_mix))
            units.append(_hidden(f'{name}.layers.{i}.channel_mix', layer.channel_mix))
        return units

    def batch_widths(self, name, root):
        # the token-mixing MLP runs on (B, C, tokens): one row per embedding channel
        return {f'{name}.layers.{i}.token_mix.layers.{j}': f'{name}.patch_embed.projection'
                for i in range(len(root.layers)) for j in ('0.0', '1')}

    def stages(self, name, root):
        reason = 'Mixer layer: token- and channel-mixing residuals scaled by one mask'
        blocks = [BlockInfo(f'{name}.layers.{i}', True, reason) for i in range(len(root.layers))]
        return [FamilyStage(StageInfo(f'{name}.layers', blocks), _scale_mixer_block)]

    def finish_static(self, root, kept_output, removed):
        if kept_output is not None:
            root.embed_dims = int(len(kept_output))
        if removed.get('layers'):
            root.num_layers = len(root.layers)
            root.out_indices = [root.num_layers - 1]
