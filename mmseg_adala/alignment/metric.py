"""Validation of the alignment stages: averages the per-image statistics the model reports."""
from collections import defaultdict
from typing import Dict, List, Sequence

from mmengine.evaluator import BaseMetric
from mmseg.registry import METRICS


@METRICS.register_module()
class AlignmentMetric(BaseMetric):
    """Mean over the validation images of each statistic of the model's `predict`.

    Stage 1 reports per-block relative errors, stage 2 the final-feature cosine similarity
    and relative MSE; the model decides what to measure, this only averages.
    """

    default_prefix = 'align'

    def process(self, data_batch, data_samples: Sequence[Dict[str, float]]) -> None:
        self.results.extend(data_samples)

    def compute_metrics(self, results: List[Dict[str, float]]) -> Dict[str, float]:
        sums = defaultdict(float)
        for result in results:
            for key, value in result.items():
                sums[key] += value
        return {key: total / len(results) for key, total in sums.items()}
