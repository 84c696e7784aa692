"""Structures of a Llama at a parameter target for the baselines of the
language-model comparison, set on a prepared :class:`~dms_mm.mutators.DMSMutator`
(its units: the hidden size, each layer's GQA groups and FFN width; its stage:
the layers), so that every method exports and finetunes through the same
``DMSSubModel`` as DMS:

* :func:`uniform_structure`: every layer keeps the same share of its GQA groups
  and of its FFN width (the first ones); the hidden size and the layers stay.
* :func:`taylor_structure`: LLM-Pruner's first-order Taylor importance, one
  shot: each group and FFN channel scored by ``|w * dL/dw|`` summed over its
  weights in every projection that holds it, on calibration batches; then, as
  LLM-Pruner prunes, one common share per layer, the lowest-scored channels
  going.
* :func:`shortgpt_structure`: ShortGPT's layer removal: each layer scored by its
  block influence, ``1 - cos(x_in, x_out)`` of its input and output hidden
  states averaged over the calibration tokens; the layers of lowest influence
  go until the parameters are at most the target; the widths stay.
* :func:`torch_pruning_structure`: Torch-Pruning's LLM recipe (its
  ``examples/LLMs/prune_llm.py``): one pruning ratio for the hidden size, every
  FFN and the heads, local L2-magnitude group importance, widths rounded to 4;
  the ratio is the smallest that reaches the target, and the head ratio is
  rounded down to whole GQA groups, as its readme asks for a loadable model.

:func:`write_pruned` writes ``subnet.json`` and the pruned weights (the dense
model's, sliced), as a DMS export does.
"""
import copy
from typing import Dict, Iterable, List, Set, Tuple

import torch
from torch import nn

from dms_mm.structures import build_subnet, scale_to_target, to_static
from dms_mm.structures.export import count_static, write_export
from dms_mm.structures.subnet import to_plain


def _units(mutator, kind: str) -> List:
    """The mutables of the searched units of one kind: ``'groups'`` (a layer's
    GQA groups), ``'ffn'`` (a layer's FFN width) or ``'hidden'``."""
    marks = dict(groups='.self_attn.', ffn='.mlp.', hidden='embed_tokens')[kind]
    return [u.mutable_channel for u in mutator.searchable_units if marks in u.name]


@torch.no_grad()
def _first_elements(mutables: Iterable) -> None:
    for mutable in mutables:
        mutable.importance.copy_(torch.arange(mutable.num_elements, 0, -1).float())
        mutable.keep_ratio.fill_(1.0)


def _layer_widths(mutator) -> List:
    return _units(mutator, 'groups') + _units(mutator, 'ffn')


@torch.no_grad()
def uniform_structure(mutator, target: float) -> float:
    """One keep share for every layer's GQA groups and FFN width (within one
    element), the hidden size and the layers whole; the params ratio reached."""
    _first_elements(mutator.dms_mutables())
    return scale_to_target(mutator, target, kind='params', mutables=_layer_widths(mutator),
                           round_up=True)


def _linears(model: nn.Module, unit) -> List:
    """``(linear, dim)`` of every weight that holds a unit's channels: the rows
    of its producers, the columns of its consumers."""
    found = []
    for channel in list(unit.output_related) + list(unit.input_related):
        module = channel.module
        if isinstance(module, nn.Linear):
            found.append((module, 0 if channel.is_output_channel else 1, channel))
    return found


def taylor_scores(model: nn.Module, mutator,
                  batches: Iterable[torch.Tensor]) -> Dict[str, torch.Tensor]:
    """LLM-Pruner's first-order Taylor importance of each channel of the layer
    units (GQA groups and FFN widths): ``|w * dL/dw|`` summed over the
    channel's weights, the gradients summed over ``batches`` of token ids."""
    model.zero_grad(set_to_none=True)
    was_training = model.training
    model.eval()
    try:
        for ids in batches:
            with torch.no_grad():  # the dense model: every mask a constant 1
                mutator.refresh_masks('hard')
            model(ids, mode='loss')['loss'].backward()
    finally:
        model.train(was_training)
        mutator.clear_masks()
    scores = {}
    for unit in mutator.searchable_units:
        if not any(mark in unit.name for mark in ('.self_attn.', '.mlp.')):
            continue
        total = torch.zeros(unit.num_channels)
        for linear, dim, channel in _linears(model, unit):
            score = (linear.weight * linear.weight.grad).abs()
            rows = score.sum(1 - dim)[channel.start:channel.end]
            total += rows.view(unit.num_channels, -1).sum(1)  # a GQA group: its rows together
        scores[unit.name] = total
    model.zero_grad(set_to_none=True)
    return scores


@torch.no_grad()
def taylor_structure(model: nn.Module, mutator, batches: Iterable[torch.Tensor],
                     target: float) -> float:
    """LLM-Pruner's one-shot Taylor pruning to ``target`` params: one common
    share per layer, the channels of lowest Taylor importance going; the
    params ratio reached."""
    with torch.enable_grad():
        scores = taylor_scores(model, mutator, batches)
    _first_elements(mutator.dms_mutables())
    for unit in mutator.searchable_units:
        if unit.name in scores:
            unit.mutable_channel.importance.copy_(scores[unit.name])
    return scale_to_target(mutator, target, kind='params', mutables=_layer_widths(mutator),
                           round_up=True)


@torch.no_grad()
def block_influence(model: nn.Module, mutator, batches: Iterable[torch.Tensor]) -> torch.Tensor:
    """ShortGPT's block influence of each layer of the searched stage:
    ``1 - cos(x_in, x_out)`` of its hidden states, averaged over tokens."""
    layers = [dict(model.named_modules())[name] for name in mutator.stage_blocks[0]]
    sums, count = torch.zeros(len(layers)), 0
    handles = []

    def hook(index):
        def record(module, args, output):
            x_in = args[0] if args else None
            x_out = output[0] if isinstance(output, tuple) else output
            cos = nn.functional.cosine_similarity(x_in.flatten(0, -2).float(),
                                                  x_out.flatten(0, -2).float(), dim=-1)
            sums[index] += (1 - cos).sum()
        return record

    for i, layer in enumerate(layers):
        handles.append(layer.register_forward_hook(hook(i)))
    was_training = model.training
    model.eval()
    mutator.refresh_masks('hard')  # the dense model: every mask 1
    try:
        for ids in batches:
            model(ids, mode='tensor')
            count += ids.numel()
    finally:
        model.train(was_training)
        mutator.clear_masks()
        for handle in handles:
            handle.remove()
    return sums / max(count, 1)


@torch.no_grad()
def shortgpt_structure(model: nn.Module, mutator, batches: Iterable[torch.Tensor],
                       target: float) -> float:
    """ShortGPT: the layers of lowest block influence removed until the params
    ratio is at most ``target``, every width whole; the ratio reached."""
    if len(mutator.stages) != 1:
        raise ValueError('shortgpt_structure: a Llama with one searched stage (its layers)')
    influence = block_influence(model, mutator, batches)
    _first_elements(mutator.dms_mutables())
    stage = mutator.stages[0]
    stage.importance.copy_(influence)
    supernet = mutator.supernet_params
    for keep in range(stage.num_elements, -1, -1):
        stage.set_keep_count(keep)
        reached = float(mutator.soft_resources()['params']) / supernet
        if reached <= target:
            return reached
    raise ValueError(f'shortgpt_structure: no number of layers reaches {target}')


class GQAGroupsBroken(ValueError):
    """Torch-Pruning removed query heads without their key/value head."""


def tp_prune(causal_lm: nn.Module, ratio: float, head_ratio: float
             ) -> Tuple[Dict[str, Set[int]], nn.Module]:
    """Torch-Pruning's LLM recipe at ``ratio`` (and ``head_ratio`` of the
    heads) on a plain copy of a transformers causal LM: the output channels it
    removes, by module name (in the dense model's numbering), and the copy it
    pruned."""
    import torch_pruning as tp

    config = causal_lm.config
    # a plain transformers model with the same weights (the DMS ops' masks
    # are loops Torch-Pruning's graph does not close)
    model = type(causal_lm)(copy.deepcopy(config)).eval()
    wanted = model.state_dict().keys()
    model.load_state_dict({k: v for k, v in causal_lm.state_dict().items() if k in wanted},
                          strict=True)
    num_heads = {}
    for name, module in model.named_modules():
        if name.endswith('self_attn'):
            num_heads[module.q_proj] = config.num_attention_heads
            num_heads[module.k_proj] = config.num_key_value_heads
            num_heads[module.v_proj] = config.num_key_value_heads
    # use_cache=False: transformers 5's cache concatenates the keys onto an
    # empty tensor, a loop in which Torch-Pruning 1.6's graph never closes
    inputs = dict(input_ids=torch.arange(8).view(1, 8) % config.vocab_size, use_cache=False)
    with torch.enable_grad():  # (its graph is traced by autograd)
        pruner = tp.pruner.BasePruner(
            model, example_inputs=inputs,
            importance=tp.importance.GroupMagnitudeImportance(p=2, group_reduction='mean'),
            global_pruning=False, output_transform=lambda output: output.logits,
            pruning_ratio=ratio, ignored_layers=[model.lm_head], num_heads=num_heads,
            prune_num_heads=True, prune_head_dims=False, head_pruning_ratio=head_ratio,
            round_to=4)
        names = {module: name for name, module in model.named_modules()}
        pruned: Dict[str, Set[int]] = {}
        for group in pruner.step(interactive=True):
            for dep, idxs in group:
                module = dep.target.module
                if module in names and pruner.DG.is_out_channel_pruning_fn(dep.handler):
                    pruned.setdefault(names[module], set()).update(int(i) for i in idxs)
            group.prune()
    return pruned, model


def _tp_kept(unit, pruned: Dict[str, Set[int]], config) -> List[int]:
    """The elements of a DMS unit that Torch-Pruning keeps: hidden channels,
    FFN channels, or a layer's GQA groups (whose heads it must remove whole)."""
    name = next(channel.name for channel in unit.output_related if channel.name.endswith(
        ('embed_tokens', 'q_proj', 'gate_proj'))).split('.', 1)[1]  # HFCausalLM.model.<name>
    if not name.endswith('q_proj'):
        gone = pruned.get(name, set())
        return [i for i in range(unit.num_channels) if i not in gone]
    head_dim = getattr(config, 'head_dim', None) or (
        config.hidden_size // config.num_attention_heads)
    per_group = config.num_attention_heads // config.num_key_value_heads
    gone_q = {i // head_dim for i in pruned.get(name, set())}
    gone_kv = {i // head_dim for i in pruned.get(name.replace('q_proj', 'k_proj'), set())}
    if gone_q != {h for h in range(config.num_attention_heads) if h // per_group in gone_kv}:
        raise GQAGroupsBroken(f'torch_pruning_structure: {name}: Torch-Pruning removed query '
                              f'heads {sorted(gone_q)} and key/value heads {sorted(gone_kv)}, '
                              'not whole GQA groups')
    return [g for g in range(unit.num_channels) if g not in gone_kv]


@torch.no_grad()
def set_tp_structure(mutator, pruned: Dict[str, Set[int]], config) -> None:
    """Set on ``mutator`` the structure :func:`tp_prune` left (its removed
    output channels ``pruned``; ``config``: the transformers config)."""
    for unit in mutator.searchable_units:
        unit.mutable_channel.set_kept(_tp_kept(unit, pruned, config))


@torch.no_grad()
def torch_pruning_structure(model: nn.Module, mutator, target: float,
                            steps: int = 12) -> float:
    """Torch-Pruning's LLM pruning (hidden size, heads and FFN by one ratio,
    L2 magnitude, local) at the smallest ratio whose params ratio is at most
    ``target``, found by bisection, set on ``mutator``; the ratio reached.

    The head ratio is the ratio rounded down to a multiple of
    ``num_key_value_heads / num_attention_heads``, so that whole GQA groups
    go (Torch-Pruning's readme: otherwise transformers cannot load it).
    Where Torch-Pruning still removes query heads without their key/value
    head (1.6.1 does, on the small Llama), the heads stay whole at that ratio.
    """
    causal_lm = model.model
    config = causal_lm.config
    kv_heads = config.num_key_value_heads
    supernet = mutator.supernet_params
    _first_elements(mutator.dms_mutables())

    def apply(ratio: float) -> float:
        try:
            pruned, _ = tp_prune(causal_lm, ratio, int(ratio * kv_heads) / kv_heads)
            set_tp_structure(mutator, pruned, config)
        except GQAGroupsBroken:  # the heads stay whole at this ratio
            pruned, _ = tp_prune(causal_lm, ratio, 0.0)
            set_tp_structure(mutator, pruned, config)
        return float(mutator.soft_resources()['params']) / supernet

    low, high = 0.0, 0.95
    if apply(high) > target:
        raise ValueError(f'torch_pruning_structure: even pruning ratio {high} does not '
                         f'reach {target} of the params')
    for _ in range(steps):
        middle = (low + high) / 2
        if apply(middle) <= target:
            high = middle
        else:
            low = middle
    return apply(high)


def write_pruned(model: nn.Module, mutator, info: Dict, target: float, out_dir: str,
                 method: Dict) -> Dict:
    """Write the mutator's structure as ``subnet.json`` and the model's weights,
    sliced to it, as ``pruned.pth`` (what a DMS export writes), with mmengine's
    count of the static model; ``model`` itself is left as it is.

    Args:
        info (dict): What :func:`benchmarks.subnets.prepared_supernet` gives:
            the architecture and mutator configs and mmengine's count of the
            supernet.
    """
    subnet = build_subnet(mutator, info['architecture'], target)
    subnet['mutator'] = to_plain(info['mutator'])
    static = to_static(model, mutator)
    flops, params = count_static(static, mutator.demo_input_shape)
    subnet['resources'].update(static_flops=flops, static_params=params,
                               counted_supernet_flops=info['counted_supernet_flops'],
                               counted_supernet_params=info['counted_supernet_params'],
                               method=method)
    write_export(out_dir, subnet, static)
    return subnet
