"""Perplexity of a causal language model."""
import math
from typing import Dict, List, Sequence

from mmengine.evaluator import BaseMetric
from mmrazor.registry import METRICS


@METRICS.register_module()
class Perplexity(BaseMetric):
    """``exp`` of the mean negative log-likelihood per predicted token, over
    every token of the split (windows weighted by their tokens), from the
    ``predict`` outputs of :class:`~dms_mm.architectures.HFCausalLM`.

    Reports ``perplexity`` and ``loss`` (the mean negative log-likelihood).
    """

    default_prefix = 'lm'

    def process(self, data_batch, data_samples: Sequence[Dict]) -> None:
        for sample in data_samples:
            self.results.append((float(sample['nll']), int(sample['tokens'])))

    def compute_metrics(self, results: List) -> Dict[str, float]:
        tokens = sum(count for _, count in results)
        if not tokens:
            raise ValueError('Perplexity: no predicted tokens (an empty split?)')
        loss = sum(nll for nll, _ in results) / tokens
        return dict(perplexity=math.exp(loss), loss=loss)
