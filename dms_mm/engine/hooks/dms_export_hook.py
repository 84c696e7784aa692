"""DMSExportHook: export the searched model at the end of every search."""
import os.path as osp

from mmengine.dist import barrier, is_main_process
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmrazor.registry import HOOKS

from dms_mm.structures import architecture_config, export_subnet


@HOOKS.register_module()
class DMSExportHook(Hook):
    """Writes ``subnet.json`` and ``pruned.pth`` when training ends.

    Args:
        out_dir (str): Folder, relative to the work dir unless absolute.
            Defaults to ``'dms_export'``.
        divisor (int): Round kept widths to multiples of it. Defaults to 1.
        scale_to_target (bool): Land the exported FLOPs on the target by a
            bounded bisection. Defaults to False.
    """

    priority = 'LOW'

    def __init__(self, out_dir: str = 'dms_export', divisor: int = 1,
                 scale_to_target: bool = False) -> None:
        self.out_dir = out_dir
        self.divisor = divisor
        self.scale_to_target = scale_to_target

    def after_train(self, runner) -> None:
        algorithm = runner.model.module if is_model_wrapper(runner.model) else runner.model
        out_dir = self.out_dir if osp.isabs(self.out_dir) else osp.join(runner.work_dir,
                                                                          self.out_dir)
        if is_main_process():
            export_subnet(algorithm, out_dir, architecture_config(runner.cfg),
                          divisor=self.divisor, scale=self.scale_to_target,
                          logger=runner.logger)
        barrier()
