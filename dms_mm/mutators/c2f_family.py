"""The C2f family: YOLOv8's ``CSPLayerWithTwoConv`` (mmyolo).

torch.fx cannot trace C2f (``list(x.split(...))`` iterates a proxy), and
mmrazor's channel graph has no node for a split, so without this family its
backbone stages and its neck are in no unit. The family describes one C2f:

* its input (``main_conv``) and output (``final_conv``) join the units
  around it;
* the first half of ``main_conv``'s output, read by ``final_conv`` only, is a
  unit;
* the second half is the stream its blocks run on: with shortcuts (the
  backbone's C2f) every block adds to it, so the half, every block's output
  and their slices of ``final_conv``'s input are one unit; without (the
  neck's) each block's output is a unit of its own with its slice;
* each block's hidden width (``conv1`` to ``conv2``) is a unit;
* depth: the blocks with shortcuts. A removed block's output equals its input,
  so its slice of the concatenation is folded into the slice before it at
  export (:func:`~dms_mm.dynamic_ops.c2f.finish_c2f`), and the soft count
  scales that slice of ``final_conv``'s input by the block's mask.
"""
from typing import Dict, List

from mmyolo.models.layers.yolo_bricks import CSPLayerWithTwoConv

from dms_mm.dynamic_ops.c2f import finish_c2f
from dms_mm.dynamic_ops.depth import BlockInfo, DepthScaleHook, StageInfo

from .model_family import FamilyStage, ModelFamily, StandInConv, channel, register_model_family


def _conv_module(prefix: str, start: int, end: int, is_output: bool) -> List[Dict]:
    """Channels of an mmcv ``ConvModule`` (its conv, and its BN where it
    produces them) over ``start..end``."""
    if not is_output:
        return [channel(f'{prefix}.conv', start, end, False)]
    return [channel(f'{prefix}.conv', start, end, True), channel(f'{prefix}.bn', start, end, True),
            channel(f'{prefix}.bn', start, end, False)]


def _unit(width: int, channels: List[Dict]) -> Dict:
    return dict(init_args=dict(num_channels=width), channels=dict(
        output_related=[c for c in channels if c['is_output_channel']],
        input_related=[c for c in channels if not c['is_output_channel']]))


def _scale_block(block, mutable, index: int, name: str) -> None:
    block.register_forward_hook(DepthScaleHook(mutable, index, name))


@register_model_family
class C2fFamily(ModelFamily):
    """mmyolo's ``CSPLayerWithTwoConv`` (exactly that class)."""

    module_types = (CSPLayerWithTwoConv, )
    exact_type = True

    def unsupported(self, name, root):
        if not len(root.blocks):
            raise NotImplementedError(f'{name}: a C2f without blocks is not handled')
        for part in ('main_conv', 'final_conv'):
            if getattr(root, part).norm_name != 'bn':
                raise NotImplementedError(f'{name}.{part}: a ConvModule without BN is not '
                                          'handled')
        return None

    def stand_in(self, name, root):
        conv = root.main_conv.conv
        return StandInConv(conv.in_channels, root.final_conv.conv.out_channels, 1, None)

    def input_channels(self, name, root):
        return _conv_module(f'{name}.main_conv', 0, root.main_conv.conv.in_channels, False)

    def output_channels(self, name, root):
        width = root.final_conv.conv.out_channels
        return width, _conv_module(f'{name}.final_conv', 0, width, True)

    @staticmethod
    def _shortcut(root) -> bool:
        return all(block.add_identity for block in root.blocks)

    def inner_units(self, name, root):
        mid = root.mid_channels
        first = _conv_module(f'{name}.main_conv', 0, mid, True) + _conv_module(
            f'{name}.final_conv', 0, mid, False)
        units = [_unit(mid, first)]
        stream = _conv_module(f'{name}.main_conv', mid, 2 * mid, True)
        for i in range(len(root.blocks)):
            block = f'{name}.blocks.{i}'
            stream += _conv_module(f'{block}.conv1', 0, mid, False)
            stream += _conv_module(f'{name}.final_conv', (1 + i) * mid, (2 + i) * mid, False)
            if not self._shortcut(root):  # the block's output is a new width
                units.append(_unit(mid, stream))
                stream = []
            stream += _conv_module(f'{block}.conv2', 0, mid, True)
            hidden = root.blocks[i].conv1.conv.out_channels
            units.append(_unit(hidden, _conv_module(f'{block}.conv1', 0, hidden, True)
                               + _conv_module(f'{block}.conv2', 0, hidden, False)))
        last = len(root.blocks)
        stream += _conv_module(f'{name}.final_conv', (1 + last) * mid, (2 + last) * mid, False)
        units.append(_unit(mid, stream))
        return units

    def stages(self, name, root):
        if self._shortcut(root):
            reason = 'C2f block with a shortcut: its slice of the concatenation folds away'
            blocks = [BlockInfo(f'{name}.blocks.{i}', True, reason)
                      for i in range(len(root.blocks))]
        else:
            reason = 'C2f block without a shortcut: its output is a new width, not its input'
            blocks = [BlockInfo(f'{name}.blocks.{i}', False, reason)
                      for i in range(len(root.blocks))]
        return [FamilyStage(StageInfo(f'{name}.blocks', blocks), _scale_block)]

    def width_gates(self, name, root):
        if not self._shortcut(root):
            return {}
        mid = root.mid_channels
        return {f'{name}.final_conv.conv': {
            ((2 + i) * mid, (3 + i) * mid): (f'{name}.blocks', i)
            for i in range(len(root.blocks))}}

    def finish_static(self, root, kept_output, removed):
        finish_c2f(root, removed.get('blocks', []))
