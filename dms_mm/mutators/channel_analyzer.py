"""mmrazor's ChannelAnalyzer, made to say what it leaves out and why."""
import copy
import logging
from typing import Dict, List, Optional, Sequence, Set, Tuple

import torch.nn as nn
from mmcv.cnn.bricks.transformer import AdaptivePadding
from mmengine.logging import MMLogger
from mmrazor.models.architectures.dynamic_ops import DynamicChannelMixin
from mmrazor.models.mutables import (
    MutableChannelContainer,
    MutableChannelUnit,
    SequentialMutableChannelUnit,
)
from mmrazor.models.mutables.mutable_channel.units.utils import find_mutable
from mmrazor.models.task_modules import ChannelAnalyzer
from mmrazor.models.task_modules.tracer.fx_tracer import MMFxTracer
from mmrazor.registry import TASK_UTILS
from torch.fx.node import map_arg

from dms_mm.dynamic_ops import DMS_OP_MAP, SLICED_OP_MAP, replace_with_ops, trace_error

from .model_family import (
    STAND_IN_TYPES,
    StandInConv,
    StandInLinear,
    StandInPassThrough,
    families_for,
)
from .shared_modules import relink_shared_modules, shared_module_paths

PLACEHOLDERS = ('input_placeholder', 'output_placeholder')


def drop_shape_arguments(graph) -> int:
    """Cut the traced graph's edges that carry another tensor's shape.

    ``x.reshape(b, h, w, -1)`` with ``b = inputs.shape[0]`` and ``h, w`` from
    a feature map is traced with those shape values as inputs of the reshape,
    and mmrazor's channel graph then binds the channels of ``x`` to the
    channels of the tensors the shapes were read from (the image's, in every
    stage of Twins). The graph only serves the channel analysis, so such
    values become constants. A shape read from the reshaped tensor itself
    (a channel shuffle's ``x.view(b, groups, c // groups, h, w)`` with
    ``b, c, h, w = x.size()``, and the view after its transpose) stays:
    mmrazor's analysis of it is kept. (ShuffleNetV1's units through its shuffle
    used to be fixed only because its assertion on the channels left shape
    values that nothing used, which read as model outputs; the export check at
    preparation now refuses it, naming the shuffled layer.)

    Returns:
        int: The number of arguments replaced.
    """
    sources = {}  # shape-valued node -> the nodes whose shapes it was computed from
    for node in graph.nodes:
        if (node.op == 'call_function' and node.target is getattr and len(node.args) > 1
                and node.args[1] == 'shape') or (
                    node.op == 'call_method' and node.target in ('size', 'dim')):
            sources[node] = {node.args[0]}
        elif node.op in ('call_function', 'call_method') and node.all_input_nodes and all(
                n in sources for n in node.all_input_nodes):
            sources[node] = set().union(*(sources[n] for n in node.all_input_nodes))
    replaced = 0
    for node in graph.nodes:
        if node in sources or not any(n in sources for n in node.all_input_nodes):
            continue
        lineage = _reshaped_from(node.args[0] if node.args else None)

        def constant(arg, lineage=lineage):
            nonlocal replaced
            if arg in sources and not (sources[arg] & lineage):
                replaced += 1
                return 1
            return arg

        node.args = map_arg(node.args, constant)
        node.kwargs = map_arg(node.kwargs, constant)
    # shape values used by nothing go: a dangling one would read as a model output
    for node in reversed(list(graph.nodes)):
        if node in sources and not node.users:
            graph.erase_node(node)
    return replaced


def _reshaped_from(node) -> set:
    """``node`` and the nodes it was computed from through functions and tensor
    methods alone (views, transposes: no layer between them)."""
    lineage = set()
    while node is not None and hasattr(node, 'op') and node not in lineage:
        lineage.add(node)
        if node.op not in ('call_function', 'call_method') or not node.args:
            break
        node = node.args[0]
    return lineage


#: modules that only pad or crop, whose forwards branch on the input's shape
#: (which torch.fx cannot trace): leaves of the trace, which keep the channels
SHAPE_ONLY_MODULES = (AdaptivePadding, )


_PLACEHOLDERS = ('input_placeholder', 'output_placeholder')


class _StandInTracer(MMFxTracer):
    """mmrazor's tracer, with the tuple a :class:`StandInConv` returns traced
    as a tuple (one item per output), as a backbone's: a neck that checks for
    a tuple (``GlobalAveragePooling``) is then traced through, not left
    opaque. A :class:`StandInLinear` or :class:`StandInPassThrough` is traced
    on its tokens alone (a feature-map shape is no channel input)."""

    def call_module(self, m, forward, args, kwargs):
        if isinstance(m, (StandInLinear, StandInPassThrough)):  # (tokens given by name too)
            args, kwargs = (args or tuple(kwargs.values()))[:1], {}
        out = super().call_module(m, forward, args, kwargs)
        if isinstance(m, StandInConv) and m.outputs is not None:
            return tuple(out[i] for i in range(len(m.outputs)))
        traced_output = getattr(m, 'traced_output', None)  # an output object around the tensor
        return out if traced_output is None else traced_output(out)


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


def untraced_parts(model: nn.Module, traced_layers: Set[str],
                   handled: Sequence[str] = ()) -> Dict[str, str]:
    """The parts of ``model`` whose parametrised layers are in no channel unit.

    Such layers keep their width whatever the search does. Each is attributed
    to the outermost module below the root whose own forward torch.fx cannot
    trace (mmrazor's tracer then keeps that module opaque); otherwise to the
    layer itself.

    Args:
        model (nn.Module): The traced model.
        traced_layers (Set[str]): Names of the layers that are members of a
            traced unit.
        handled (Sequence[str]): Modules whose own parameters a model family
            accounts for (``cls_token`` of a ViT).

    Returns:
        dict: ``{module name: reason}``, in model order.
    """
    modules = dict(model.named_modules())
    parts: Dict[str, list] = {}
    for name, module in modules.items():
        if not name or name in traced_layers or name in handled:
            continue
        if not any(True for _ in module.parameters(recurse=False)):
            continue
        culprit = name
        reason = f'{type(module).__name__}: no traced path of the forward reaches it'
        if any(True for _ in module.children()):
            own = [key for key, _ in module.named_parameters(recurse=False)]
            reason = (f'{type(module).__name__}: its own forward reads its parameters {own} '
                      'outside any layer (a layer scale held as a bare nn.Parameter, for '
                      'example), which DMS cannot slice')
        parts_of_name = name.split('.')
        for depth in range(1, len(parts_of_name)):
            ancestor = modules['.'.join(parts_of_name[:depth])]
            if isinstance(ancestor, (nn.ModuleList, nn.ModuleDict)):
                continue  # containers have no forward of their own
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
    bad = layers_without_op(channels, DMS_OP_MAP)
    if bad:
        return 'consumers/producers not masked (no DMS op for them): ' + ', '.join(bad)
    if not unit.input_related:
        return 'no consumer of its channels was traced'
    if not unit.output_related:
        return 'no producer of its channels was traced'
    return None


def bare_parameters(model: nn.Module, members, channels) -> List[str]:
    """Names of the 1-d parameters of any of ``channels`` elements held directly by a
    module with submodules (a layer scale as a bare ``nn.Parameter``), in the
    modules around the named ``members``: what a traced ``get_attr`` among
    them most likely reads."""
    found = set()
    for member in members:
        parts = member.split('.')
        for depth in range(1, len(parts)):
            try:
                ancestor = model.get_submodule('.'.join(parts[:depth]))
            except AttributeError:
                break
            if any(True for _ in ancestor.children()):
                found.update(f'{".".join(parts[:depth])}.{key}'
                             for key, param in ancestor.named_parameters(recurse=False)
                             if param.dim() == 1 and param.numel() in channels)
    return sorted(found)


def layers_without_op(channels, op_map) -> List[str]:
    """``'name (type: why)'`` of each parametrised layer among ``channels`` that is
    not an op already and has no op in ``op_map``."""
    bad = set()
    for c in channels:
        if not isinstance(c.module, nn.Module) or isinstance(c.module, DynamicChannelMixin) \
                or not any(True for _ in c.module.parameters(recurse=False)):
            continue
        op, reason = op_map.op_for(c.module)
        if op is None:
            bad.add(f'{c.name} ({type(c.module).__name__}: {reason})')
    return sorted(bad)


class _SlicedCheckUnit(SequentialMutableChannelUnit):
    """mmrazor's unit of the pruning check, its layers converted to the
    slicing ops of :data:`dms_mm.dynamic_ops.SLICED_OP_MAP`."""

    def prepare_for_pruning(self, model: nn.Module) -> None:
        replace_with_ops(self, model, SLICED_OP_MAP)
        self._register_channel_container(model, MutableChannelContainer)
        self._register_mutable_channel(self.mutable_channel)


def _check_model(model: nn.Module, units_config: Dict, shared) -> Tuple[nn.Module, List]:
    """A CPU copy of ``model`` with the units of ``units_config`` prepared for
    the pruning check, and the units."""
    model = copy.deepcopy(model).cpu()
    units = [_SlicedCheckUnit.init_from_cfg(model, cfg) for cfg in units_config.values()]
    for unit in units:
        unit.prepare_for_pruning(model)
    relink_shared_modules(model, shared)
    return model, units


def _untiled_layers(model: nn.Module) -> Dict[str, str]:
    """``{layer: error}`` for each op whose channel container cannot give a
    mask: the ranges of the units traced through it do not add up."""
    untiled = {}
    for name, module in model.named_modules():
        if not isinstance(module, DynamicChannelMixin):
            continue
        for attr in ('in_channels', 'out_channels'):
            container = module.get_mutable_attr(attr)
            try:
                if container is not None:
                    container.current_mask
            except (AssertionError, RuntimeError, ValueError) as error:
                untiled[name] = str(error) or type(error).__name__
    return untiled


@TASK_UTILS.register_module()
class DMSChannelAnalyzer(ChannelAnalyzer):
    """ChannelAnalyzer that records the units it drops.

    With the FxTracer, parameter-holding custom layers are traced as leaves
    (see :func:`opaque_parameter_holders`). After :meth:`analyze`,
    ``dropped_units`` maps each traced unit that is not returned to the reason
    (model inputs and outputs are in ``fixed_units``), and ``traced_layers``
    holds the names of all layers that are members of a traced unit.
    """

    def __init__(self, *args, declared_attention: Optional[Dict] = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.declared_attention = dict(declared_attention or {})
        self.dropped_units: Dict[str, str] = {}
        self.fixed_units: Dict[str, str] = {}
        self.traced_layers: Set[str] = set()
        #: (family, root name, root module) for every model-family module found
        self.family_roots: List[Tuple] = []

    def _fx_trace(self, model):
        graph = super()._fx_trace(model)
        drop_shape_arguments(graph)
        return graph

    def analyze(self, model):
        self.family_roots = families_for(model, self.declared_attention)
        if self.family_roots and self.tracer_type != 'FxTracer':
            raise ValueError(f'{type(self).__name__}: model families '
                             f'({sorted({type(f).__name__ for f, _, _ in self.family_roots})}) '
                             "need tracer_type='FxTracer'")
        self._model = model
        if self.family_roots:
            # the tracer sees a plain layer in place of each family module
            model = copy.deepcopy(model)
            for family, name, root in self.family_roots:
                parent, _, child = name.rpartition('.')
                setattr(model.get_submodule(parent) if parent else model, child,
                        family.stand_in(name, root))
        if self.tracer_type == 'FxTracer':
            known = tuple(self.default_leaf_modules) + STAND_IN_TYPES + SHAPE_ONLY_MODULES
            self.tracer = _StandInTracer(leaf_module=known + opaque_parameter_holders(model, known))
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
        family_units, units_config = self._merge_family_units(units_config)
        self.dropped_units, self.fixed_units, self.traced_layers = {}, {}, set()
        self._check_reasons: Dict[str, str] = {}
        kept = self._forwardable_units(model, units_config)
        for family, name, root in self.family_roots:  # their attentions hold their own masks
            self.traced_layers.update(n for n, _ in family.attentions(name, root))
        for key, cfg in family_units.items():
            unit = SequentialMutableChannelUnit.init_from_cfg(self._model, cfg)
            self.traced_layers.update(
                c.name for c in list(unit.input_related) + list(unit.output_related))
            reason = unit_exclusion_reason(unit)
            if reason is not None and ('model input' in reason or 'model output' in reason):
                self.fixed_units[unit.name] = reason
            else:
                kept[key] = cfg
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
            members = [c.name for c in list(unit.input_related) + list(unit.output_related)]
            # a parameter read outside any layer is traced as a get_attr, or as a
            # second model input beside the layers that produce the same channels
            spans = {c.end - c.start for c in list(unit.input_related) + list(unit.output_related)}
            read = bare_parameters(self._model, [m for m in members if isinstance(m, str)],
                                   spans)
            if 'get_attr' in members or (read and 'input_placeholder' in members):
                self.dropped_units[unit.name] = (
                    'its channels are scaled by a parameter read outside any layer '
                    f'({", ".join(read)}: a layer scale held as a bare nn.Parameter, for '
                    'example), which DMS cannot slice' if read else
                    'its channels meet a tensor that a module reads from its own attributes '
                    'outside any layer (traced as get_attr), which DMS cannot slice')
                continue
            unchecked = layers_without_op(
                list(unit.input_related) + list(unit.output_related), SLICED_OP_MAP)
            reason = unit_exclusion_reason(unit) or self._check_reasons.get(unit.name) or (
                'the pruning check cannot slice ' + ', '.join(unchecked) if unchecked else
                'pruning it breaks the forward pass (mmrazor find_mutable)')
            if 'model input' in reason or 'model output' in reason:
                self.fixed_units[unit.name] = reason
            else:
                self.dropped_units[unit.name] = reason
        return kept

    def _forwardable_units(self, model: nn.Module, units_config: Dict) -> Dict:
        """mmrazor's check of the traced units (each is pruned at random on a
        copy of the model; those the forward survives are kept), with the
        slicing ops of every layer DMS searches (:data:`SLICED_OP_MAP`: the
        LayerNorms and the subclasses of the layers mmrazor knows as well),
        and the names of a shared module pointed at its dynamic op (see
        :mod:`dms_mm.mutators.shared_modules`); otherwise the other names
        would run the unpruned original and the check would drop the unit."""
        shared = shared_module_paths(model)
        checked, units = _check_model(model, units_config, shared)
        # a unit whose ranges do not add up at one of its layers is left out
        while (untiled := _untiled_layers(checked)):
            bad = {}
            for unit in units:
                for c in list(unit.input_related) + list(unit.output_related):
                    if c.name in untiled:
                        bad[unit.name] = (
                            f'the traced channel ranges of {c.name} do not add up to its '
                            f"channels (mmrazor's tracer: {untiled[c.name]})")
            self._check_reasons.update(bad)
            units_config = {key: cfg for (key, cfg), unit in zip(units_config.items(), units)
                            if unit.name not in bad}
            checked, units = _check_model(model, units_config, shared)
        model = checked
        inputs = self.demo_input.get_data(model)
        model.eval()
        if isinstance(inputs, dict):
            inputs = dict(inputs, mode='tensor')
            template = model(**inputs)
        else:
            template = model(inputs)
        mutable = find_mutable(model, [u for u in units if u.is_mutable], units, inputs,
                               template)
        return {unit.name: MutableChannelUnit.config_template(unit, with_channels=True,
                                                              with_init_args=True)
                for unit in mutable}

    def _merge_family_units(self, units_config: Dict) -> Tuple[Dict, Dict]:
        """Split the traced units: those touching a family's module get that
        module's inner channels in its place (and skip mmrazor's check, which
        cannot run through it); the rest are returned as they are."""
        roots = {name: (family, root) for family, name, root in self.family_roots}
        family_units, rest, produced = {}, {}, set()
        for key, cfg in units_config.items():
            channels = cfg['channels']
            members = channels['input_related'] + channels['output_related']
            if not any(c['name'] in roots for c in members):
                rest[key] = cfg
                continue
            width = cfg['init_args']['num_channels']
            if all(c['name'] in roots or c['name'] in _PLACEHOLDERS for c in members):
                # a family module that reads the model input or makes its output (a whole
                # causal LM): the placeholders' widths are the tracer's guesses
                width = max(c['end'] for c in members if c['name'] in roots)
                members = [c if c['name'] in roots else dict(c, start=0, end=width)
                           for c in members]
            merged = dict(input_related=[], output_related=[])
            for c in members:
                if c['name'] not in roots:
                    side = 'output_related' if c['is_output_channel'] else 'input_related'
                    merged[side].append(c)
                    continue
                family, root = roots[c['name']]
                if c['is_output_channel']:
                    produced.add(c['name'])
                    size, inner = family.output_channels(c['name'], root)
                else:
                    inner = family.input_channels(c['name'], root)
                    size = max((x['end'] for x in inner), default=width)
                    if c['end'] - c['start'] == width and c['end'] <= size and all(
                            (x['start'], x['end']) == (0, size) for x in inner):
                        # a slice of its input (a concatenation feeds it): each reader
                        # of the whole input reads that slice
                        inner = [dict(x, start=c['start'], end=c['end']) for x in inner]
                        size = width
                        c = dict(c, start=0, end=width)
                if (c['start'], c['end']) != (0, width) or size != width:
                    raise ValueError(
                        f'{type(family).__name__}: {c["name"]} is traced into a unit of '
                        f'{width} channels (range {c["start"]}..{c["end"]}), but it has '
                        f'{size}; a concatenation or split around it is not handled')
                for x in inner:
                    side = 'output_related' if x['is_output_channel'] else 'input_related'
                    merged[side].append(x)
            family_units[key] = dict(init_args=dict(cfg['init_args']), channels=merged)
        for name, (family, root) in roots.items():
            if name not in produced and not family.passes_channels:
                # nothing outside reads its output
                size, inner = family.output_channels(name, root)
                family_units[f'{name}_output'] = dict(
                    init_args=dict(num_channels=size),
                    channels=dict(
                        input_related=[x for x in inner if not x['is_output_channel']],
                        output_related=[x for x in inner if x['is_output_channel']]))
            for i, unit in enumerate(family.inner_units(name, root)):
                family_units[f'{name}_inner{i}'] = unit
        return family_units, rest
