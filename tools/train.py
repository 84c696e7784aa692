"""Train (or search) a model from an OpenMMLab config.

The command line is the one of mmpretrain's and mmdet's ``tools/train.py``.
The config's ``default_scope`` (``mmpretrain``, ``mmdet``, ``mmrazor``) decides
which OpenMMLab registries build it.

Examples::

    python tools/train.py CONFIG --work-dir work_dirs/run
    python tools/train.py CONFIG --resume            # resume the latest checkpoint
    python tools/train.py CONFIG --resume CKPT.pth   # resume a given checkpoint
    bash tools/dist_train.sh CONFIG 8 --amp
"""
import argparse
import os
import os.path as osp
import sys

# Running from a checkout without installing still finds the package.
sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

from mmengine.config import DictAction  # noqa: E402

import dms_mm  # noqa: E402,F401  (applies the compat fixes and registers dms_mm)
from dms_mm.utils import build_runner_from_cfg, load_config, shutdown_distributed  # noqa: E402,E501


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Train a model (dms_mm)')
    parser.add_argument('config', help='train config file path')
    parser.add_argument('--work-dir', help='the dir to save logs and models')
    parser.add_argument(
        '--resume',
        nargs='?',
        type=str,
        const='auto',
        help='resume from the given checkpoint; with no value, resume from '
        'the latest checkpoint in the work dir')
    parser.add_argument(
        '--amp',
        action='store_true',
        help='enable automatic mixed precision training')
    parser.add_argument(
        '--no-validate',
        action='store_true',
        help='do not evaluate checkpoints during training')
    parser.add_argument(
        '--auto-scale-lr',
        action='store_true',
        help='scale the learning rate by the actual total batch size '
        '(config key `auto_scale_lr`)')
    parser.add_argument(
        '--no-pin-memory',
        action='store_true',
        help='set pin_memory=False in every dataloader')
    parser.add_argument(
        '--no-persistent-workers',
        action='store_true',
        help='set persistent_workers=False in every dataloader')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override settings of the config, as key=value pairs; '
        'e.g. train_cfg.max_epochs=3 "model.backbone.arch=b0"')
    parser.add_argument(
        '--launcher',
        choices=['none', 'pytorch', 'slurm', 'mpi'],
        default='none',
        help='job launcher')
    # torch.distributed.launch passes --local-rank (torch>=2.0) or
    # --local_rank (older); torchrun sets the LOCAL_RANK variable instead.
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args(argv)
    if 'LOCAL_RANK' not in os.environ:
        os.environ['LOCAL_RANK'] = str(args.local_rank)
    return args


def merge_args(cfg, args):
    """Fold the command-line switches into the config."""
    if args.work_dir is not None:
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir', None) is None:
        cfg.work_dir = osp.join('./work_dirs',
                                osp.splitext(osp.basename(args.config))[0])

    if args.amp:
        optim_wrapper = cfg.optim_wrapper
        wrapper_type = optim_wrapper.get('type', 'OptimWrapper')
        if wrapper_type in ('AmpOptimWrapper', 'mmengine.AmpOptimWrapper'):
            pass
        elif wrapper_type not in ('OptimWrapper', 'mmengine.OptimWrapper'):
            raise ValueError(
                f'--amp: the config uses optim_wrapper.type={wrapper_type!r}; '
                'only OptimWrapper can be switched to AmpOptimWrapper here. '
                'Set the AMP wrapper in the config instead.')
        else:
            optim_wrapper.type = 'AmpOptimWrapper'
            optim_wrapper.setdefault('loss_scale', 'dynamic')

    if args.no_validate:
        cfg.val_cfg = None
        cfg.val_dataloader = None
        cfg.val_evaluator = None

    if args.auto_scale_lr:
        if 'auto_scale_lr' not in cfg:
            raise KeyError(
                '--auto-scale-lr needs the config key `auto_scale_lr`, e.g. '
                'auto_scale_lr = dict(base_batch_size=256)')
        cfg.auto_scale_lr.enable = True

    for name in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        loader = cfg.get(name, None)
        if loader is None:
            continue
        if args.no_pin_memory:
            loader['pin_memory'] = False
        if args.no_persistent_workers:
            loader['persistent_workers'] = False

    if args.resume == 'auto':
        cfg.resume = True
        cfg.load_from = None
    elif args.resume is not None:
        cfg.resume = True
        cfg.load_from = args.resume
    return cfg


def main(argv=None):
    args = parse_args(argv)
    cfg = load_config(args.config, args.cfg_options, args.launcher)
    cfg = merge_args(cfg, args)
    runner = build_runner_from_cfg(cfg)
    runner.train()
    shutdown_distributed()


if __name__ == '__main__':
    main()
