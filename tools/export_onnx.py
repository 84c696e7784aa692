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
from dms_mm.structures.retrained import load_retrained  # noqa: E402


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


def main(argv=None):
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    try:
        cfg, model, which = load_retrained(args.config, args.checkpoint, args.cfg_options,
                                           'export_onnx')
    except ValueError as error:
        raise SystemExit(str(error)) from error
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
