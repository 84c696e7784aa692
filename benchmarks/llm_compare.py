"""DMS against the language-model pruners at equal parameters, on Shakespeare.

From one trained dense Llama (``configs/llama/llama-6l-h256_1xb16_shakespeare.py``,
its checkpoint ``--dense``), every method prunes to the same parameter ratio
(``--targets``) and then trains the same number of iterations in all:

==========  ===================================================================
method      what runs
==========  ===================================================================
dms         the DMS search (DMSp: weights and structure, ``--search-iters``),
            its export scaled onto the target as ``compare.py``'s (the resource
            loss may stop short of it in a short search), then finetuned
            ``--finetune-iters``
uniform     every layer the same share of its GQA groups and FFN width
            (:func:`benchmarks.llm_structures.uniform_structure`), finetuned
            ``search + finetune`` iterations
taylor      LLM-Pruner's one-shot first-order Taylor importance
            (:func:`~benchmarks.llm_structures.taylor_structure`, on
            ``--calibration`` training windows), finetuned as uniform
shortgpt    ShortGPT's layer removal by block influence
            (:func:`~benchmarks.llm_structures.shortgpt_structure`), finetuned
            as uniform
dms_structure  the diagnosis: the structure of the ``dms`` run of the same
            target and seed, with the dense weights, finetuned as uniform (the
            structure DMS finds, apart from the weights its search trains)
torch_pruning  Torch-Pruning's LLM recipe (hidden size, heads and FFN by one
            ratio, L2 magnitude;
            :func:`~benchmarks.llm_structures.torch_pruning_structure`),
            finetuned as uniform
==========  ===================================================================

Every finetune is ``configs/dms/llama/dms_llama-6l-h256_finetune_shakespeare.py``
through ``tools/train.py`` (its AdamW, its schedule over the iterations given);
the perplexity is ``tools/test.py``'s on the held-out test plays, over windows
of 128 tokens (LLM-Pruner's protocol; 128 is also this model's whole context).
Parameters are mmengine's count of each exported model. Records land in
``WORK_DIR/runs.jsonl`` as each run ends, and a second call skips them.

Example::

    python benchmarks/llm_compare.py --targets 0.8 0.5 --seeds 0 1 2 \\
        --results benchmarks/RESULTS.md
"""
import argparse
import datetime
import json
import os
import os.path as osp
import re
import sys
import time
from typing import Dict, List, Optional

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
sys.path.insert(0, ROOT)

from benchmarks.compare import RunFailed, machine, mean_std, publish, run_tool  # noqa: E402

DENSE_CONFIG = 'configs/llama/llama-6l-h256_1xb16_shakespeare.py'
SEARCH_CONFIG = 'configs/dms/llama/dms_llama-6l-h256_search_shakespeare.py'
FINETUNE_CONFIG = 'configs/dms/llama/dms_llama-6l-h256_finetune_shakespeare.py'
METHODS = ('dms', 'uniform', 'taylor', 'shortgpt', 'torch_pruning', 'dms_structure')


def last_perplexity(output: str, split: str = 'test') -> float:
    found = re.findall(rf'Iter\({split}\).*lm/perplexity: ([\d.]+)', output)
    if not found:
        raise RunFailed(f'no {split} perplexity in the output')
    return float(found[-1])


def iteration_options(iterations: int) -> List[str]:
    """A schedule of ``iterations`` iterations for the Llama configs (their
    warm-up, then their cosine to the end), validating and saving at its end."""
    warmup = max(1, min(30, iterations // 10))
    return [f'train_cfg.max_iters={iterations}', f'train_cfg.val_interval={iterations}',
            f'default_hooks.checkpoint.interval={iterations}',
            f'param_scheduler.0.end={warmup}', f'param_scheduler.1.begin={warmup}',
            f'param_scheduler.1.end={iterations}']


class LLMComparison:
    """Runs the methods from one dense checkpoint and keeps their records.

    Args:
        work_dir (str): Where the runs, records and report go.
        dense (str): The dense model's checkpoint (of :data:`DENSE_CONFIG`).
        search_iters (int): Iterations of the DMS search.
        finetune_iters (int): Iterations of the DMS finetune; the other
            methods finetune ``search_iters + finetune_iters``.
        calibration (int): Training windows (batches of 8) for the Taylor
            and block-influence scores.
        cfg_options (list): ``key=value`` options of every training run (the
            architecture's keys as ``model.config.*``; e.g. a smaller model).
    """

    def __init__(self, work_dir: str, dense: str, search_iters: int, finetune_iters: int,
                 calibration: int = 8, cfg_options: Optional[List[str]] = None) -> None:
        self.work_dir, self.dense = osp.abspath(work_dir), osp.abspath(dense)
        self.search_iters, self.finetune_iters = search_iters, finetune_iters
        self.calibration = calibration
        self.cfg_options = list(cfg_options or [])
        os.makedirs(self.work_dir, exist_ok=True)
        self.records_path = osp.join(self.work_dir, 'runs.jsonl')
        self.records: Dict[str, Dict] = {}
        if osp.exists(self.records_path):
            with open(self.records_path) as f:
                for line in f:
                    record = json.loads(line)
                    self.records[record['key']] = record

    def _options(self, prefix: str) -> List[str]:
        return [o.replace('model.config.', f'{prefix}.config.', 1) for o in self.cfg_options]

    def run(self, method: str, target: float, seed: int) -> Dict:
        key = f'{method}|{target}|{seed}'
        if key in self.records and 'error' not in self.records[key]:
            return self.records[key]
        tag = osp.join(self.work_dir, f'{method}_t{target}_seed{seed}')
        start = time.time()
        try:
            subnet_dir, finetune_iters = getattr(self, f'_{method}')(tag, target, seed)
            record = self._finetune_and_test(tag, subnet_dir, finetune_iters, seed)
        except (RunFailed, OSError, ValueError) as error:
            record = dict(error=str(error).splitlines()[0])
        record = dict(key=key, method=method, target=target, seed=seed,
                      minutes=(time.time() - start) / 60, **record)
        self.records[key] = record
        with open(self.records_path, 'a') as f:
            f.write(json.dumps(record) + '\n')
        return record

    def _dms(self, tag, target, seed):
        search = osp.join(tag, 'search')
        run_tool(['tools/train.py', SEARCH_CONFIG, '--work-dir', search, '--cfg-options',
                  *self._options('model.architecture'),
                  f'model.architecture.init_cfg.checkpoint={self.dense}',
                  f'model.target_params_ratio={target}', f'randomness.seed={seed}',
                  'custom_hooks.1.scale_to_target=True',  # every method at the target
                  *iteration_options(self.search_iters)], osp.join(tag, 'search.log'))
        return osp.join(search, 'dms_export'), self.finetune_iters

    def _baseline(self, tag, target, seed, method):
        import torch
        from mmengine.config import DictAction

        from benchmarks import llm_structures
        from benchmarks.subnets import prepared_supernet
        from dms_mm.datasets.shakespeare import ShakespeareDataset
        from dms_mm.utils import load_config

        options = {key: DictAction._parse_iterable(value) for key, value in (
            option.split('=', 1) for option in self._options('model.architecture'))}
        options.update({'model.architecture.init_cfg.checkpoint': self.dense,
                        'model.architecture._scope_': 'mmrazor'})
        cfg = load_config(SEARCH_CONFIG, options)
        path = osp.join(tag, 'search_config.py')
        os.makedirs(tag, exist_ok=True)
        cfg.dump(path)
        model, mutator, info = prepared_supernet(path)
        model.init_weights()  # the dense checkpoint (init_cfg)
        torch.manual_seed(seed)
        data = ShakespeareDataset(split='train', block_size=cfg.llama_block_size,
                                  vocab_size=cfg.llama_vocab_size)
        picks = torch.randperm(len(data))[:8 * self.calibration].view(-1, 8).tolist()
        batches = [torch.stack([data[i]['inputs'] for i in pick]) for pick in picks]
        if method == 'uniform':
            reached = llm_structures.uniform_structure(mutator, target)
        elif method == 'torch_pruning':
            reached = llm_structures.torch_pruning_structure(model, mutator, target)
        elif method == 'dms_structure':
            from dms_mm.structures import apply_subnet, load_subnet
            apply_subnet(mutator, load_subnet(osp.join(
                self.work_dir, f'dms_t{target}_seed{seed}', 'search', 'dms_export',
                'subnet.json')))
            reached = float(mutator.soft_resources()['params']) / mutator.supernet_params
        else:
            reached = getattr(llm_structures, f'{method}_structure')(model, mutator, batches,
                                                                      target)
        out = osp.join(tag, 'structure')
        llm_structures.write_pruned(model, mutator, info, target, out,
                                    dict(name=method, reached_soft_ratio=reached))
        return out, self.search_iters + self.finetune_iters

    def _uniform(self, tag, target, seed):
        return self._baseline(tag, target, seed, 'uniform')

    def _taylor(self, tag, target, seed):
        return self._baseline(tag, target, seed, 'taylor')

    def _shortgpt(self, tag, target, seed):
        return self._baseline(tag, target, seed, 'shortgpt')

    def _torch_pruning(self, tag, target, seed):
        return self._baseline(tag, target, seed, 'torch_pruning')

    def _dms_structure(self, tag, target, seed):
        return self._baseline(tag, target, seed, 'dms_structure')

    def _finetune_and_test(self, tag, subnet_dir, iterations, seed) -> Dict:
        finetune = osp.join(tag, 'finetune')
        subnet = [f'model.subnet={osp.join(subnet_dir, "subnet.json")}',
                  *self._options('model.architecture')]
        output = run_tool(['tools/train.py', FINETUNE_CONFIG, '--work-dir', finetune,
                           '--cfg-options', *subnet,
                           f'model.checkpoint={osp.join(subnet_dir, "pruned.pth")}',
                           f'randomness.seed={seed}', *iteration_options(iterations)],
                          osp.join(tag, 'finetune.log'))
        val = last_perplexity(output, 'val')
        tested = run_tool(['tools/test.py', FINETUNE_CONFIG,
                           osp.join(finetune, f'iter_{iterations}.pth'), '--work-dir',
                           osp.join(tag, 'test'), '--cfg-options', *subnet,
                           'model.checkpoint=None'],  # (the weights are the finetune's)
                          osp.join(tag, 'test.log'))
        with open(osp.join(subnet_dir, 'subnet.json')) as f:
            resources = json.load(f)['resources']
        return dict(val_perplexity=val, test_perplexity=last_perplexity(tested),
                    params=resources['static_params'],
                    params_ratio=resources['static_params'] / resources[
                        'counted_supernet_params'] if 'counted_supernet_params' in resources
                    else None, finetune_iters=iterations)


def report(comparison: LLMComparison, methods, targets, seeds, command: str) -> str:
    lines = [f'## {datetime.date.today()}: `{command}`', '', f'{machine()}. Dense model: '
             f'`{comparison.dense}`; DMS searches {comparison.search_iters} and finetunes '
             f'{comparison.finetune_iters} iterations, every other method finetunes '
             f'{comparison.search_iters + comparison.finetune_iters}. Test perplexity on the '
             'held-out plays (128-token windows), mean ± standard deviation over seeds '
             f'{", ".join(map(str, seeds))}.', '',
             '| target | method | params ratio | test perplexity | per seed | val perplexity |',
             '| --- | --- | --- | --- | --- | --- |']
    failures = []
    for target in targets:
        for method in methods:
            runs = [comparison.records.get(f'{method}|{target}|{s}') for s in seeds]
            failures += [f'- {method} at {target}, seed {r["seed"]}: {r["error"]}'
                         for r in runs if r and 'error' in r]
            runs = [r for r in runs if r and 'error' not in r]
            if not runs:
                continue
            test = mean_std([r['test_perplexity'] for r in runs])
            val = mean_std([r['val_perplexity'] for r in runs])
            ratio = mean_std([r['params_ratio'] for r in runs if r['params_ratio']])
            per_seed = ' '.join(f'{r["test_perplexity"]:.2f}' for r in runs)

            def spread(stat):  # one seed has no spread
                return f'{stat[0]:.2f} ± {stat[1]:.2f}' if len(runs) > 1 else f'{stat[0]:.2f}'
            lines.append(f'| {target} | {method} | {ratio[0]:.4f} | {spread(test)} | '
                         f'{per_seed} | {spread(val)} |')
    if failures:
        lines += ['', 'Runs that failed:', *failures]
    return '\n'.join(lines) + '\n'


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--dense', default='work_dirs/llama-6l-h256_1xb16_shakespeare/'
                        'iter_3000.pth', help='the trained dense checkpoint')
    parser.add_argument('--methods', nargs='+', choices=METHODS, default=list(METHODS))
    parser.add_argument('--targets', nargs='+', type=float, default=[0.8, 0.5])
    parser.add_argument('--seeds', nargs='+', type=int, default=[0, 1, 2])
    parser.add_argument('--search-iters', type=int, default=600)
    parser.add_argument('--finetune-iters', type=int, default=600)
    parser.add_argument('--calibration', type=int, default=8,
                        help='batches of 8 training windows for the baselines\' scores')
    parser.add_argument('--work-dir', default='work_dirs/llm_compare')
    parser.add_argument('--results', help='append the report to this markdown file')
    parser.add_argument('--report-only', action='store_true')
    parser.add_argument('--cfg-options', nargs='+', default=[],
                        help='options of every run, the model as model.config.KEY=VALUE')
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    comparison = LLMComparison(args.work_dir, args.dense, args.search_iters,
                               args.finetune_iters, args.calibration, args.cfg_options)
    if not args.report_only:
        if not osp.isfile(comparison.dense):
            raise SystemExit(f'{args.dense}: no dense checkpoint; train it first with '
                             f'python tools/train.py {DENSE_CONFIG}')
        for seed in args.seeds:
            for target in args.targets:
                for method in args.methods:
                    record = comparison.run(method, target, seed)
                    print(f'{method} {target} seed {seed}: ' + (
                        record.get('error') or f'test perplexity {record["test_perplexity"]:.2f}'
                        f' at {record["params_ratio"]:.4f} of the params'), flush=True)
    command = 'python benchmarks/llm_compare.py ' + ' '.join(argv or sys.argv[1:])
    text = report(comparison, args.methods, args.targets, args.seeds, command.strip())
    publish(text, comparison.work_dir, args.results)


if __name__ == '__main__':
    main()
