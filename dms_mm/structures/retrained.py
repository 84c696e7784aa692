"""The pruned model a retrain config builds, with the weights of a checkpoint."""
import os.path as osp
from typing import Dict, Tuple

import torch
from mmengine.registry import MODELS, init_default_scope
from torch import nn


def checkpoint_state(path: str) -> Tuple[Dict[str, torch.Tensor], str]:
    """The weights to use from a checkpoint, and which they are: mmengine's
    ``EMAHook`` averages where the checkpoint holds them (as ``tools/test.py``
    evaluates them), else its state dict."""
    # weights_only stays on: dms_mm allow-lists what mmengine's checkpoints hold
    checkpoint = torch.load(path, map_location='cpu')
    if not isinstance(checkpoint, dict):
        raise ValueError(f'{path}: not a checkpoint (a {type(checkpoint).__name__})')
    ema = checkpoint.get('ema_state_dict')
    if ema:  # 'module.'-prefixed averaged weights and a step count
        return {k[len('module.'):]: v for k, v in ema.items()
                if k.startswith('module.')}, 'the EMA weights'
    return checkpoint.get('state_dict', checkpoint), 'the weights'


def retrained_model(cfg, checkpoint: str, tool: str) -> Tuple[nn.Module, str]:
    """The static model of a retrain config (``model.type='DMSSubModel'``) with
    the weights of ``checkpoint`` (a retrain checkpoint or an export's
    ``pruned.pth``), in eval mode, and which weights they are.

    Args:
        cfg (Config): The retrain config (the default scope set).
        checkpoint (str): The checkpoint.
        tool (str): Who asks, for the messages.

    Raises:
        ValueError: Not a retrain config, or weights that do not fit it.
    """
    model_cfg = cfg.model
    if model_cfg.get('type') not in ('DMSSubModel', 'mmrazor.DMSSubModel'):
        raise ValueError(f'model.type is {model_cfg.get("type")!r}: {tool} takes a retrain '
                         'config (DMSSubModel); export a search first with '
                         'tools/export_subnet.py and use its retrain config')
    model_cfg = dict(model_cfg, checkpoint=None, reset_params=True)
    if 'data_preprocessor' in cfg:
        model_cfg.setdefault('data_preprocessor', cfg.data_preprocessor)
    model = MODELS.build(model_cfg)
    state, which = checkpoint_state(checkpoint)
    own = model.state_dict()
    missing = sorted(set(own) - set(state))
    wrong = sorted(k for k in own if k in state and tuple(state[k].shape) != tuple(own[k].shape))
    if missing or wrong:
        detail = (f'{len(missing)} missing (first: {missing[:3]})' if missing else
                  f'{len(wrong)} of another shape (first: {wrong[0]}: '
                  f'{tuple(state[wrong[0]].shape)} against {tuple(own[wrong[0]].shape)})')
        raise ValueError(f'{checkpoint}: {which} do not fit the pruned model of '
                         f'{model_cfg["subnet"]}: {detail}')
    model.load_state_dict({k: state[k] for k in own}, strict=True)
    return model.eval(), which


def load_retrained(config: str, checkpoint: str, cfg_options, tool: str):
    """:func:`retrained_model` from files: the retrain config at ``config``
    (with ``cfg_options``, its default scope set) and ``checkpoint``.

    Returns:
        tuple: ``(cfg, model, which weights)``.

    Raises:
        ValueError: A missing checkpoint, not a retrain config, or weights
            that do not fit it.
    """
    from dms_mm.utils import load_config  # (utils reach into structures)
    if not osp.isfile(checkpoint):
        raise ValueError(f'checkpoint {checkpoint!r} does not exist')
    cfg = load_config(config, cfg_options)
    init_default_scope(cfg.get('default_scope', 'mmrazor'))
    model, which = retrained_model(cfg, checkpoint, tool)
    return cfg, model, which
