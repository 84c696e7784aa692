"""Write a pruned Llama as a Hugging Face folder, and check it in a fresh Python.

The model is what a finetune (retrain) config (``model.type='DMSSubModel'``
around ``HFCausalLM``) builds, with the weights of CHECKPOINT: a finetune
checkpoint (``iter_N.pth``) or a search export's ``pruned.pth``. Example::

    python tools/export_hf.py configs/dms/llama/dms_llama-6l-h256_finetune_shakespeare.py \\
        work_dirs/dms_llama-6l-h256_finetune_shakespeare/iter_600.pth --out work_dirs/llama-hf

Where every layer kept the same sizes the folder is a plain Llama; otherwise it
carries its model code (``trust_remote_code=True``). The folder is then loaded
by ``AutoModelForCausalLM.from_pretrained`` in a separate Python that does not
import dms_mm; its logits on random token ids are compared with the pruned
model's (above ``--tolerance``, relative to their largest magnitude, the tool
exits with an error), and it generates a few tokens.
"""
import argparse
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

import torch  # noqa: E402
from mmengine.config import DictAction  # noqa: E402

import dms_mm  # noqa: E402,F401
from dms_mm.structures.hf_export import reload_outputs, save_causal_lm  # noqa: E402
from dms_mm.structures.retrained import load_retrained  # noqa: E402


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('config', help='the finetune config (DMSSubModel around HFCausalLM)')
    parser.add_argument('checkpoint', help='a finetune checkpoint or an export\'s pruned.pth')
    parser.add_argument('--out', required=True, help='the folder to write')
    parser.add_argument('--tokens', type=int, default=32,
                        help='tokens per sequence of the check (default 32)')
    parser.add_argument('--tolerance', type=float, default=1e-4,
                        help='largest relative difference of the reloaded logits')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override settings of the config, as key=value pairs')
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    try:
        _, model, which = load_retrained(args.config, args.checkpoint, args.cfg_options,
                                         'export_hf')
    except ValueError as error:
        raise SystemExit(str(error)) from error
    lm = getattr(model, 'model', None)
    if type(lm).__name__ != 'LlamaForCausalLM':
        raise SystemExit(f'export_hf: the config builds {type(model).__name__}, not an '
                         'HFCausalLM around a LlamaForCausalLM')
    kind = save_causal_lm(lm, args.out)
    ids = model.demo_inputs((2, args.tokens), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        expected = lm(input_ids=ids).logits
    try:
        got = reload_outputs(osp.abspath(args.out), ids)
    except RuntimeError as error:
        raise SystemExit(f'export_hf: {error}') from error
    difference = float((got['logits'] - expected).abs().max() / expected.abs().max())
    params = sum(p.numel() for p in lm.parameters())
    print(f'export_hf: {args.out} ({which} of {args.checkpoint}): a {kind} folder, '
          f'{got["model_class"]} with {params / 1e6:.4f} M params; reloaded without dms_mm '
          f'(imported: {got["dms_mm_imported"]}), its logits differ from the pruned model\'s '
          f'by {difference:.2e} (relative); generate(): {got["generated"][0].tolist()}')
    if got['dms_mm_imported'] or not difference <= args.tolerance:
        raise SystemExit(f'export_hf: the reloaded folder differs (relative difference '
                         f'{difference:.2e}, tolerance {args.tolerance:.0e}) or needed dms_mm')


if __name__ == '__main__':
    main()
