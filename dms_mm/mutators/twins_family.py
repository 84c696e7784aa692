"""The attention families of Twins (PCPVT, SVT): the spatial-reduction
attention of PVT (``GlobalSubsampledAttention``) and the locally grouped
attention (``LocallyGroupedSelfAttention``).

Twins' backbones trace, but their attentions do not (their forwards assert on
the feature map's shape). Each attention is a family root: the tracer sees a
linear from its input to its output, so its q, k/v (or qkv) input and its
``proj`` output join the stream around it, and the family searches its heads,
q/k and v dims. GSA's reduced tokens (its strided convolution, LayerNorm and
k/v input) are a width of their own. The static forms are in
:mod:`dms_mm.dynamic_ops.twins_attention`. The position encoding (a residual
depthwise convolution) is a family of its own for the same reason.
"""
from mmpretrain.models.backbones.twins import (
    GlobalSubsampledAttention,
    LocallyGroupedSelfAttention,
)
from mmpretrain.models.utils import ConditionalPositionEncoding

from dms_mm.dynamic_ops.twins_attention import GSA_SPEC, LSA_SPEC

from .model_family import (
    ModelFamily,
    StandInLinear,
    StandInPassThrough,
    channel,
    register_model_family,
)


class _AttentionFamily(ModelFamily):
    """A family of one attention module of exactly ``module_types`` (a
    subclass may compute something else), traced as a linear."""

    exact_type = True

    def stand_in(self, name, root):
        return StandInLinear(root.proj.in_features, root.proj.out_features)

    def output_channels(self, name, root):
        return root.proj.out_features, [channel(f'{name}.proj', 0, root.proj.out_features, True)]


@register_model_family
class GlobalSubsampledAttentionFamily(_AttentionFamily):
    """Twins' ``GlobalSubsampledAttention``: heads, q/k and v dims, and the
    width of the tokens its strided convolution reduces."""

    module_types = (GlobalSubsampledAttention, )

    def stand_in(self, name, root):
        if root.v_shortcut:
            raise NotImplementedError(f'{name}: GlobalSubsampledAttention with v_shortcut=True '
                                      'adds its values to its output; not handled')
        return StandInLinear(root.q.in_features, root.proj.out_features)

    def input_channels(self, name, root):
        reader = f'{name}.sr' if root.sr_ratio > 1 else f'{name}.kv'
        return [channel(f'{name}.q', 0, root.q.in_features, False),
                channel(reader, 0, root.q.in_features, False)]

    def inner_units(self, name, root):
        if root.sr_ratio <= 1:
            return []
        width = root.sr.out_channels
        return [dict(init_args=dict(num_channels=width), channels=dict(
            output_related=[channel(f'{name}.sr', 0, width, True),
                            channel(f'{name}.norm', 0, width, True)],
            input_related=[channel(f'{name}.norm', 0, width, False),
                           channel(f'{name}.kv', 0, width, False)]))]

    def attentions(self, name, root):
        return [(name, GSA_SPEC)]


@register_model_family
class LocallyGroupedAttentionFamily(_AttentionFamily):
    """Twins' ``LocallyGroupedSelfAttention``: heads, q/k and v dims."""

    module_types = (LocallyGroupedSelfAttention, )

    def input_channels(self, name, root):
        return [channel(f'{name}.qkv', 0, root.qkv.in_features, False)]

    def attentions(self, name, root):
        return [(name, LSA_SPEC)]


@register_model_family
class ConditionalPositionEncodingFamily(ModelFamily):
    """Twins' position encoding (PEG): ``x + dwconv(x)`` over the token map.
    Its forward unpacks the tokens' shape, which torch.fx cannot trace; its
    depthwise convolution joins the stream it reads and adds to."""

    module_types = (ConditionalPositionEncoding, )
    passes_channels = True
    exact_type = True

    def unsupported(self, name, root):
        conv = root.proj
        if root.stride != 1 or not conv.groups == conv.in_channels == conv.out_channels:
            raise NotImplementedError(
                f'{name}: a ConditionalPositionEncoding with stride {root.stride} or a '
                'convolution that is not depthwise changes the width; not handled')
        return None

    def stand_in(self, name, root):
        return StandInPassThrough()

    def input_channels(self, name, root):
        width = root.proj.in_channels
        return [channel(f'{name}.proj', 0, width, False), channel(f'{name}.proj', 0, width, True)]

    def output_channels(self, name, root):
        return root.proj.out_channels, [channel(f'{name}.proj', 0, root.proj.out_channels, True)]
