"""A pruned Llama written as a Hugging Face folder that transformers loads in a
fresh Python without dms_mm: a plain Llama where every layer kept the same
sizes, a Llama with its own model code where they differ."""
import copy
import json

import pytest
import torch
from mmrazor.registry import MODELS

from dms_mm.mutators import DMSMutator
from dms_mm.structures import to_static
from dms_mm.structures.hf_export import layer_sizes, reload_outputs, save_causal_lm
from dms_test_utils import randomize_structure

TINY = dict(vocab_size=64, hidden_size=32, intermediate_size=48, num_hidden_layers=3,
            num_attention_heads=4, num_key_value_heads=2, head_dim=8,
            max_position_embeddings=32, tie_word_embeddings=False)


@pytest.fixture(scope='module')
def searched():
    torch.manual_seed(0)
    model = MODELS.build(dict(type='HFCausalLM', _scope_='mmrazor', config=TINY))
    mutator = DMSMutator(parse_cfg=dict(type='ChannelAnalyzer', demo_input=(1, 16),
                                        tracer_type='FxTracer'))
    mutator.prepare_from_supernet(model)
    return model, mutator


def _ids():
    return torch.randint(0, 64, (2, 16), generator=torch.Generator().manual_seed(0))


def _check_reload(lm, folder):
    with torch.no_grad():
        expected = lm(input_ids=_ids()).logits
    got = reload_outputs(str(folder), _ids())
    assert not got['dms_mm_imported']
    torch.testing.assert_close(got['logits'], expected, rtol=1e-4, atol=1e-5)
    assert got['generated'].shape == (1, 16)
    return got


def test_layers_of_their_own_sizes_load_with_the_folders_model_code(searched, tmp_path):
    model, mutator = copy.deepcopy(searched)
    randomize_structure(mutator, seed=1)
    mutator.stages[0].set_kept([0, 1, 2])  # every layer, each at widths of its own
    lm = to_static(model, mutator).eval().model
    sizes = layer_sizes(lm)
    assert len({tuple(s.values()) for s in sizes}) > 1  # the layers differ
    assert save_causal_lm(lm, str(tmp_path)) == 'dms_llama'
    config = json.loads((tmp_path / 'config.json').read_text())
    assert config['layer_sizes'] == sizes and config['model_type'] == 'dms_llama'
    assert (tmp_path / 'modeling_dms_llama.py').is_file()
    assert _check_reload(lm, tmp_path)['model_class'] == 'DMSLlamaForCausalLM'


def test_equal_layers_are_a_plain_llama_folder(searched, tmp_path):
    model, mutator = copy.deepcopy(searched)
    mutator.stages[0].set_kept([0, 2])  # two of three layers, all at full width
    lm = to_static(model, mutator).eval().model
    assert save_causal_lm(lm, str(tmp_path)) == 'llama'
    config = json.loads((tmp_path / 'config.json').read_text())
    assert 'auto_map' not in config and config['num_hidden_layers'] == 2
    assert _check_reload(lm, tmp_path)['model_class'] == 'LlamaForCausalLM'
