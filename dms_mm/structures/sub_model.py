"""DMSSubModel: the static model of a subnet, built from the original config."""
import copy
from typing import Dict, Optional, Union

import torch
from mmengine.logging import print_log
from mmengine.model import BaseModule
from mmengine.runner.checkpoint import _load_checkpoint
from mmrazor.registry import MODELS

from dms_mm.mutators import DMSMutator
from dms_mm.utils.config_keys import scope_from_type
from dms_mm.utils.state_dicts import compare_state_dicts

from .expand import expand_model
from .static import to_static
from .subnet import SubnetError, apply_subnet, load_subnet


class PrunedCheckpointError(ValueError):
    """A pruned checkpoint that does not fit the subnet's structure."""


def load_state_strict(model, checkpoint: str, what: str) -> None:
    """Load a checkpoint's weights strictly into ``model``.

    Args:
        model (nn.Module): The model to load into.
        checkpoint (str): The checkpoint path.
        what (str): The model, as the error message names it.

    Raises:
        PrunedCheckpointError: When the file holds no state dict, or its keys
            or shapes differ from the model's, naming the first differences.
    """
    ckpt = _load_checkpoint(checkpoint, map_location='cpu')
    state = ckpt.get('state_dict', ckpt) if isinstance(ckpt, dict) else None
    if not isinstance(state, dict):
        raise PrunedCheckpointError(f'{checkpoint}: holds no state_dict')
    mismatch = compare_state_dicts(model.state_dict(), state)
    if mismatch:
        details = []
        if mismatch.shapes:
            k, file_shape, model_shape = mismatch.shapes[0]
            details.append(f'{len(mismatch.shapes)} tensors differ in shape, e.g. {k}: '
                           f'{file_shape} in the file, {model_shape} in {what}')
        if mismatch.missing:
            details.append(f'missing from the file: {sorted(mismatch.missing)[:3]}')
        if mismatch.unexpected:
            details.append(f'not in {what}: {sorted(mismatch.unexpected)[:3]}')
        raise PrunedCheckpointError(
            f'{checkpoint} is a checkpoint of another structure than {what}: '
            + '; '.join(details))
    model.load_state_dict(state, strict=True)


def load_pruned_weights(model, checkpoint: str) -> None:
    """Load ``pruned.pth`` strictly; a mismatch names the layer and shapes."""
    load_state_strict(model, checkpoint, 'the subnet')


@MODELS.register_module(name='DMSSubModel')
def build_dms_sub_model(architecture: Dict,
                        subnet: Union[str, Dict],
                        checkpoint: Optional[str] = None,
                        reset_params: bool = False,
                        data_preprocessor: Optional[Dict] = None,
                        **kwargs):
    """Rebuild the static model of a DMS subnet.

    Builds ``architecture``, finds its units and stages as the search did,
    fixes them to the subnet's kept channels and blocks, and returns the
    plain (torch/mmcv/mmpretrain/mmdet) model, optionally with the weights of
    ``pruned.pth``.

    Args:
        architecture (dict): The original model config.
        subnet (str | dict): A ``subnet.json`` path, or its dict.
        checkpoint (str, optional): A ``pruned.pth`` path.
        reset_params (bool): Ignore ``checkpoint`` and start from freshly
            initialised weights (retrain from scratch). Defaults to False.
        data_preprocessor (dict, optional): Handed to the architecture when
            it has none (the runner passes the config's top-level one).

    Returns:
        nn.Module: The static model.
    """
    if kwargs:
        raise TypeError(f'DMSSubModel: unknown keys {sorted(kwargs)} (known: architecture, '
                        'subnet, checkpoint, reset_params)')
    subnet_dict = load_subnet(subnet)
    architecture = scope_from_type(copy.deepcopy(dict(architecture)))
    if data_preprocessor is not None:
        architecture.setdefault('data_preprocessor', data_preprocessor)
    model = MODELS.build(architecture)
    mutator_cfg = subnet_dict.get('mutator') or {}
    parse_cfg = dict(mutator_cfg.get('parse_cfg') or dict(type='ChannelAnalyzer'))
    parse_cfg['demo_input'] = tuple(subnet_dict.get('demo_input') or
                                    parse_cfg.get('demo_input', (1, 3, 224, 224)))
    depth = dict(mutator_cfg.get('depth') or {})
    depth['exclude'] = tuple(depth.get('exclude', ()))
    mutator_cfg = dict(parse_cfg=parse_cfg, depth=depth,
                       attention=dict(mutator_cfg.get('attention') or {}))
    expansion = subnet_dict.get('expand')
    if expansion:
        # the searched supernet was grown from this architecture: grow it the same way
        # (the weights come from pruned.pth, or start from their initialisation)
        report = expand_model(model, expansion['channel_ratio'], expansion['block_ratio'],
                              mutator=dict(type='DMSMutator', **mutator_cfg))
        if report.to_dict() != expansion:
            raise SubnetError(
                f'{subnet if isinstance(subnet, str) else "the subnet dict"}: its "expand" '
                'does not grow this architecture the same way (the architecture config '
                'differs from the one that was searched)')
    mutator = DMSMutator(**mutator_cfg)
    mutator.prepare_from_supernet(model)
    try:
        apply_subnet(mutator, subnet_dict)
    except SubnetError as e:
        where = subnet if isinstance(subnet, str) else 'the subnet dict'
        raise SubnetError(f'{where}: {e}') from None
    with torch.no_grad():
        model = to_static(model, mutator, inplace=True)
    if checkpoint is not None and not reset_params:
        load_pruned_weights(model, checkpoint)
        # keep the loaded weights when the runner calls init_weights()
        for module in model.modules():
            if isinstance(module, BaseModule):
                module._is_init = True
        print_log(f'DMSSubModel: loaded the searched weights of {checkpoint}', logger='current')
    else:
        print_log('DMSSubModel: weights start from their initialisation', logger='current')
    return model
