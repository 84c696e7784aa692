"""DMSExportHook: export the searched model at the end of every search."""
import hashlib
import json
import os.path as osp
from typing import Union

from mmengine.dist import all_gather_object, barrier, get_world_size, is_main_process
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmrazor.registry import HOOKS

from dms_mm.engine.strategies.dms_fsdp_strategy import full_parameters
from dms_mm.structures import architecture_config, build_subnet, export_subnet, resolve_divisor


def structure_digest(mutator) -> str:
    """SHA-256 of the kept channels of every unit, the kept blocks of every
    stage and the kept attention parts, as ``subnet.json`` lists them."""
    subnet = build_subnet(mutator)
    kept = dict(units=[(u['name'], u['kept']) for u in subnet['units']],
                stages=[(s['name'], s['kept_blocks']) for s in subnet['stages']],
                attention=subnet.get('attention', []))
    return hashlib.sha256(json.dumps(kept, sort_keys=True).encode()).hexdigest()


@HOOKS.register_module()
class DMSExportHook(Hook):
    """Writes ``subnet.json`` and ``pruned.pth`` when training ends.

    In a distributed run, every rank first computes the searched structure,
    and the export stops with an error if the ranks do not agree on it; rank
    0 alone then writes the files.

    Args:
        out_dir (str): Folder, relative to the work dir unless absolute.
            Defaults to ``'dms_export'``.
        divisor (int | str): Round kept widths to multiples of it, or with
            ``'table'`` to those the search's latency table measured as the
            device's fastest (checked before the search starts). Defaults to
            1.
        scale_to_target (bool): Land the exported FLOPs on the target by a
            bounded bisection. Defaults to False.
    """

    priority = 'LOW'

    def __init__(self, out_dir: str = 'dms_export', divisor: Union[int, str] = 1,
                 scale_to_target: bool = False) -> None:
        self.out_dir = out_dir
        self.divisor = divisor
        self.scale_to_target = scale_to_target

    def before_train(self, runner) -> None:
        # a divisor the export cannot resolve fails now, not after the search
        algorithm = runner.model.module if is_model_wrapper(runner.model) else runner.model
        try:
            resolve_divisor(algorithm.mutator, self.divisor)
        except ValueError as e:
            raise ValueError(f'DMSExportHook: {e}') from None

    def after_train(self, runner) -> None:
        algorithm = runner.model.module if is_model_wrapper(runner.model) else runner.model
        out_dir = self.out_dir if osp.isabs(self.out_dir) else osp.join(runner.work_dir,
                                                                          self.out_dir)
        if get_world_size() > 1:
            digests = all_gather_object(structure_digest(algorithm.mutator))
            if len(set(digests)) != 1:
                raise RuntimeError(
                    'DMSExportHook: the ranks do not agree on the searched structure '
                    f'(SHA-256 of the kept channels and blocks per rank: {digests}); nothing '
                    f'was written to {out_dir}')
            runner.logger.info(f'DMSExportHook: all {len(digests)} ranks agree on the searched '
                               f'structure (SHA-256 {digests[0][:16]})')
        with full_parameters(runner.model):  # (FSDP: every rank gathers the weights)
            if is_main_process():
                export_subnet(algorithm, out_dir, architecture_config(runner.cfg),
                              divisor=self.divisor, scale=self.scale_to_target,
                              logger=runner.logger)
            barrier()
