"""Depth for DMS: find removable residual blocks and scale them by a mask.

A *stage* is a container whose blocks run one after another: every
``nn.Sequential``, and an ``nn.ModuleList`` whose children a demo forward
called in order, each once, each on the output of the one before
(:func:`chained_module_lists`; transformers, Swin and YOLOv8's C2f keep their
blocks in one).

A block is *removable* when its output is ``x + f(x)`` with ``x`` the block's
own input (an identity skip), possibly followed by an activation. Such a
block can be dropped and the stage still computes: its output becomes ``x``.
This is decided from the block's own ``torch.fx`` graph, with every submodule
kept opaque, so no per-model code is needed. A block type whose forward fx
cannot trace (data-dependent control flow, for example) can be declared
removable by name: ``DMSMutator(depth=dict(removable_types=['MyBlock']))``.

A kept/removed block is then scaled as ``y = x + m * (block(x) - x)``, which
is the DMS form ``x + m * f(x)`` for blocks without a post-activation, and
equals the block (m = 1) or the identity (m = 0) in every case. The scale is
applied by a forward hook, so parameter names and checkpoints are unchanged.
"""
import operator
from typing import Callable, Dict, List, NamedTuple, Optional, Sequence, Set, Tuple

import torch
import torch.fx as fx
from torch import nn

from dms_mm.utils.outputs import flat_tensors

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


def _trace_own_forward(module: nn.Module):
    """The fx graph of ``module``'s own forward (submodules opaque), or the
    tracing error as ``'ErrorType: message'``."""
    try:
        return _OpaqueTracer().trace(module)
    except Exception as e:  # noqa: BLE001  (any tracing failure means "unknown")
        return f'{type(e).__name__}: {e}'


def trace_error(module: nn.Module):
    """Why torch.fx cannot trace ``module``'s own forward, or None if it can."""
    graph = _trace_own_forward(module)
    return graph if isinstance(graph, str) else None


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


def _identity_ffn(node: fx.Node, modules: dict) -> Optional[fx.Node]:
    """The ``identity`` argument of a call of mmcv's ``FFN`` that adds it
    (``ffn(norm(x), identity=x)``, as transformer blocks call it), or None."""
    if node.op != 'call_module':
        return None
    module = modules.get(node.target)
    if type(module).__name__ != 'FFN' or not getattr(module, 'add_identity', False):
        return None
    identity = node.kwargs.get('identity')
    return identity if isinstance(identity, fx.Node) else None


def _residual_of(node: fx.Node, x: fx.Node, modules: dict) -> bool:
    """Whether ``node`` is ``x`` or a chain of residual sums from it: ``x1 = x +
    f1(x)``, ``x2 = x1 + f2(x1)``, ... (activations between them allowed)."""
    while True:
        if node is x:
            return True
        if _is_activation(node, modules) and isinstance(node.args[0], fx.Node):
            node = node.args[0]
            continue
        identity = _identity_ffn(node, modules)
        if identity is not None:
            node = identity
            continue
        if _is_add(node):
            operands = [a for a in node.args if isinstance(a, fx.Node)]
            return any(_residual_of(o, x, modules) for o in operands)
        return False


def identity_skip(block: nn.Module) -> Tuple[bool, str]:
    """Whether ``block`` computes ``[act](x + f(x))`` of its own input ``x``,
    or a chain of such sums (``x1 = x + f1(x); x1 + f2(x1)``, as a
    transformer block's attention and MLP; mmcv's ``FFN`` adding its
    ``identity`` counts as a sum).

    Args:
        block (nn.Module): A block of a stage.

    Returns:
        tuple[bool, str]: The answer, and the reason in words.
    """
    graph = _trace_own_forward(block)
    if isinstance(graph, str):
        return False, f'its forward cannot be traced by torch.fx ({graph})'
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
    ffn_identity = _identity_ffn(node, modules)
    if not _is_add(node) and ffn_identity is None:
        return False, 'its output is not a residual sum (no skip connection)'
    operands = ([ffn_identity] if ffn_identity is not None else
                [a for a in node.args if isinstance(a, fx.Node)])
    if x in operands:
        return True, ('identity skip followed by an activation' if post_act else
                      'identity skip')
    if any(_residual_of(o, x, modules) for o in operands):
        return True, 'identity skips in series (residual branches one after another)'
    return False, 'its skip is not an identity (e.g. a downsample on the shortcut)'


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


def type_matches(module: nn.Module, type_names: Sequence[str]) -> bool:
    """Whether the class of ``module`` is named in ``type_names``, by its name
    (``'MyBlock'``) or its qualified name (``'my_pkg.models.MyBlock'``)."""
    cls = type(module)
    return cls.__name__ in type_names or f'{cls.__module__}.{cls.__qualname__}' in type_names


def block_removable(block: nn.Module, removable_types: Sequence[str] = ()) -> Tuple[bool, str]:
    """Whether a child of a stage is removable, and why in words.

    Args:
        block (nn.Module): A child of an ``nn.Sequential``.
        removable_types (Sequence[str]): Block types declared removable.

    Returns:
        tuple[bool, str]: The answer and the reason.
    """
    if type_matches(block, removable_types):
        return True, f'declared removable (depth.removable_types: {type(block).__name__})'
    if not any(True for _ in block.children()):
        return False, 'single layers, not residual blocks'
    return identity_skip(block)


def find_stages(model: nn.Module, exclude: Tuple[str, ...] = (),
                removable_types: Sequence[str] = (),
                forward: Optional[Callable[[], object]] = None) -> List[StageInfo]:
    """Every ``nn.Sequential`` of the model and, given a demo ``forward``,
    every ``nn.ModuleList`` that runs as a chain (:func:`chained_module_lists`)
    and holds a removable block, with which blocks are removable.

    A module list is a stage only if its blocks can be taken out of it: the
    model without its first removable block (deleted from the list) must give
    what it gives with that block replaced by the identity. A forward that
    reads the blocks' positions or count (``out_indices``, ``len(layers)``)
    fails that, and every block of the list is then reported not removable,
    with why.

    Args:
        model (nn.Module): The model.
        exclude (tuple[str]): Module name prefixes to skip.
        removable_types (Sequence[str]): Names of block classes that are
            removable whatever their traced graph says (see
            :func:`block_removable`).
        forward (callable, optional): One forward of ``model`` on a fixed
            demo input, returning its output. Without it, module lists are
            not considered.

    Returns:
        list[StageInfo]: The sequentials with at least one child and the
        chained module lists with a removable block, in order; a stage is
        searchable when ``removable`` is not empty.
    """
    chained = module_list_chains(model, forward) if forward is not None else {}
    stages = []
    for name, module in model.named_modules():
        listed = isinstance(module, nn.ModuleList) and name in chained
        if not (isinstance(module, nn.Sequential) or listed) or len(module) == 0:
            continue
        if any(name == p or name.startswith(p + '.') for p in exclude):
            continue
        blocks = []
        for child_name, child in module.named_children():
            removable, reason = block_removable(child, removable_types)
            blocks.append(BlockInfo(f'{name}.{child_name}', removable, reason))
        if listed:
            pinned, why = chained[name]
            blocks = [BlockInfo(b.name, False, why) if i < pinned else b
                      for i, b in enumerate(blocks)]
            first = next((i for i, block in enumerate(blocks) if block.removable), None)
            if first is None:
                continue  # a list of stages or layers, not of residual blocks
            reason = _removal_changes_output(module, first, forward)
            if reason:
                blocks = [BlockInfo(b.name, False, reason) for b in blocks]
        stages.append(StageInfo(name, blocks))
    return stages


@torch.no_grad()
def _removal_changes_output(stage: nn.ModuleList, index: int,
                            forward: Callable[[], object]) -> Optional[str]:
    """Why deleting block ``index`` from ``stage`` is not the same as making it
    the identity (the forward reads the blocks' positions or count), or None."""
    block = stage[index]
    handle = block.register_forward_hook(lambda module, args, output: args[0])
    try:
        as_identity = flat_tensors(forward(), strict=False)
    finally:
        handle.remove()
    del stage[index]
    try:
        without = flat_tensors(forward(), strict=False)
    except Exception as e:  # noqa: BLE001  (the parent cannot run without it)
        return (f'its parent\'s forward fails without block {index} '
                f'({type(e).__name__}: {e}): it reads the blocks\' positions or count')
    finally:
        stage.insert(index, block)
    same = len(as_identity) == len(without) and all(
        a.shape == b.shape and torch.allclose(a, b, rtol=1e-4, atol=1e-5)
        for a, b in zip(as_identity, without))
    if not same:
        return (f'the model without block {index} of it differs from the model with that '
                'block as the identity: its parent\'s forward reads the blocks\' positions or '
                'count (out_indices, len(...)), so no block can be removed')
    return None


@torch.no_grad()
def chained_module_lists(model: nn.Module, forward: Callable[[], object]) -> Set[str]:
    """The ``nn.ModuleList`` of ``model`` whose children ``forward()`` calls
    in their order, each once, each (after the first) on the output of the
    one before, as a stage of blocks runs (see :func:`module_list_chains`).

    Args:
        model (nn.Module): The model.
        forward (callable): One demo forward of it.

    Returns:
        set[str]: Their names.
    """
    return set(module_list_chains(model, forward))


def module_list_chains(model: nn.Module, forward: Callable[[], object]) -> Dict[str, Tuple]:
    """The chained ``nn.ModuleList`` of ``model`` (see
    :func:`chained_module_lists`), each with the blocks that must stay.

    A block may also read the output of the one before through one other
    module that keeps its shape (Twins runs its position encoding after the
    first block of a stage). The parent's forward calls that module at a
    position of the list, so the blocks up to it cannot be removed.

    Returns:
        dict: List name -> ``(pinned, reason)``: its first ``pinned`` blocks
        stay, for ``reason`` (0 and None when every link is direct).
    """
    calls, handles, produced = {}, [], {}

    def recorder(name, index):
        def hook(module, args, output):
            first = args[0] if args else None
            calls.setdefault(name, []).append((index, first, output))
        return hook

    def producer(module, args, output):
        if isinstance(output, torch.Tensor) and args and isinstance(args[0], torch.Tensor):
            produced[id(output)] = (output, args[0], module)  # the output held: ids stay unique

    # a list holding None (HRNet's fuse layers) is no stage
    lists = {name: module for name, module in model.named_modules()
             if isinstance(module, nn.ModuleList) and all(c is not None for c in module)}
    for name, module in lists.items():
        for index, child in enumerate(module):
            handles.append(child.register_forward_hook(recorder(name, index)))
    handles.append(torch.nn.modules.module.register_module_forward_hook(producer))
    try:
        forward()
    finally:
        for handle in handles:
            handle.remove()
    names = {id(m): n for n, m in model.named_modules()}
    chains = {}
    for name, seen in calls.items():
        if [index for index, _, _ in seen] != list(range(len(lists[name]))):
            continue
        pinned, reason = 0, None
        for (index, _, output), (_, following, _) in zip(seen, seen[1:]):
            if not isinstance(output, torch.Tensor):
                break
            if following is output:
                continue
            _, source, between = produced.get(id(following), (None, None, None))
            if source is not output or following.shape != output.shape:
                break
            pinned = index + 1
            reason = (f'{names.get(id(between), type(between).__name__)} runs between blocks '
                      f'{index} and {index + 1}; the forward calls it at that position of the '
                      'list, so the blocks up to it stay')
        else:
            chains[name] = (pinned, reason)
    return chains


class DepthHook:
    """Base of the forward hooks that scale a block (or one of its residual
    branches) by ``mutable.mask[index]``. Callable objects, not closures, so
    ``copy.deepcopy`` of the model (EMA, export) copies them along with the
    mutable they point to; export removes every one of them."""

    def __init__(self, mutable, index: int, name: str = ''):
        self.mutable = mutable
        self.index = index
        self.name = name

    def scale(self, like: torch.Tensor) -> torch.Tensor:
        return self.mutable.mask[self.index].to(like.dtype)


class BlockScale(DepthHook):
    """``mutable.mask[index]`` as the output mask of the last linear of a
    residual branch (:meth:`DMSLinear.mask_outputs`), where only linear maps
    follow that linear: the branch is scaled on the linear's weight."""

    def __call__(self) -> torch.Tensor:
        return self.mutable.mask[self.index]


class DepthScaleHook(DepthHook):
    """Forward hook on a block: ``y = x + m[index] * (block(x) - x)``."""

    def __call__(self, module: nn.Module, args, output):
        x = args[0]
        if not isinstance(output, torch.Tensor) or output.shape != x.shape:
            got = tuple(output.shape) if isinstance(output, torch.Tensor) else type(output)
            raise RuntimeError(
                f'DMS depth: block {self.name or type(module).__name__} is searched as '
                f'removable, but maps an input of shape {tuple(x.shape)} to {got}; a '
                'removable block must keep the shape (check depth.removable_types)')
        return x + self.scale(output) * (output - x)


class BranchScaleHook(DepthHook):
    """Forward hook on a residual branch that returns only ``f(x)``: ``m * f(x)``."""

    def __call__(self, module: nn.Module, args, output):
        return self.scale(output) * output


class IdentityBranchScaleHook(DepthHook):
    """Forward hook (``with_kwargs=True``) on a branch that adds its
    ``identity`` argument itself, as mmcv's ``FFN``: ``identity + m * (out - identity)``."""

    def __call__(self, module: nn.Module, args, kwargs, output):
        identity = kwargs.get('identity')
        if identity is None:
            identity = args[1] if len(args) > 1 else args[0]
        return identity + self.scale(output) * (output - identity)

