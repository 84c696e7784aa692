"""Soft latency of a model from a measured :class:`~.latency_table.LatencyTable`."""
import logging
from typing import Dict, Iterable, List, Optional, Tuple

import torch
from mmengine.logging import print_log

from .counters import BaseResourceCounter, FunctionalOpCounter, ModuleParamsCounter
from .counters.base_counter import _FullWidths
from .latency_table import TIMED_COUNTERS, LatencyTable, LatencyTableError
from .mutable_counts import MutableCounts


def _mismatch(counter: BaseResourceCounter, layer: Dict) -> Optional[str]:
    """How a table's layer differs from the counted one (kind, widths, input
    shape but the batch), or None."""
    here = (type(counter).__name__, counter.in_width.channels, counter.out_width.channels,
            list(counter.in_shape[1:]))
    there = (layer.get('counter'), layer['in_channels'][-1], layer['out_channels'][-1],
             list(layer.get('in_shape', [0, *counter.in_shape[1:]])[1:]))
    if here == there:
        return None
    return f'table {there}, model {here} (kind, in and out channels, input shape)'


class _FullCounts(_FullWidths):
    """Counts of every layer at full width, every block kept."""

    def block_scale(self, mutable, index: int) -> float:
        return 1.0


class _TimedLayer:
    """One counted layer call, read from its grid in the table."""

    def __init__(self, counter: BaseResourceCounter, block, layer: Dict) -> None:
        self.counter, self.block, self.layer = counter, block, layer
        kind = type(counter).__name__
        module = counter.module
        groups = getattr(module, 'groups', 1)
        tied = kind in ('BatchNormCounter', 'LayerNormCounter') or (
            kind == 'ConvCounter' and groups > 1 and groups == module.in_channels)
        in_w, out_w = counter.in_width, counter.out_width
        if tied:  # one width: the searched side's
            in_w = out_w = out_w if out_w.searched or not in_w.searched else in_w
        self.widths = (in_w, out_w)


def _padded(xs: List[float], size: int) -> List[float]:
    """A grid extended to ``size`` points past its end (1 apart): a reading
    held inside the grid never reaches them."""
    return list(xs) + [xs[-1] + k for k in range(1, size - len(xs) + 1)]


def _stack(values, device) -> torch.Tensor:
    """Numbers and 0-d tensors (with their graphs) as one float32 vector."""
    return torch.stack([v.to(device, torch.float32) if torch.is_tensor(v) else
                        torch.tensor(float(v), device=device) for v in values])


class _Grids:
    """The grids of all timed layers, padded to one size, for one batched
    bilinear reading (a few tensor ops whatever the number of layers)."""

    def __init__(self, layers: List[Dict]) -> None:
        ki = max(2, max(len(layer['in_channels']) for layer in layers))
        ko = max(2, max(len(layer['out_channels']) for layer in layers))
        ms = []
        for layer in layers:
            rows = [list(row) + [row[-1]] * (ko - len(row)) for row in layer['ms']]
            ms.append(rows + [rows[-1]] * (ki - len(rows)))
        self.cpu = dict(
            xs_in=torch.tensor([_padded(layer['in_channels'], ki) for layer in layers],
                               dtype=torch.float32),
            xs_out=torch.tensor([_padded(layer['out_channels'], ko) for layer in layers],
                                dtype=torch.float32),
            ms=torch.tensor(ms, dtype=torch.float32))
        for side in ('in', 'out'):
            grids = [layer[f'{side}_channels'] for layer in layers]
            self.cpu[f'low_{side}'] = torch.tensor([g[0] for g in grids], dtype=torch.float32)
            self.cpu[f'high_{side}'] = torch.tensor([g[-1] for g in grids],
                                                    dtype=torch.float32)
        self._on = {}

    def on(self, device) -> Dict[str, torch.Tensor]:
        key = str(device)
        if key not in self._on:
            self._on[key] = {k: v.to(device) for k, v in self.cpu.items()}
        return self._on[key]

    @staticmethod
    def _segment(x, xs, low, high):
        """The segment of each row's grid holding ``x`` (held at the ends),
        and the position in it."""
        x = torch.minimum(torch.maximum(x, low), high).unsqueeze(1)
        right = torch.searchsorted(xs, x.detach()).clamp(1, xs.shape[1] - 1)
        x0, x1 = xs.gather(1, right - 1), xs.gather(1, right)
        return right, (x - x0) / (x1 - x0)

    def read(self, c_in: torch.Tensor, c_out: torch.Tensor) -> torch.Tensor:
        """Each layer's latency at its widths (vectors of the layers)."""
        g = self.on(c_in.device)
        right, w = self._segment(c_out, g['xs_out'], g['low_out'], g['high_out'])
        ms = g['ms']
        index = right.unsqueeze(1).expand(-1, ms.shape[1], 1)
        rows = ms.gather(2, index - 1).squeeze(2)
        rows = rows + w * (ms.gather(2, index).squeeze(2) - rows)
        right, w = self._segment(c_in, g['xs_in'], g['low_in'], g['high_in'])
        first = rows.gather(1, right - 1)
        return (first + w * (rows.gather(1, right) - first)).squeeze(1)


class SoftLatencyEstimator:
    """The soft latency (milliseconds) of a model's current structure.

    Each layer call whose width a mutable changes, or that sits in a removable
    block, reads its latency from the table at its straight-through widths
    (bilinear on the table's grid, so the gradient is the slope of the
    measured curve); a block's layers are scaled by its depth mask. A layer
    the table lacks (not timed, such as attention matmuls, or measured for
    another model) falls back to its soft FLOPs times the model's milliseconds
    per FLOP, with one warning naming them. The rest of the model (every op no
    search changes, the activations and the framework's overhead) is the
    whole model's measured latency less the layers' at full width; where the
    table holds whole-model timings at smaller widths (``calibration``), the
    sum is mapped to the model's latency by a line through the full width
    whose slope fits them (``ms = scale * layers + offset``).

    Args:
        counters (Iterable[tuple]): ``(counter, block)`` pairs of the mutator
            (:attr:`SoftResourceEstimator.counters`).
        table (LatencyTable): The measured table.
        supernet_flops (float): The soft FLOPs of the supernet (at the
            mutator's demo input): a fallback layer takes its share of them of
            the model's measured latency.

    Raises:
        LatencyTableError: If no counted layer is in the table (it was
            measured for another model).
    """

    def __init__(self, counters: Iterable[Tuple[BaseResourceCounter, Optional[tuple]]],
                 table: LatencyTable, supernet_flops: float) -> None:
        self.table = table
        self.timed: List[_TimedLayer] = []
        self.fallback: List[Tuple[BaseResourceCounter, Optional[tuple]]] = []
        # ops called outside the layers (and params outside them) are not timed
        # layers: their time is in the rest of the model, measured whole
        counters = [(c, b) for c, b in counters
                    if not isinstance(c, (FunctionalOpCounter, ModuleParamsCounter))]
        mismatches = []
        for counter, block in counters:
            layer = table.layers.get(counter.name)
            if layer is not None and type(counter).__name__ in TIMED_COUNTERS:
                differs = _mismatch(counter, layer)
                if differs:
                    mismatches.append(f'{counter.name}: {differs}')
                self.timed.append(_TimedLayer(counter, block, layer))
            else:
                self.fallback.append((counter, block))
        self.grids = _Grids([t.layer for t in self.timed]) if self.timed else None
        self.in_blocks = any(t.block is not None for t in self.timed)
        if mismatches:
            raise LatencyTableError(
                f'latency table ({table.meta.get("config")}) measured for another model or '
                f'input: {len(mismatches)} layer(s) differ ({"; ".join(mismatches[:3])}); '
                'measure one for this config with tools/measure_latency.py')
        if counters and not self.timed:
            raise LatencyTableError(
                f'latency table ({table.meta.get("config")}): none of the {len(counters)} '
                f'layers the search changes is in it (e.g. {counters[0][0].name!r}); it was '
                'measured for another model: measure one for this config with '
                'tools/measure_latency.py')
        model_ms = float(table.meta['model_ms'])
        # a layer's FLOPs (at the demo input) over the supernet's, of the model's latency
        self.ms_per_flop = model_ms / supernet_flops if supernet_flops > 0 else 0.0
        if self.fallback:
            names = sorted({c.name for c, _ in self.fallback})
            print_log(f'SoftLatencyEstimator: {len(names)} layer(s) the search changes are not '
                      'in the latency table and are estimated from their FLOPs (their '
                      'share of the supernet\'s, of its measured latency): '
                      f'{", ".join(names[:10])}{" ..." if len(names) > 10 else ""}',
                      logger='current', level=logging.WARNING)
        full = self.full_layers_ms()
        if full > model_ms:
            print_log(f'SoftLatencyEstimator: the timed layers add up to {full:.3f} ms at full '
                      f'width, more than the whole model\'s {model_ms:.3f} ms (each run alone '
                      'pays its own launch and memory traffic); the estimate scales them',
                      logger='current', level=logging.WARNING)
        self.scale, self.offset = self._fit(full, model_ms)

    def _fit(self, full: float, model_ms: float) -> Tuple[float, float]:
        """``(scale, offset)``, both at least 0 so that no structure is
        estimated below 0 ms, and the full width estimated at the measured
        ``model_ms``: the line through that point with the least-squares
        slope of the calibration points; without calibration, the layers as
        timed plus the rest of the model. Where the offset would be negative,
        the line through the origin instead (the layers scaled onto the
        model)."""
        scale = 1.0
        points = [(p['layers_ms'] - full, p['model_ms'] - model_ms)
                  for p in self.table.meta.get('calibration', [])]
        sxx = sum(dx * dx for dx, _ in points)
        if sxx > 0:
            scale = sum(dx * dy for dx, dy in points) / sxx
        offset = model_ms - scale * full
        if scale <= 0 or offset < 0:
            scale, offset = model_ms / full, 0.0
        return scale, offset

    def layers_ms(self, counts=None):
        """The summed latency of the layers the search changes (plain
        milliseconds of the table, before the calibration)."""
        counts = MutableCounts() if counts is None else counts
        device = self._device()
        total = torch.zeros((), device=device)
        if self.timed:
            c_in = _stack([t.widths[0].count(counts) for t in self.timed], device)
            c_out = _stack([t.widths[1].count(counts) for t in self.timed], device)
            values = self.grids.read(c_in, c_out)
            if self.in_blocks:
                values = values * _stack([counts.block_scale(*t.block) if t.block else 1.0
                                          for t in self.timed], device)
            total = total + values.sum()
        for counter, block in self.fallback:
            value = counter.flops(counts) * self.ms_per_flop
            if block is not None:
                value = value * counts.block_scale(*block)
            total = total + value
        return total

    def _device(self):
        for timed in self.timed:
            for width in timed.widths:
                for mutable in width.mutables():
                    for tensor in mutable.parameters():
                        return tensor.device
        return torch.device('cpu')

    @torch.no_grad()
    def full_layers_ms(self) -> float:
        """The summed latency of the layers at full width, every block kept."""
        return float(self.layers_ms(_FullCounts()))

    def full_ms(self) -> float:
        """The estimate of the whole supernet (milliseconds)."""
        return self.full_layers_ms() * self.scale + self.offset

    def count(self) -> torch.Tensor:
        """The soft latency of the current structure in milliseconds (value:
        the estimate at the hard widths; gradient: through the soft masks)."""
        return self.layers_ms() * self.scale + self.offset

    def __repr__(self) -> str:
        meta = self.table.meta
        in_blocks = sum(t.block is not None for t in self.timed)
        return (f'SoftLatencyEstimator({len(self.timed)} timed layer calls ({in_blocks} in '
                f'removable blocks), {len(self.fallback)} from FLOPs; ms = {self.scale:.4f} x '
                f'layers + {self.offset:.3f}; table: {meta.get("device")} '
                f'({meta.get("device_name")}), batch {meta.get("batch_size")})')
