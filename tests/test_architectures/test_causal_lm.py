"""HFCausalLM: transformers' Llama as an mmengine model (loss, predict, from_pretrained)."""
import math

import pytest
import torch
from mmrazor.registry import MODELS

TINY = dict(vocab_size=64, hidden_size=32, intermediate_size=48, num_hidden_layers=2,
            num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=16)


def _model(**kwargs):
    torch.manual_seed(0)
    return MODELS.build(dict(type='HFCausalLM', _scope_='mmrazor', **kwargs))


def test_the_predicted_negative_log_likelihood_is_the_training_loss():
    model = _model(config=TINY).eval()
    ids = torch.randint(0, 64, (3, 16), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        loss = model(ids, mode='loss')['loss']
        predicted = model(ids, mode='predict')
        logits = model(ids, mode='tensor')
    assert [p['tokens'] for p in predicted] == [15, 15, 15]
    assert sum(p['nll'] for p in predicted) / 45 == pytest.approx(float(loss), rel=1e-5)
    assert logits.shape == (3, 16, 64)
    # a model from scratch predicts about uniformly
    assert abs(float(loss) - math.log(64)) < 0.5


def test_a_train_step_through_mmengine_lowers_the_loss():
    from mmengine.optim import OptimWrapper
    model = _model(config=TINY)
    wrapper = OptimWrapper(torch.optim.AdamW(model.parameters(), lr=1e-2))
    data = dict(inputs=torch.arange(16).repeat(4, 1) % 8)
    losses = [float(model.train_step(data, wrapper)['loss']) for _ in range(20)]
    assert losses[-1] < losses[0] - 1.0
    outputs = model.val_step(data)
    assert len(outputs) == 4 and outputs[0]['tokens'] == 15


def test_a_saved_model_is_read_back_from_its_folder(tmp_path):
    model = _model(config=TINY).eval()
    model.model.save_pretrained(tmp_path)
    again = _model(pretrained=str(tmp_path)).eval()
    ids = torch.randint(0, 64, (2, 16))
    with torch.no_grad():
        assert torch.equal(model(ids), again(ids))
    assert type(again.model).__name__ == 'LlamaForCausalLM'
    assert again.model.config.num_key_value_heads == 2


def test_settings_that_cannot_make_a_model_are_named():
    with pytest.raises(ValueError, match='exactly one of config'):
        _model()
    with pytest.raises(ValueError, match='exactly one of config'):
        _model(config=TINY, pretrained='somewhere')
    with pytest.raises(ValueError, match='model_type'):
        _model(config=TINY, model_type='gpt7')
    with pytest.raises(ValueError, match=r'\[batch, tokens\]'):
        _model(config=TINY)(torch.zeros(16, dtype=torch.long), mode='loss')
