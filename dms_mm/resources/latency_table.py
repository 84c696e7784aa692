"""Latency tables: every layer a search can change, timed on the device over a
grid of its input and output widths.

:func:`measure_latency_table` times, for each layer call the mutator counts
whose widths a mutable changes or which sits in a removable block
(convolution, linear, batch and layer norm), a static layer of the same kind
and settings at the shape of the demo input, at ``steps`` widths between
``1/steps`` of the channels and all of them for each searched side (one width
for a side no mutable changes): warm-up runs, then the median of timed runs,
in inference (``torch.no_grad``). It also times the whole model at full width,
so that the part no search changes (the rest) is known, and, given the
searched architecture, the static model at smaller uniform widths
(``calibration``), so that an estimate can map the layers' sum onto what the
whole model takes (activations and additions shrink with the widths too), and
which multiples of a divisor the device runs faster than the widths around
them (``multiples``, :mod:`~dms_mm.resources.width_multiples`). :class:`LatencyTable`
holds the result with where it was measured (device and its name, torch,
dtype, batch size, threads), reads a layer's latency at any widths by bilinear
interpolation on its grid, and refuses a device other than its own unless told.
"""
import json
import math
import os
import platform
import statistics
import time
from typing import Callable, Dict, List, Optional, Sequence

import numpy as np
import torch
from torch import nn

from .width_multiples import measure_width_multiples

#: the layer types a table times, by the registered counter's name
TIMED_COUNTERS = ('ConvCounter', 'LinearCounter', 'BatchNormCounter', 'LayerNormCounter')
TABLE_FORMAT = 1


class LatencyTableError(ValueError):
    """A table that does not fit the model, the device or itself."""


def device_name(device: str) -> str:
    """What the table calls the device: the GPU's name, or the CPU's."""
    if device.startswith('cuda'):
        return torch.cuda.get_device_name(torch.device(device))
    name = platform.processor() or platform.machine()
    try:
        with open('/proc/cpuinfo') as f:
            for line in f:
                if line.startswith('model name'):
                    return line.split(':', 1)[1].strip()
    except OSError:
        pass
    return name


def median_ms(fn: Callable[[], object], iters: int, warmup: int, device: str) -> float:
    """Median wall time of ``fn()`` in milliseconds (synchronised on a GPU)."""
    sync = torch.cuda.synchronize if device.startswith('cuda') else (lambda: None)
    for _ in range(warmup):
        fn()
    sync()
    times = []
    for _ in range(iters):
        start = time.perf_counter()
        fn()
        sync()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def width_grid(channels: int, searched: bool, steps: int, groups: int = 1) -> List[int]:
    """The widths a side is timed at: ``steps`` from ``channels / steps`` to
    ``channels`` (multiples of ``groups``), or ``channels`` alone."""
    if not searched:
        return [channels]
    grid = sorted({max(groups, round(channels * k / steps / groups) * groups)
                   for k in range(1, steps + 1)})
    return grid


def _static_layer(kind: str, module: nn.Module, c_in: int, c_out: int) -> nn.Module:
    """A plain layer of ``module``'s kind and settings with these widths."""
    if kind == 'ConvCounter':
        depthwise = module.groups > 1 and module.groups == module.in_channels
        groups = c_in if depthwise else module.groups
        return nn.Conv2d(c_in, c_out, module.kernel_size, module.stride, module.padding,
                         module.dilation, groups, module.bias is not None)
    if kind == 'LinearCounter':
        return nn.Linear(c_in, c_out, module.bias is not None)
    if kind == 'BatchNormCounter':
        return nn.BatchNorm2d(c_out).eval()
    return nn.LayerNorm(c_out, eps=module.eps, elementwise_affine=module.weight is not None)


def _input(kind: str, in_shape: Sequence[int], c_in: int, device, dtype):
    shape = list(in_shape)
    shape[-1 if kind in ('LinearCounter', 'LayerNormCounter') else 1] = c_in
    return torch.randn(shape, device=device, dtype=dtype)


class LatencyTable:
    """Measured latencies of the layers a search can change.

    Args:
        meta (dict): Where and how it was measured: ``device``,
            ``device_name``, ``torch``, ``dtype``, ``batch_size``, ``threads``,
            ``input_shape``, ``model_ms`` (the whole model at full width),
            ``config``, and where measured ``calibration`` and ``multiples``.
        layers (dict): Layer name -> ``dict(type, in_channels, out_channels,
            ms)``: the grid of widths of each side and the median latency
            (milliseconds) at each pair, ``ms[i][j]`` at ``in_channels[i]``
            and ``out_channels[j]``.
    """

    def __init__(self, meta: Dict, layers: Dict[str, Dict]) -> None:
        self.meta, self.layers = dict(meta), dict(layers)
        for name, layer in self.layers.items():
            ms = np.asarray(layer['ms'], dtype=float)
            if ms.shape != (len(layer['in_channels']), len(layer['out_channels'])):
                raise LatencyTableError(f'latency table: layer {name!r} has {ms.shape} '
                                        'timings for its grid of widths')

    def __repr__(self) -> str:
        meta = self.meta
        return (f'LatencyTable({len(self.layers)} layers on {meta.get("device")} '
                f'({meta.get("device_name")}), torch {meta.get("torch")}, {meta.get("dtype")}, '
                f'batch {meta.get("batch_size")}, {meta.get("threads")} thread(s); full width: '
                f'layers {self.full_ms():.3f} ms of the model\'s {meta.get("model_ms", 0):.3f} ms'
                + ('' if self.preferred_divisor is None else
                   f'; widths it prefers: multiples of {self.preferred_divisor}') + ')')

    @property
    def preferred_divisor(self) -> Optional[int]:
        """The divisor whose multiples the device runs fastest (1: none is
        faster), or None where the table has not measured it."""
        multiples = self.meta.get('multiples')
        return None if multiples is None else int(multiples['divisor'])

    def measured_divisor(self, asked_by: str) -> int:
        """:attr:`preferred_divisor`, for ``asked_by`` (named in the error).

        Raises:
            LatencyTableError: Where the table did not measure it.
        """
        if self.preferred_divisor is None:
            raise LatencyTableError(
                f'{asked_by}: the latency table did not measure the widths the device prefers '
                '(measured with --multiples 0, or by an older dms_mm); measure it again with '
                'tools/measure_latency.py')
        return self.preferred_divisor

    def full_ms(self) -> float:
        """The summed latency of every layer at full width."""
        return sum(float(layer['ms'][-1][-1]) for layer in self.layers.values())

    def lookup(self, name: str, in_channels: float, out_channels: float) -> float:
        """The latency of layer ``name`` at these widths (fractional widths
        too), interpolated bilinearly on its grid, held at the grid's ends."""
        if name not in self.layers:
            raise LatencyTableError(f'latency table: no layer {name!r} (it has '
                                    f'{len(self.layers)}: measured for another model?)')
        layer = self.layers[name]
        xs, ys = layer['in_channels'], layer['out_channels']
        ms = np.asarray(layer['ms'], dtype=float)
        rows = [np.interp(out_channels, ys, row) for row in ms]
        return float(np.interp(in_channels, xs, rows))

    def check_device(self, device: str, allow_other: bool = False) -> Optional[str]:
        """None when the table was measured on ``device`` (its kind and name)
        with this torch; else the difference, raised unless ``allow_other``."""
        try:
            name = device_name(device)
        except (AssertionError, RuntimeError):  # no such device here (a CUDA table on a CPU)
            name = f'no {device} here'
        here = dict(device=device.split(':')[0], device_name=name, torch=torch.__version__)
        there = dict(device=self.meta.get('device', '').split(':')[0],
                     device_name=self.meta.get('device_name'), torch=self.meta.get('torch'))
        differs = {k: (there[k], v) for k, v in here.items() if there[k] != v}
        if not differs:
            return None
        message = ('latency table measured elsewhere (key: (table, here)): ' +
                   ', '.join(f'{k}: {a!r} vs {b!r}' for k, (a, b) in differs.items()))
        if not allow_other:
            raise LatencyTableError(message + '; measure one here with tools/measure_latency.py')
        return message

    def to_dict(self) -> Dict:
        return dict(format=TABLE_FORMAT, meta=self.meta, layers=self.layers)

    def save(self, path: str) -> None:
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        with open(path + '.tmp', 'w') as f:
            json.dump(self.to_dict(), f, indent=1)
        os.replace(path + '.tmp', path)

    @classmethod
    def load(cls, path: str) -> 'LatencyTable':
        with open(path) as f:
            data = json.load(f)
        if data.get('format') != TABLE_FORMAT:
            raise LatencyTableError(f'{path}: latency table format {data.get("format")!r}, '
                                    f'this dms_mm reads {TABLE_FORMAT}')
        return cls(data['meta'], data['layers'])


def model_forward(model: nn.Module, x: torch.Tensor) -> Callable[[], object]:
    """One inference forward of ``model`` (an mmengine model's tensor mode)."""
    if hasattr(model, 'data_preprocessor'):
        return lambda: model(x, None, mode='tensor')
    return lambda: model(x)


@torch.no_grad()
def measure_latency_table(model: nn.Module, mutator, device: str = 'cpu',
                          dtype: torch.dtype = torch.float32, steps: int = 8, iters: int = 20,
                          warmup: int = 5, config: Optional[str] = None,
                          architecture: Optional[nn.Module] = None,
                          calibration: Sequence[float] = (0.75, 0.5, 0.25),
                          multiples: int = 4, multiples_span: int = 64) -> LatencyTable:
    """Time the layers of a prepared model over their grids of widths.

    Args:
        model (nn.Module): The plain supernet (as its config builds it,
            without DMS's ops): its whole latency at full width.
        mutator (DMSMutator): A mutator prepared on the same architecture
            (its resource counters name the layers, their shapes at the demo
            input and their widths).
        device (str): ``'cpu'`` or ``'cuda[:N]'``.
        dtype (torch.dtype): Of the inputs and layers. Defaults to float32.
        steps (int): Widths per searched side. Defaults to 8.
        iters (int): Timed runs per point (median). Defaults to 20.
        warmup (int): Untimed runs first. Defaults to 5.
        config (str, optional): The config, recorded in the table.
        architecture (nn.Module, optional): The architecture the mutator was
            prepared on (with DMS's ops): the static model at each width
            ratio of ``calibration`` (every searched width scaled, the depth
            kept) is timed, with the layers' sum the table gives it, into
            ``meta['calibration']``. Defaults to None (no calibration).
        calibration (Sequence[float]): The width ratios. Defaults to
            ``(0.75, 0.5, 0.25)``.
        multiples (int): How many of the most expensive searched layers are
            timed at every width of a window, for the divisor whose multiples
            run fastest (:func:`~dms_mm.resources.width_multiples.measure_width_multiples`,
            into ``meta['multiples']``); 0: not measured. Defaults to 4.
        multiples_span (int): The window's widths. Defaults to 64.

    Returns:
        LatencyTable: The table.
    """
    if steps < 2 or iters < 1 or warmup < 0:
        raise ValueError(f'need steps >= 2, iters >= 1, warmup >= 0; got {steps}, {iters}, '
                         f'{warmup}')
    layers = {}
    for counter, block in mutator.resources.counters:
        kind = type(counter).__name__
        if kind not in TIMED_COUNTERS or counter.name in layers:
            continue
        module = counter.module
        groups = getattr(module, 'groups', 1)
        depthwise = kind == 'ConvCounter' and groups > 1 and groups == module.in_channels
        tied = kind in ('BatchNormCounter', 'LayerNormCounter') or depthwise
        out_grid = width_grid(counter.out_width.channels,
                              counter.searched if tied else counter.out_width.searched, steps)
        in_grid = out_grid if tied else width_grid(
            counter.in_width.channels, counter.in_width.searched, steps,
            1 if kind != 'ConvCounter' else groups)
        ms = []
        for c_in in in_grid:
            row = []
            for c_out in out_grid:
                if tied and c_in != c_out:  # one width: the diagonal is measured
                    row.append(None)
                    continue
                layer = _static_layer(kind, module, c_in, c_out).to(device, dtype).eval()
                x = _input(kind, counter.in_shape, c_in, device, dtype)
                row.append(median_ms(lambda: layer(x), iters, warmup, device))
            ms.append(row)
        if tied:  # the same value across a row: a lookup reads the tied width
            ms = [[row[i]] * len(out_grid) for i, row in enumerate(ms)]
        layers[counter.name] = dict(type=type(module).__name__, counter=kind, in_channels=in_grid,
                                    out_channels=out_grid, ms=ms, in_shape=list(counter.in_shape),
                                    in_block=block is not None)
    shape = tuple(mutator.demo_input_shape)
    x = torch.rand(shape, device=device, dtype=dtype)
    model_ms = median_ms(model_forward(model.to(device, dtype).eval(), x), iters, warmup, device)
    meta = dict(device=device, device_name=device_name(device), torch=torch.__version__,
                dtype=str(dtype).replace('torch.', ''), batch_size=shape[0],
                threads=torch.get_num_threads(), input_shape=list(shape), model_ms=model_ms,
                steps=steps, iters=iters, warmup=warmup, config=config)
    if not math.isfinite(model_ms):
        raise LatencyTableError('the model\'s latency is not finite')
    table = LatencyTable(meta, layers)
    if multiples:
        found = measure_width_multiples(mutator, lambda fn: median_ms(fn, iters, warmup, device),
                                        device, dtype, multiples, multiples_span, table)
        if found is not None:
            table.meta['multiples'] = found
    if architecture is not None and calibration:
        table.meta['calibration'] = _calibrate(table, architecture, mutator, device, dtype,
                                               calibration, iters, warmup)
    return table


def _calibrate(table: LatencyTable, architecture: nn.Module, mutator, device, dtype,
               ratios: Sequence[float], iters: int, warmup: int) -> List[Dict]:
    """Whole-model timings of the static model at uniform width ratios, with
    the sum of the table's layers at the same widths."""
    from dms_mm.structures.static import to_static

    from .latency_estimator import SoftLatencyEstimator
    estimator = SoftLatencyEstimator(mutator.resources.counters, table, mutator.supernet_flops)
    stages = {id(stage) for stage in mutator.stages}
    mutables = [m for m in mutator.dms_mutables() if not m.frozen and id(m) not in stages]
    saved = [(m.keep_ratio.detach().clone(), m.importance.clone()) for m in mutables]
    x = torch.rand(tuple(mutator.demo_input_shape), device=device, dtype=dtype)
    points = []
    try:
        for ratio in ratios:
            for m in mutables:  # the first elements kept, as uniform scaling does
                m.importance.copy_(torch.arange(m.num_elements, 0, -1, dtype=torch.float32))
                m.keep_ratio.fill_(float(ratio))
            mutator.clamp_()
            layers_ms = float(estimator.layers_ms())
            static = to_static(architecture, mutator).to(device, dtype).eval()
            points.append(dict(width_ratio=float(ratio), layers_ms=layers_ms,
                               model_ms=median_ms(model_forward(static, x), iters, warmup, device)))
    finally:
        for m, (keep, importance) in zip(mutables, saved):
            m.keep_ratio.copy_(keep)
            m.importance.copy_(importance)
    return points
