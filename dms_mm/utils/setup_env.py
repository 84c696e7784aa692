"""Config loading and runner building shared by ``tools/train.py`` and
``tools/test.py``."""
import copy
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


def shutdown_distributed() -> None:
    """Destroy the process group at the end of a distributed run.

    mmengine leaves it to interpreter exit, where gloo's threads may be torn
    down unjoined ("terminate called without an active exception", exit code
    -6) after a run that otherwise succeeded.
    """
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()


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
