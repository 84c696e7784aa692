"""Model families: what the generic tracer and stage finder cannot see.

mmrazor's tracer finds the channel units of convolutional networks, and
:func:`~dms_mm.dynamic_ops.find_stages` their stages. Some modules defeat both
(mmpretrain's ``VisionTransformer``: the tracer finds no unit, its layers are a
``ModuleList`` and its blocks add the FFN residual inside ``FFN``). A *model
family* describes such a module once:

* the tracer keeps it opaque (a leaf); the family lists the channels that
  consume its input and the channels of its output, which join the tracer's
  units on either side (so the layers around it, such as a classifier head,
  are pruned consistently);
* units wholly inside it, stages of removable blocks and how a block's
  residual is scaled, attention modules, parameters that are not layers
  (``cls_token``), and fix-ups of the static module after export.

A family is a class registered with :func:`register_model_family`; the
mutator uses every registered family whose ``module_types`` occur in the
model. :class:`VisionTransformerFamily` is the one dms_mm ships;
:class:`DeclaredAttentionFamily` serves attention modules a config declares
(``DMSMutator(attention=dict(types=...))``).
"""
import logging
from typing import Callable, Dict, List, NamedTuple, Optional, Sequence, Tuple

import torch
from mmengine.logging import print_log
from mmpretrain.models.backbones import VisionTransformer
from mmpretrain.models.utils import LayerScale
from mmpretrain.models.utils.attention import MultiheadAttention
from torch import nn

from dms_mm.dynamic_ops import DMSLinear
from dms_mm.dynamic_ops.attention import AttentionSpec, pruned_form, slice_linear
from dms_mm.dynamic_ops.depth import (
    BlockInfo,
    BlockScale,
    BranchScaleHook,
    IdentityBranchScaleHook,
    StageInfo,
    type_matches,
)

_FAMILIES: List[type] = []


def register_model_family(cls: type) -> type:
    """Class decorator: the mutator will use this family where it applies."""
    if cls not in _FAMILIES:
        _FAMILIES.append(cls)
    return cls


def registered_families() -> List[type]:
    return list(_FAMILIES)


def channel(name: str, start: int, end: int, is_output: bool) -> Dict:
    """One channel entry of an mmrazor unit config."""
    return dict(name=name, start=int(start), end=int(end), expand_ratio=1,
                is_output_channel=bool(is_output))


class FamilyStage(NamedTuple):
    """A stage a family found, and how to scale one of its blocks.

    ``scale(block, mutable, index, name)`` makes the block's residual branches
    scaled by ``mutable.mask[index]`` (hooks, or output masks of their last
    linears).
    """
    info: StageInfo
    scale: Callable


class ModelFamily:
    """Base class of a model family (see the module docstring).

    Subclasses set ``module_types`` and override what applies; names passed
    to and returned by the methods are full module names in the model.
    """

    #: the module types this family handles
    module_types: Tuple[type, ...] = ()
    #: its output carries its input's channels (:class:`StandInPassThrough`):
    #: :meth:`input_channels` lists the channels of both sides
    passes_channels: bool = False
    #: match ``module_types`` exactly, not their subclasses (whose forwards may differ)
    exact_type: bool = False

    def roots(self, model: nn.Module) -> List[Tuple[str, nn.Module]]:
        """The modules of the model this family handles (outermost only)."""
        found = []
        for name, module in model.named_modules():
            matches = (type(module) in self.module_types if self.exact_type else
                       isinstance(module, self.module_types))
            if not matches or any(name.startswith(r + '.') for r, _ in found):
                continue
            reason = self.unsupported(name, module)
            if reason is None:
                found.append((name, module))
            else:
                print_log(f'{type(self).__name__}: {name} is left to the generic search: '
                          f'{reason}', logger='current', level=logging.WARNING)
        return found

    def unsupported(self, name: str, root: nn.Module) -> Optional[str]:
        """Why this family leaves ``root`` to the generic search (the log
        says so), or None. Raise ``NotImplementedError`` to refuse it."""
        return None

    def stand_in(self, name: str, root: nn.Module) -> nn.Module:
        """What the tracer sees in place of ``root``: a :class:`StandInConv`
        or :class:`StandInLinear` mapping its input channels to its output
        width, with outputs shaped as ``root``'s."""
        raise NotImplementedError

    def input_channels(self, name: str, root: nn.Module) -> List[Dict]:
        """Channels inside ``root`` that consume its input."""
        return []

    def output_channels(self, name: str, root: nn.Module) -> Tuple[int, List[Dict]]:
        """The width of ``root``'s output, and the channels inside ``root``
        that produce (and re-read) it."""
        raise NotImplementedError

    def inner_units(self, name: str, root: nn.Module) -> List[Dict]:
        """Unit configs wholly inside ``root``."""
        return []

    def stages(self, name: str, root: nn.Module) -> List[FamilyStage]:
        return []

    def attentions(self, name: str, root: nn.Module) -> List[Tuple[str, AttentionSpec]]:
        """Attention modules inside ``root`` (with ``root`` itself possibly)."""
        return []

    def search_dims(self) -> bool:
        """Whether the head dims of this family's attentions are searched."""
        return True

    def output_param_elements(self, root: nn.Module) -> int:
        """Parameter elements per output channel held outside any layer
        (e.g. ``cls_token`` and ``pos_embed``: one per token)."""
        return 0

    def batch_widths(self, name: str, root: nn.Module) -> Dict[str, str]:
        """Layers whose rows (the dims before their channels) carry a searched
        width: layer name -> a layer whose output is that width (MLP-Mixer's
        token mixing runs over the embedding's rows); their FLOPs scale with
        its kept share."""
        return {}

    def op_widths(self, name: str, root: nn.Module) -> Dict[str, str]:
        """Modules whose ops called outside any layer (an attention's
        ``scaled_dot_product_attention``) cost FLOPs in proportion to a
        searched width: module name -> a layer whose output is that width
        (the query projection, whose rows are the kept heads)."""
        return {}

    def width_gates(self, name: str, root: nn.Module) -> Dict[str, Dict[Tuple[int, int], Tuple]]:
        """Input channel ranges of layers that exist only while a removable
        block is kept (a concatenation of block outputs): layer name ->
        ``{(start, end): (stage name, block index)}``; the soft count scales
        those ranges by the block's depth mask."""
        return {}

    def finish_static(self, root: nn.Module, kept_output: Optional[torch.Tensor],
                      removed: Dict[str, List[int]]) -> None:
        """Fix up ``root`` after its layers became static.

        Args:
            root (nn.Module): The static module.
            kept_output (Tensor | None): Kept output channel indices.
            removed (dict): Stage name (relative to ``root``) -> removed
                block positions.
        """


class StandInConv(nn.Conv2d):
    """A 1x1 convolution traced in place of a family module that reads images;
    ``outputs`` says how to shape each of its outputs (``'pool'``: ``(B, C)``,
    ``'map'``: ``(B, C, H, W)``, ``'tokens'``: ``(B, HW, C)``, ``'map_tokens'``:
    ``(B, C, HW)``, ``'pool_pair'``: two ``(B, C)``, as a class and a distillation
    token), as a tuple; None: one
    ``(B, C, H, W)`` map, not in a tuple (a block inside a network)."""

    def __init__(self, in_channels: int, out_channels: int, stride: int,
                 outputs: Optional[Sequence[str]]):
        super().__init__(in_channels, out_channels, 1, stride=stride, bias=False)
        self.outputs = None if outputs is None else tuple(outputs)

    def forward(self, x):
        y = super().forward(x)
        if self.outputs is None:
            return y
        shaped = {'pool': lambda t: t.mean((2, 3)), 'map': lambda t: t,
                  'tokens': lambda t: t.flatten(2).transpose(1, 2),
                  'pool_pair': lambda t: (t.mean((2, 3)), t.mean((2, 3))),
                  'map_tokens': lambda t: t.flatten(2)}
        return tuple(shaped[kind](y) for kind in self.outputs)


class StandInLinear(nn.Linear):
    """A linear traced in place of a family module over ``(..., C)`` tokens
    (arguments after the tokens, such as a feature map's shape, are ignored)."""

    def forward(self, x, *args, **kwargs):
        return super().forward(x)


class StandInPassThrough(nn.Module):
    """A module traced in place of a family module whose output carries the
    channels of its input (a residual depthwise convolution): the tracer ties
    both sides to one unit."""

    def forward(self, x, *args, **kwargs):
        return x


STAND_IN_TYPES = (StandInConv, StandInLinear, StandInPassThrough)


def _layer_scales(layer: nn.Module) -> List[Tuple[str, nn.Module]]:
    """``(name, module)`` of each layer scale with parameters in a transformer
    layer (mmpretrain's attention ``gamma1``, DeiT3's FFN ``gamma2``)."""
    found = []
    for part in ('attn.gamma1', 'ffn.gamma2'):
        owner, _, key = part.partition('.')
        scale = getattr(getattr(layer, owner, None), key, None)
        if isinstance(scale, nn.Module) and any(True for _ in scale.parameters()):
            found.append((part, scale))
    return found


def _dist_token(root: nn.Module):
    """DeiT's distillation token (``DistilledVisionTransformer``), or None."""
    return getattr(root, 'dist_token', None)


def _is_layer_norm(module: nn.Module) -> bool:
    return isinstance(module, nn.LayerNorm)


@register_model_family
class VisionTransformerFamily(ModelFamily):
    """mmpretrain's ``VisionTransformer`` (ViT, DeiT, DeiT3), with ``ffn_type='origin'``.

    * one embedding unit: patch-embedding output, every LayerNorm and layer
      scale, each attention's ``proj`` output and FFN output, each ``qkv`` and
      FFN input, and whatever reads the backbone output (the head);
    * an MLP-hidden unit per layer;
    * heads, q/k and v dims of each attention;
    * depth: ``layers``; a layer's attention and FFN residuals share one mask.
    """

    module_types = (VisionTransformer, )

    def roots(self, model):
        # subclasses with layers of their own have families of their own
        return [(name, root) for name, root in super().roots(model)
                if not any(type(root) is t for family in registered_families()
                           if family is not type(self) and issubclass(family, type(self))
                           for t in family.module_types)]

    def _check(self, name: str, root: VisionTransformer) -> None:
        for i, layer in enumerate(root.layers):
            where = f'{name}.layers.{i}'
            if not isinstance(layer.attn, MultiheadAttention):
                raise NotImplementedError(f'{where}.attn is {type(layer.attn).__name__}; the '
                                          'VisionTransformer family handles MultiheadAttention')
            if not isinstance(layer.ffn.layers, nn.Sequential) or len(layer.ffn.layers) != 3:
                raise NotImplementedError(f'{where}.ffn: only ffn_type="origin" with two '
                                          'linears is handled')
            for part, scale in _layer_scales(layer):
                if not isinstance(scale, LayerScale):
                    raise NotImplementedError(f'{where}.{part} is {type(scale).__name__}; the '
                                              "VisionTransformer family handles mmpretrain's "
                                              'LayerScale')

    def stand_in(self, name, root):
        kinds = {'cls_token': 'pool', 'avg_featmap': 'pool', 'featmap': 'map', 'raw': 'tokens'}
        if _dist_token(root) is not None:  # DeiT's distillation token: (class, distillation)
            kinds['cls_token'] = 'pool_pair'
        conv = root.patch_embed.projection
        return StandInConv(conv.in_channels, root.embed_dims, conv.stride[0],
                           [kinds[root.out_type]] * len(root.out_indices))

    def input_channels(self, name, root):
        conv = root.patch_embed.projection
        return [channel(f'{name}.patch_embed.projection', 0, conv.in_channels, False)]

    def output_channels(self, name, root):
        self._check(name, root)
        embed = root.embed_dims
        channels = [channel(f'{name}.patch_embed.projection', 0, embed, True)]
        for sub, module in root.named_modules():
            if sub and _is_layer_norm(module) and module.normalized_shape[-1] == embed \
                    and not self._in_mlp(sub):
                channels.append(channel(f'{name}.{sub}', 0, embed, True))
                channels.append(channel(f'{name}.{sub}', 0, embed, False))
        for i, layer in enumerate(root.layers):
            channels += self._layer_channels(f'{name}.layers.{i}', layer, embed)
        return embed, channels

    def _in_mlp(self, sub: str) -> bool:
        """Whether module ``sub`` of the root is inside a layer's MLP."""
        return '.ffn.' in sub

    def _layer_channels(self, prefix: str, layer: nn.Module, embed: int) -> List[Dict]:
        """The embedding channels of one layer's linears and layer scales."""
        channels = [
            channel(f'{prefix}.attn.qkv', 0, embed, False),
            channel(f'{prefix}.attn.proj', 0, embed, True),
            channel(f'{prefix}.ffn.layers.0.0', 0, embed, False),
            channel(f'{prefix}.ffn.layers.1', 0, embed, True),
        ]
        for part, _ in _layer_scales(layer):  # DeiT3: a scale per channel
            channels += [channel(f'{prefix}.{part}', 0, embed, True),
                         channel(f'{prefix}.{part}', 0, embed, False)]
        return channels

    def _hidden_unit(self, prefix: str, layer: nn.Module) -> Dict:
        """The unit of one layer's MLP hidden width."""
        hidden = layer.ffn.layers[0][0].out_features
        return dict(init_args=dict(num_channels=hidden), channels=dict(
            output_related=[channel(f'{prefix}.ffn.layers.0.0', 0, hidden, True)],
            input_related=[channel(f'{prefix}.ffn.layers.1', 0, hidden, False)]))

    def inner_units(self, name, root):
        return [self._hidden_unit(f'{name}.layers.{i}', layer)
                for i, layer in enumerate(root.layers)]

    def attentions(self, name, root):
        return [(f'{name}.layers.{i}.attn', AttentionSpec()) for i in range(len(root.layers))]

    def stages(self, name, root):
        reason = 'transformer layer: attention and MLP residuals scaled by one mask'
        blocks = [BlockInfo(f'{name}.layers.{i}', True, reason) for i in range(len(root.layers))]
        return [FamilyStage(StageInfo(f'{name}.layers', blocks), self._scale_layer)]

    @staticmethod
    def _scale_layer(layer: nn.Module, mutable, index: int, name: str) -> None:
        _scale_transformer_layer(layer, mutable, index, name)

    def output_param_elements(self, root):
        tokens = root.pos_embed.shape[1] if root.pos_embed is not None else 0
        return tokens + sum(token is not None for token in (root.cls_token, _dist_token(root)))

    def finish_static(self, root, kept_output, removed):
        if kept_output is not None:
            for key in ('cls_token', 'dist_token', 'pos_embed'):
                param = getattr(root, key, None)
                if param is not None:
                    setattr(root, key, nn.Parameter(param.detach()[..., kept_output].clone(),
                                                    requires_grad=param.requires_grad))
            root.embed_dims = int(len(kept_output))
        gone = sorted(removed.get('layers', []))
        if gone:
            old = list(range(root.num_layers))
            kept = [i for i in old if i not in gone]
            # an output taken after a removed layer comes from the last kept layer before it
            root.out_indices = sorted({
                max([k for k in range(len(kept)) if kept[k] <= index], default=0)
                for index in root.out_indices})
            root.num_layers = len(kept)


def _scale_transformer_layer(layer: nn.Module, mutable, index: int, name: str) -> None:
    """``x + m * attn(ln1(x))``, then ``y + m * ffn(ln2(y))``.

    Where a branch ends in a DMS linear followed by linear maps only (dropout,
    layer scale, drop path: mmpretrain's attention without ``v_shortcut``, and
    mmcv's ``FFN`` that adds its identity), that linear's weight and bias carry
    the scale instead of the branch's output: the same function of ``m``, on
    a tensor far smaller than a batch of tokens. Otherwise a hook scales the
    output.
    """
    attn, ffn = layer.attn, layer.ffn
    proj = getattr(attn, 'proj', None)
    if _free_dms_linear(proj) and not getattr(attn, 'v_shortcut', False):
        proj.mask_outputs(BlockScale(mutable, index, f'{name}.attn'))
    else:
        attn.register_forward_hook(BranchScaleHook(mutable, index, f'{name}.attn'))
    scale_ffn_branch(ffn, mutable, index, f'{name}.ffn')


def scale_ffn_branch(ffn: nn.Module, mutable, index: int, name: str) -> None:
    """An mmcv ``FFN`` that adds its identity: ``identity + m * ffn(x)``, on
    the weight of its last linear where only dropouts follow it, else by a
    hook on its output."""
    fc2 = _last_linear_then_dropouts(getattr(ffn, 'layers', None))
    if _free_dms_linear(fc2) and getattr(ffn, 'add_identity', False):
        fc2.mask_outputs(BlockScale(mutable, index, name))
    else:
        ffn.register_forward_hook(IdentityBranchScaleHook(mutable, index, name),
                                  with_kwargs=True)


def _free_dms_linear(module) -> bool:
    """Whether ``module`` is a DMS linear with no output mask yet."""
    return isinstance(module, DMSLinear) and module.output_mask_of is None


def _last_linear_then_dropouts(layers) -> Optional[nn.Module]:
    """The last linear of a ``Sequential`` when only dropouts follow it."""
    if not isinstance(layers, nn.Sequential):
        return None
    for module in reversed(layers):
        if isinstance(module, nn.Linear):
            return module
        if not isinstance(module, (nn.Dropout, nn.Identity)):
            return None
    return None


class DeclaredAttentionFamily(ModelFamily):
    """Attention modules a config declares, by class name:
    ``DMSMutator(attention=dict(types=dict(MyAttention=dict(qkv='to_qkv', proj='out'))))``.

    The module's ``qkv`` consumes its input and ``proj`` produces its output,
    so both join the tracer's units around it; its heads are searched. Its
    head dims stay whole (its forward owns the head dim and the scale), and
    export sets its ``num_heads`` attribute (and ``embed_dims``, when it has
    one) after slicing ``qkv`` and ``proj``.
    """

    def __init__(self, types: Dict[str, Dict]):
        self.specs: Dict[str, AttentionSpec] = {}
        for type_name, spec in types.items():
            unknown = set(spec) - set(AttentionSpec._fields)
            if unknown:
                raise KeyError(f'attention.types.{type_name}: unknown keys {sorted(unknown)}; '
                               f'known: {list(AttentionSpec._fields)}')
            self.specs[type_name] = AttentionSpec(**spec)

    def _spec(self, module: nn.Module) -> Optional[AttentionSpec]:
        for type_name, spec in self.specs.items():
            if type_matches(module, (type_name, )):
                return spec
        return None

    def roots(self, model):
        found = []
        for name, module in model.named_modules():
            if self._spec(module) is not None and not any(
                    name.startswith(r + '.') for r, _ in found):
                found.append((name, module))
        return found

    def _linear(self, name: str, root: nn.Module, attr: str) -> nn.Linear:
        spec = self._spec(root)
        child = getattr(root, getattr(spec, attr), None)
        if not isinstance(child, nn.Linear):
            raise ValueError(f'attention.types: {name} ({type(root).__name__}) has no linear '
                             f'{getattr(spec, attr)!r} (its {attr})')
        return child

    def stand_in(self, name, root):
        qkv, proj = self._linear(name, root, 'qkv'), self._linear(name, root, 'proj')
        return StandInLinear(qkv.in_features, proj.out_features)

    def input_channels(self, name, root):
        spec = self._spec(root)
        parts = ('qkv', 'kv') if spec.kv else ('qkv', )
        return [channel(f'{name}.{getattr(spec, part)}', 0,
                        self._linear(name, root, part).in_features, False) for part in parts]

    def output_channels(self, name, root):
        proj = self._linear(name, root, 'proj')
        return proj.out_features, [channel(f'{name}.{self._spec(root).proj}', 0,
                                           proj.out_features, True)]

    def attentions(self, name, root):
        return [(name, self._spec(root))]

    def search_dims(self) -> bool:
        return False


def static_attention(module: nn.Module, spec: AttentionSpec, mutables) -> nn.Module:
    """The static form of a searched attention whose linears are already
    static along the embedding."""
    qkv, proj = getattr(module, spec.qkv), getattr(module, spec.proj)
    form = pruned_form(module)
    if form is not None and spec == form.spec:
        return form.build(module, mutables, qkv, proj)
    if spec.kv is not None:
        raise NotImplementedError(f'{type(module).__name__}: an attention with a q linear of '
                                  'its own exports through a pruned form '
                                  '(dms_mm.dynamic_ops.attention.register_pruned_attention)')
    setattr(module, spec.qkv, slice_linear(qkv, rows=mutables.qkv_rows().to(qkv.weight.device)))
    setattr(module, spec.proj,
            slice_linear(proj, cols=mutables.proj_columns().to(proj.weight.device)))
    heads = len(mutables.kept()['heads'])
    setattr(module, spec.num_heads, heads)
    if hasattr(module, 'embed_dims') and isinstance(module.embed_dims, int):
        module.embed_dims = heads * mutables.head_dims
    return module


def families_for(model: nn.Module, declared_attention: Dict[str, Dict]) -> List[
        Tuple[ModelFamily, str, nn.Module]]:
    """Every (family, root name, root) that applies to ``model``."""
    families: Sequence[ModelFamily] = [cls() for cls in registered_families()]
    if declared_attention:
        families = list(families) + [DeclaredAttentionFamily(declared_attention)]
    found = []
    for family in families:
        for name, root in family.roots(model):
            if not name:
                raise ValueError(f'{type(family).__name__}: the whole model is a '
                                 f'{type(root).__name__}; wrap it in a model')
            found.append((family, name, root))
    return found
