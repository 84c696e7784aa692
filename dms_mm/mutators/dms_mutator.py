"""DMSMutator: finds what DMS can search in a model, and owns its mutables.

* Channel units come from mmrazor's ChannelAnalyzer (FxTracer by default,
  BackwardTracer as an option). A unit is searched only when every member
  with parameters is a DMS op, so each consumer applies the mask; the others
  are left out, frozen at full width, and the log says which module and why.
* Stages are the ``nn.Sequential`` containers of the model, and the
  ``nn.ModuleList`` whose blocks a demo forward runs as a chain; a block is
  removable when it has an identity skip (see :mod:`dms_mm.dynamic_ops.depth`).
  Each stage with removable blocks gets one :class:`DMSMutableBlocks`.
* Soft FLOPs and params are summed over every layer with a resource counter
  (:mod:`dms_mm.resources`: conv, linear, norms, searched attentions), from
  the shapes of one demo forward; layers inside a removable block are scaled
  by that block's straight-through mask.

``print(mutator.summary())`` shows all of it, before any training.
"""
import logging
from typing import Dict, List, Optional, Tuple

import torch
from mmengine.dist import all_reduce, get_world_size
from mmengine.logging import print_log
from mmrazor.models.mutators import ChannelMutator
from mmrazor.registry import MODELS, TASK_UTILS
from torch import nn

from dms_mm.dynamic_ops import (
    DepthScaleHook,
    DMSLinear,
    DMSOpMixin,
    find_stages,
)
from dms_mm.dynamic_ops.attention import DMSAttentionMutables, QKVMaskHook, head_param_elements
from dms_mm.dynamic_ops.depth import type_matches
from dms_mm.mutables import DMSMutableBlocks
from dms_mm.resources import (
    RESOURCE_KINDS,
    AttentionCounter,
    FunctionalOpCounter,
    LatencyTable,
    ModuleParamsCounter,
    OutputParamCounter,
    SoftLatencyEstimator,
    SoftResourceEstimator,
    Width,
    counter_type,
    record_functional_ops,
)
from dms_mm.resources.latency_table import model_forward
from dms_mm.resources.width import GatedWidth
from dms_mm.utils.demo_inputs import demo_inputs

from .channel_analyzer import untraced_parts
from .model_family import families_for
from .shared_modules import relink_shared_modules, shared_module_paths

_DEPTH_DEFAULTS = dict(enabled=True, min_keep=0.0, max_keep=1.0, lambda_scale=4.0,
                       ema_decay=0.99, exclude=(), removable_types=())
_ATTENTION_DEFAULTS = dict(enabled=True, search_dims=True, head_lambda=4.0, dim_lambda=1.0,
                           min_keep=0.0, ema_decay=0.99, types={})


def _widths(module: nn.Module, counter_cls=None) -> Tuple[Width, Width]:
    """The input and output widths of a counted layer: held by the mutables of
    its channel containers when DMS masks it, fixed otherwise."""
    counter_cls = counter_cls or counter_type(module)
    in_channels, out_channels = counter_cls.channels(module)
    if not isinstance(module, DMSOpMixin):
        return Width(in_channels), Width(out_channels)
    return (Width.of(module.get_mutable_attr('in_channels'), in_channels),
            Width.of(module.get_mutable_attr('out_channels'), out_channels))


def _with_defaults(key: str, given: Optional[Dict], defaults: Dict) -> Dict:
    """A sub-config (``depth``, ``attention``) with its defaults filled in."""
    given = dict(given or {})
    unknown = set(given) - set(defaults)
    if unknown:
        raise KeyError(f'DMSMutator: unknown {key} keys {sorted(unknown)}; '
                       f'known: {sorted(defaults)}')
    return {**defaults, **given}


def _check_types_present(model: nn.Module, type_names, key: str) -> None:
    """Raise when a config key names a module type the model does not have."""
    missing = [t for t in type_names if not any(type_matches(m, (t, )) for m in model.modules())]
    if missing:
        raise ValueError(f'DMSMutator: {key} names {missing}, but the model has no module of '
                         'that type')


@MODELS.register_module()
class DMSMutator(ChannelMutator):
    """Mutator of DMS: channel units, stages of removable blocks, resources.

    Args:
        channel_unit_cfg (dict): The unit type and its arguments, as for
            mmrazor's ChannelMutator. Defaults to ``DMSChannelUnit`` with its
            defaults; ``default_args`` may set ``group_size``, ``min_keep``,
            ``max_keep``, ``lambda_scale`` and ``ema_decay``.
        parse_cfg (dict): The ChannelAnalyzer config; ``demo_input`` (a shape
            such as ``(1, 3, 224, 224)``) is also the input whose forward
            records the shapes for the resource count. ``tracer_type`` is
            ``'FxTracer'`` (default) or ``'BackwardTracer'``.
        depth (dict): ``enabled`` (True), ``min_keep`` (0.0), ``max_keep``
            (1.0), ``lambda_scale`` (4.0), ``ema_decay`` (0.99) and
            ``exclude``: module-name prefixes whose sequentials are not
            searched in depth; ``removable_types``: names of block classes
            that are removable residual blocks (``y = x + f(x)``, same shape)
            even where torch.fx cannot show it, e.g. ``['MyResBlock']``.
        attention (dict): Heads and head dims of the attention modules that
            a model family finds (see :mod:`dms_mm.mutators.model_family`):
            ``enabled`` (True), ``search_dims`` (True: q/k and v head dims
            too), ``head_lambda`` (4.0), ``dim_lambda`` (1.0), ``min_keep``
            (0.0), ``ema_decay`` (0.99), and ``types``: attention classes of
            your own, by name, with where their parts are, e.g.
            ``dict(MyAttention=dict(qkv='to_qkv', proj='to_out',
            num_heads='heads'))`` (their heads are searched, not their dims).
        check_export (bool): Export a random structure of a copy while
            preparing and compare it with the searched model, so that what
            would break the export when the search ends is an error now
            (:func:`dms_mm.structures.check_export`). It costs a copy of the
            model and two demo forwards. Defaults to True.
        init_cfg (dict, optional): Initialisation config.
    """

    def __init__(self,
                 channel_unit_cfg: Optional[Dict] = None,
                 parse_cfg: Optional[Dict] = None,
                 depth: Optional[Dict] = None,
                 attention: Optional[Dict] = None,
                 check_export: bool = True,
                 init_cfg: Optional[Dict] = None) -> None:
        if channel_unit_cfg is None:
            channel_unit_cfg = dict(type='DMSChannelUnit', default_args=dict())
        if parse_cfg is None:
            parse_cfg = dict(_scope_='mmrazor', type='ChannelAnalyzer',
                             demo_input=(1, 3, 224, 224), tracer_type='FxTracer')
        if isinstance(parse_cfg, dict):
            # ChannelAnalyzer lives in mmrazor's TASK_UTILS, whatever the default scope
            parse_cfg = dict(parse_cfg)
            parse_cfg.setdefault('_scope_', 'mmrazor')
        super().__init__(channel_unit_cfg=channel_unit_cfg, parse_cfg=parse_cfg,
                         init_cfg=init_cfg)
        self.depth_cfg = _with_defaults('depth', depth, _DEPTH_DEFAULTS)
        self.attention_cfg = _with_defaults('attention', attention, _ATTENTION_DEFAULTS)
        self.check_export = bool(check_export)
        self.attentions = nn.ModuleList()
        self.attention_names: List[str] = []
        self.attention_specs: List = []
        #: (family, root name) of each model-family module, and its output unit
        self.family_roots: List[Tuple] = []
        self.family_output_units: Dict[str, object] = {}
        self._width_gates: Dict[str, Dict] = {}
        self.stages = nn.ModuleList()
        self.stage_names: List[str] = []
        self.stage_blocks: List[List[str]] = []
        self.stage_report = []
        self.excluded_units: Dict[str, str] = {}
        self.fixed_units: Dict[str, str] = {}
        self.untraced_parts: Dict[str, str] = {}
        #: ops called outside the layers whose FLOPs a search changes but the
        #: soft count holds at full width (found by the export check), and why
        self.approximate_counts: Dict[str, str] = {}
        #: modules reached by more than one name: all their names, first name first
        self.shared_modules: List[List[str]] = []
        self.supernet_flops: Optional[float] = None
        self.supernet_params: Optional[float] = None
        #: the soft FLOPs and params, set up by the demo forward of prepare_from_supernet
        self.resources: Optional[SoftResourceEstimator] = None
        self.latency: Optional[SoftLatencyEstimator] = None
        self.supernet_latency: Optional[float] = None

    # ------------------------------------------------------------ preparing
    @property
    def demo_input_shape(self) -> tuple:
        demo = self.parse_cfg.get('demo_input', (1, 3, 224, 224))
        if isinstance(demo, dict):
            demo = demo.get('input_shape', (1, 3, 224, 224))
        return tuple(demo)

    def prepare_from_supernet(self, supernet: nn.Module) -> None:
        self._check_demo_forward(supernet)
        # taken before mmrazor swaps in dynamic ops, which it does by first name only
        self.shared_modules = shared_module_paths(supernet)
        declared = dict(self.attention_cfg['types'] or {})
        _check_types_present(supernet, declared, 'attention.types')
        families = families_for(supernet, declared)
        family_stages = []
        for family, name, root in families:
            family_stages += family.stages(name, root)
        stages = []
        if self.depth_cfg['enabled']:
            removable_types = tuple(self.depth_cfg['removable_types'])
            _check_types_present(supernet, removable_types, 'depth.removable_types')
            exclude = tuple(self.depth_cfg['exclude']) + tuple(n for _, n, _ in families)
            stages = [(stage, None) for stage in find_stages(
                supernet, exclude, removable_types, self._demo_forward(supernet))]
            stages += [(fs.info, fs.scale) for fs in family_stages
                       if not any(fs.info.name == p or fs.info.name.startswith(p + '.')
                                  for p in self.depth_cfg['exclude'])]
            order = {name: i for i, (name, _) in enumerate(supernet.named_modules())}
            stages.sort(key=lambda item: order[item[0].name])
        parse_cfg, analyzer = self.parse_cfg, None
        if isinstance(parse_cfg, dict) and parse_cfg.get('type') in (
                'ChannelAnalyzer', 'DMSChannelAnalyzer') and 'from_cfg' not in parse_cfg:
            # the same analysis, but it reports the units it drops, and it
            # hands model-family modules to their family
            analyzer = TASK_UTILS.build(dict(parse_cfg, type='DMSChannelAnalyzer',
                                             declared_attention=declared))
            self.parse_cfg = analyzer
        elif families:
            raise ValueError(f'DMSMutator: {[n for _, n, _ in families]} need the '
                             "ChannelAnalyzer parse_cfg (type='ChannelAnalyzer')")
        try:
            super().prepare_from_supernet(supernet)
        finally:
            self.parse_cfg = parse_cfg
        relink_shared_modules(supernet, self.shared_modules)
        for first, *others in self.shared_modules:
            print_log(f'DMSMutator: {first} is shared (also {others}): one module, one set of '
                      'masks, its FLOPs counted at every call', logger='current')
        if analyzer is not None:
            self.excluded_units.update(analyzer.dropped_units)
            self.fixed_units.update(analyzer.fixed_units)
            for name, reason in analyzer.dropped_units.items():
                print_log(f'DMSMutator: unit {name} is not searched: {reason}',
                          logger='current')
            self.untraced_parts = untraced_parts(
                supernet, analyzer.traced_layers, [n for _, n, _ in analyzer.family_roots])
            for name, reason in self.untraced_parts.items():
                print_log(f'DMSMutator: {name} is in no channel unit: {reason}',
                          logger='current', level=logging.WARNING)

        for unit in self.units:
            reason = unit.exclusion_reason()
            if reason is not None:
                self.excluded_units[unit.name] = reason
                unit.mutable_channel.freeze()
                print_log(f'DMSMutator: unit {unit.name} is not searched: {reason}',
                          logger='current')

        modules = dict(supernet.named_modules())
        self.family_roots = [(family, name) for family, name, _ in families]
        for family, name, root in families:
            first_producer = next(c['name'] for c in family.output_channels(name, root)[1]
                                  if c['is_output_channel'])
            self.family_output_units[name] = next(
                (u for u in self.units if any(c.name == first_producer
                                              for c in u.output_related)), None)
        self._prepare_attentions(families, modules)
        d = self.depth_cfg
        for stage, scale in stages:
            self.stage_report.append(stage)
            if not stage.removable:
                continue
            mutable = DMSMutableBlocks(len(stage.removable), min_keep=d['min_keep'],
                                       max_keep=d['max_keep'], lambda_scale=d['lambda_scale'],
                                       ema_decay=d['ema_decay'])
            names = [stage.blocks[i].name for i in stage.removable]
            for index, name in enumerate(names):
                if scale is None:
                    modules[name].register_forward_hook(DepthScaleHook(mutable, index, name))
                else:
                    scale(modules[name], mutable, index, name)
            self.stages.append(mutable)
            self.stage_names.append(stage.name)
            self.stage_blocks.append(names)
        self._width_gates = {}  # layer -> {(start, end) of its input: (depth mutable, index)}
        for family, name, root in families:
            for layer, gates in family.width_gates(name, root).items():
                self._width_gates[layer] = {
                    span: self._block_mutable(f'{stage}.{index}')
                    for span, (stage, index) in gates.items()
                    if self._block_mutable(f'{stage}.{index}') is not None}
        for names in self.shared_modules:
            if len({self._block_of(n) for n in names}) > 1:
                print_log(f'DMSMutator: the shared module {names[0]} is also at {names[1:]}, '
                          'in another removable block (or outside one); its soft FLOPs '
                          f'are scaled by the depth mask of {names[0]} only',
                          logger='current', level=logging.WARNING)

        self._record_shapes(supernet)
        with torch.no_grad():
            resources = self.soft_resources()
        self.supernet_flops = float(resources['flops'])
        self.supernet_params = float(resources['params'])
        print_log(f'DMSMutator: {len(self.searchable_units)} searchable channel units '
                  f'({len(self.excluded_units)} left out), {len(self.stages)} searchable '
                  f'stages, {len(self.attentions)} searchable attentions; supernet '
                  f'{self.supernet_flops / 1e6:.2f} MFLOPs, '
                  f'{self.supernet_params / 1e6:.3f} M params at input '
                  f'{self.demo_input_shape}', logger='current')
        if self.check_export:
            from dms_mm.structures.export_check import check_export  # (structures import us)
            difference = check_export(supernet, self)
            if difference is not None:
                print_log('DMSMutator: a random structure exports, and its outputs equal the '
                          f'searched model\'s (relative difference {difference:.1e})',
                          logger='current')
            for name, reason in self.approximate_counts.items():
                print_log(f'DMSMutator: {name}: {reason}', logger='current',
                          level=logging.WARNING)

    def _prepare_attentions(self, families, modules: Dict[str, nn.Module]) -> None:
        """One :class:`DMSAttentionMutables` per attention module a family found."""
        cfg = self.attention_cfg
        if not cfg['enabled']:
            return
        for family, root_name, root in families:
            for name, spec in family.attentions(root_name, root):
                module = modules[name]
                num_heads = int(getattr(module, spec.num_heads))
                qkv = getattr(module, spec.qkv)
                head_dims = getattr(module, spec.head_dims, None)
                if head_dims is None:
                    head_dims = qkv.out_features // (3 * num_heads)
                kv = getattr(module, spec.kv) if spec.kv else None
                if spec.kv is not None:  # q has a linear of its own
                    head_dims = qkv.out_features // num_heads
                    wrong = (qkv.out_features, kv.out_features) != (
                        num_heads * head_dims, 2 * num_heads * head_dims)
                    fused = f'{spec.qkv} and {spec.kv} have {qkv.out_features} and ' \
                        f'{kv.out_features} outputs, not 1 and 2 x'
                else:
                    wrong = qkv.out_features != 3 * num_heads * int(head_dims)
                    fused = f'{spec.qkv} has {qkv.out_features} outputs, not 3 x'
                if wrong:
                    raise ValueError(f'DMSMutator: attention {name}: {fused} {num_heads} heads '
                                     f'x {head_dims} dims')
                mutables = DMSAttentionMutables(
                    num_heads, int(head_dims), search_dims=cfg['search_dims']
                    and family.search_dims(), head_lambda=cfg['head_lambda'],
                    dim_lambda=cfg['dim_lambda'], min_keep=cfg['min_keep'],
                    ema_decay=cfg['ema_decay'])
                masks = [(qkv, mutables.qkv_mask)] if kv is None else [
                    (qkv, mutables.q_mask), (kv, mutables.kv_mask)]
                for linear, mask in masks:
                    if isinstance(linear, DMSLinear):  # on its weight's rows: a smaller tensor
                        linear.mask_outputs(mask)
                    else:
                        linear.register_forward_hook(QKVMaskHook(mask))
                self.attentions.append(mutables)
                self.attention_names.append(name)
                self.attention_specs.append(spec)

    def _block_mutable(self, block: str):
        """``(depth mutable, index)`` of the searched block named ``block``, or None."""
        for mutable, blocks in zip(self.stages, self.stage_blocks):
            if block in blocks:
                return mutable, blocks.index(block)
        return None

    def _block_of(self, name: str):
        """The (mutable, index) of the removable block that contains ``name``."""
        best, best_len = None, -1
        for mutable, blocks in zip(self.stages, self.stage_blocks):
            for index, block in enumerate(blocks):
                if (name == block or name.startswith(block + '.')) and len(block) > best_len:
                    best, best_len = (mutable, index), len(block)
        return best

    def _check_demo_forward(self, model: nn.Module) -> None:
        """The model must run on the demo input (its tensor mode for an
        mmengine model): the whole analysis is made of such forwards."""
        try:
            self._demo_forward(model)()
        except Exception as error:
            hint = ''
            if hasattr(model, 'rpn_head') and hasattr(model, 'roi_head'):
                hint = (' It is a two-stage detector: its tensor mode makes region proposals, '
                        'which need image metas and cannot be traced (sorting, NMS, a loop '
                        'over images), so dms_mm does not search it; one-stage detectors '
                        '(RetinaNet, FCOS, YOLOX, RTMDet) are searched.')
            raise ValueError(
                f'DMSMutator: {type(model).__name__} does not run on a demo input of shape '
                f'{self.demo_input_shape} in tensor mode ({type(error).__name__}: {error}).'
                f'{hint}') from error

    def _demo_forward(self, model: nn.Module):
        """One forward of ``model`` on a random demo input, the same at every
        call (its tensor mode for an mmengine model), in eval mode, as a
        zero-argument callable returning the output."""
        x = demo_inputs(model, self.demo_input_shape, next(model.parameters()).device)
        run = model_forward(model, x)

        def forward():
            was_training = model.training
            model.eval()
            try:
                with torch.no_grad():
                    return run()
            finally:
                model.train(was_training)
        return forward

    @torch.no_grad()
    def _record_shapes(self, model: nn.Module) -> None:
        """One demo forward records the input/output shapes of every layer with
        a resource counter, and builds :attr:`resources` from them."""
        shapes, handles = {}, []  # name -> [(input shape, output shape) of each call]

        def recorder(name):

            def hook(module, args, output):
                out = output[0] if isinstance(output, (tuple, list)) else output
                shapes.setdefault(name, []).append((tuple(args[0].shape), tuple(out.shape)))

            return hook

        covered = set(self.attention_names)  # what a layer counter counts whole
        for name, module in model.named_modules():
            if counter_type(module) is not None:
                handles.append(module.register_forward_hook(recorder(name)))
                covered.add(name)
        was_training = model.training
        model.eval()
        self.refresh_masks('hard')
        try:
            with record_functional_ops(model, covered) as calls:
                self._demo_forward(model)()
        finally:
            for handle in handles:
                handle.remove()
            model.train(was_training)
            self.clear_masks()

        counters = []
        modules = dict(model.named_modules())
        by_attention = {}  # the qkv of a searched attention -> its counter; its proj -> None
        for name, spec, mutables in zip(self.attention_names, self.attention_specs,
                                        self.attentions):
            qkv_name = f'{name}.{spec.qkv}'
            by_attention[qkv_name] = (name, mutables, spec)
            by_attention[f'{name}.{spec.proj}'] = None
            if spec.kv:
                by_attention[f'{name}.{spec.kv}'] = None
        batch_widths = {layer: _widths(modules[producer])[1]
                        for family, root in self.family_roots
                        for layer, producer in family.batch_widths(root, modules[root]).items()}
        for name, module in model.named_modules():
            if name not in shapes:
                continue
            block = self._block_of(name)
            if name in by_attention:
                if by_attention[name] is not None:
                    root, mutables, spec = by_attention[name]
                    owner = modules[root]
                    kv = getattr(owner, spec.kv) if spec.kv else None
                    counters.append((AttentionCounter(
                        root, mutables, module, getattr(owner, spec.proj), shapes[name][0][0],
                        _widths(module)[0], head_param_elements(owner), spec.seq_dims,
                        kv=None if kv is None else (
                            kv, shapes[f'{root}.{spec.kv}'][0][0], _widths(kv)[0]),
                        proj_shape=shapes[f'{root}.{spec.proj}'][0][0]), block))
                continue
            counter_cls = counter_type(module)
            in_width, out_width = _widths(module, counter_cls)
            if self._width_gates.get(name):
                in_width = GatedWidth(in_width, self._width_gates[name])
            batch_width = batch_widths.get(name)
            for call, (in_shape, out_shape) in enumerate(shapes[name]):
                # a layer run more than once per forward: FLOPs at every call
                counter = counter_cls(name, module, in_shape, out_shape, in_width, out_width,
                                      first_call=call == 0)
                counter.batch_width = batch_width
                counters.append((counter, block))
        op_widths = {module: producer for family, root in self.family_roots
                     for module, producer in family.op_widths(root, modules[root]).items()}
        for call in calls:  # ops called outside the layers
            source = modules.get(op_widths.get(call.module, call.source))
            width = _widths(source)[1] if counter_type(source) is not None else None
            counters.append((FunctionalOpCounter(call.module, modules[call.module], call.op,
                                                 call.flops, call.calls, width),
                             self._block_of(call.module)))
        # family root -> its own params the family counts; attention -> its per-head params
        family_params = {name: head_param_elements(modules[name]) * mutables.num_heads
                         for name, mutables in zip(self.attention_names, self.attentions)}
        for family, root_name in self.family_roots:
            elements = family.output_param_elements(modules[root_name])
            if elements:
                channels = family.output_channels(root_name, modules[root_name])[0]
                unit = self.family_output_units.get(root_name)
                width = Width(channels) if unit is None else Width(
                    channels, [(0, channels, unit.mutable_channel, 1)])
                counters.append((OutputParamCounter(root_name, modules[root_name], elements,
                                                    width), None))
                family_params[root_name] = elements * channels
        counters += self._module_params_counters(model, set(shapes), family_params)
        self.resources = SoftResourceEstimator(counters)

    def _module_params_counters(self, model: nn.Module, counted, family_params) -> List:
        """``(counter, block)`` of the parameters of every module that no
        layer counter covers (the modules in ``counted`` are covered, and
        ``family_params`` of a family root), each module's own once."""
        seen = {id(p) for p in self.parameters()}  # the structure's, not the model's
        for name in counted:
            seen.update(id(p) for p in model.get_submodule(name).parameters(recurse=False))
        counters = []
        for name, module in model.named_modules():
            own = [p for p in module.parameters(recurse=False) if id(p) not in seen]
            seen.update(id(p) for p in own)
            params = sum(p.numel() for p in own) - family_params.get(name, 0)
            if params <= 0:
                continue
            layer_type, layer = counter_type(module), None
            if layer_type is not None and len(own) == len(list(module.parameters(recurse=False))):
                # a layer that never ran: counted at its widths, no FLOPs
                layer = layer_type(name, module, (), (), *_widths(module, layer_type))
            counters.append((ModuleParamsCounter(name, module, params, layer),
                             self._block_of(name)))
        return counters

    # ---------------------------------------------------------------- masks
    @property
    def searchable_units(self):
        return [u for u in self.units if u.name not in self.excluded_units]

    def named_dms_mutables(self) -> List[Tuple[str, nn.Module]]:
        """Every DMS mutable with a name: channel units (searched or frozen),
        stages (``stage NAME``), and attention heads and head dims
        (``attention NAME heads``, ``... qk_dims``, ``... v_dims``)."""
        named = [(u.name, u.mutable_channel) for u in self.units]
        named += [(f'stage {n}', m) for n, m in zip(self.stage_names, self.stages)]
        for name, mutables in zip(self.attention_names, self.attentions):
            named += [(f'attention {name} {part}', getattr(mutables, part))
                      for part in ('heads', 'qk_dims', 'v_dims')]
        return named

    def dms_mutables(self) -> List:
        """Every DMS mutable (see :meth:`named_dms_mutables`)."""
        return [m for _, m in self.named_dms_mutables()]

    def refine_mutables(self) -> List:
        """The mutables the refine phase freezes: depth and heads."""
        return list(self.stages) + [a.heads for a in self.attentions]

    def refresh_masks(self, mode: str) -> None:
        """Compute each mutable's mask once for the coming forward."""
        for mutable in self.dms_mutables():
            mutable.refresh(mode)

    def clear_masks(self) -> None:
        for mutable in self.dms_mutables():
            mutable.clear_cache()

    def soft_resources(self, grad=None) -> Dict[str, torch.Tensor]:
        """Soft FLOPs and params, and the latency (milliseconds) where a
        latency table is in use (value: hard count; gradient: soft sums).

        Args:
            grad (Sequence[str], optional): The kinds that carry a gradient;
                the others are counted without autograd. Defaults to all.
        """
        if self.resources is None:
            raise RuntimeError('DMSMutator: prepare_from_supernet has not run')
        grad = self.resource_kinds if grad is None else tuple(grad)
        unknown = sorted(set(grad) - set(self.resource_kinds))
        if unknown:
            raise ValueError(f'DMSMutator: unknown resource kinds {unknown}; known: '
                             f'{self.resource_kinds} (latency: after use_latency_table)')
        result = self.resources.count([k for k in grad if k != 'latency'])
        if self.latency is not None:
            with torch.set_grad_enabled(torch.is_grad_enabled() and 'latency' in grad):
                result['latency'] = self.latency.count()
        return result

    @property
    def resource_kinds(self) -> Tuple[str, ...]:
        """What :meth:`soft_resources` counts."""
        return RESOURCE_KINDS + (('latency', ) if self.latency is not None else ())

    def supernet_resource(self, kind: str) -> float:
        """The supernet's ``flops``, ``params`` or ``latency`` (milliseconds)."""
        value = dict(flops=self.supernet_flops, params=self.supernet_params,
                     latency=self.supernet_latency).get(kind)
        if value is None:
            raise ValueError(f'DMSMutator: no supernet {kind!r} (known: '
                             f'{self.resource_kinds}; latency needs use_latency_table)')
        return value

    def use_latency_table(self, table: LatencyTable) -> SoftLatencyEstimator:
        """Estimate the latency of every structure from ``table`` (measured
        for this model by :func:`~dms_mm.resources.latency_table.measure_latency_table`):
        :meth:`soft_resources` then counts ``latency`` too.

        Raises:
            LatencyTableError: For a table measured for another model.
        """
        if self.resources is None:
            raise RuntimeError('DMSMutator: prepare_from_supernet has not run')
        self.latency = SoftLatencyEstimator(self.resources.counters, table, self.supernet_flops)
        self.supernet_latency = self.latency.full_ms()
        print_log(f'DMSMutator: {self.latency}; supernet {self.supernet_latency:.3f} ms '
                  f'(measured {table.meta["model_ms"]:.3f} ms)', logger='current')
        return self.latency

    # ------------------------------------------------------------ each step
    @torch.no_grad()
    def update_importance(self, loss_scale: float = 1.0):
        """Fold this step's Taylor scores into the importance EMAs.

        In distributed runs the scores are averaged over the ranks that have
        one, in one all-reduce outside autograd. Every rank reduces the same
        layout (every mutable that is not frozen, then one has-a-score flag
        each), so a mutable that got no gradient on some rank (a branch that
        rank's data did not take) neither misaligns the others nor hangs. A
        mutable no rank has a score for reduces to zeros, which change nothing.
        Nothing here reads a value back to the host.

        Args:
            loss_scale (float): The AMP loss scale of the backward pass.

        Returns:
            Tensor | int: Number of mutables whose importance was updated (a
            0-dim tensor; reading it waits for the device).
        """
        mutables = [m for m in self.dms_mutables() if not m.frozen]
        scores = [m.pop_taylor_score(loss_scale) for m in mutables]
        if get_world_size() > 1 and mutables:
            device = mutables[0].importance.device
            flat = torch.cat(
                [(s if s is not None else torch.zeros_like(m.importance)).flatten().to(device)
                 for m, s in zip(mutables, scores)]
                + [torch.tensor([float(s is not None) for s in scores], device=device)])
            all_reduce(flat, op='sum')
            counts = flat[-len(mutables):].clamp_min(1.0)
            offset, scores = 0, []
            for index, mutable in enumerate(mutables):
                n = mutable.importance.numel()
                scores.append(flat[offset:offset + n].view_as(mutable.importance) / counts[index])
                offset += n
        updated = [m.update_importance(s) for m, s in zip(mutables, scores) if s is not None]
        return torch.stack(updated).sum() if updated else 0

    def clamp_(self) -> None:
        for mutable in self.dms_mutables():
            mutable.clamp_()

    def freeze_depth(self, keep_in_graph: bool = False) -> None:
        """Fix depth and heads (the refine phase); widths and dims go on."""
        for mutable in self.refine_mutables():
            mutable.freeze(keep_in_graph)

    def freeze_all(self, keep_in_graph: bool = False) -> None:
        """Fix every mutable (see :meth:`DMSMutableMixin.freeze`)."""
        for mutable in self.dms_mutables():
            mutable.freeze(keep_in_graph)

    # ------------------------------------------------------------ reporting
    def stage_report_removable(self) -> List[List[int]]:
        """Removable block positions of each searched stage, in stage order."""
        report = {stage.name: stage.removable for stage in self.stage_report}
        return [report[name] for name in self.stage_names]

    def structure(self) -> Dict:
        """Kept widths, blocks and heads, as plain numbers."""
        return dict(
            units={u.name: dict(channels=u.num_channels,
                                kept=int(u.mutable_channel.current_mask.sum()),
                                searched=u.name not in self.excluded_units)
                   for u in self.units},
            stages={name: dict(blocks=blocks, kept=[blocks[i] for i in m.kept_indices()])
                    for name, blocks, m in zip(self.stage_names, self.stage_blocks, self.stages)},
            attentions={name: dict(num_heads=a.num_heads, head_dims=a.head_dims,
                                   **{k: len(v) for k, v in a.kept().items()})
                        for name, a in zip(self.attention_names, self.attentions)})

    def summary(self) -> str:
        """A readable account of units, stages and exclusions."""
        lines = ['DMSMutator summary']
        if self.supernet_flops is not None:
            lines.append(f'  supernet: {self.supernet_flops / 1e6:.2f} MFLOPs, '
                         f'{self.supernet_params / 1e6:.3f} M params at input '
                         f'{self.demo_input_shape}')
        if self.resources is not None:
            lines.append(f'  resources: {self.resources!r}')
        lines.append(f'  channel units: {len(self.searchable_units)} searched, '
                     f'{len(self.excluded_units)} left out, {len(self.fixed_units)} fixed '
                     '(model inputs/outputs)')
        for unit in self.units:
            mutable = unit.mutable_channel
            producers = sorted({c.name for c in unit.output_related
                                if isinstance(c.module, nn.Module)})
            consumers = sorted({c.name for c in unit.input_related
                                if isinstance(c.module, nn.Module)})
            state = 'searched' if unit.name not in self.excluded_units else 'LEFT OUT'
            lines.append(f'    [{state}] {unit.name}: {unit.num_channels} channels, '
                         f'group {mutable.group_size}, keep {mutable.current_choice:.3f} '
                         f'-> {int(mutable.current_mask.sum())} kept; '
                         f'producers {producers}; consumers {consumers}')
            if unit.name in self.excluded_units:
                lines.append(f'        why: {self.excluded_units[unit.name]}')
        traced = {u.name for u in self.units}
        for name, reason in self.excluded_units.items():
            if name not in traced:
                lines.append(f'    [LEFT OUT] {name}: {reason}')
        for name, reason in self.untraced_parts.items():
            lines.append(f'    [NOT TRACED] {name}: {reason}')
        for name, reason in self.approximate_counts.items():
            lines.append(f'    [APPROXIMATE COUNT] {name}: {reason}')
        lines.append(f'  stages: {len(self.stages)} searched')
        searched = dict(zip(self.stage_names, self.stages))
        for stage in self.stage_report:
            if stage.name in searched:
                m = searched[stage.name]
                lines.append(f'    [searched] {stage.name}: {len(stage.blocks)} blocks, '
                             f'removable {stage.removable}, keep {m.current_choice:.3f} -> '
                             f'kept {[stage.removable[i] for i in m.kept_indices()]}')
            elif len(stage.blocks) > 1:
                reasons = sorted({b.reason for b in stage.blocks})
                lines.append(f'    [static] {stage.name}: {len(stage.blocks)} blocks, none '
                             f'removable ({"; ".join(reasons)})')
        if self.family_roots:
            lines.append('  model families: ' + ', '.join(
                f'{name} ({type(family).__name__})' for family, name in self.family_roots))
        if self.attentions:
            lines.append(f'  attentions: {len(self.attentions)} searched')
        for name, a in zip(self.attention_names, self.attentions):
            kept = a.kept()
            dims = ('q/k dims ' + f'{len(kept["qk_dims"])}/{a.head_dims}, v dims '
                    f'{len(kept["v_dims"])}/{a.head_dims}') if not a.qk_dims.frozen else \
                f'head dims {a.head_dims} (not searched)'
            lines.append(f'    [searched] {name}: heads {len(kept["heads"])}/{a.num_heads}, '
                         f'{dims}')
        return '\n'.join(lines)
