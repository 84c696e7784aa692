"""FLOPs of ops called outside any counted layer: ``q @ k.transpose(-2, -1)``
in an attention DMS does not model, ``F.interpolate`` in a neck, ``F.linear``
on a parameter, ``torch.einsum`` in a graph convolution.

The layer counters see layers; these ops are called as functions. One demo
forward under :func:`record_functional_ops` records each such call with the
module it runs in, and its FLOPs by mmengine's conventions (the independent
count the tests and the zoo compare against; multiply-accumulates), plus the
two products of ``F.scaled_dot_product_attention``, which mmengine does not
count (:data:`EXTRA_FLOP_HANDLES` give its analyzer the same count, and one
for convolutions with ``padding='same'``, which it misses too).

An op whose FLOPs are so many per channel of its input (a pooling, an
upsampling, a norm) is counted by the width of the layer whose output it
takes, followed through the ops that keep the shape (activations,
additions); every other op is a constant of the structure. Both are scaled
by the depth mask of the block they run in. Where a search changes an op
counted as a constant all the same, the export check finds it
(:func:`~dms_mm.structures.check_export`) by recording the same ops in the
exported model.
"""
import math
import weakref
from collections import OrderedDict
from contextlib import contextmanager
from typing import Callable, Collection, Dict, Iterator, List, Optional, Sequence, Tuple

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.overrides import TorchFunctionMode

from dms_mm.utils.running_modules import running_modules


def _shape(tensor) -> Tuple[int, ...]:
    return tuple(tensor.shape)


def _numel(tensor) -> int:
    return math.prod(_shape(tensor))


def _matmul(a, b) -> float:
    """mmengine's ``aten::matmul``: every element of ``a`` times the columns of ``b``."""
    a_shape, b_shape = _shape(a), _shape(b)
    a_shape = (1, ) + a_shape if len(a_shape) == 1 else a_shape
    b_shape = b_shape + (1, ) if len(b_shape) == 1 else b_shape
    return float(math.prod(a_shape) * b_shape[-1])


def _einsum(equation: str, *operands) -> float:
    """mmengine's ``aten::einsum``: the optimal contraction's multiply-adds."""
    if len(operands) == 1 and isinstance(operands[0], (list, tuple)):
        operands = operands[0]
    equation = equation.replace(' ', '')
    letters = OrderedDict((k, 0) for k in equation if k.isalpha()).keys()
    equation = equation.translate({ord(x): 97 + i for i, x in enumerate(letters)})
    shapes = [_shape(t) for t in operands]
    if equation == 'abc,abd->acd':
        return float(math.prod(shapes[0]) * shapes[1][2])
    if equation == 'abc,adc->adb':
        return float(math.prod(shapes[0]) * shapes[1][1])
    # zero-stride views: the path needs shapes, not memory
    views = [np.broadcast_to(np.zeros(1), s) for s in shapes]
    for line in np.einsum_path(equation, *views, optimize='optimal')[1].split('\n'):
        if 'optimized flop' in line.lower():
            return float(np.floor(float(line.split(':')[-1]) / 2))
    return 0.0


def _conv(input, weight, out, transposed: bool = False) -> float:
    x = _shape(input)
    return float(x[0] * _numel(weight) * math.prod((x if transposed else _shape(out))[2:]))


def _norm(input, weight) -> float:
    return float(_numel(input) * (5 if weight is not None else 4))


def _batch_norm(input, weight, training) -> float:
    if training:
        return _norm(input, weight)
    return float(_numel(input) * (2 if weight is not None else 1))


def _interpolate(out, mode) -> float:
    if out.dim() != 4 or mode not in ('nearest', 'bilinear'):
        return 0.0  # mmengine counts the 2-d nearest and bilinear ones only
    return float(out.numel() * (1 if mode == 'nearest' else 4))


def sdpa_flops(query_shape, key_shape, value_shape) -> float:
    """The multiply-adds of ``softmax(q k^T) v`` (the softmax not counted)."""
    return float(math.prod(query_shape[:-1]) * key_shape[-2] *
                 (query_shape[-1] + value_shape[-1]))


def sdpa_flop_jit(inputs, outputs) -> float:
    """An mmengine ``FlopAnalyzer`` handle for ``aten::scaled_dot_product_attention``
    (``analyzer.set_op_handle('aten::scaled_dot_product_attention',
    sdpa_flop_jit)``), counted as :func:`sdpa_flops`."""
    shapes = [v.type().sizes() for v in inputs[:3]]
    return sdpa_flops(*shapes)


def conv_mode_flop_jit(inputs, outputs) -> float:
    """An mmengine ``FlopAnalyzer`` handle for ``aten::_convolution_mode``,
    the convolution of a string padding (``padding='same'``), which mmengine
    0.10.7 leaves uncounted; counted as every other convolution."""
    x, weight = inputs[0].type().sizes(), inputs[1].type().sizes()
    out = outputs[0].type().sizes()
    return float(x[0] * math.prod(weight) * math.prod(out[2:]))


#: handles for ops mmengine's ``FlopAnalyzer`` does not count, by jit op name
EXTRA_FLOP_HANDLES = {
    'aten::scaled_dot_product_attention': sdpa_flop_jit,
    'aten::_convolution_mode': conv_mode_flop_jit,
}


def _multi_head_attention(query, key, value, embed) -> float:
    """``nn.MultiheadAttention``'s function: the input projections, the two
    products of the attention and the output projection, as mmengine counts
    the ops it calls (without masks)."""
    query, key, value = _shape(query), _shape(key), _shape(value)
    tokens_q, tokens_k = math.prod(query[:-1]), math.prod(key[:-1])
    batch = query[1] if len(query) == 3 else 1
    projections = tokens_q * embed * embed * 2 + tokens_k * (key[-1] + value[-1]) * embed
    return float(projections + 2 * batch * query[0] * key[0] * embed)


class _Op:
    """How one kind of call is counted: its op name, the names of the
    parameters its formula reads (in the function's order, with defaults),
    and the formula, given those and the output (given the call's ``args``
    as they are where ``params`` is None: a variadic function). An op whose
    FLOPs are so many per channel of its input (a pooling, an upsampling, a
    norm) is ``per_channel``: counted by the width of the layer that gave it
    that input."""

    def __init__(self, name: str, params: Optional[Sequence[str]], formula: Callable,
                 defaults: Optional[Dict] = None, per_channel: bool = False) -> None:
        self.name, self.params, self.formula = name, params, formula
        self.defaults = defaults or {}
        #: whether its FLOPs are a number per channel of its first input
        self.per_channel = per_channel

    def flops(self, args, kwargs, out) -> float:
        if self.params is None:
            return self.formula(*args, out=out)
        values = [args[i] if i < len(args) else kwargs.get(n, self.defaults.get(n))
                  for i, n in enumerate(self.params)]
        return self.formula(*values, out=out)


_MATMUL = _Op('matmul', ('input', 'other'), lambda a, b, out: _matmul(a, b))
#: function -> how a call of it is counted
FUNCTIONAL_FLOPS: Dict[Callable, _Op] = {}
for _functions, _op in [
    ((torch.matmul, torch.Tensor.matmul, torch.Tensor.__matmul__, torch.mm, torch.Tensor.mm,
      torch.bmm, torch.Tensor.bmm), _MATMUL),
    ((torch.Tensor.__rmatmul__, ), _Op('matmul', ('input', 'other'),
                                       lambda a, b, out: _matmul(b, a))),
    ((torch.addmm, torch.Tensor.addmm),
     _Op('addmm', ('input', 'mat1', 'mat2'), lambda _, a, b, out: _matmul(a, b))),
    ((torch.einsum, ), _Op('einsum', None, lambda *args, out: _einsum(*args))),
    ((F.linear, ), _Op('linear', ('input', 'weight'),
                       lambda x, w, out: float(_numel(x) * _shape(w)[0]))),
    ((F.conv1d, F.conv2d, F.conv3d), _Op('conv', ('input', 'weight'), _conv)),
    ((F.conv_transpose1d, F.conv_transpose2d, F.conv_transpose3d),
     _Op('conv', ('input', 'weight'), lambda x, w, out: _conv(x, w, out, transposed=True))),
    ((F.batch_norm, ), _Op('batch_norm', ('input', 'running_mean', 'running_var', 'weight',
                                          'bias', 'training'),
                           lambda x, _m, _v, w, _b, t, out: _batch_norm(x, w, t),
                           dict(training=False), per_channel=True)),
    ((F.layer_norm, torch.layer_norm),
     _Op('layer_norm', ('input', 'normalized_shape', 'weight'),
         lambda x, _, w, out: _norm(x, w), per_channel=True)),
    ((F.group_norm, torch.group_norm),
     _Op('group_norm', ('input', 'num_groups', 'weight'), lambda x, _, w, out: _norm(x, w),
         per_channel=True)),
    ((F.instance_norm, ), _Op('instance_norm', ('input', 'running_mean', 'running_var',
                                                'weight'),
                              lambda x, _m, _v, w, out: _norm(x, w), per_channel=True)),
    ((F.interpolate, F.upsample),
     _Op('upsample', ('input', 'size', 'scale_factor', 'mode'),
         lambda _x, _s, _f, mode, out: _interpolate(out, mode), dict(mode='nearest'),
         per_channel=True)),
    ((F.upsample_nearest, ), _Op('upsample', ('input', ),
                                 lambda _, out: _interpolate(out, 'nearest'), per_channel=True)),
    ((F.upsample_bilinear, ), _Op('upsample', ('input', ),
                                  lambda _, out: _interpolate(out, 'bilinear'),
                                  per_channel=True)),
    ((F.adaptive_avg_pool2d, ), _Op('adaptive_avg_pool2d', ('input', ),
                                    lambda x, out: float(_numel(x)), per_channel=True)),
    ((F.grid_sample, ), _Op('grid_sampler', ('input', ), lambda _, out: float(4 * out.numel()),
                            per_channel=True)),
    ((F.scaled_dot_product_attention, ),
     _Op('scaled_dot_product_attention', ('query', 'key', 'value'),
         lambda q, k, v, out: sdpa_flops(_shape(q), _shape(k), _shape(v)))),
    ((F.multi_head_attention_forward, ),
     _Op('multi_head_attention', ('query', 'key', 'value', 'embed_dim_to_check'),
         lambda q, k, v, e, out: _multi_head_attention(q, k, v, int(e)))),
]:
    for _function in _functions:
        FUNCTIONAL_FLOPS[_function] = _op


class FunctionalCall:
    """The FLOPs of the calls of one op in one module during a forward.

    Args:
        module (str): The name of the innermost module it runs in ('' for the
            model's own forward).
        op (str): The op, by mmengine's name for it (``matmul``, ``einsum``, ...).
        source (str, optional): For an op whose FLOPs are so many per channel
            of its input, the layer whose output channels that input carries
            (through ops that keep the shape: activations, additions), where
            it was found.
        flops (float): Its FLOPs, summed over its calls there.
        calls (int): How many calls.
    """

    def __init__(self, module: str, op: str, source: Optional[str] = None, flops: float = 0.0,
                 calls: int = 0) -> None:
        self.module, self.op, self.source = module, op, source
        self.flops, self.calls = flops, calls

    def __repr__(self) -> str:
        source = f', per channel of {self.source}' if self.source is not None else ''
        return (f'FunctionalCall({self.op} in {self.module or "the model"}: '
                f'{self.flops / 1e6:.4f} MFLOPs, {self.calls} call(s){source})')


class _Recorder(TorchFunctionMode):
    """Counts the calls of :data:`FUNCTIONAL_FLOPS` made outside the
    ``covered`` modules. What a function calls inside is not seen: a Python
    function of torch that calls counted ops is counted whole
    (``F.multi_head_attention_forward``). Follows the channels of the
    covered modules' outputs through the ops that keep their shape."""

    def __init__(self, stack: List[str], covered: Collection[str]) -> None:
        super().__init__()
        self.stack, self.covered = stack, set(covered)
        self.calls: Dict[Tuple, FunctionalCall] = {}
        #: id of a tensor -> (the covered module whose channels it carries, the tensor,
        #: weakly: a tensor freed is no source, and its id may come again)
        self.sources: Dict[int, Tuple[str, weakref.ref]] = {}

    def set_source(self, tensor, source: str) -> None:
        if isinstance(tensor, torch.Tensor):
            self.sources[id(tensor)] = (source, weakref.ref(tensor))

    def source_of(self, tensor) -> Optional[str]:
        found = self.sources.get(id(tensor))
        return found[0] if found is not None and found[1]() is tensor else None

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        out = func(*args, **kwargs)  # (this mode is off inside: nothing is counted twice)
        if isinstance(out, torch.Tensor) and self.sources:
            for arg in args:
                source = self.source_of(arg) if isinstance(arg, torch.Tensor) else None
                if source is not None and arg.shape == out.shape:
                    self.set_source(out, source)
                    break
        op = FUNCTIONAL_FLOPS.get(func)
        if op is not None and not any(n in self.covered for n in self.stack):
            module = self.stack[-1] if self.stack else ''
            try:
                flops = op.flops(args, kwargs, out)
            except Exception as error:
                raise RuntimeError(f'cannot count the FLOPs of {op.name} ({func.__name__}) in '
                                   f'{module or "the model"}: {type(error).__name__}: '
                                   f'{error}') from error
            source = None
            if op.per_channel:
                source = self.source_of(args[0] if args else kwargs.get('input'))
            call = self.calls.setdefault((module, op.name, source),
                                         FunctionalCall(module, op.name, source))
            call.flops += flops
            call.calls += 1
        return out


@contextmanager
def record_functional_ops(model: nn.Module,
                          covered: Collection[str]) -> Iterator[List[FunctionalCall]]:
    """Inside, the ops of :data:`FUNCTIONAL_FLOPS` that ``model``'s forward
    calls outside the ``covered`` modules are recorded; the list yielded is
    filled when the block ends, in the order of the first calls.

    Args:
        model (nn.Module): The model.
        covered (Collection[str]): The modules whose counters count whatever
            runs inside them (a call inside a ``Conv2d`` is not recorded). The
            channels of their outputs are the ``source`` of a call.
    """
    calls: List[FunctionalCall] = []
    with running_modules(model) as stack:
        recorder = _Recorder(stack, covered)
        handles = []
        for name in recorder.covered:
            if name:
                handles.append(model.get_submodule(name).register_forward_hook(
                    lambda _module, _args, out, name=name: recorder.set_source(out, name)))
        try:
            with recorder:
                yield calls
        finally:
            for handle in handles:
                handle.remove()
            calls.extend(c for c in recorder.calls.values() if c.flops)
