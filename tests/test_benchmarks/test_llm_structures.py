"""The baselines' structures of a Llama at a parameter target: uniform widths,
LLM-Pruner's Taylor importance, ShortGPT's layer removal; each exported with
the dense weights, sliced."""
import copy

import pytest
import torch
from mmrazor.registry import MODELS

from benchmarks.llm_structures import (
    block_influence,
    shortgpt_structure,
    taylor_scores,
    taylor_structure,
    uniform_structure,
    write_pruned,
)
from dms_mm.mutators import DMSMutator
from dms_mm.structures import load_subnet

TINY = dict(vocab_size=64, hidden_size=32, intermediate_size=48, num_hidden_layers=4,
            num_attention_heads=4, num_key_value_heads=2, head_dim=8,
            max_position_embeddings=32, tie_word_embeddings=False)
ARCH = dict(type='HFCausalLM', _scope_='mmrazor', config=TINY)


@pytest.fixture(scope='module')
def prepared():
    torch.manual_seed(0)
    model = MODELS.build(ARCH)
    mutator = DMSMutator(parse_cfg=dict(type='ChannelAnalyzer', demo_input=(1, 16),
                                        tracer_type='FxTracer'))
    mutator.prepare_from_supernet(model)
    return model, mutator


def _batches():
    g = torch.Generator().manual_seed(0)
    return [torch.randint(0, 64, (2, 16), generator=g) for _ in range(2)]


def _kept(mutator, mark):
    return [u.mutable_channel.num_kept for u in mutator.searchable_units if mark in u.name]


def test_uniform_keeps_one_share_per_layer_and_the_hidden_size(prepared):
    model, mutator = copy.deepcopy(prepared)
    reached = uniform_structure(mutator, 0.7)
    assert 0.6 < reached <= 0.7
    ffn = _kept(mutator, '.mlp.')
    assert max(ffn) - min(ffn) <= 1  # one share, within one channel
    assert _kept(mutator, 'embed_tokens') == [32]
    assert mutator.stages[0].num_kept == 4


def test_taylor_keeps_the_channels_of_highest_importance(prepared):
    model, mutator = copy.deepcopy(prepared)
    scores = taylor_scores(model, mutator, _batches())
    assert set(len(s) for s in scores.values()) == {2, 48}  # GQA groups, FFN channels
    reached = taylor_structure(model, mutator, _batches(), 0.7)
    assert 0.6 < reached <= 0.7
    unit = next(u for u in mutator.searchable_units if u.name.startswith(
        'model.model.layers.2.mlp'))
    kept = set(unit.mutable_channel.kept_indices())
    ranked = torch.argsort(scores[unit.name], descending=True).tolist()
    assert kept == set(ranked[:len(kept)])


def test_shortgpt_removes_the_layers_of_lowest_influence(prepared):
    model, mutator = copy.deepcopy(prepared)
    influence = block_influence(model, mutator, _batches())
    assert influence.shape == (4, ) and bool((influence >= 0).all())
    reached = shortgpt_structure(model, mutator, _batches(), 0.7)
    assert reached <= 0.7
    kept = mutator.stages[0].kept_indices()
    assert len(kept) < 4 and _kept(mutator, '.mlp.') == [48] * 4
    lowest_gone = sorted(range(4), key=lambda i: float(influence[i]))[:4 - len(kept)]
    assert set(kept).isdisjoint(lowest_gone)


def test_a_structure_is_written_with_the_dense_weights(prepared, tmp_path):
    model, mutator = copy.deepcopy(prepared)
    uniform_structure(mutator, 0.7)
    info = dict(architecture=ARCH, mutator=dict(parse_cfg=dict(mutator.parse_cfg)),
                counted_supernet_flops=mutator.supernet_flops,
                counted_supernet_params=mutator.supernet_params)
    subnet = write_pruned(model, mutator, info, 0.7, str(tmp_path), dict(name='uniform'))
    assert subnet['resources']['static_params'] / mutator.supernet_params <= 0.7
    assert subnet['mutator']['parse_cfg']['tracer_type'] == 'FxTracer'
    assert load_subnet(str(tmp_path / 'subnet.json'))['units']
    pruned = torch.load(tmp_path / 'pruned.pth', map_location='cpu')['state_dict']
    unit = next(u for u in mutator.searchable_units if u.name.startswith(
        'model.model.layers.0.mlp'))
    kept = torch.tensor(unit.mutable_channel.kept_indices())
    dense = model.model.model.layers[0].mlp.gate_proj.weight
    torch.testing.assert_close(pruned['model.model.layers.0.mlp.gate_proj.weight'], dense[kept])
