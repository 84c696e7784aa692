"""Widths the device likes: which multiples of a divisor run faster than the
widths around them, found by timing.

Kernels process channels in blocks (oneDNN's 8 or 16 floats on a CPU, warps
and tensor-core tiles on a GPU), so a layer's latency grows with its width in
steps rather than along a line: a width at the top of a step costs no more
than the widths below it. :func:`measure_width_multiples` times the most
expensive searched convolutions and linears of a model at every output width
in a window, in a few rounds (the median of each width over the rounds, so
that a drift of the machine's speed does not look like a width's);
:func:`divisor_gains` measures, for each candidate divisor, how
much faster its multiples run than the other widths, relative to the straight
line through all the timings; :func:`preferred_divisor` picks the smallest
divisor with most of the largest gain, or 1 where no multiple is faster beyond
the timing noise. The result sits in a latency table's ``meta['multiples']``
(:attr:`~dms_mm.resources.LatencyTable.preferred_divisor`): the export rounds
kept widths to it (``divisor='table'``) and a search can use it as the channel
units' group size (``latency_table=dict(path=..., group_size=True)``).
"""
import math
from typing import Callable, Dict, List, Optional, Sequence

import numpy as np
import torch

#: the divisors whose multiples are compared with the other widths
CANDIDATE_DIVISORS = (2, 4, 8, 16, 32)
#: the smallest gain (multiples this much faster than the other widths) that counts
GAIN_MARGIN = 0.03
#: the share of the largest gain that a smaller divisor must reach to be preferred to the
#: divisor of the largest (timings on a CPU scatter by a few per cent from width to width)
GAIN_SHARE = 0.9


def divisor_gains(widths: Sequence[int], ms: Sequence[float],
                  candidates: Sequence[int] = CANDIDATE_DIVISORS) -> Dict[int, float]:
    """How much faster the multiples of each divisor run than the other widths.

    A straight line is fitted through ``ms`` against ``widths``; each timing
    over the line's value is its relative cost. The gain of a divisor is the
    mean relative cost of the widths that are not its multiples over that of
    its multiples, minus 1 (0: no difference; 0.1: multiples 10 % faster than
    the line says the others are). A divisor with fewer than two multiples or
    two other widths among ``widths`` is left out.

    Args:
        widths (Sequence[int]): The widths timed.
        ms (Sequence[float]): The latency at each width.
        candidates (Sequence[int]): The divisors. Defaults to
            :data:`CANDIDATE_DIVISORS`.

    Returns:
        dict: Divisor -> gain.
    """
    w = np.asarray(widths, dtype=float)
    t = np.asarray(ms, dtype=float)
    if w.shape != t.shape or len(w) < 3:
        raise ValueError(f'divisor_gains: need as many timings as widths (at least 3); got '
                         f'{len(w)} widths and {len(t)} timings')
    slope, intercept = np.polyfit(w, t, 1)
    cost = t / np.maximum(intercept + slope * w, 1e-12)
    gains = {}
    for d in candidates:
        multiple = w % d == 0
        if multiple.sum() >= 2 and (~multiple).sum() >= 2:
            gains[int(d)] = float(cost[~multiple].mean() / cost[multiple].mean() - 1)
    return gains


def preferred_divisor(gains: Dict[int, float], margin: float = GAIN_MARGIN,
                      share: float = GAIN_SHARE) -> int:
    """The smallest divisor whose gain is at least ``share`` of the largest,
    where the largest is at least ``margin``; else 1 (no width is preferred).

    Args:
        gains (dict): Divisor -> gain, as :func:`divisor_gains` gives.
        margin (float): The smallest gain that counts. Defaults to
            :data:`GAIN_MARGIN`.
        share (float): Defaults to :data:`GAIN_SHARE`.
    """
    if not gains:
        return 1
    best = max(gains.values())
    if best < margin:
        return 1
    return min(d for d, g in gains.items() if g >= share * best)


def _ranked_layers(mutator, table) -> List:
    """The searched convolutions and linears (not depthwise), the most
    expensive at full width first (by the table, else by FLOPs)."""
    chosen = {}
    for counter, _ in mutator.resources.counters:
        kind = type(counter).__name__
        module = counter.module
        depthwise = (kind == 'ConvCounter' and module.groups > 1
                     and module.groups == module.in_channels)
        if (kind in ('ConvCounter', 'LinearCounter') and counter.out_width.searched
                and not depthwise and getattr(module, 'groups', 1) == 1):
            chosen.setdefault(counter.name, counter)

    def cost(counter):
        layer = table.layers.get(counter.name) if table is not None else None
        if layer is not None:
            return float(layer['ms'][-1][-1])
        return float(math.prod(counter.out_shape) * counter.in_width.channels)
    return sorted(chosen.values(), key=cost, reverse=True)


@torch.no_grad()
def measure_width_multiples(mutator, timer: Callable[[Callable[[], object]], float],
                            device: str = 'cpu', dtype: torch.dtype = torch.float32,
                            layers: int = 4, span: int = 64, table=None,
                            rounds: int = 3) -> Optional[Dict]:
    """Time the ``layers`` most expensive searched convolutions and linears
    of a prepared model at every output width of a window of ``span`` widths
    ending at its full width (the input at full width), and find the divisor
    whose multiples run fastest.

    Args:
        mutator (DMSMutator): A prepared mutator (its counters name the
            layers, their settings and shapes at the demo input).
        timer (callable): ``timer(fn)`` -> the median milliseconds of
            ``fn()`` (warm-up and repeats are its own).
        device (str): Where to time. Defaults to ``'cpu'``.
        dtype (torch.dtype): Defaults to float32.
        layers (int): How many layers. Defaults to 4.
        span (int): Widths per layer. Defaults to 64.
        table (LatencyTable, optional): Ranks the layers by their measured
            latency; else by FLOPs.
        rounds (int): Passes over the widths; each width's latency is its
            median over them. Defaults to 3.

    Returns:
        dict | None: ``layers`` (name -> ``widths``, ``ms``, ``gains`` as
        ``[divisor, gain]`` pairs), ``gains`` (the layers' gains weighted by
        their latency), ``divisor`` (the preferred one), ``margin``; None
        when no layer has a searched output of at least 8 channels.
    """
    from .latency_table import _input, _static_layer  # (which imports this module)
    measured, weights = {}, []
    for counter in _ranked_layers(mutator, table):
        if len(measured) == layers:
            break
        c_out, c_in = counter.out_width.channels, counter.in_width.channels
        if c_out < 8:
            continue
        kind = type(counter).__name__
        widths = list(range(max(1, c_out - span + 1), c_out + 1))
        x = _input(kind, counter.in_shape, c_in, device, dtype)
        timed = [_static_layer(kind, counter.module, c_in, width).to(device, dtype).eval()
                 for width in widths]
        passes = [[timer(lambda: layer(x)) for layer in timed] for _ in range(rounds)]
        ms = [float(np.median(column)) for column in zip(*passes)]
        gains = divisor_gains(widths, ms)
        measured[counter.name] = dict(widths=widths, ms=ms,
                                      gains=[[d, g] for d, g in gains.items()])
        weights.append((float(np.mean(ms)), gains))
    if not measured:
        return None
    total = sum(w for w, _ in weights)
    divisors = sorted({d for _, gains in weights for d in gains})
    combined = {d: sum(w * gains.get(d, 0.0) for w, gains in weights) / total for d in divisors}
    return dict(layers=measured, gains=[[d, g] for d, g in combined.items()],
                divisor=preferred_divisor(combined), margin=GAIN_MARGIN)
