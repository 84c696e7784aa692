"""Keep the weight gradient of a thin strided 1x1 convolution out of oneDNN's
broken channels-last kernel on CPUs.

Problem:
    oneDNN's x86 ``jit_1x1`` backward-weights kernel (uxlfoundation/oneDNN
    issue 6035, open) overruns its workspace when a 1x1 convolution has a
    stride above 1, channels-last (NHWC) tensors and fewer input channels than
    its channel block (8 with AVX2, 16 with AVX-512). The process then dies
    (``double free or corruption``, ``free(): invalid next size``, a
    segmentation fault), hangs with several threads, or gets wrong weight
    gradients. Pruning makes such layers: a ResNet's downsample shortcut fed
    by a stream cut to 6 channels, trained channels-last by
    :class:`~dms_mm.engine.hooks.ChannelsLastHook`, killed every retrain of
    the glyphs comparison on an AVX2 machine (torch 2.13.0, oneDNN 3.12).

Fix:
    Per model, where dms_mm turns channels-last on (``ChannelsLastHook``
    calls :func:`keep_nchw` after converting): every such convolution on a
    CPU (1x1 kernel, a stride above 1, fewer than 16 input channels per group,
    the larger of the two channel blocks) keeps its weight in NCHW strides and
    gets a forward pre-hook that hands it its input in NCHW while gradients
    are recorded, so oneDNN takes its blocked path, which is correct. Its
    output is NCHW, which the next channels-last layer turns back; inference
    and every other convolution run unchanged. Not a patch of torch: a model
    put channels-last by other code is not covered.

Versions:
    Written for torch 2.x on x86 CPUs (oneDNN 3.x), checked on torch 2.13.0.
"""
from typing import List

import torch
from torch import nn

FIXED_FOR = {'torch': '>=2.0'}

#: Fewer input channels per group than this keeps a strided 1x1 convolution in
#: NCHW (oneDNN's channel block is 8 on AVX2, 16 on AVX-512).
MIN_NHWC_INPUT_CHANNELS = 16

def affected(conv: nn.Module) -> bool:
    """Whether training ``conv`` channels-last on a CPU reaches the broken
    kernel (see the module's docstring)."""
    return (isinstance(conv, nn.Conv2d) and tuple(conv.kernel_size) == (1, 1)
            and max(conv.stride) > 1
            and conv.in_channels // conv.groups < MIN_NHWC_INPUT_CHANNELS
            and conv.weight.device.type == 'cpu')


def _nchw_strides(shape) -> tuple:
    strides, step = [], 1
    for size in reversed(shape):
        strides.append(step)
        step *= size
    return tuple(reversed(strides))


def _nchw(tensor: torch.Tensor) -> torch.Tensor:
    # strides, not is_contiguous(): a channels-last 1x1 weight counts as
    # contiguous, yet torch picks the channels-last kernel from its strides
    if tensor.stride() == _nchw_strides(tensor.shape):
        return tensor
    return tensor.clone(memory_format=torch.contiguous_format)


def _nchw_input(module: nn.Module, args):
    x = args[0] if args else None
    if isinstance(x, torch.Tensor) and x.dim() == 4 and torch.is_grad_enabled():
        return (_nchw(x), *args[1:])
    return None


def keep_nchw(model: nn.Module) -> List[str]:
    """Keep the affected convolutions of ``model`` in NCHW (idempotent).

    Their weights stay the same parameter objects (an optimizer that holds
    them goes on working), with the same values.

    Returns:
        list[str]: The names of the convolutions kept in NCHW.
    """
    names = []
    for name, module in model.named_modules():
        if not affected(module):
            continue
        module.weight.data = _nchw(module.weight.data)
        if _nchw_input not in module._forward_pre_hooks.values():  # a copy keeps its hook
            module.register_forward_pre_hook(_nchw_input)
        names.append(name)
    return names
