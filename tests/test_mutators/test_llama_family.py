"""Llama: the hidden size, the attention heads in whole GQA groups, the FFN
widths and the layers of transformers' LlamaForCausalLM, exported exactly
into a Llama that still generates."""
import copy

import pytest
import torch
from mmrazor.registry import MODELS

from dms_mm.mutators import DMSMutator
from dms_mm.structures import count_static, to_static
from dms_test_utils import hard_outputs, randomize_structure

#: 3 layers, hidden 32, 4 query heads of 8 dims sharing 2 key/value heads, FFN 48
TINY = dict(vocab_size=64, hidden_size=32, intermediate_size=48, num_hidden_layers=3,
            num_attention_heads=4, num_key_value_heads=2, head_dim=8,
            max_position_embeddings=32, tie_word_embeddings=False, eos_token_id=None)
TOKENS = 16


def _causal_lm(**config):
    torch.manual_seed(0)
    return MODELS.build(dict(type='HFCausalLM', _scope_='mmrazor', config=dict(TINY, **config)))


def _mutator():
    return DMSMutator(parse_cfg=dict(type='ChannelAnalyzer', demo_input=(1, TOKENS),
                                     tracer_type='FxTracer'))


@pytest.fixture(scope='module')
def searched():
    model = _causal_lm()
    mutator = _mutator()
    mutator.prepare_from_supernet(model)
    return model, mutator


def _unit(mutator, layer_name):
    return next(u for u in mutator.units if any(c.name == layer_name for c in u.output_related))


def test_llama_searches_hidden_gqa_groups_ffn_and_layers(searched):
    _, mutator = searched
    layers = TINY['num_hidden_layers']
    assert len(mutator.searchable_units) == 1 + 2 * layers
    assert mutator.excluded_units == {} and mutator.untraced_parts == {}
    hidden = _unit(mutator, 'model.model.embed_tokens')
    assert hidden.num_channels == TINY['hidden_size']
    assert {'model.lm_head', 'model.model.norm'} <= {c.name for c in hidden.input_related}
    groups = _unit(mutator, 'model.model.layers.1.self_attn.q_proj')
    # one channel per key/value head, its query heads with it
    assert groups.num_channels == TINY['num_key_value_heads']
    assert {c.name for c in groups.output_related} == {
        f'model.model.layers.1.self_attn.{p}_proj' for p in 'qkv'}
    ffn = _unit(mutator, 'model.model.layers.2.mlp.gate_proj')
    assert ffn.num_channels == TINY['intermediate_size']
    assert mutator.stage_names == ['model.model.layers']
    assert len(mutator.stage_blocks[0]) == layers
    # the vocabulary is the output: it stays
    assert any('model output' in r for r in mutator.fixed_units.values())


def test_llama_soft_params_are_the_models_params(searched):
    model, mutator = searched
    plain = _causal_lm()
    assert mutator.soft_resources()['params'].item() == sum(p.numel() for p in
                                                             plain.parameters())


@pytest.mark.parametrize('seed', [0, 1, 2])
def test_llama_static_model_equals_the_searched_one_and_its_counts(searched, seed):
    model, mutator = copy.deepcopy(searched)
    randomize_structure(mutator, seed=seed)
    model.eval()
    static = to_static(model, mutator).eval()
    ids = torch.randint(0, TINY['vocab_size'], (2, TOKENS),
                        generator=torch.Generator().manual_seed(seed))
    expected, got = hard_outputs(model, mutator, static, ids, mode='tensor')
    torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-5)
    soft = mutator.soft_resources()
    flops, params = count_static(static, (1, TOKENS))
    assert soft['params'].item() == params
    assert soft['flops'].item() == pytest.approx(flops, rel=1e-6)
    # still a Llama: GQA groups whole, the layers numbered again for the KV cache
    lm = static.model
    assert type(lm).__name__ == 'LlamaForCausalLM'
    kept_layers = mutator.stages[0].kept_indices()
    assert lm.config.num_hidden_layers == len(lm.model.layers) == len(kept_layers)
    for i, layer in enumerate(lm.model.layers):
        attn = layer.self_attn
        assert attn.layer_idx == i
        assert attn.q_proj.out_features == attn.k_proj.out_features * 2  # 4 q per 2 kv heads
        assert attn.k_proj.out_features % TINY['head_dim'] == 0
    assert lm.config.hidden_size == lm.model.embed_tokens.embedding_dim
    # generate() runs on its KV cache; greedy decoding without it gives the same tokens
    out = lm.generate(ids[:1, :4], max_new_tokens=5, do_sample=False)
    greedy = ids[:1, :4]
    with torch.no_grad():
        for _ in range(5):
            greedy = torch.cat([greedy, lm(greedy).logits[:, -1:].argmax(-1)], dim=1)
    assert torch.equal(out, greedy)


def test_llama_with_tied_embeddings_is_refused_at_preparation():
    with pytest.raises(NotImplementedError, match='tie_word_embeddings'):
        _mutator().prepare_from_supernet(_causal_lm(tie_word_embeddings=True))
