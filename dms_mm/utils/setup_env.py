"""Config loading and runner building shared by ``tools/train.py`` and
``tools/test.py``."""
import atexit
import copy
import os
import sys
from typing import Optional

import torch
from mmengine.config import Config
from mmengine.logging import print_log
from mmengine.registry import RUNNERS
from mmengine.runner import Runner


def load_config(path: str,
                cfg_options: Optional[dict] = None,
                launcher: str = 'none') -> Config:
    """Load a config, apply ``--cfg-options`` and the launcher.

    On a machine without CUDA, a distributed launch whose config asks for the
    ``nccl`` backend (the OpenMMLab default) is switched to ``gloo``, with a
    log line saying so, because nccl cannot run on CPU processes.

    Args:
        path (str): The config file.
        cfg_options (dict, optional): Key-value overrides from the command
            line. Defaults to None.
        launcher (str): ``'none'``, ``'pytorch'``, ``'slurm'`` or ``'mpi'``.
            Defaults to ``'none'``.

    Returns:
        Config: The merged config.
    """
    cfg = Config.fromfile(path)
    if cfg_options is not None:
        cfg.merge_from_dict(cfg_options)
    cfg.launcher = launcher
    if launcher != 'none' and not torch.cuda.is_available():
        env_cfg = cfg.get('env_cfg', None)
        if env_cfg is None:
            cfg.env_cfg = env_cfg = dict()
        dist_cfg = env_cfg.get('dist_cfg', None)
        if dist_cfg is None:
            env_cfg['dist_cfg'] = dist_cfg = dict()
        backend = dist_cfg.get('backend', 'nccl')
        if backend == 'nccl':
            dist_cfg['backend'] = 'gloo'
            print_log(
                'No CUDA device: env_cfg.dist_cfg.backend switched from '
                "'nccl' to 'gloo' for CPU processes.",
                logger='current')
    return cfg


def search_model_config(cfg: Config, path: str):
    """A deep copy of the model of a DMS search config (``DMSAlgorithm``), with
    the config's data preprocessor: what the tools that build a search model
    build. Exits naming the config when it is not a search.

    Args:
        cfg (Config): The loaded config.
        path (str): Its file, for the message.

    Returns:
        ConfigDict: The model config.
    """
    model_cfg = copy.deepcopy(cfg.model)
    if model_cfg.get('type') not in ('DMSAlgorithm', 'mmrazor.DMSAlgorithm'):
        raise SystemExit(f'{path}: model.type is {model_cfg.get("type")!r}, not a DMS search '
                         '(DMSAlgorithm)')
    if 'data_preprocessor' in cfg:
        model_cfg.setdefault('data_preprocessor', cfg.data_preprocessor)
    return model_cfg


def shutdown_distributed() -> None:
    """End a distributed run that succeeded: destroy the process group, and
    leave the process with status 0 without the interpreter's teardown.

    Why the exit: once a model is wrapped in ``DistributedDataParallel``, its
    C++ reducer keeps a reference to the process group, so
    ``destroy_process_group`` cannot free a gloo group: its three threads
    (``gloo_tcp_loop`` and two ``pt_gloo_runloop``) still run when the
    process ends (checked on torch 2.13). The teardown of a process with
    them running sometimes aborts ("terminate called without an active
    exception", exit code -6) after a run that otherwise succeeded, and a
    launcher then marks the whole job as failed. So the Python exit handlers
    run (log files are flushed and closed, data workers stopped) while
    everything is alive, and the process leaves with ``os._exit(0)``.
    """
    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized()):
        return
    dist.barrier()
    dist.destroy_process_group()
    atexit._run_exitfuncs()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


def build_runner_from_cfg(cfg: Config) -> Runner:
    """Build the runner named by ``runner_type``, or mmengine's default.

    Args:
        cfg (Config): The full config.

    Returns:
        Runner: The runner.
    """
    if 'runner_type' not in cfg:
        return Runner.from_cfg(cfg)
    return RUNNERS.build(copy.deepcopy(cfg))
