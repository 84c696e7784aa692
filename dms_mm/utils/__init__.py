from .config_keys import check_keys, scope_from_type, unknown_key_message
from .demo_inputs import demo_inputs
from .outputs import flat_tensors
from .running_modules import running_modules
from .setup_env import build_runner_from_cfg, load_config, search_model_config, shutdown_distributed

__all__ = [
    'build_runner_from_cfg', 'check_keys', 'demo_inputs', 'flat_tensors', 'load_config',
    'running_modules', 'scope_from_type', 'search_model_config', 'shutdown_distributed',
    'unknown_key_message'
]
