"""Depth for DMS: find removable residual blocks and scale them by a mask.

A block is *removable* when its output is ``x + f(x)`` with ``x`` the block's
own input (an identity skip), possibly followed by an activation. Such a
block can be dropped and the stage still computes: its output becomes ``x``.
This is decided from the block's own ``torch.fx`` graph, with every submodule
kept opaque, so no per-model code is needed.

A kept/removed block is then scaled as ``y = x + m * (block(x) - x)``, which
is the DMS form ``x + m * f(x)`` for blocks without a post-activation, and
equals the block (m = 1) or the identity (m = 0) in every case. The scale is
applied by a forward hook, so parameter names and checkpoints are unchanged.
"""
import operator
from typing import List, NamedTuple, Tuple

import torch
import torch.fx as fx
from torch import nn

from dms_mm.ops import straight_through

_ADD_TARGETS = {operator.add, operator.iadd, torch.add}
_ADD_METHODS = {'add', 'add_'}
_ACTIVATIONS = (nn.ReLU, nn.ReLU6, nn.SiLU, nn.GELU, nn.Hardswish, nn.LeakyReLU, nn.ELU,
                nn.Identity, nn.Dropout)
_ACTIVATION_FUNCTIONS = {torch.relu, torch.nn.functional.relu, torch.nn.functional.relu6,
                         torch.nn.functional.silu, torch.nn.functional.gelu}


class _OpaqueTracer(fx.Tracer):
    """Traces only the block's own forward; every submodule is a leaf."""

    def is_leaf_module(self, m: nn.Module, module_qualified_name: str) -> bool:
        return True


def _is_add(node: fx.Node) -> bool:
    return ((node.op == 'call_function' and node.target in _ADD_TARGETS)
            or (node.op == 'call_method' and node.target in _ADD_METHODS))


def _is_activation(node: fx.Node, modules: dict) -> bool:
    if node.op == 'call_module':
        return isinstance(modules.get(node.target), _ACTIVATIONS)
    if node.op == 'call_function':
        return node.target in _ACTIVATION_FUNCTIONS
    if node.op == 'call_method':
        return node.target in ('relu', 'relu_')
    return False


def identity_skip(block: nn.Module) -> Tuple[bool, str]:
    """Whether ``block`` computes ``[act](x + f(x))`` of its own input ``x``.

    Args:
        block (nn.Module): A block of a stage.

    Returns:
        tuple[bool, str]: The answer, and the reason in words.
    """
    try:
        graph = _OpaqueTracer().trace(block)
    except Exception as e:  # noqa: BLE001  (any tracing failure means "unknown")
        return False, f'its forward cannot be traced by torch.fx ({type(e).__name__}: {e})'
    placeholders = [n for n in graph.nodes if n.op == 'placeholder']
    if not placeholders:
        return False, 'its forward takes no input'
    x = placeholders[0]
    outputs = [n for n in graph.nodes if n.op == 'output']
    result = outputs[0].args[0]
    if not isinstance(result, fx.Node):
        return False, 'it returns a non-tensor structure'
    modules = dict(block.named_modules())
    node, post_act = result, False
    while _is_activation(node, modules) and isinstance(node.args[0], fx.Node):
        node, post_act = node.args[0], True
    if not _is_add(node):
        return False, 'its output is not a residual sum (no skip connection)'
    operands = [a for a in node.args if isinstance(a, fx.Node)]
    if x not in operands:
        return False, 'its skip is not an identity (e.g. a downsample on the shortcut)'
    if post_act:
        return True, 'identity skip followed by an activation'
    return True, 'identity skip'


class BlockInfo(NamedTuple):
    name: str
    removable: bool
    reason: str


class StageInfo(NamedTuple):
    """A container of blocks, as found by :func:`find_stages`."""
    name: str
    blocks: List[BlockInfo]

    @property
    def removable(self) -> List[int]:
        return [i for i, b in enumerate(self.blocks) if b.removable]


def find_stages(model: nn.Module, exclude: Tuple[str, ...] = ()) -> List[StageInfo]:
    """Every ``nn.Sequential`` of the model, with which blocks are removable.

    Args:
        model (nn.Module): The model.
        exclude (tuple[str]): Module name prefixes to skip.

    Returns:
        list[StageInfo]: All sequentials with at least one child, in order;
        a stage is searchable when ``removable`` is not empty.
    """
    stages = []
    for name, module in model.named_modules():
        if not isinstance(module, nn.Sequential) or len(module) == 0:
            continue
        if any(name == p or name.startswith(p + '.') for p in exclude):
            continue
        blocks = []
        for child_name, child in module.named_children():
            removable, reason = identity_skip(child)
            blocks.append(BlockInfo(f'{name}.{child_name}', removable, reason))
        stages.append(StageInfo(name, blocks))
    return stages


class DepthScaleHook:
    """Forward hook: ``y = x + m[index] * (block(x) - x)``.

    A callable object (not a closure), so ``copy.deepcopy`` of the model
    (EMA, export) copies it along with the mutable it points to.
    """

    def __init__(self, mutable, index: int):
        self.mutable = mutable
        self.index = index

    def __call__(self, module: nn.Module, args, output):
        x = args[0]
        scale = self.mutable.mask[self.index].to(output.dtype)
        return x + scale * (output - x)


def block_scale(mutable, index: int) -> torch.Tensor:
    """Straight-through 0/1 scale of a block for resource counts."""
    return straight_through(mutable.resource_mask())[index]

