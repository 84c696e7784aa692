"""Turn a DMS-prepared model into a static, smaller model.

Every DMS op becomes the plain torch/mmcv module sliced to its kept channels
(mmrazor's ``to_static_op``), removed blocks are deleted from their
``nn.Sequential`` and the depth hooks go away. The result holds no dms_mm
module and runs without dms_mm.
"""
import copy

from mmrazor.models.architectures.dynamic_ops import DynamicMixin
from mmrazor.structures.subnet.fix_subnet import _dynamic_to_static
from torch import nn

from dms_mm.dynamic_ops import DepthScaleHook


def removed_blocks(mutator):
    """Names of the blocks whose depth mask is off, per stage name."""
    removed = {}
    for name, blocks, mutable in zip(mutator.stage_names, mutator.stage_blocks, mutator.stages):
        kept = set(mutable.kept_indices())
        removed[name] = [block for i, block in enumerate(blocks) if i not in kept]
    return removed


def to_static(architecture: nn.Module, mutator, inplace: bool = False) -> nn.Module:
    """The static model of ``architecture`` under the mutator's hard masks.

    Args:
        architecture (nn.Module): The model the mutator was prepared on.
        mutator (DMSMutator): Its mutator (masks must be final: clamp first).
        inplace (bool): Convert ``architecture`` itself instead of a copy.
            Defaults to False.

    Returns:
        nn.Module: The static model, in the same train/eval mode.
    """
    removed = removed_blocks(mutator)
    if not inplace:
        # the copy carries its own copies of the mutables its ops and hooks point to
        architecture = copy.deepcopy(architecture)
    modules = dict(architecture.named_modules())
    for module in modules.values():
        for key, hook in list(module._forward_hooks.items()):
            if isinstance(hook, DepthScaleHook):
                del module._forward_hooks[key]
    for stage_name, blocks in removed.items():
        stage = modules[stage_name]
        positions = sorted((int(name.rsplit('.', 1)[1]) for name in blocks), reverse=True)
        for position in positions:
            del stage[position]
    _dynamic_to_static(architecture)
    leftovers = [name for name, m in architecture.named_modules() if isinstance(m, DynamicMixin)]
    if leftovers:
        raise RuntimeError(f'to_static: dynamic ops remain after conversion: {leftovers[:5]}')
    return architecture
