"""ArchitectureHook: run a hook written for a bare model on the model inside
an algorithm."""
from typing import Dict, Union

from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmrazor.registry import HOOKS


class _RunnerWithArchitecture:
    """The runner as the wrapped hook sees it: ``model`` is the architecture;
    every other attribute, read or written, is the runner's own."""

    def __init__(self, runner, model) -> None:
        self.__dict__['_runner'] = runner
        self.__dict__['model'] = model

    def __getattr__(self, name):
        return getattr(self.__dict__['_runner'], name)

    def __setattr__(self, name, value) -> None:
        if name == 'model':
            raise AttributeError('ArchitectureHook: the wrapped hook may not replace runner.model')
        setattr(self.__dict__['_runner'], name, value)


@HOOKS.register_module()
class ArchitectureHook(Hook):
    """Runs ``hook`` with ``runner.model`` being the architecture the
    algorithm trains.

    Hooks of mmdet and mmpretrain reach into the model they train: mmdet's
    ``YOLOXModeSwitchHook``, for example, sets ``runner.model.bbox_head.use_l1``.
    Under DMS the runner trains a ``DMSAlgorithm`` (or any mmrazor algorithm)
    that holds the model as ``architecture``. This wrapper calls every stage
    of ``hook`` with a view of the runner whose ``model`` is that
    architecture (taken out of the DDP wrapper, if any); everything else is
    the runner itself. When the runner's model is no algorithm (a retrain of
    the static model, say), the hook sees the runner's model unchanged::

        custom_hooks = [
            dict(type='mmrazor.ArchitectureHook', priority=48,
                 hook=dict(type='mmdet.YOLOXModeSwitchHook', num_last_epochs=15)),
        ]

    Args:
        hook (dict | Hook): The hook, or its config. A ``priority`` in the
            config becomes the wrapper's priority, unless the wrapper's own
            config sets one.
    """

    def __init__(self, hook: Union[Dict, Hook]) -> None:
        if isinstance(hook, dict):
            hook = dict(hook)
            priority = hook.pop('priority', None)
            hook = HOOKS.build(hook)
            if priority is not None:
                hook.priority = priority
        if not isinstance(hook, Hook):
            raise TypeError(f'ArchitectureHook: hook must be a Hook or its config, got '
                            f'{type(hook).__name__}')
        self.hook = hook
        self.priority = hook.priority

    @staticmethod
    def architecture_of(model):
        """The model a hook written for a bare model should see."""
        if is_model_wrapper(model):
            model = model.module
        return getattr(model, 'architecture', model)

    def _call(self, stage: str, runner, **kwargs):
        view = _RunnerWithArchitecture(runner, self.architecture_of(runner.model))
        return getattr(self.hook, stage)(view, **kwargs)

    def get_triggered_stages(self) -> list:
        return self.hook.get_triggered_stages()

    def __repr__(self) -> str:
        return f'ArchitectureHook({type(self.hook).__name__})'


def _forward_stage(stage: str):

    def method(self, runner, **kwargs):
        return self._call(stage, runner, **kwargs)

    method.__name__ = stage
    method.__doc__ = f'``hook.{stage}`` on the architecture.'
    return method


for _stage in Hook.stages:
    setattr(ArchitectureHook, _stage, _forward_stage(_stage))
