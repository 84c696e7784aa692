"""Turn a DMS-prepared model into a static, smaller model.

Every DMS op becomes the plain torch/mmcv module sliced to its kept channels
(mmrazor's ``to_static_op``), removed blocks are deleted from their
``nn.Sequential`` and the depth hooks go away. A module the model reaches
by several names (weights shared across the levels of a detection head)
becomes one static module under all of them. The result holds no dms_mm
module and runs without dms_mm.
"""
import copy

import torch
from mmrazor.models.architectures.dynamic_ops import DynamicMixin
from torch import nn

from dms_mm.dynamic_ops.attention import QKVMaskHook
from dms_mm.dynamic_ops.depth import DepthHook
from dms_mm.mutators.model_family import static_attention


def removed_blocks(mutator):
    """Names of the blocks whose depth mask is off, per stage name."""
    removed = {}
    for name, blocks, mutable in zip(mutator.stage_names, mutator.stage_blocks, mutator.stages):
        kept = set(mutable.kept_indices())
        removed[name] = [block for i, block in enumerate(blocks) if i not in kept]
    return removed


def _to_static_ops(model: nn.Module) -> None:
    """Replace every dynamic op by its static op (``to_static_op``), one
    static op per dynamic op, however many names it has."""
    converted = {}  # id(dynamic op) -> (dynamic op, static op)
    visited = set()

    def visit(module: nn.Module) -> None:
        for key, child in list(module._modules.items()):
            if child is None:
                continue
            if isinstance(child, DynamicMixin):
                if id(child) not in converted:
                    converted[id(child)] = (child, child.to_static_op())
                child = module._modules[key] = converted[id(child)][1]
            if id(child) not in visited:
                visited.add(id(child))
                visit(child)

    if isinstance(model, DynamicMixin):
        raise RuntimeError('to_static: the root model cannot be a dynamic op')
    visit(model)


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
        # the masks cached by the last training step hold its autograd graph, which
        # deepcopy refuses (a search that ends without a validation pass): dropped, as
        # every forward computes them anew
        mutator.clear_masks()
        # the copy carries its own copies of the mutables its ops and hooks point to
        architecture = copy.deepcopy(architecture)
    modules = dict(architecture.named_modules())
    for module in modules.values():
        for key, hook in list(module._forward_hooks.items()):
            if isinstance(hook, (DepthHook, QKVMaskHook)):
                del module._forward_hooks[key]
                module._forward_hooks_with_kwargs.pop(key, None)
    # by object, not by name: deleting blocks renumbers the names after them
    attentions = [(modules[name], spec, mutables) for name, spec, mutables in zip(
        mutator.attention_names, mutator.attention_specs, mutator.attentions)]
    roots = [(family, modules[name], name) for family, name in mutator.family_roots]
    positions = {}
    for stage_name, blocks in removed.items():
        stage = modules[stage_name]
        positions[stage_name] = sorted(int(name.rsplit('.', 1)[1]) for name in blocks)
        for position in reversed(positions[stage_name]):
            del stage[position]
    _to_static_ops(architecture)
    parents = {id(child): (parent, key) for parent in architecture.modules()
               for key, child in parent.named_children()}
    for module, spec, mutables in attentions:
        if id(module) not in parents:  # its block was removed
            continue
        parent, key = parents[id(module)]
        setattr(parent, key, static_attention(module, spec, mutables))
    for family, root, root_name in roots:
        unit = mutator.family_output_units.get(root_name)
        kept = None if unit is None else torch.nonzero(
            unit.mutable_channel.current_mask).flatten()
        relative = {stage[len(root_name) + 1:]: gone for stage, gone in positions.items()
                    if stage.startswith(root_name + '.')}
        family.finish_static(root, kept, relative)
    leftovers = [name for name, m in architecture.named_modules(remove_duplicate=False)
                 if isinstance(m, DynamicMixin)]
    if leftovers:
        raise RuntimeError(f'to_static: dynamic ops remain after conversion: {leftovers[:5]}')
    return architecture
