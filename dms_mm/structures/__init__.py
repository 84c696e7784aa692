from .expand import ExpandError, ExpansionReport, check_expand_cfg, expand_model
from .export import (
                     PRUNED_FILE,
                     SUBNET_FILE,
                     architecture_config,
                     count_static,
                     export_subnet,
                     resolve_divisor,
                     round_up_widths,
                     round_widths,
                     scale_to_target,
)
from .export_check import ExportCheckError, check_export
from .random_structure import randomize_structure
from .static import removed_blocks, to_static
from .sub_model import (
                     PrunedCheckpointError,
                     build_dms_sub_model,
                     load_pruned_weights,
                     load_state_strict,
)
from .subnet import SUBNET_FORMAT, SubnetError, apply_subnet, build_subnet, load_subnet

__all__ = [
    'ExpandError', 'ExpansionReport', 'ExportCheckError', 'check_export', 'randomize_structure',
    'check_expand_cfg', 'expand_model', 'load_state_strict',
    'PRUNED_FILE', 'SUBNET_FILE', 'SUBNET_FORMAT', 'PrunedCheckpointError', 'SubnetError',
    'apply_subnet', 'architecture_config', 'build_dms_sub_model', 'build_subnet',
    'count_static', 'export_subnet', 'load_pruned_weights', 'load_subnet', 'removed_blocks',
    'resolve_divisor', 'round_up_widths', 'round_widths', 'scale_to_target', 'to_static'
]
