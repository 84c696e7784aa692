"""Print what DMS will search in a config's model, before any training.

Builds the model of a DMS config (``model.type='DMSAlgorithm'``) and prints
the mutator's summary: the channel units (sizes, producers, consumers), the
stages of removable blocks, what is left out and why, the supernet FLOPs and
params, and the target.

Example::

    python tools/dms_summary.py configs/dms/efficientnet/dms_efficientnet-b0_search_digits.py
"""
import argparse
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

from mmengine.config import DictAction  # noqa: E402
from mmengine.registry import MODELS, init_default_scope  # noqa: E402

import dms_mm  # noqa: E402,F401
from dms_mm.utils import load_config  # noqa: E402


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Print the DMS search space of a config')
    parser.add_argument('config', help='a DMS config file')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override settings of the config, as key=value pairs')
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    cfg = load_config(args.config, args.cfg_options)
    init_default_scope(cfg.get('default_scope', 'mmrazor'))
    model_cfg = cfg.model
    if 'data_preprocessor' in cfg and isinstance(model_cfg, dict):
        model_cfg.setdefault('data_preprocessor', cfg.data_preprocessor)
    model = MODELS.build(model_cfg)
    mutator = getattr(model, 'mutator', None)
    if mutator is None or not hasattr(mutator, 'summary'):
        raise SystemExit(f'{args.config}: model {type(model).__name__} is not a DMSAlgorithm '
                         '(it has no DMS mutator)')
    sys.stdout.write(mutator.summary() + '\n')
    sys.stdout.write(f'algorithm: {model.extra_repr()}\n')


if __name__ == '__main__':
    main()
