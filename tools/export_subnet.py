"""Export a DMS search checkpoint: ``subnet.json`` and the static ``pruned.pth``.

Example::

    python tools/export_subnet.py \\
        configs/dms/efficientnet/dms_efficientnet-b0_search_digits.py \\
        work_dirs/dms_efficientnet-b0_search_digits/epoch_12.pth --out-dir work_dirs/export

Prints the FLOPs and params of the supernet and of the static model, both
counted by mmengine's analysis (not by DMS's own soft count).
"""
import argparse
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

from mmengine.config import DictAction  # noqa: E402
from mmengine.registry import MODELS, init_default_scope  # noqa: E402
from mmengine.runner import load_checkpoint  # noqa: E402

import dms_mm  # noqa: E402,F401
from dms_mm.structures import export_subnet  # noqa: E402
from dms_mm.utils import load_config, search_model_config  # noqa: E402


def _divisor(text: str):
    return text if text == 'table' else int(text)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Export a DMS search result')
    parser.add_argument('config', help='the search config')
    parser.add_argument('checkpoint', help='a checkpoint of the search')
    parser.add_argument('--out-dir', required=True, help='where to write subnet.json and '
                        'pruned.pth')
    parser.add_argument('--divisor', type=_divisor, default=1,
                        help='round kept widths to multiples of this (default 1), or with '
                        '"table" of the divisor the search\'s latency table measured as the '
                        'device\'s fastest')
    parser.add_argument('--scale-to-target', action='store_true',
                        help='land the exported FLOPs on the target by bisection')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override settings of the config, as key=value pairs')
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    if not osp.isfile(args.checkpoint):
        raise SystemExit(f'checkpoint {args.checkpoint!r} does not exist')
    cfg = load_config(args.config, args.cfg_options)
    init_default_scope(cfg.get('default_scope', 'mmrazor'))
    model_cfg = search_model_config(cfg, args.config)
    algorithm = MODELS.build(model_cfg)
    load_checkpoint(algorithm, args.checkpoint, map_location='cpu', strict=True)
    algorithm.eval()

    subnet = export_subnet(algorithm, args.out_dir, cfg.model.architecture,
                           divisor=args.divisor, scale=args.scale_to_target)
    res = subnet['resources']
    flops0, params0 = res['counted_supernet_flops'], res['counted_supernet_params']
    shape = 'x'.join(str(s) for s in algorithm.mutator.demo_input_shape)
    kind = algorithm.target_kind
    target = f'{kind} target {res["target_ratio"]:.4f}'
    lines = [
        f'counted by mmengine.analysis at input {shape}:',
        f'  supernet     {flops0 / 1e6:10.3f} MFLOPs  {params0 / 1e6:8.4f} M params',
        f'  static model {res["static_flops"] / 1e6:10.3f} MFLOPs  '
        f'{res["static_params"] / 1e6:8.4f} M params  (FLOPs ratio '
        f'{res["static_flops"] / flops0:.4f}' + (f', {target})' if kind != 'latency' else ')'),
        f'  soft count   {res["soft_flops"] / 1e6:10.3f} MFLOPs  '
        f'{res["soft_params"] / 1e6:8.4f} M params  (DMS, at export)',
    ]
    if 'soft_latency_ms' in res:
        lines.append(f'  latency      {res["soft_latency_ms"]:10.3f} ms of the supernet\'s '
                     f'{res["supernet_latency_ms"]:.3f} ms, as the table predicts it (ratio '
                     f'{res["soft_latency_ms"] / res["supernet_latency_ms"]:.4f}'
                     + (f', {target})' if kind == 'latency' else ')'))
    lines.append(f'wrote {osp.join(args.out_dir, "subnet.json")} and '
                 f'{osp.join(args.out_dir, "pruned.pth")}')
    sys.stdout.write('\n'.join(lines) + '\n')


if __name__ == '__main__':
    main()
