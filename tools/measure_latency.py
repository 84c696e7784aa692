"""Time every layer a DMS search can change, on this device, over a grid of widths.

Builds the search config's supernet, and for each convolution, linear, batch
norm and layer norm whose width a mutable changes (or that sits in a removable
block) times a plain layer of the same settings at the shape of the demo
input, at ``--steps`` widths of each searched side, in inference; then the
whole supernet at full width and, for the calibration, the static model at
smaller uniform widths; and the most expensive searched layers at every width
of a window, for the divisor whose multiples this device runs fastest (the
export rounds to it with ``--divisor table``, a search takes it as its group
size with ``latency_table=dict(path=..., group_size=True)``). The table (JSON)
records the device, torch, dtype, batch size and threads; a table read on
another device is refused unless asked for. Example::

    python tools/measure_latency.py configs/dms/resnet/dms_resnet18-w16_search_glyphs.py \\
        --device cpu --out work_dirs/latency_resnet18_cpu.json
"""
import argparse
import copy
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

import torch  # noqa: E402
from mmengine.config import DictAction  # noqa: E402
from mmengine.registry import MODELS, init_default_scope  # noqa: E402

import dms_mm  # noqa: E402,F401
from dms_mm.resources.latency_table import measure_latency_table  # noqa: E402
from dms_mm.utils import load_config, search_model_config  # noqa: E402


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Measure the latency table of a DMS search')
    parser.add_argument('config', help='a DMS search config')
    parser.add_argument('--out', required=True, help='the JSON table to write')
    parser.add_argument('--device', default='cpu', help='cpu or cuda[:N] (default cpu)')
    parser.add_argument('--dtype', choices=('float32', 'float16', 'bfloat16'),
                        default='float32')
    parser.add_argument('--batch', type=int, default=0,
                        help='batch size (default: the demo input\'s)')
    parser.add_argument('--steps', type=int, default=8, help='widths per searched side')
    parser.add_argument('--iters', type=int, default=20, help='timed runs per point (median)')
    parser.add_argument('--warmup', type=int, default=5, help='untimed runs first')
    parser.add_argument('--calibration', nargs='*', type=float, default=[0.75, 0.5, 0.25],
                        help='width ratios at which the whole static model is timed too, so '
                        'that an estimate maps the layers onto the model (none: no calibration)')
    parser.add_argument('--multiples', type=int, default=4,
                        help='how many of the most expensive searched layers are timed at '
                        'every width of a window, for the widths this device prefers (0: none)')
    parser.add_argument('--multiples-span', type=int, default=64,
                        help='widths in that window, up to the layer\'s full width')
    parser.add_argument('--threads', type=int, default=0,
                        help='intra-op threads on a CPU (default: torch\'s)')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override settings of the config, as key=value pairs')
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    if args.device.startswith('cuda') and not torch.cuda.is_available():
        raise SystemExit(f'--device {args.device}: CUDA is not available here')
    if args.threads:
        torch.set_num_threads(args.threads)
    cfg = load_config(args.config, args.cfg_options)
    init_default_scope(cfg.get('default_scope', 'mmrazor'))
    model_cfg = search_model_config(cfg, args.config)
    if args.batch:
        demo = list(model_cfg.mutator.parse_cfg.demo_input)
        model_cfg.mutator.parse_cfg.demo_input = (args.batch, *demo[1:])
    algorithm = MODELS.build(model_cfg)
    plain = MODELS.build(copy.deepcopy(cfg.model.architecture))
    table = measure_latency_table(plain, algorithm.mutator, args.device,
                                  getattr(torch, args.dtype), args.steps, args.iters,
                                  args.warmup, config=args.config,
                                  architecture=algorithm.architecture,
                                  calibration=args.calibration, multiples=args.multiples,
                                  multiples_span=args.multiples_span)
    table.save(args.out)
    multiples = table.meta.get('multiples')
    if multiples:
        gains = ', '.join(f'{d}: {g:+.1%}' for d, g in multiples['gains'])
        print(f'measure_latency: how much faster the multiples of each divisor run than the '
              f'other widths ({len(multiples["layers"])} layers): {gains}; preferred divisor '
              f'{multiples["divisor"]} (1: none faster by {multiples["margin"]:.0%})')
    print(f'measure_latency: {table}; wrote {args.out}')
    return table


if __name__ == '__main__':
    main()
