"""Write a pruned model to ONNX, check onnxruntime's outputs against torch's,
and time both.

The model is what a retrain config (``model.type='DMSSubModel'``) builds, with
the weights of CHECKPOINT: a retrain checkpoint (``epoch_N.pth``; where it holds
the EMA weights of mmengine's ``EMAHook``, those, as ``tools/test.py``
evaluates them) or an export's ``pruned.pth``. The graph is the model's
``mode='tensor'`` forward at a fixed input shape (by default the subnet's demo
input), without the data preprocessor and without post-processing. Example::

    python tools/export_onnx.py configs/dms/resnet/dms_resnet18-w16_retrain_glyphs.py \\
        work_dirs/dms_resnet18-w16_retrain_glyphs/epoch_4.pth --out work_dirs/resnet.onnx

It prints the largest difference between an onnxruntime output and torch's
(relative to the output's largest magnitude; above ``--tolerance`` it exits
with an error), the median latency in torch and in onnxruntime at
``--threads`` threads, and writes both next to the ONNX file (``.json``).
"""
import argparse
import json
import os
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

import torch  # noqa: E402
from mmengine.config import DictAction  # noqa: E402
from mmengine.registry import MODELS, init_default_scope  # noqa: E402

import dms_mm  # noqa: E402,F401
from dms_mm.resources.latency_table import device_name, median_ms  # noqa: E402
from dms_mm.structures import count_static, load_subnet  # noqa: E402
from dms_mm.structures.onnx_export import (  # noqa: E402
    EXPORTERS,
    TensorForward,
    export_onnx,
    onnx_difference,
    onnxruntime_session,
)
from dms_mm.utils import load_config  # noqa: E402


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Export a pruned model to ONNX')
    parser.add_argument('config', help='a retrain config (model.type DMSSubModel)')
    parser.add_argument('checkpoint', help='a retrain checkpoint, or an export\'s pruned.pth')
    parser.add_argument('--out', required=True, help='the .onnx file to write')
    parser.add_argument('--shape', type=int, nargs=2, metavar=('H', 'W'),
                        help='input height and width (default: the subnet\'s demo input)')
    parser.add_argument('--batch', type=int, default=1, help='batch size (default 1)')
    parser.add_argument('--opset', type=int, default=18, help='ONNX opset (default 18)')
    parser.add_argument('--exporter', choices=EXPORTERS, default='dynamo',
                        help='torch.onnx\'s exporter (default dynamo, torch\'s current one)')
    parser.add_argument('--tolerance', type=float, default=1e-4,
                        help='largest relative difference of onnxruntime from torch')
    parser.add_argument('--iters', type=int, default=50,
                        help='timed runs of each (median; 0: no timing)')
    parser.add_argument('--threads', type=int, default=1,
                        help='intra-op threads of torch and onnxruntime (default 1)')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override settings of the config, as key=value pairs')
    return parser.parse_args(argv)


def checkpoint_state(path: str):
    """The weights to export from a checkpoint, and which they are."""
    # weights_only stays on: dms_mm allow-lists what mmengine's checkpoints hold
    checkpoint = torch.load(path, map_location='cpu')
    if not isinstance(checkpoint, dict):
        raise SystemExit(f'{path}: not a checkpoint (a {type(checkpoint).__name__})')
    ema = checkpoint.get('ema_state_dict')
    if ema:  # mmengine's EMAHook: 'module.'-prefixed averaged weights and a step count
        return {k[len('module.'):]: v for k, v in ema.items()
                if k.startswith('module.')}, 'the EMA weights'
    state = checkpoint.get('state_dict', checkpoint)
    return state, 'the weights'


def build_model(cfg, checkpoint: str):
    """The static model of a retrain config with the weights of ``checkpoint``."""
    model_cfg = cfg.model
    if model_cfg.get('type') not in ('DMSSubModel', 'mmrazor.DMSSubModel'):
        raise SystemExit(f'model.type is {model_cfg.get("type")!r}: export_onnx takes a retrain '
                         'config (DMSSubModel); export a search first with '
                         'tools/export_subnet.py and use its retrain config')
    model_cfg = dict(model_cfg, checkpoint=None, reset_params=True)
    if 'data_preprocessor' in cfg:
        model_cfg.setdefault('data_preprocessor', cfg.data_preprocessor)
    model = MODELS.build(model_cfg)
    state, which = checkpoint_state(checkpoint)
    own = model.state_dict()
    missing = sorted(set(own) - set(state))
    wrong = sorted(k for k in own if k in state and tuple(state[k].shape) != tuple(own[k].shape))
    if missing or wrong:
        detail = (f'{len(missing)} missing (first: {missing[:3]})' if missing else
                  f'{len(wrong)} of another shape (first: {wrong[0]}: '
                  f'{tuple(state[wrong[0]].shape)} against {tuple(own[wrong[0]].shape)})')
        raise SystemExit(f'{checkpoint}: {which} do not fit the pruned model of '
                         f'{model_cfg["subnet"]}: {detail}')
    model.load_state_dict({k: state[k] for k in own}, strict=True)
    return model.eval(), which


def main(argv=None):
    args = parse_args(argv)
    if not osp.isfile(args.checkpoint):
        raise SystemExit(f'checkpoint {args.checkpoint!r} does not exist')
    torch.set_num_threads(args.threads)
    cfg = load_config(args.config, args.cfg_options)
    init_default_scope(cfg.get('default_scope', 'mmrazor'))
    model, which = build_model(cfg, args.checkpoint)
    demo = list(load_subnet(cfg.model.subnet).get('demo_input') or (1, 3, 224, 224))
    shape = (args.batch, demo[1], *(args.shape or demo[2:]))
    inputs = torch.randn(*shape, generator=torch.Generator().manual_seed(0))
    flops, params = count_static(model, shape)

    os.makedirs(osp.dirname(osp.abspath(args.out)), exist_ok=True)
    wrapped = TensorForward(model)
    outputs = export_onnx(wrapped, inputs, args.out, args.opset, args.exporter)
    session = onnxruntime_session(args.out, args.threads)
    difference = onnx_difference(session, wrapped, inputs)
    result = dict(config=args.config, checkpoint=args.checkpoint, weights=which, onnx=args.out,
                  exporter=args.exporter, opset=args.opset, input_shape=list(shape),
                  outputs=len(outputs), flops=flops, params=params,
                  max_relative_difference=difference, tolerance=args.tolerance)
    print(f'export_onnx: {args.out} ({which} of {args.checkpoint}; input {shape}, '
          f'{len(outputs)} output(s), {flops / 1e6:.2f} MFLOPs and {params / 1e6:.3f} M params '
          f'counted by mmengine); onnxruntime differs from torch by {difference:.2e} (relative)')
    if args.iters:
        feed = {session.get_inputs()[0].name: inputs.numpy()}

        def run_torch():
            with torch.no_grad():
                wrapped(inputs)

        torch_ms = median_ms(run_torch, args.iters, 5, 'cpu')
        ort_ms = median_ms(lambda: session.run(None, feed), args.iters, 5, 'cpu')
        result.update(torch_ms=torch_ms, onnxruntime_ms=ort_ms, threads=args.threads,
                      iters=args.iters, torch=torch.__version__,
                      onnxruntime=__import__('onnxruntime').__version__,
                      cpu=device_name('cpu'))
        print(f'export_onnx: median of {args.iters} runs at {args.threads} thread(s): torch '
              f'{torch_ms:.3f} ms, onnxruntime {ort_ms:.3f} ms')
    with open(osp.splitext(args.out)[0] + '.json', 'w') as f:
        json.dump(result, f, indent=1)
    if difference > args.tolerance:
        raise SystemExit(f'onnxruntime\'s outputs differ from torch\'s by {difference:.2e} '
                         f'(relative), more than --tolerance {args.tolerance}')
    return result


if __name__ == '__main__':
    main()
