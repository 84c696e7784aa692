"""Perplexity: every token of the split weighs the same."""
import math

import pytest
from mmrazor.registry import METRICS


def test_perplexity_weighs_windows_by_their_tokens():
    metric = METRICS.build(dict(type='Perplexity', _scope_='mmrazor'))
    metric.process({}, [dict(nll=10.0, tokens=10), dict(nll=30.0, tokens=10)])
    metric.process({}, [dict(nll=4.0, tokens=20)])
    result = metric.evaluate(3)
    assert result['lm/loss'] == pytest.approx(44.0 / 40)
    assert result['lm/perplexity'] == pytest.approx(math.exp(44.0 / 40))


def test_an_empty_split_is_an_error():
    metric = METRICS.build(dict(type='Perplexity', _scope_='mmrazor'))
    with pytest.raises(ValueError, match='no predicted tokens'):
        metric.compute_metrics([])
