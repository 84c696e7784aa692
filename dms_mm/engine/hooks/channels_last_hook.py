"""ChannelsLastHook: train and evaluate a convolutional model in the
channels-last (NHWC) memory format."""
from typing import List, Tuple

import torch
from mmengine.hooks import Hook
from mmengine.logging import print_log
from mmengine.model import is_model_wrapper
from mmrazor.registry import HOOKS

from dms_mm.compat.onednn_strided_1x1_nhwc import MIN_NHWC_INPUT_CHANNELS, keep_nchw


def to_channels_last(model: torch.nn.Module) -> Tuple[int, List[str]]:
    """Store every 4-d parameter and buffer of ``model`` channels-last, in
    place: the parameters stay the same objects (an optimizer that holds them
    goes on working) and their values do not change. On a CPU, the strided 1x1
    convolutions with fewer than 16 input channels stay NCHW
    (:func:`~dms_mm.compat.onednn_strided_1x1_nhwc.keep_nchw`).

    Returns:
        tuple[int, list[str]]: How many 4-d tensors the model holds, and the
        names of the convolutions kept in NCHW.
    """
    model.to(memory_format=torch.channels_last)
    kept = keep_nchw(model)
    return sum(1 for t in list(model.parameters()) + list(model.buffers()) if t.dim() == 4), kept


@HOOKS.register_module()
class ChannelsLastHook(Hook):
    """Runs the model in the channels-last (NHWC) memory format.

    The convolutions of oneDNN (CPU) and of cuDNN with mixed precision are
    faster on channels-last tensors; a convolution whose weight is stored
    channels-last gives its output in that format, so the whole network
    follows from the first layer on, whatever the data preprocessor hands it.
    The values computed are the same up to float rounding. What it saves is
    measured side by side by ``python benchmarks/bench_overhead.py --model
    resnet18-w16 --batch 64 --at 0.25 --channels-last`` (benchmarks/RESULTS.md).

    The model is converted at the start of training, validation and testing
    (after checkpoints are loaded); under DDP the wrapped module is. Checkpoints
    keep the values, so a checkpoint of a channels-last run loads into any
    model. A DMS search converts the whole algorithm: the masks multiply in
    channels-last as well. On a CPU, a strided 1x1 convolution with fewer
    than 16 input channels (a pruned ResNet's downsample shortcut) trains in
    NCHW instead: oneDNN's channels-last weight gradient for it crashes or
    errs (:mod:`dms_mm.compat.onednn_strided_1x1_nhwc`)::

        custom_hooks = [dict(type='mmrazor.ChannelsLastHook')]
    """

    priority = 'VERY_HIGH'

    def __init__(self) -> None:
        self._logged = False

    def _convert(self, runner) -> None:
        model = runner.model.module if is_model_wrapper(runner.model) else runner.model
        count, kept = to_channels_last(model)
        if not self._logged:
            text = (f'ChannelsLastHook: the {count} 4-d parameters and buffers of '
                    f'{type(model).__name__} are channels-last (NHWC)')
            if kept:
                text += (f'; {len(kept)} strided 1x1 convolution(s) with fewer than '
                         f'{MIN_NHWC_INPUT_CHANNELS} input channels train in NCHW, where '
                         f'oneDNN\'s channels-last weight gradient fails (oneDNN issue 6035): '
                         f'{", ".join(kept)}')
            print_log(text, logger='current')
            self._logged = True

    def before_train(self, runner) -> None:
        self._convert(runner)

    def before_val(self, runner) -> None:
        self._convert(runner)

    def before_test(self, runner) -> None:
        self._convert(runner)
