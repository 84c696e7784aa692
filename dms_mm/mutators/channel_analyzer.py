"""mmrazor's ChannelAnalyzer, made to say what it leaves out and why."""
import logging
from typing import Dict, Optional, Set

import torch.nn as nn
from mmengine.logging import MMLogger
from mmrazor.models.architectures.dynamic_ops import DynamicChannelMixin
from mmrazor.models.mutables import SequentialMutableChannelUnit
from mmrazor.models.task_modules import ChannelAnalyzer
from mmrazor.models.task_modules.tracer.fx_tracer import MMFxTracer
from mmrazor.registry import TASK_UTILS

from dms_mm.dynamic_ops import trace_error

PLACEHOLDERS = ('input_placeholder', 'output_placeholder')


def opaque_parameter_holders(model: nn.Module, known: tuple) -> tuple:
    """Types of modules that hold parameters directly, have no parametrised
    children and are not among ``known``.

    Tracing them as leaves makes them members of the channel units they
    touch, so a unit that runs through a custom layer is recognised (and left
    out, with the layer named) instead of the layer being silently skipped.
    """
    types = []
    for module in model.modules():
        if isinstance(module, known) or type(module) in types:
            continue
        if not any(True for _ in module.parameters(recurse=False)):
            continue
        if any(any(True for _ in child.parameters()) for child in module.children()):
            continue
        types.append(type(module))
    return tuple(types)


def untraced_parts(model: nn.Module, traced_layers: Set[str]) -> Dict[str, str]:
    """The parts of ``model`` whose parametrised layers are in no channel unit.

    Such layers keep their width whatever the search does. Each is attributed
    to the outermost module below the root whose own forward torch.fx cannot
    trace (mmrazor's tracer then keeps that module opaque); otherwise to the
    layer itself.

    Args:
        model (nn.Module): The traced model.
        traced_layers (Set[str]): Names of the layers that are members of a
            traced unit.

    Returns:
        dict: ``{module name: reason}``, in model order.
    """
    modules = dict(model.named_modules())
    parts: Dict[str, list] = {}
    for name, module in modules.items():
        if not name or name in traced_layers:
            continue
        if not any(True for _ in module.parameters(recurse=False)):
            continue
        culprit = name
        reason = f'{type(module).__name__}: no traced path of the forward reaches it'
        parts_of_name = name.split('.')
        for depth in range(1, len(parts_of_name)):
            ancestor = modules['.'.join(parts_of_name[:depth])]
            error = trace_error(ancestor)
            if error is not None:
                culprit = '.'.join(parts_of_name[:depth])
                reason = (f'torch.fx cannot trace the forward of {type(ancestor).__name__} '
                          f'({error})')
                break
        parts.setdefault(culprit, [reason, []])[1].append(name[len(culprit):].lstrip('.'))
    report = {}
    for culprit, (reason, layers) in parts.items():
        inside = [n for n in layers if n]
        where = f'; its layers {inside} keep their width' if inside else \
            '; it keeps its width'
        report[culprit] = reason + where
    return report


def unit_exclusion_reason(unit) -> Optional[str]:
    """Why a traced unit cannot be pruned, in words; None if nothing in its
    members rules it out."""
    channels = list(unit.input_related) + list(unit.output_related)
    names = {c.name for c in channels}
    if 'output_placeholder' in names:
        return 'its channels are a model output'
    if 'input_placeholder' in names:
        return 'its channels are a model input'
    bad = sorted({
        f'{c.name} ({type(c.module).__name__})'
        for c in channels if isinstance(c.module, nn.Module)
        and not isinstance(c.module, DynamicChannelMixin)
        and any(True for _ in c.module.parameters(recurse=False))
    })
    if bad:
        return 'consumers/producers not masked (no DMS op for them): ' + ', '.join(bad)
    if not unit.input_related:
        return 'no consumer of its channels was traced'
    if not unit.output_related:
        return 'no producer of its channels was traced'
    return None


@TASK_UTILS.register_module()
class DMSChannelAnalyzer(ChannelAnalyzer):
    """ChannelAnalyzer that records the units it drops.

    With the FxTracer, parameter-holding custom layers are traced as leaves
    (see :func:`opaque_parameter_holders`). After :meth:`analyze`,
    ``dropped_units`` maps each traced unit that is not returned to the reason
    (model inputs and outputs are in ``fixed_units``), and ``traced_layers``
    holds the names of all layers that are members of a traced unit.
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.dropped_units: Dict[str, str] = {}
        self.fixed_units: Dict[str, str] = {}
        self.traced_layers: Set[str] = set()

    def analyze(self, model):
        if self.tracer_type == 'FxTracer':
            known = tuple(self.default_leaf_modules)
            self.tracer = MMFxTracer(leaf_module=known + opaque_parameter_holders(model, known))
        # mmrazor logs one INFO line per graph node it cannot classify; the mutator's
        # summary reports what matters instead
        logger = MMLogger.get_current_instance()
        level = logger.level
        logger.setLevel(max(level, logging.WARNING))
        try:
            return super().analyze(model)
        finally:
            logger.setLevel(level)

    def _find_mutable_units(self, model: nn.Module, units_config: Dict):
        kept = super()._find_mutable_units(model, units_config)
        self.dropped_units, self.fixed_units, self.traced_layers = {}, {}, set()
        for cfg in units_config.values():
            unit = SequentialMutableChannelUnit.init_from_cfg(model, cfg)
            self.traced_layers.update(
                c.name for c in list(unit.input_related) + list(unit.output_related)
                if isinstance(c.module, nn.Module))
            if unit.name in kept:
                continue
            if not any(isinstance(c.module, nn.Module) and any(True for _ in c.module.parameters())
                       for c in unit.output_related):
                continue  # no layer produces these channels: a tracer artefact
            reason = (unit_exclusion_reason(unit)
                      or 'pruning it breaks the forward pass (mmrazor find_mutable)')
            if 'model input' in reason or 'model output' in reason:
                self.fixed_units[unit.name] = reason
            else:
                self.dropped_units[unit.name] = reason
        return kept
