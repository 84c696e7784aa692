from .setup_env import build_runner_from_cfg, load_config, shutdown_distributed

__all__ = ['build_runner_from_cfg', 'load_config', 'shutdown_distributed']
