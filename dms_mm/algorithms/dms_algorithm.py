"""DMSAlgorithm: the task loss plus a resource loss on the soft FLOPs, params or
latency."""
import copy
import math
import os.path as osp
from typing import Dict, List, Optional, Tuple, Union

import torch
from mmengine.logging import print_log
from mmengine.model import BaseModel, BaseModule
from mmengine.structures import BaseDataElement
from mmrazor.models.algorithms import BaseAlgorithm
from mmrazor.registry import MODELS
from torch import nn

from dms_mm.resources.latency_table import LatencyTable
from dms_mm.structures.expand import check_expand_cfg, expand_model
from dms_mm.structures.sub_model import load_state_strict
from dms_mm.utils.config_keys import (
    check_keys,
    named_arguments,
    scope_from_type,
    unknown_key_message,
)

LOSS_TYPES = ('log', 'l2')
PHASES = ('pretrain', 'search', 'refine', 'fixed')
UNSEARCHABLE_UNIT_ACTIONS = ('exclude', 'error')


@MODELS.register_module()
class DMSAlgorithm(BaseAlgorithm):
    """Differentiable Model Scaling around an OpenMMLab model.

    Exactly one target is given: ``target_flops_ratio`` (soft FLOPs over the
    supernet's), ``target_params_ratio``, ``target_flops`` or
    ``target_params`` (absolute counts at the mutator's demo input), or with
    a ``latency_table``
    ``target_latency`` (milliseconds) or ``target_latency_ratio``. The
    target of each iteration and the phase come from
    :class:`~dms_mm.engine.DMSSchedulerHook`, which must be in
    ``custom_hooks``.

    The loss dict holds the task losses, ``loss_resource`` and, for the log,
    ``flops_ratio``, ``params_ratio`` and ``target_ratio``; with a latency
    table also ``latency_ratio`` and ``latency_ms``; with ``max_params``
    ``loss_params``.

    Args:
        architecture (dict | BaseModel): The model to search.
        mutator (dict, optional): The :class:`~dms_mm.mutators.DMSMutator`
            config. Defaults to ``dict(type='DMSMutator')``.
        target_flops_ratio (float, optional): Final FLOPs over supernet FLOPs.
        target_flops (float, optional): Final FLOPs.
        target_params (float, optional): Final parameter count.
        target_params_ratio (float, optional): Final params over supernet
            params (the paper's target for Llama).
        target_latency (float, optional): Final latency in milliseconds, as
            the ``latency_table`` estimates it (see
            :class:`~dms_mm.resources.SoftLatencyEstimator`).
        target_latency_ratio (float, optional): Final latency over the
            supernet's.
        latency_table (str | dict, optional): The table of
            ``tools/measure_latency.py`` for this model: its path, or
            ``dict(path=..., allow_other_device=False, group_size=False)``. A
            table measured on another device (or CPU) or torch than this
            machine's is refused unless ``allow_other_device`` (then a
            warning says so: searching on a GPU for a CPU deployment, say).
            With ``group_size`` every channel unit keeps its channels in
            groups of the divisor whose multiples the table measured as the
            device's fastest (``DMSChannelUnit``'s ``group_size``; the gcd
            with a unit's width). With a FLOPs or params target the table is
            only logged. Defaults to None.
        max_params (float, optional): A limit on the parameter count held
            beside the target: ``w * log(p / max_params)`` while ``p`` is
            above it (one-sided), in the phases with a resource loss. The
            export's scaling keeps to the target only. Defaults to None.
        loss_type (str): ``'log'``: ``w * log(r / t)`` when ``r > t`` (the
            paper's); ``'l2'``: ``w * (r - t)^2`` when ``r > t``.
            Defaults to ``'log'``.
        loss_weight (float): ``w``. Defaults to 1.0.
        two_sided (bool): Also penalise a ratio *below* the target
            (``w * |log(r / t)|`` or ``w * (r - t)^2`` on both sides), so the
            search holds the budget instead of drifting under it (the task
            gradient alone can shrink widths further). False is the paper's
            one-sided loss. Defaults to True.
        train_model (bool): Train the weights too (DMSnp and DMSp). False
            trains only the structure (DMSp-): the model stays in eval mode
            but BatchNorm statistics still update. Defaults to True.
        expand (dict, optional): Grow the architecture into a larger
            supernet before the search (scaling up, see
            :func:`~dms_mm.structures.expand_model`): ``channel_ratio`` and
            ``block_ratio`` (both >= 1), and ``checkpoint``: a checkpoint of
            the *base* architecture whose weights are loaded before it grows
            (else its own ``init_weights()`` runs first). The original
            weights are copied into the grown model. Defaults to None.
        unsearchable_units (str): What to do with channel units DMS cannot
            search, such as a unit whose channels a custom layer without a DMS
            op consumes (it cannot be masked): ``'exclude'`` leaves them at
            full width and logs a warning naming each unit, layer and reason;
            ``'error'`` raises instead. Defaults to ``'exclude'``.
        data_preprocessor (dict | nn.Module, optional): Defaults to the
            architecture's; a config without ``type`` (as mmpretrain's
            top-level ``data_preprocessor``) is handed to the architecture.
        init_cfg (dict, optional): Initialisation config.

    Raises:
        TypeError: For a misspelled key of this config, of its ``mutator``
            or of the mutator's ``channel_unit_cfg.default_args``, naming
            the closest known key.
        ValueError: For a target outside ``(0, 1]`` of the supernet, or below
            the smallest structure the keep bounds allow; for a model in which
            nothing can be searched; with ``unsearchable_units='error'``, for
            a unit that cannot be searched.
    """

    def __init__(self,
                 architecture: Union[BaseModel, Dict],
                 mutator: Optional[Dict] = None,
                 target_flops_ratio: Optional[float] = None,
                 target_flops: Optional[float] = None,
                 target_params: Optional[float] = None,
                 target_params_ratio: Optional[float] = None,
                 target_latency: Optional[float] = None,
                 target_latency_ratio: Optional[float] = None,
                 latency_table: Optional[Union[str, Dict]] = None,
                 max_params: Optional[float] = None,
                 loss_type: str = 'log',
                 loss_weight: float = 1.0,
                 two_sided: bool = True,
                 train_model: bool = True,
                 expand: Optional[Dict] = None,
                 unsearchable_units: str = 'exclude',
                 data_preprocessor: Optional[Union[Dict, nn.Module]] = None,
                 init_cfg: Optional[Dict] = None,
                 **kwargs) -> None:
        if kwargs:
            raise TypeError(unknown_key_message('model (DMSAlgorithm)', next(iter(kwargs)),
                                                named_arguments(type(self))))
        if unsearchable_units not in UNSEARCHABLE_UNIT_ACTIONS:
            raise ValueError(f'DMSAlgorithm: unsearchable_units must be one of '
                             f'{UNSEARCHABLE_UNIT_ACTIONS}, got {unsearchable_units!r}')
        if mutator is None:
            mutator = dict(type='DMSMutator')
        architecture = scope_from_type(architecture)
        if isinstance(mutator, dict):
            _check_mutator_keys(mutator)
        table = None
        if latency_table is not None:
            table, group_size = _load_latency_table(latency_table)
            if group_size:
                mutator = _grouped_by_table(mutator, table)
        if isinstance(data_preprocessor, dict) and 'type' not in data_preprocessor:
            if isinstance(architecture, dict):
                architecture = dict(architecture)
                architecture.setdefault('data_preprocessor', data_preprocessor)
            data_preprocessor = None
        try:
            super().__init__(architecture, data_preprocessor, init_cfg)
        except KeyError as e:
            if not (isinstance(architecture, dict) and '_scope_' not in architecture
                    and 'registry' in str(e)):
                raise
            raise KeyError(
                f'{e.args[0]} (while building model.architecture, which has no _scope_, so '
                "its types are looked up in mmrazor's registry: give it the scope of its "
                "package, e.g. _scope_='mmpretrain' or 'mmdet', or prefix its type, e.g. "
                "type='mmpretrain.ImageClassifier'; a _delete_=True that replaces an "
                'inherited architecture removes its _scope_)') from None
        if loss_type not in LOSS_TYPES:
            raise ValueError(f'DMSAlgorithm: loss_type must be one of {LOSS_TYPES}, '
                             f'got {loss_type!r}')
        if loss_weight < 0:
            raise ValueError(f'DMSAlgorithm: loss_weight must be >= 0, got {loss_weight}')
        self.loss_type = loss_type
        self.loss_weight = float(loss_weight)
        self.two_sided = bool(two_sided)
        self.train_model = bool(train_model)

        self.expand_cfg = check_expand_cfg(expand)
        self.expansion = None
        if self.expand_cfg is not None:
            if not isinstance(mutator, dict):
                raise TypeError('DMSAlgorithm: expand needs the mutator as a config dict, so '
                                'that the same units and stages are grown and searched')
            self.expansion = self._expand_architecture(mutator)
        self.mutator = MODELS.build(mutator) if isinstance(mutator, dict) else mutator
        self.mutator.prepare_from_supernet(self.architecture)
        self._check_searchable(unsearchable_units)
        latency_given = target_latency is not None or target_latency_ratio is not None
        if table is not None:
            self.mutator.use_latency_table(table)
        elif latency_given:
            raise ValueError('DMSAlgorithm: target_latency and target_latency_ratio need a '
                             'latency_table (measured with tools/measure_latency.py CONFIG '
                             '--out TABLE.json)')
        self.target_kind, self.final_target_ratio = self._resolve_target(
            target_flops_ratio, target_flops, target_params, target_latency,
            target_latency_ratio, target_params_ratio)
        self.max_params = None if max_params is None else float(max_params)
        if self.max_params is not None:
            smallest = self.smallest_reachable_ratio('params') * self.mutator.supernet_params
            if not smallest <= self.max_params:
                raise ValueError(
                    f'DMSAlgorithm: max_params={max_params} is below the {smallest:.4g} params '
                    'of the smallest structure the keep bounds allow')

        self.phase = 'search'
        self.current_target_ratio: Optional[float] = None
        if not self.train_model:
            self.architecture.requires_grad_(False)

    def _expand_architecture(self, mutator: Dict):
        cfg = self.expand_cfg
        if cfg['checkpoint'] is not None:
            load_state_strict(self.architecture, cfg['checkpoint'],
                              f'model.expand.checkpoint ({type(self.architecture).__name__})')
        else:
            self.architecture.init_weights()
        # the grown weights are the model's: the runner's init_weights() keeps them
        for module in self.architecture.modules():
            if isinstance(module, BaseModule):
                module._is_init = True
        return expand_model(self.architecture, cfg['channel_ratio'], cfg['block_ratio'],
                            mutator=mutator)

    def _check_searchable(self, action: str) -> None:
        mutator = self.mutator
        left_out = dict(mutator.excluded_units)
        arch = type(self.architecture).__name__
        if not mutator.searchable_units and not len(mutator.stages) \
                and not len(mutator.attentions):
            why = '; '.join(f'{name}: {reason}' for name, reason in list(left_out.items())[:5])
            fixed = len(getattr(mutator, 'fixed_units', {}))
            untraced = getattr(mutator, 'untraced_parts', {})
            traced = '; '.join(f'{name}: {reason[:300]}'
                               for name, reason in list(untraced.items())[:3])
            raise ValueError(
                f'DMSAlgorithm: nothing to search in the architecture ({arch}): no channel '
                f'unit can be searched ({len(left_out)} left out{": " + why if why else ""}; '
                f'{fixed} fixed as model inputs or outputs'
                f'{"; in no unit: " + traced if traced else ""}), no stage has removable '
                'blocks and no attention is searched. DMS needs layers whose channels flow '
                'between layers it can mask, or residual blocks; print(mutator.summary()) or '
                'tools/dms_summary.py CONFIG shows what was found')
        if not left_out:
            return
        lines = [f'{name}: {reason}' for name, reason in left_out.items()]
        if action == 'error':
            raise ValueError(
                f'DMSAlgorithm: {len(lines)} channel unit(s) of {arch} cannot be searched, and '
                "unsearchable_units='error': " + '; '.join(lines) + ". Give such layers a DMS "
                "op, or set unsearchable_units='exclude' to leave these units at full width")
        print_log(
            f'DMSAlgorithm: {len(lines)} channel unit(s) cannot be searched and stay at full '
            "width (unsearchable_units='exclude'): " + '; '.join(lines),
            logger='current', level=30)

    @torch.no_grad()
    def smallest_reachable_ratio(self, kind: str) -> float:
        """The resource ratio of the smallest structure the keep bounds allow:
        every searched unit and stage at its lowest keep ratio (``min_keep``,
        at least one element per unit), the units left out at full width."""
        mutator = self.mutator
        mutables = [m for m in mutator.dms_mutables() if not m.frozen]
        saved = [(m.keep_ratio.detach().clone(), m.importance.clone()) for m in mutables]
        try:
            for m in mutables:
                # distinct importances: all-equal ones keep every element
                m.importance.copy_(torch.arange(m.num_elements, dtype=torch.float32))
                m.keep_ratio.fill_(m.lower_keep_bound())
            resources = mutator.soft_resources()
        finally:
            for m, (keep, importance) in zip(mutables, saved):
                m.keep_ratio.copy_(keep)
                m.importance.copy_(importance)
        return float(resources[kind]) / mutator.supernet_resource(kind)

    def _resolve_target(self, flops_ratio, flops, params, latency=None, latency_ratio=None,
                        params_ratio=None):
        given = {k: v for k, v in dict(target_flops_ratio=flops_ratio, target_flops=flops,
                                       target_params=params, target_params_ratio=params_ratio,
                                       target_latency=latency,
                                       target_latency_ratio=latency_ratio).items()
                 if v is not None}
        if len(given) != 1:
            raise ValueError('DMSAlgorithm: give exactly one of target_flops_ratio, '
                             'target_flops, target_params, target_params_ratio, '
                             'target_latency, target_latency_ratio; got '
                             f'{sorted(given) or "none"}')
        key, value = next(iter(given.items()))
        kind = dict(target_params='params', target_params_ratio='params',
                    target_latency='latency', target_latency_ratio='latency').get(key, 'flops')
        supernet = self.mutator.supernet_resource(kind)
        ratio = float(value) if key.endswith('_ratio') else float(value) / supernet
        if not 0.0 < ratio <= 1.0:
            raise ValueError(
                f'DMSAlgorithm: {key}={value} is a {kind} ratio of {ratio:.4g} to the supernet '
                f'({supernet:.4g} {kind}); it must be in (0, 1]')
        smallest = self.smallest_reachable_ratio(kind)
        if ratio < smallest:
            raise ValueError(
                f'DMSAlgorithm: {key}={value} (a {kind} ratio of {ratio:.4g}) is below what '
                f'this model can reach: with every searched unit and stage at its min_keep '
                f'(mutator.channel_unit_cfg.default_args.min_keep, mutator.depth.min_keep) '
                f'and {len(self.mutator.excluded_units)} unit(s) left out at full width, the '
                f'{kind} ratio is {smallest:.4g}. Raise the target or lower min_keep')
        return kind, ratio

    # --------------------------------------------------------- search state
    def set_search_state(self, phase: str, target_ratio: float) -> None:
        """Called by DMSSchedulerHook before every training iteration."""
        if phase not in PHASES:
            raise ValueError(f'phase must be one of {PHASES}, got {phase!r}')
        self.phase = phase
        self.current_target_ratio = float(target_ratio)

    def train(self, mode: bool = True):
        super().train(mode)
        if mode and not self.train_model:
            # DMSp-: weights fixed, but BatchNorm statistics still follow the data
            self.architecture.eval()
            for module in self.architecture.modules():
                if isinstance(module, nn.modules.batchnorm._BatchNorm):
                    module.train()
        return self

    # -------------------------------------------------------------- forward
    def forward(self, inputs: torch.Tensor,
                data_samples: Optional[List[BaseDataElement]] = None,
                mode: str = 'tensor'):
        if self.training and mode == 'loss' and torch.is_grad_enabled():
            self.mutator.refresh_masks('track')
        else:
            self.mutator.refresh_masks('soft' if self.training else 'hard')
        return super().forward(inputs, data_samples, mode)

    def resource_ratios(self) -> Dict[str, torch.Tensor]:
        """Soft FLOPs, params (and latency, with a table) over the
        supernet's; only the target's kind (and params, under ``max_params``)
        carries a gradient (the others are for the log)."""
        grad = (self.target_kind, ) + (('params', ) if self.max_params is not None else ())
        resources = self.mutator.soft_resources(grad=grad)
        return {kind: value / self.mutator.supernet_resource(kind)
                for kind, value in resources.items()}

    def resource_loss(self, ratio: torch.Tensor, target: float) -> torch.Tensor:
        """``w * log(r / t)`` or ``w * (r - t)^2`` when ``r > t``; below the
        target zero, or with ``two_sided`` ``w * |log(r / t)|`` / the square."""
        if self.loss_type == 'log':
            loss = torch.log(ratio / target)
            if self.two_sided:
                return self.loss_weight * loss.abs()
        else:
            loss = (ratio - target)**2
            if self.two_sided:
                return self.loss_weight * loss
        return self.loss_weight * torch.where(ratio > target, loss, torch.zeros_like(loss))

    def loss(self, inputs: torch.Tensor,
             data_samples: Optional[List[BaseDataElement]] = None) -> Dict[str, torch.Tensor]:
        if self.current_target_ratio is None:
            raise RuntimeError(
                'DMSAlgorithm has no target for this iteration: add '
                "dict(type='DMSSchedulerHook') to custom_hooks (it sets the target "
                'schedule and updates importance after each step)')
        losses = self.architecture(inputs, data_samples, mode='loss')
        ratios = self.resource_ratios()
        ratio = ratios[self.target_kind]
        device = ratio.device
        searching = self.phase in ('search', 'refine', 'pretrain')
        if searching:
            loss_resource = self.resource_loss(ratio, self.current_target_ratio)
        else:
            loss_resource = ratio * 0.0
        losses['loss_resource'] = loss_resource
        if self.max_params is not None:
            over = torch.log(ratios['params'] * self.mutator.supernet_params / self.max_params)
            losses['loss_params'] = (self.loss_weight * over.clamp(min=0) if searching
                                     else over * 0.0)
        losses['flops_ratio'] = ratios['flops'].detach()
        losses['params_ratio'] = ratios['params'].detach()
        if 'latency' in ratios:
            losses['latency_ratio'] = ratios['latency'].detach()
            losses['latency_ms'] = ratios['latency'].detach() * self.mutator.supernet_latency
        losses['target_ratio'] = torch.tensor(self.current_target_ratio, device=device)
        return losses

    def extra_repr(self) -> str:
        return (f'target: {self.target_kind} ratio {self.final_target_ratio:.4f}, '
                f'loss {self.loss_type} x {self.loss_weight} '
                f'({"two-sided" if self.two_sided else "one-sided"}), '
                f'train_model={self.train_model}'
                + ('' if self.max_params is None else f', max_params {self.max_params:.4g}')
                + ('' if self.expansion is None else
                   f', expanded x{self.expansion.channel_ratio:g} channels, '
                   f'x{self.expansion.block_ratio:g} blocks'))


def _load_latency_table(spec: Union[str, Dict]) -> Tuple[LatencyTable, bool]:
    """The table of ``latency_table`` (checked against this device) and
    whether its divisor is the units' group size."""
    spec = dict(path=spec) if isinstance(spec, str) else dict(spec)
    allow = bool(spec.pop('allow_other_device', False))
    group_size = bool(spec.pop('group_size', False))
    path = spec.pop('path', None)
    if path is None or spec:
        raise ValueError("DMSAlgorithm: latency_table is a path or dict(path=..., "
                         "allow_other_device=False, group_size=False); got keys "
                         f"{sorted(spec) or 'no path'}")
    if not osp.isfile(path):
        raise FileNotFoundError(
            f'DMSAlgorithm: latency_table {path} does not exist: measure it first, on the '
            f'device, with tools/measure_latency.py SEARCH_CONFIG --out {path}')
    table = LatencyTable.load(path)
    differs = table.check_device(table.meta.get('device', 'cpu'), allow_other=allow)
    if differs:
        print_log(f'DMSAlgorithm: {path}: {differs} (allow_other_device=True)',
                  logger='current', level=30)
    return table, group_size


def _grouped_by_table(mutator, table: LatencyTable) -> Dict:
    """The mutator config with its units' group size set to the divisor
    ``table`` prefers."""
    divisor = table.measured_divisor('DMSAlgorithm: latency_table group_size=True')
    if not isinstance(mutator, dict):
        raise TypeError('DMSAlgorithm: latency_table group_size=True sets the units\' group '
                        'size in the mutator config; the mutator is a built object')
    mutator = copy.deepcopy(dict(mutator))
    unit_cfg = dict(mutator.get('channel_unit_cfg') or dict(type='DMSChannelUnit'))
    args = dict(unit_cfg.get('default_args') or {})
    if args.get('group_size', 1) not in (1, divisor):
        raise ValueError(f'DMSAlgorithm: latency_table group_size=True sets the group size to '
                         f'the table\'s divisor {divisor}, but the mutator\'s channel_unit_cfg '
                         f'gives group_size={args["group_size"]}: keep one of the two')
    args['group_size'] = divisor
    unit_cfg['default_args'] = args
    mutator['channel_unit_cfg'] = unit_cfg
    print_log(f'DMSAlgorithm: channel units in groups of {divisor} channels, the multiples the '
              'latency table measured as the device\'s fastest', logger='current')
    return mutator


def _check_mutator_keys(mutator: Dict) -> None:
    """Misspelled keys of the mutator config and of its units' arguments."""
    mutator_cls = MODELS.get(mutator.get('type', 'DMSMutator'))
    if mutator_cls is None:
        return  # the build names the unknown type
    check_keys(mutator, mutator_cls, f'model.mutator ({mutator_cls.__name__})')
    unit_cfg = mutator.get('channel_unit_cfg', None)
    if isinstance(unit_cfg, dict) and isinstance(unit_cfg.get('type'), str):
        unit_cls = MODELS.get(unit_cfg['type'])
        if unit_cls is not None and isinstance(unit_cfg.get('default_args'), dict):
            check_keys(unit_cfg['default_args'], unit_cls,
                       f'model.mutator.channel_unit_cfg.default_args ({unit_cls.__name__})',
                       hidden=('num_channels', ))


def schedule_value(schedule: str, final: float, t: float) -> float:
    """The target ratio at decay progress ``t`` (0 -> 1.0, 1 -> ``final``)."""
    t = min(max(t, 0.0), 1.0)
    if schedule == 'root':
        return final**t
    if schedule == 'linear':
        return 1.0 - (1.0 - final) * t
    if schedule == 'cos':
        return final + (1.0 - final) * (1.0 + math.cos(math.pi * t)) / 2.0
    if schedule == 'none':
        return final
    raise ValueError(f'unknown target schedule {schedule!r}')
