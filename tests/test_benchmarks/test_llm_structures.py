"""The baselines' structures of a Llama at a parameter target: uniform widths,
LLM-Pruner's Taylor importance, ShortGPT's layer removal; each exported with
the dense weights, sliced."""
import copy

import pytest
import torch
from mmrazor.registry import MODELS

from benchmarks.llm_structures import (
    GQAGroupsBroken,
    block_influence,
    set_tp_structure,
    shortgpt_structure,
    taylor_scores,
    taylor_structure,
    torch_pruning_structure,
    tp_prune,
    uniform_structure,
    write_pruned,
)
from dms_mm.mutators import DMSMutator
from dms_mm.structures import load_subnet, to_static

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


# Torch-Pruning 1.6.1's graph never closes on a Llama of 4 query heads in 2 key/value
# groups (transformers 5.25); it builds on 8 query heads in 2 groups, the benchmark's shape
TP_TINY = dict(TINY, vocab_size=256, hidden_size=64, intermediate_size=176,
               num_hidden_layers=2, num_attention_heads=8, head_dim=8)


@pytest.fixture(scope='module')
def prepared_tp():
    torch.manual_seed(0)
    model = MODELS.build(dict(ARCH, config=TP_TINY))
    mutator = DMSMutator(parse_cfg=dict(type='ChannelAnalyzer', demo_input=(1, 16),
                                        tracer_type='FxTracer'))
    mutator.prepare_from_supernet(model)
    return model, mutator


def test_torch_pruning_structure_exports_the_model_torch_pruning_prunes(prepared_tp):
    model, mutator = copy.deepcopy(prepared_tp)
    pruned, tp_model = tp_prune(model.model, 0.3, 0.0)
    assert len(pruned['model.embed_tokens']) == 20  # 0.3 of 64, rounded to 4
    set_tp_structure(mutator, pruned, model.model.config)
    static = to_static(model, mutator).eval()
    ids = torch.randint(0, 256, (2, 16), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        torch.testing.assert_close(static(ids, mode='tensor'),
                                   tp_model(input_ids=ids, use_cache=False).logits)


def test_torch_pruning_heads_are_refused_unless_whole_gqa_groups_go(prepared_tp):
    model, mutator = copy.deepcopy(prepared_tp)
    pruned, _ = tp_prune(model.model, 0.5, 0.5)
    gone_q = {i // 8 for i in pruned.get('model.layers.0.self_attn.q_proj', ())}
    gone_kv = {i // 8 for i in pruned.get('model.layers.0.self_attn.k_proj', ())}
    if gone_q == {h for h in range(8) if h // 4 in gone_kv}:
        pytest.skip('this Torch-Pruning removes whole GQA groups')
    with pytest.raises(GQAGroupsBroken, match='not whole GQA groups'):
        set_tp_structure(mutator, pruned, model.model.config)


def test_torch_pruning_structure_reaches_the_target(prepared_tp):
    model, mutator = copy.deepcopy(prepared_tp)
    reached = torch_pruning_structure(model, mutator, 0.7)
    assert 0.6 < reached <= 0.7
    hidden = _kept(mutator, 'embed_tokens')[0]
    assert hidden < 64 and hidden % 4 == 0  # Torch-Pruning prunes the hidden size too
