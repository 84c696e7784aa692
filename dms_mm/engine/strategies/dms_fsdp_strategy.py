"""FSDP for a DMS search through mmengine's ``FlexibleRunner``.

mmengine's ``FSDPStrategy`` shards every parameter of the model. A DMS search
cannot run that way: its structure parameters are scalars (FSDP refuses
them), and its hooks read and set them between steps, where FSDP holds only
shards. :class:`DMSFSDPStrategy` shards the architecture and leaves the
mutator whole on every process, outside FSDP: its gradients are averaged
across processes after each backward, as DDP averages them. The export reads
the full weights (:func:`full_parameters`).
"""
import contextlib
from typing import Iterator

import torch
from mmengine._strategy import FSDPStrategy
from mmengine.dist import all_reduce, get_world_size
from mmengine.registry import STRATEGIES
from torch import nn


def _average_gradient(param: torch.Tensor) -> None:
    if param.grad is not None:
        all_reduce(param.grad, op='mean')


@STRATEGIES.register_module()
class DMSFSDPStrategy(FSDPStrategy):
    """``FSDPStrategy`` for a :class:`~dms_mm.algorithms.DMSAlgorithm`: the
    architecture is sharded, the mutator (keep ratios and importance) stays
    whole on every process and its gradients are averaged. On a machine
    without CUDA the model stays on the CPU (``device_id='cpu'``, gloo).
    Takes the arguments of mmengine's ``FSDPStrategy``.
    """

    def _wrap_model(self, model: nn.Module) -> nn.Module:
        mutator = getattr(model, 'mutator', None)
        if mutator is None:
            raise TypeError(f'DMSFSDPStrategy: the model is a {type(model).__name__}, not a '
                            'DMSAlgorithm (with a mutator); use FSDPStrategy')
        wrapper = dict(self.model_wrapper or dict(type='MMFullyShardedDataParallel'))
        wrapper.setdefault('use_orig_params', True)  # DMS ops read their layers' weights
        if not torch.cuda.is_available():
            wrapper.setdefault('device_id', 'cpu')
        wrapper['ignored_modules'] = [mutator]
        self.model_wrapper = wrapper
        if get_world_size() > 1:
            for param in mutator.parameters():
                if param.requires_grad:
                    param.register_post_accumulate_grad_hook(_average_gradient)
        return super()._wrap_model(model)


@contextlib.contextmanager
def full_parameters(model: nn.Module) -> Iterator[None]:
    """Inside, an FSDP-wrapped ``model`` holds its full weights on every
    process (read only); any other model is left as it is. Every process
    must enter it."""
    try:
        from torch.distributed.fsdp import FullyShardedDataParallel
    except ImportError:  # pragma: no cover
        FullyShardedDataParallel = ()
    if isinstance(model, FullyShardedDataParallel):
        with FullyShardedDataParallel.summon_full_params(model, writeback=False):
            yield
    else:
        yield
