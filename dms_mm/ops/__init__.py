from .dtopk import (
                    differentiable_topk,
                    hard_count,
                    normalized_rank,
                    straight_through,
                    straight_through_count,
)

__all__ = [
    'differentiable_topk', 'normalized_rank', 'hard_count', 'straight_through',
    'straight_through_count'
]
