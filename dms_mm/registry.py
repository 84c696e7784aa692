"""The ``dms_mm`` registry scope.

dms_mm registers its classes in mmrazor's registries, and its configs name them
as mmrazor's own algorithms are named (``_scope_='mmrazor'`` or an
``mmrazor.`` prefix). This module adds one registry node with the scope
``dms_mm`` under each of mmrazor's nodes. mmengine needs them when a downstream
config inherits ``dms_mm::...``: it then tags the dicts of our configs with
``_scope_='dms_mm'`` and imports ``dms_mm.registry`` to build them. Every name
reachable from mmrazor's scope (mmrazor's classes, dms_mm's, mmengine's) is
reachable from here too; mmpretrain's and mmdet's are named with their scope,
as our configs do.
"""
from mmengine.registry import Registry
from mmrazor import registry as mmrazor_registry

SCOPE = 'dms_mm'

_NODES = ('RUNNERS', 'RUNNER_CONSTRUCTORS', 'LOOPS', 'HOOKS', 'DATASETS', 'DATA_SAMPLERS',
          'TRANSFORMS', 'MODELS', 'MODEL_WRAPPERS', 'WEIGHT_INITIALIZERS', 'OPTIMIZERS',
          'OPTIM_WRAPPERS', 'OPTIM_WRAPPER_CONSTRUCTORS', 'PARAM_SCHEDULERS', 'METRICS',
          'TASK_UTILS', 'VISUALIZERS', 'VISBACKENDS')


def _child(name: str) -> Registry:
    parent = getattr(mmrazor_registry, name)
    # importing dms_mm registers all of its classes (in mmrazor's nodes)
    return Registry(parent.name, parent=parent, scope=SCOPE, locations=['dms_mm'])


RUNNERS = _child('RUNNERS')
RUNNER_CONSTRUCTORS = _child('RUNNER_CONSTRUCTORS')
LOOPS = _child('LOOPS')
HOOKS = _child('HOOKS')
DATASETS = _child('DATASETS')
DATA_SAMPLERS = _child('DATA_SAMPLERS')
TRANSFORMS = _child('TRANSFORMS')
MODELS = _child('MODELS')
MODEL_WRAPPERS = _child('MODEL_WRAPPERS')
WEIGHT_INITIALIZERS = _child('WEIGHT_INITIALIZERS')
OPTIMIZERS = _child('OPTIMIZERS')
OPTIM_WRAPPERS = _child('OPTIM_WRAPPERS')
OPTIM_WRAPPER_CONSTRUCTORS = _child('OPTIM_WRAPPER_CONSTRUCTORS')
PARAM_SCHEDULERS = _child('PARAM_SCHEDULERS')
METRICS = _child('METRICS')
TASK_UTILS = _child('TASK_UTILS')
VISUALIZERS = _child('VISUALIZERS')
VISBACKENDS = _child('VISBACKENDS')

__all__ = list(_NODES)

#: Resource counters (:mod:`dms_mm.resources.counters`), keyed by the name of
#: the op type they count; a layer gets the counter of the first class of its
#: MRO found here, so subclasses are counted as what they are.
RESOURCE_COUNTERS = Registry('resource counter', scope=SCOPE,
                             locations=['dms_mm.resources.counters'])

__all__ += ['RESOURCE_COUNTERS']
