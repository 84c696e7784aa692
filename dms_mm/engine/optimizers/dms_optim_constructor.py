"""An optimizer-wrapper constructor that gives the DMS structure parameters a
group of their own, found by name, with a constant learning rate."""
import copy
import logging
from typing import Callable, Dict, List, Optional

from mmengine.logging import print_log
from mmengine.model import is_model_wrapper
from mmengine.optim import DefaultOptimWrapperConstructor, OptimWrapper
from mmengine.registry import OPTIM_WRAPPERS, OPTIMIZERS
from mmrazor.registry import OPTIM_WRAPPER_CONSTRUCTORS
from torch import nn
from torch.optim import Optimizer


def restore_fixed_lrs(optimizer) -> None:
    """Set every group marked ``fixed_lr`` back to that learning rate."""
    for group in optimizer.param_groups:
        if 'fixed_lr' in group:
            group['lr'] = group['fixed_lr']


@OPTIM_WRAPPER_CONSTRUCTORS.register_module()
class DMSOptimWrapperConstructor(DefaultOptimWrapperConstructor):
    """Like mmengine's default constructor, plus fixed-LR groups.

    An entry of ``paramwise_cfg.custom_keys`` that sets an absolute ``lr``
    (instead of ``lr_mult``) collects every parameter whose name contains the
    key into one group with that learning rate, weight decay
    ``decay_mult * weight_decay`` (``decay_mult`` defaults to 0) and the
    marker ``fixed_lr``; :class:`~dms_mm.engine.DMSSchedulerHook` restores
    that learning rate before every step, so the weights' schedulers
    (warm-up, cosine, ...) do not move it. For DMS::

        optim_wrapper = dict(
            constructor='DMSOptimWrapperConstructor',
            optimizer=dict(type='SGD', lr=0.1, momentum=0.9, weight_decay=1e-4),
            paramwise_cfg=dict(custom_keys={'mutator': dict(lr=0.01)}))

    The other entries of ``custom_keys`` and of ``paramwise_cfg`` work as in
    mmengine.

    ``base_constructor`` in the optim wrapper's config names another
    constructor that groups the model's weights its own way (mmyolo's
    ``'mmyolo.YOLOv5OptimizerConstructor'``: weights, norm weights, biases,
    with ``paramwise_cfg.base_total_batch_size``); it gets ``paramwise_cfg``
    without the fixed-LR keys, and the fixed-LR groups come after its groups,
    so a scheduler that counts on its group order (mmyolo's
    ``YOLOv5ParamSchedulerHook`` warms up the biases of group 2) finds it.

    With ``clip_grad`` in the optim wrapper's config, the clipping (and the
    logged ``grad_norm``) covers every group but the fixed-LR ones: the
    structure gradients would otherwise count in the norm that scales the
    weights' gradients, and one NaN among them (which
    :class:`~dms_mm.engine.DMSSchedulerHook` drops right before the optimizer
    step, after the clipping) would turn every weight gradient into NaN.
    """

    def __init__(self, optim_wrapper_cfg: dict, paramwise_cfg: Optional[dict] = None):
        optim_wrapper_cfg = dict(optim_wrapper_cfg)
        self.base_constructor = optim_wrapper_cfg.pop('base_constructor', None)
        self._base_wrapper_cfg = copy.deepcopy(optim_wrapper_cfg)
        paramwise_cfg = dict(paramwise_cfg or {})
        custom_keys = dict(paramwise_cfg.get('custom_keys', {}))
        self.fixed_keys: Dict[str, dict] = {}
        for key in list(custom_keys):
            if 'lr' in custom_keys[key]:
                entry = dict(custom_keys.pop(key))
                unknown = set(entry) - {'lr', 'decay_mult', 'momentum'}
                if unknown:
                    raise KeyError(f'DMSOptimWrapperConstructor: custom_keys[{key!r}] has '
                                   f'unknown keys {sorted(unknown)} (lr, decay_mult)')
                self.fixed_keys[key] = entry
        if custom_keys:
            paramwise_cfg['custom_keys'] = custom_keys
        else:
            paramwise_cfg.pop('custom_keys', None)
        if self.base_constructor is not None:  # it reads its own keys of paramwise_cfg
            self._base_paramwise_cfg = copy.deepcopy(paramwise_cfg) or None
            paramwise_cfg = {}
        super().__init__(optim_wrapper_cfg, paramwise_cfg or None)

    def __call__(self, model: nn.Module) -> OptimWrapper:
        if is_model_wrapper(model):
            model = model.module
        optim_wrapper_cfg = self.optim_wrapper_cfg.copy()
        optim_wrapper_cfg.setdefault('type', 'OptimWrapper')
        optimizer_cfg = self.optimizer_cfg.copy()

        keys = sorted(self.fixed_keys, key=len, reverse=True)
        fixed: Dict[str, List[nn.Parameter]] = {key: [] for key in keys}
        fixed_ids = set()
        for name, param in model.named_parameters():
            for key in keys:
                if key in name:
                    fixed[key].append(param)
                    fixed_ids.add(id(param))
                    break
        for key, params in fixed.items():
            if not params:
                raise KeyError(f'DMSOptimWrapperConstructor: no parameter name contains '
                               f'{key!r} (paramwise_cfg.custom_keys)')

        if self.base_constructor is not None:
            return self._with_base(model, keys, fixed, fixed_ids, optimizer_cfg)
        if self.paramwise_cfg:
            groups: List[dict] = []
            self.add_params(groups, model)
            groups = [g for g in groups if id(g['params'][0]) not in fixed_ids]
        else:
            groups = [dict(params=[p for p in model.parameters() if id(p) not in fixed_ids])]
        groups += self._fixed_groups(keys, fixed, optimizer_cfg)
        optimizer_cfg['params'] = groups
        optimizer = OPTIMIZERS.build(optimizer_cfg)
        wrapper = OPTIM_WRAPPERS.build(optim_wrapper_cfg, default_args=dict(optimizer=optimizer))
        return self._clip_outside_fixed(wrapper, keys)

    def _fixed_groups(self, keys, fixed, optimizer_cfg) -> List[dict]:
        base_wd = optimizer_cfg.get('weight_decay', 0.0) or 0.0
        groups = []
        for key in keys:
            entry = self.fixed_keys[key]
            group = dict(params=fixed[key], lr=float(entry['lr']), fixed_lr=float(entry['lr']),
                         weight_decay=base_wd * float(entry.get('decay_mult', 0.0)),
                         dms_group=key)
            if 'momentum' in entry:
                group['momentum'] = entry['momentum']
            groups.append(group)
        return groups

    @staticmethod
    def _clip_outside_fixed(wrapper: OptimWrapper, keys) -> OptimWrapper:
        if getattr(wrapper, 'clip_grad_kwargs', None) and keys:
            wrapper.clip_func = ClipOutsideFixedGroups(wrapper.clip_func, wrapper.optimizer)
        return wrapper

    def _with_base(self, model, keys, fixed, fixed_ids, optimizer_cfg) -> OptimWrapper:
        """The base constructor's optim wrapper, its groups without the
        fixed-LR parameters, and the fixed-LR groups after them."""
        wrapper_cfg = copy.deepcopy(self._base_wrapper_cfg)
        wrapper_cfg.setdefault('type', 'OptimWrapper')
        base = OPTIM_WRAPPER_CONSTRUCTORS.build(dict(
            type=self.base_constructor, optim_wrapper_cfg=wrapper_cfg,
            paramwise_cfg=copy.deepcopy(self._base_paramwise_cfg)))
        wrapper = base(model)
        optimizer = wrapper.optimizer
        for group in optimizer.param_groups:
            group['params'] = [p for p in group['params'] if id(p) not in fixed_ids]
        grouped = {id(p) for group in optimizer.param_groups for p in group['params']}
        for group in self._fixed_groups(keys, fixed, optimizer_cfg):
            optimizer.add_param_group(group)
        missed = [name for name, p in model.named_parameters()
                  if p.requires_grad and id(p) not in grouped and id(p) not in fixed_ids]
        if missed:
            print_log(f'DMSOptimWrapperConstructor: {self.base_constructor} leaves '
                      f'{len(missed)} trainable parameters out of the optimizer, e.g. '
                      f'{missed[:3]}', logger='current', level=logging.WARNING)
        return self._clip_outside_fixed(wrapper, keys)


class ClipOutsideFixedGroups:
    """A gradient clipping function (mmengine's ``OptimWrapper.clip_func``)
    applied to the parameters of every group not marked ``fixed_lr``.

    Args:
        clip_func (Callable): The clipping function, e.g.
            ``torch.nn.utils.clip_grad_norm_``.
        optimizer (Optimizer): The optimizer whose groups tell which
            parameters are left out.
    """

    def __init__(self, clip_func: Callable, optimizer: Optimizer):
        self.clip_func, self.optimizer = clip_func, optimizer

    def __call__(self, params, **kwargs):
        left_out = {id(p) for group in self.optimizer.param_groups if 'fixed_lr' in group
                    for p in group['params']}
        return self.clip_func([p for p in params if id(p) not in left_out], **kwargs)

    def __repr__(self) -> str:
        name = getattr(self.clip_func, '__name__', repr(self.clip_func))
        return f'{type(self).__name__}({name}, leaving out the fixed_lr groups)'
