from .config_keys import check_keys, unknown_key_message
from .setup_env import build_runner_from_cfg, load_config, shutdown_distributed

__all__ = [
    'build_runner_from_cfg', 'check_keys', 'load_config', 'shutdown_distributed',
    'unknown_key_message'
]
