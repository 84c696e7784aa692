"""DMS against uniform scaling, a random structure and peer pruners at equal FLOPs.

On the generated glyphs set (``dms_mm/datasets/glyphs.py``), with one of
mmpretrain's models at 32x32 as the supernet (``--supernet``: the CIFAR
ResNet-18 at width 16 by default, or EfficientNet-B0), every method gets the same data,
augmentation, optimizer and schedule shape, and the same total number of
training epochs ``E``, counted over all of its phases:

============  ==================================================================
method        what runs (``E`` epochs in all)
============  ==================================================================
supernet      the unpruned supernet, ``E`` epochs from scratch (reference)
uniform       one width and one depth ratio for the whole supernet, ``E`` from scratch
random        a random structure at the same FLOPs, ``E`` from scratch (the control)
dms           DMS from scratch (DMSnp): search ``E/2``, retrain ``E/2`` from the
              searched weights
dmsp          DMS from a trained supernet (DMSp): supernet ``E/2``, search
              ``E/4``, finetune ``E/4``
dmsp-short    DMSp on the schedule of the ``mmrazor`` row: supernet ``E/2``, search
              200 iterations with the weights at a tenth of the finetune rate,
              finetune the rest of ``E/2``
tp            Torch-Pruning 1.6.1 from the trained supernet (``E/2``): group
              Taylor importance, global, iterative, then finetune ``E/2``
tp-l2         the same with Torch-Pruning's other recommended importance, the
              group L2 norm of the weights (no gradients)
mmrazor       mmrazor's GroupFisher from the trained supernet, then finetune;
              GroupFisher trains while it prunes (200 iterations), so its
              finetune is that many iterations shorter than ``E/2`` epochs;
              if it cannot run, the report says why
mmrazor-long  the same with the finetune not shortened (200 training iterations
              more than every other method: how much the extra steps are worth)
dmsstruct     the structure of the ``dms`` run of the same seed, trained from scratch
              ``E`` epochs as uniform scaling is: the structure's worth apart from
              the search's split of the budget (a diagnostic)
tpstruct,     the same for the structures that Torch-Pruning and mmrazor found
mmrazorstruct
scaleup       the paper's scale-up: the supernet grown 1.5x wider and 2x deeper,
              searched down to the supernet's FLOPs (``E/2``), retrained
              (``E/2``); compared with the supernet row
capacity      uniform scaling to ``--capacity-target`` (10 %; its records are
              kept per target): the task must separate it from the supernet by
              at least 5 points
dms-*         the ablation: the ``dms`` row with one search setting changed
              (``ABLATIONS``: warm-up, schedule, λ_res, structure lr, one-sided
              loss, refine phase, importance decay)
============  ==================================================================

FLOPs are counted by mmengine on every exported static model. Every run goes
through the ordinary tools (``tools/train.py`` with the configs under
``configs/``); its record lands in ``WORK_DIR/runs.jsonl`` as soon as it ends,
and a second call skips what is recorded, so an interrupted comparison resumes
(a run recorded as failed is tried again; ``--report-only`` lists it as failed).
Runs go ``--jobs`` at a time (default 2), each with ``cpu_count / jobs``
intra-op threads or ``--threads`` (a seed's trained supernet is made once,
whoever needs it).
Every run trains in one precision (``--precision``): by default in bfloat16
autocast where the machine has native bfloat16 arithmetic (a GPU, or a CPU
with AMX or AVX512-BF16: about twice as fast as float32 on this project's
machine), in float32 elsewhere; the folder keeps it among its settings.
The report (``report.md``) gives the mean and spread over seeds and the paired
per-seed difference to DMS; ``compare.png`` plots top-1 against FLOPs with the
seeds as dots.

Examples::

    python benchmarks/compare.py                       # the full comparison
    python benchmarks/compare.py --preset demo         # what `make demo` runs (at 0.1)
    python benchmarks/compare.py --preset ablation     # DMSnp variants, demo setting
    python benchmarks/compare.py --methods uniform dms --targets 0.5 --seeds 0
"""
import argparse
import json
import os
import os.path as osp
import platform
import re
import statistics
import subprocess
import sys
import threading
import time
import warnings
from concurrent.futures import ThreadPoolExecutor
from typing import Dict, List, Optional

warnings.filterwarnings('ignore', message='pkg_resources is deprecated')

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
sys.path.insert(0, ROOT)

# The supernets the comparison can run on, each with its configs. ResNet-18 (CIFAR stem,
# width 16) is the default: on 2 CPU cores it trains about 2x faster per image than
# EfficientNet-B0 and leaves chance level in about 200 iterations instead of 800+.
SUPERNETS = {
    'resnet18': dict(
        name='ResNet-18 (CIFAR, width 16)',
        supernet='configs/baselines/resnet18-w16_1xb64_glyphs.py',
        search='configs/dms/resnet/dms_resnet18-w16_search_glyphs.py',
        retrain='configs/dms/resnet/dms_resnet18-w16_retrain_glyphs.py',
        scaleup_search='configs/dms/resnet/dms_resnet18-w16_scaleup_search_glyphs.py',
        scaleup_retrain='configs/dms/resnet/dms_resnet18-w16_scaleup_retrain_glyphs.py'),
    'efficientnet-b0': dict(
        name='EfficientNet-B0',
        supernet='configs/baselines/efficientnet-b0_1xb64_glyphs.py',
        search='configs/dms/efficientnet/dms_efficientnet-b0_search_glyphs.py',
        retrain='configs/dms/efficientnet/dms_efficientnet-b0_retrain_glyphs.py',
        scaleup_search='configs/dms/efficientnet/dms_efficientnet-b0_scaleup_search_glyphs.py',
        scaleup_retrain='configs/dms/efficientnet/dms_efficientnet-b0_scaleup_retrain_glyphs.py'),
}
# The ablation of the DMSnp row over what the paper names: each variant is the `dms` row
# with these --cfg-options added to its search (custom hook 0 is DMSSchedulerHook), and
# optionally the search given E/N of the budget instead of E/2 (the third entry, N).
ABLATIONS = {
    'dms-warmup': ('a warm-up: no target for the first 30 % of the search, decay over 50 %',
                   ['custom_hooks.0.pretrain_ratio=0.3', 'custom_hooks.0.decay_ratio=0.5']),
    'dms-linear': ('the linear target schedule instead of the root one',
                   ['custom_hooks.0.schedule=linear']),
    'dms-lres3': ('λ_res (the resource loss weight) 3 instead of 1', ['model.loss_weight=3.0']),
    'dms-slr4': ('4x the structure learning rate (0.02)',
                 ['optim_wrapper.paramwise_cfg.custom_keys.mutator.lr=0.02']),
    'dms-onesided': ('the one-sided resource loss (only pulled down, never up)',
                     ['model.two_sided=False']),
    'dms-norefine': ('no refine phase: the target decays over the whole search',
                     ['custom_hooks.0.decay_ratio=1.0', 'custom_hooks.0.refine_ratio=0.0']),
    'dms-ema09': ('importance EMA decay 0.9 instead of 0.99',
                  ['model.mutator.channel_unit_cfg.default_args.ema_decay=0.9']),
    'dms-search1': ('a quarter of the budget for the search, three quarters for the retrain',
                    [], 4),
}
# iterations of the search of dmsp-short: those of mmrazor_prune's GroupFisher
DMSP_SHORT_SEARCH = 200
# the methods whose runs train a model at the target's FLOPs only (the cheapest runs)
# the rows that train another row's structure from scratch: that row, and where in its
# run folder the structure is
STRUCTURE_OF = dict(dmsstruct=('dms', 'search/dms_export'), tpstruct=('tp', 'structure'),
                    mmrazorstruct=('mmrazor', 'structure'))
PRUNED_ONLY = ('uniform', 'random', 'capacity', *STRUCTURE_OF)
# the methods that start from the seed's supernet trained E/2 epochs (made once per seed)
FROM_TRAINED = ('dmsp', 'dmsp-short', 'tp', 'tp-l2', 'mmrazor', 'mmrazor-long')
# the DMS rows the report can measure every other row against (paired per seed)
REFERENCES = dict(dms='DMS', dmsp='DMSp')
METHODS = ('supernet', 'capacity', 'uniform', 'random', 'dms', 'dmsp', 'dmsp-short', 'tp',
           'tp-l2', 'mmrazor', 'mmrazor-long', 'scaleup') + tuple(STRUCTURE_OF) + tuple(ABLATIONS)
NAMES = dict(supernet='Supernet', capacity='Uniform (capacity check)',
             uniform='Uniform scaling', random='Random structure', dms='DMS from scratch (DMSnp)',
             dmsp='DMS from the trained supernet (DMSp)',
             **{'dmsp-short': "DMSp on GroupFisher's schedule (search 200 iterations)"},
             tp='Torch-Pruning 1.6.1 (group Taylor)',
             **{'tp-l2': 'Torch-Pruning 1.6.1 (group L2 norm)'},
             mmrazor='mmrazor GroupFisher',
             **{'mmrazor-long': 'mmrazor GroupFisher, finetune not shortened (200 steps more)'},
             scaleup='DMS scale-up (1.5x width, 2x depth)',
             dmsstruct="DMSnp's structure trained from scratch",
             tpstruct="Torch-Pruning's structure trained from scratch",
             mmrazorstruct="GroupFisher's structure trained from scratch",
             **{k: f'DMSnp ablation: {v[0]}' for k, v in ABLATIONS.items()})
# One setting for every preset: 4 epochs over 20,000 images (about 2 minutes per epoch of
# the ResNet-18 supernet's DMS search on 2 cores). The presets share one folder, so the
# full comparison and the ablation reuse the demo's runs. finetune_lr 0.3: Torch-Pruning's
# finetune of the supernet trained 2 epochs reached 91.22 % at lr 0.1 and 92.20 % at 0.3
# (seed 0, the recipe of lr 0.3 with the cosine stepped every iteration; under the earlier
# recipe 60.8 / 84.5 / 88.1 % at 0.01 / 0.05 / 0.1; benchmarks/RESULTS.md).
_SETTING = dict(seeds=[0, 1, 2], epochs=4, train_images=20000, finetune_lr=0.3, work_dir='demo')
# The demo's target is a tenth of the FLOPs: at a quarter every method ties with DMS
# within the seed noise, at a tenth DMS was ahead of uniform scaling, Torch-Pruning and
# GroupFisher on every seed (benchmarks/RESULTS.md, 2026-12-04, twelfth session).
# Its DMS row is DMSp, which prunes the same trained supernet as Torch-Pruning: DMSnp's
# own search of 2 epochs made the demo 22 minutes on 2 cores, DMSp's 18 (at 0.1 DMSnp
# reached 91.98 +- 0.41 %, DMSp 91.34 +- 1.24; benchmarks/RESULTS.md, 2026-12-04).
PRESETS = dict(
    full=dict(methods=[m for m in METHODS if m not in ABLATIONS and m != 'mmrazor-long'],
              targets=[0.5, 0.25, 0.1],
              **_SETTING),
    demo=dict(methods=['uniform', 'dmsp', 'tp'], targets=[0.1], **_SETTING),
    ablation=dict(methods=['dms', *ABLATIONS], targets=[0.25], **_SETTING),
)


def iteration_config(config: str, iterations: int, path: str, validate: bool = True) -> str:
    """Write ``config`` trained for ``iterations`` iterations to ``path`` and
    return ``path``: mmengine's ``IterBasedTrainLoop``, validating at its end
    (or never, where ``validate`` is False);
    the schedulers stepped by epoch end where the training ends (stepped every
    iteration, as ``convert_to_iter_based`` steps them); checkpoint and log by
    iteration. For a phase of a budget that is not a whole number of epochs."""
    from mmengine.config import Config
    cfg = Config.fromfile(config)
    cfg.train_cfg = dict(type='IterBasedTrainLoop', max_iters=iterations,
                         val_interval=iterations,
                         val_begin=iterations if validate else iterations + 1)
    for scheduler in cfg.param_scheduler:
        if scheduler.get('by_epoch', True):
            if scheduler.get('begin', 0) or 'end' in scheduler:
                raise ValueError(f'{config}: a scheduler by epoch with its own begin or end '
                                 f'cannot be turned into iterations: {scheduler}')
            scheduler.pop('convert_to_iter_based', None)
            scheduler.update(by_epoch=False, begin=0, end=iterations)
    cfg.default_hooks.checkpoint.update(by_epoch=False, interval=iterations)
    cfg.log_processor = dict(cfg.get('log_processor', {}), by_epoch=False)
    os.makedirs(osp.dirname(osp.abspath(path)), exist_ok=True)
    cfg.dump(path)
    return path


class Progress:
    """One line per finished step: count, minutes since the start, what happened."""

    def __init__(self, total: int):
        self.total, self.done, self.start = total, 0, time.time()
        self._lock = threading.Lock()

    def step(self, text: str) -> None:
        with self._lock:
            self.done += 1
            elapsed = (time.time() - self.start) / 60
            print(f'[{self.done:3d}/{self.total}] {elapsed:6.1f} min  {text}', flush=True)


class RunFailed(RuntimeError):
    """A tool run that exited with an error; the message names its log."""


def run_tool(args: List[str], log_path: str, threads: Optional[int] = None) -> str:
    """Run ``python ARGS`` from the repository root (with ``threads`` intra-op
    threads, if given); return its output."""
    os.makedirs(osp.dirname(log_path), exist_ok=True)
    env = dict(os.environ)
    if threads:
        env.update(OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))
    with open(log_path, 'w') as log:
        proc = subprocess.run([sys.executable] + args, cwd=ROOT, stdout=log,
                              stderr=subprocess.STDOUT, text=True, env=env)
    with open(log_path) as f:
        output = f.read()
    if proc.returncode != 0:
        tail = '\n'.join(output.strip().splitlines()[-5:])
        raise RunFailed(f'`{" ".join(args)}` failed (see {log_path}):\n{tail}')
    return output


def last_top1(output: str) -> float:
    """The last test top-1 a run printed (the val split is the test split)."""
    found = re.findall(r'(?:Epoch|Iter)\((?:val|test)\).*accuracy/top1: ([\d.]+)', output)
    if not found:
        raise RunFailed('no top-1 accuracy in the output')
    return float(found[-1])


def run_tag(method: str, target: Optional[float], seed: int) -> str:
    """The folder name of one run under the comparison's ``work_dir``."""
    return f'{method}_t{target}_seed{seed}' if target is not None else f'{method}_seed{seed}'


class Comparison:
    """Runs the methods and keeps their records in ``work_dir/runs.jsonl``.

    Args:
        work_dir (str): Where every run, the records and the report go.
        epochs (int): The training budget ``E`` of every method.
        train_images (int): Images of the glyphs train split.
        capacity_target (float): FLOPs ratio of the capacity check (its runs
            are recorded under their target, so that one folder holds several).
        finetune_lr (float): Learning rate of the finetunes from trained weights
            (DMSp, Torch-Pruning, mmrazor).
        test_images (int): Images of the glyphs test split.
        supernet (str): A key of ``SUPERNETS``.
        threads (int, optional): Intra-op threads of every tool run (None:
            torch's default). :meth:`run` may be called from several threads
            at once, one run each.
        precision (str): ``'float32'``, or ``'bfloat16'``: every training
            run in bfloat16 autocast (mmengine's AmpOptimWrapper, on a CPU
            through ``dms_mm.compat.cpu_amp``); see :func:`auto_precision`.

    The settings are kept in ``work_dir/settings.json``; records made under
    other settings are never mixed in: a second call with other settings and
    the same ``work_dir`` raises.
    """

    def __init__(self, work_dir: str, epochs: int, train_images: int,
                 capacity_target: float = 0.1, finetune_lr: float = 0.01,
                 test_images: int = 8000, supernet: str = 'resnet18',
                 threads: Optional[int] = None, precision: str = 'float32'):
        if precision not in PRECISIONS:
            raise ValueError(f'precision must be one of {PRECISIONS}, got {precision!r}')
        if epochs < 4 or epochs % 4:
            raise ValueError(f'--epochs must be a positive multiple of 4 (the phases are '
                             f'E/2 and E/4), got {epochs}')
        self.work_dir, self.epochs = osp.abspath(work_dir), epochs
        self.train_images, self.capacity_target = train_images, capacity_target
        self.finetune_lr, self.test_images = finetune_lr, test_images
        self.threads, self.precision = threads, precision
        self._records_lock = threading.Lock()
        # what runs inside this process (structures, pruning, configs written for a
        # phase) builds models through mmengine's global registries and scope, and loads
        # configs: one at a time. Loading a config with a `mmpretrain::` base reloads
        # pkg_resources (mmengine's is_installed), and a load in another thread then fails
        # with "Expected str, Requirement, or Distribution" (every GroupFisher run beside a
        # dmsp-short run failed so, 2026-12-04)
        self._in_process = threading.Lock()
        self._seed_locks: Dict[int, threading.Lock] = {}
        self._run_locks: Dict[str, threading.Lock] = {}
        if supernet not in SUPERNETS:
            raise ValueError(f'unknown supernet {supernet!r}; one of {sorted(SUPERNETS)}')
        self.supernet, self.configs = supernet, SUPERNETS[supernet]
        from mmengine.config import Config
        self._batch_size = Config.fromfile(
            osp.join(ROOT, self.configs['retrain'])).train_dataloader.batch_size
        self._check_settings(dict(supernet=supernet, epochs=epochs, train_images=train_images,
                                  test_images=test_images, finetune_lr=finetune_lr,
                                  precision=precision, recipe=self.recipe()))
        self.records_path = osp.join(self.work_dir, 'runs.jsonl')
        self.records: Dict[str, Dict] = {}
        self._tried = set()
        if osp.isfile(self.records_path):
            with open(self.records_path) as f:
                for line in f:
                    record = json.loads(line)
                    self.records[record['key']] = record

    def recipe(self) -> Dict[str, Dict]:
        """The optimizer wrapper (its type and autocast dtype), optimizer and
        learning-rate schedule of the training from scratch and of the DMSnp
        retrain, as the configs set them: runs of another recipe are other
        settings."""
        from mmengine.config import Config

        def of(kind):
            cfg = Config.fromfile(osp.join(ROOT, self.configs[kind]))
            wrapper = cfg.optim_wrapper
            return json.loads(json.dumps(dict(
                wrapper=[wrapper.get('type', 'OptimWrapper'), wrapper.get('dtype')],
                optimizer=wrapper.optimizer.to_dict(), param_scheduler=cfg.param_scheduler)))

        return {kind: of(kind) for kind in ('supernet', 'retrain')}

    def _check_settings(self, settings: Dict) -> None:
        path = osp.join(self.work_dir, 'settings.json')
        if osp.isfile(path):
            with open(path) as f:
                kept = json.load(f)
            changed = {k: (kept.get(k), v) for k, v in settings.items() if kept.get(k) != v}
            if changed:
                raise ValueError(
                    f'{self.work_dir} holds records made with other settings '
                    f'(setting: (recorded, asked)) {changed}; use another --work-dir')
            return
        os.makedirs(self.work_dir, exist_ok=True)
        with open(path, 'w') as f:
            json.dump(settings, f, indent=1)

    # ------------------------------------------------------------ plumbing
    def data_opts(self) -> List[str]:
        return [f'train_dataloader.dataset.num_images={self.train_images}',
                f'val_dataloader.dataset.num_images={self.test_images}',
                f'test_dataloader.dataset.num_images={self.test_images}']

    def train(self, config: str, work_dir: str, epochs: int, seed: int,
              opts: List[str], iterations: Optional[int] = None,
              validate: bool = True) -> str:
        """``tools/train.py`` for ``epochs`` epochs (or, where ``iterations``
        is given, for that many iterations: see :func:`iteration_config`),
        validating (on the test split) at the end only, or not at all where
        ``validate`` is False (a phase whose accuracy no report reads: the
        search, the supernet the pruners start from; the test split takes a
        full model about 16 s on one thread); returns the output."""
        amp = (['optim_wrapper.type=AmpOptimWrapper', 'optim_wrapper.dtype=bfloat16']
               if self.precision == 'bfloat16' else [])
        if iterations is None:
            loop = [f'train_cfg.max_epochs={epochs}', f'train_cfg.val_interval={epochs}',
                    f'train_cfg.val_begin={epochs if validate else epochs + 1}']
        else:
            with self._in_process:  # loading a config may reload pkg_resources: see __init__
                config, loop = iteration_config(osp.join(ROOT, config), iterations,
                                                work_dir + '_config.py', validate), []
        return run_tool(['tools/train.py', config, '--work-dir', work_dir, '--cfg-options',
                         *loop, f'randomness.seed={seed}', *self.data_opts(), *amp, *opts],
                        work_dir + '.log', self.threads)

    def iterations_per_epoch(self) -> int:
        """Training iterations of one epoch (the last batch is kept, as
        mmengine's dataloader does by default), at the retrain config's batch
        size (read once, in :meth:`__init__`)."""
        return -(-self.train_images // self._batch_size)

    def retrain(self, subnet_dir: str, work_dir: str, epochs: int, seed: int,
                checkpoint: Optional[str], config: str = None,
                lr: Optional[float] = None, iterations: Optional[int] = None) -> str:
        opts = [f'model.subnet={subnet_dir}/subnet.json']
        if lr is not None:
            opts.append(f'optim_wrapper.optimizer.lr={lr}')
        opts += ([f'model.checkpoint={checkpoint}'] if checkpoint else
                 ['model.checkpoint=None', 'model.reset_params=True'])
        loop = {} if iterations is None else dict(iterations=iterations)
        return self.train(config or self.configs['retrain'], work_dir, epochs, seed, opts,
                          **loop)

    def supernet_checkpoint(self, seed: int, train: bool = True) -> str:
        """The supernet trained for ``E/2`` epochs (DMSp, Torch-Pruning,
        mmrazor), trained here if it is not yet and ``train`` is True."""
        half = self.epochs // 2
        work = osp.join(self.work_dir, f'pretrained_seed{seed}')
        ckpt = osp.join(work, f'epoch_{half}.pth')
        if not train:
            return ckpt
        with self._records_lock:
            lock = self._seed_locks.setdefault(seed, threading.Lock())
        with lock:  # runs of one seed in parallel train it once
            if not osp.isfile(ckpt):
                self.train(self.configs['supernet'], work, half, seed, [], validate=False)
        return ckpt

    def record(self, key: str, **fields) -> Dict:
        record = dict(key=key, **fields)
        with self._records_lock:
            self.records[key] = record
            with open(self.records_path, 'a') as f:
                f.write(json.dumps(record) + '\n')
        return record

    @staticmethod
    def structure_fields(subnet_dir: str) -> Dict:
        with open(osp.join(subnet_dir, 'subnet.json')) as f:
            subnet = json.load(f)
        res = subnet['resources']
        return dict(flops=res['static_flops'], params=res['static_params'],
                    flops_ratio=res['static_flops'] / res['counted_supernet_flops'],
                    supernet_flops=res['counted_supernet_flops'],
                    widths=[[len(u['kept']), u['num_channels']] for u in subnet['units']],
                    blocks=[[len(s['kept_blocks']), s['num_blocks']]
                            for s in subnet.get('stages', [])])

    # ------------------------------------------------------------- methods
    def run(self, method: str, target: Optional[float], seed: int) -> Dict:
        """Run one method at one target and seed (or return its record)."""
        key = f'{method}|{target}|{seed}'
        with self._records_lock:
            lock = self._run_locks.setdefault(key, threading.Lock())
        with lock:  # a run another one needs (dmsstruct: dms, ...) starts once
            record = self.records.get(key)
            # a failure of an earlier call is tried again, one of this call is kept
            if record and ('failed' not in record or key in self._tried):
                return record
            self._tried.add(key)
            return self._start(method, target, seed, key)

    def _start(self, method: str, target: Optional[float], seed: int, key: str) -> Dict:
        work = osp.join(self.work_dir, run_tag(method, target, seed))
        start = time.time()
        try:
            if method in ABLATIONS:
                _, options, *split = ABLATIONS[method]
                fields = self._run_dms(work, target, seed, options, *split)
            elif method in STRUCTURE_OF:
                fields = self._run_structure(work, target, seed, method)
            else:
                fields = getattr(self, f'_run_{method.replace("-", "_")}')(work, target, seed)
        except RunFailed as e:
            return self.record(key, method=method, target=target, seed=seed, failed=str(e),
                               seconds=time.time() - start)
        return self.record(key, method=method, target=target, seed=seed,
                           seconds=time.time() - start, **fields)

    def _run_supernet(self, work, target, seed):
        from benchmarks.subnets import prepared_supernet
        out = self.train(self.configs['supernet'], work, self.epochs, seed, [])
        with self._in_process:
            _, _, info = prepared_supernet(osp.join(ROOT, self.configs['search']))
        return dict(top1=last_top1(out), flops=info['counted_supernet_flops'],
                    params=info['counted_supernet_params'], flops_ratio=1.0)

    def _run_uniform(self, work, target, seed):
        from benchmarks.subnets import uniform_subnet
        subnet_dir = osp.join(work, 'structure')
        with self._in_process:
            uniform_subnet(osp.join(ROOT, self.configs['search']), target, subnet_dir)
        out = self.retrain(subnet_dir, osp.join(work, 'train'), self.epochs, seed, None)
        return dict(top1=last_top1(out), **self.structure_fields(subnet_dir))

    def _run_capacity(self, work, target, seed):
        return self._run_uniform(work, target, seed)

    def _run_random(self, work, target, seed):
        from benchmarks.subnets import random_subnet
        subnet_dir = osp.join(work, 'structure')
        with self._in_process:
            random_subnet(osp.join(ROOT, self.configs['search']), target, seed, subnet_dir)
        out = self.retrain(subnet_dir, osp.join(work, 'train'), self.epochs, seed, None)
        return dict(top1=last_top1(out), **self.structure_fields(subnet_dir))

    def _search_and_retrain(self, work, target, seed, search_epochs, retrain_epochs,
                            search_opts, search_config, retrain_config, lr=None,
                            iterations=None):
        """Search, then retrain the export from its searched weights; each
        phase ``*_epochs`` long, or as many iterations as the pair
        ``iterations`` gives (search, retrain) where it is given."""
        search_loop, retrain_loop = ({}, {}) if iterations is None else (
            dict(iterations=iterations[0]), dict(iterations=iterations[1]))
        search_dir = osp.join(work, 'search')
        # the export lands on the target even where a short search stopped above it
        # (DMSExportHook is the second custom hook of the search configs)
        self.train(search_config, search_dir, search_epochs, seed,
                   search_opts + ['custom_hooks.1.scale_to_target=True'], validate=False,
                   **search_loop)
        export = osp.join(search_dir, 'dms_export')
        out = self.retrain(export, osp.join(work, 'retrain'), retrain_epochs, seed,
                           osp.join(export, 'pruned.pth'), retrain_config, lr, **retrain_loop)
        return dict(top1=last_top1(out), **self.structure_fields(export))

    def _run_dms(self, work, target, seed, search_opts=(), split=2):
        search = self.epochs // split
        return self._search_and_retrain(work, target, seed, search, self.epochs - search,
                                        [f'model.target_flops_ratio={target}', *search_opts],
                                        self.configs['search'], self.configs['retrain'])

    def _run_structure(self, work, target, seed, method):
        source, folder = STRUCTURE_OF[method]
        found = self.run(source, target, seed)
        if 'failed' in found:
            raise RunFailed(f'the {source} run whose structure it trains failed: '
                            f'{found["failed"]}')
        subnet_dir = osp.join(self.work_dir, run_tag(source, target, seed), folder)
        out = self.retrain(subnet_dir, osp.join(work, 'train'), self.epochs, seed, None)
        return dict(top1=last_top1(out), **self.structure_fields(subnet_dir))

    def _run_dmsp(self, work, target, seed):
        ckpt = self.supernet_checkpoint(seed)
        quarter = self.epochs // 4
        opts = [f'model.target_flops_ratio={target}',
                'model.architecture.init_cfg.type=Pretrained',
                f'model.architecture.init_cfg.checkpoint={ckpt}']
        return self._search_and_retrain(work, target, seed, quarter,
                                        self.epochs - self.epochs // 2 - quarter, opts,
                                        self.configs['search'], self.configs['retrain'],
                                        self.finetune_lr)

    def _run_dmsp_short(self, work, target, seed):
        """DMSp on GroupFisher's schedule: from the trained supernet, a search
        of ``DMSP_SHORT_SEARCH`` iterations with the weights at a tenth of the
        finetune rate (as mmrazor_prune trains while it prunes), then the
        finetune for the rest of the ``E/2`` epochs, so that the two differ
        only in how they choose the channels."""
        ckpt = self.supernet_checkpoint(seed)
        half = self.epochs - self.epochs // 2
        budget = half * self.iterations_per_epoch()
        opts = [f'model.target_flops_ratio={target}',
                'model.architecture.init_cfg.type=Pretrained',
                f'model.architecture.init_cfg.checkpoint={ckpt}',
                f'optim_wrapper.optimizer.lr={self.finetune_lr * 0.1}']
        return self._search_and_retrain(
            work, target, seed, None, half, opts, self.configs['search'],
            self.configs['retrain'], self.finetune_lr,
            iterations=(DMSP_SHORT_SEARCH, budget - DMSP_SHORT_SEARCH))

    def _run_scaleup(self, work, target, seed):
        half = self.epochs // 2
        return self._search_and_retrain(work, target, seed, half, self.epochs - half, [],
                                        self.configs['scaleup_search'],
                                        self.configs['scaleup_retrain'])

    def _run_pruner(self, work, target, seed, prune, equal_budget=True):
        """Prune the seed's trained supernet with ``prune(out_dir, checkpoint)``,
        then finetune for the rest of the budget: ``E/2`` epochs, less the
        training iterations the pruner took (``iterations`` in its record;
        mmrazor's pruners train while they prune) unless ``equal_budget`` is
        False."""
        ckpt = self.supernet_checkpoint(seed)
        subnet_dir = osp.join(work, 'structure')
        try:
            with self._in_process:
                prune(subnet_dir, ckpt)
        except Exception as e:  # a peer that cannot run is reported, not hidden
            raise RunFailed(f'{type(e).__name__}: {e}') from e
        with open(osp.join(subnet_dir, 'subnet.json')) as f:
            spent = json.load(f)['resources'].get('method', {}).get('iterations', 0)
        epochs = self.epochs - self.epochs // 2
        iterations = (epochs * self.iterations_per_epoch() - spent
                      if spent and equal_budget else None)
        if iterations is not None and iterations < 1:
            raise RunFailed(f'the pruner trained {spent} iterations, the whole finetune budget '
                            f'({epochs} epochs)')
        out = self.retrain(subnet_dir, osp.join(work, 'finetune'), epochs, seed,
                           osp.join(subnet_dir, 'pruned.pth'), lr=self.finetune_lr,
                           iterations=iterations)
        return dict(top1=last_top1(out), pruning_iterations=spent,
                    finetune_iterations=iterations or epochs * self.iterations_per_epoch(),
                    **self.structure_fields(subnet_dir))

    def _run_tp(self, work, target, seed, importance='taylor'):
        from benchmarks.tp_prune import tp_prune
        return self._run_pruner(work, target, seed, lambda out, ckpt: tp_prune(
            osp.join(ROOT, self.configs['search']), ckpt, target, out, importance, seed=seed))

    def _run_tp_l2(self, work, target, seed):
        return self._run_tp(work, target, seed, importance='l2')

    def _run_mmrazor(self, work, target, seed, equal_budget=True):
        from benchmarks.mmrazor_prune import mmrazor_prune
        return self._run_pruner(work, target, seed, lambda out, ckpt: mmrazor_prune(
            osp.join(ROOT, self.configs['search']), ckpt, target, out, seed=seed,
            train_images=self.train_images), equal_budget)

    def _run_mmrazor_long(self, work, target, seed):
        return self._run_mmrazor(work, target, seed, equal_budget=False)


# ------------------------------------------------------------------ report
def mean_std(values: List[float]):
    if not values:
        return float('nan'), float('nan')
    return statistics.mean(values), statistics.stdev(values) if len(values) > 1 else 0.0


def reference_of(methods: List[str]) -> str:
    """The DMS row the others are measured against: DMSnp (``dms``) where it
    runs, else DMSp where it runs, else ``dms`` (its records, if any)."""
    return next((m for m in REFERENCES if m in methods), 'dms')


def report(comparison: Comparison, methods, targets, seeds, command: str) -> str:
    """The markdown report of the recorded runs (and ``compare.png``); every
    row is paired per seed with :func:`reference_of` ``methods``."""
    reference = reference_of(methods)
    short = REFERENCES[reference]
    rows, failures = [], []
    records = comparison.records

    def runs(method, target):
        found = [records.get(f'{method}|{target}|{s}') for s in seeds]
        return [r for r in found if r is not None]

    lines = [
        '| method | target | FLOPs ratio | params (M) | top-1 (%) mean ± std | seeds | '
        f'paired Δ, {short} minus it (points, per seed) | wall (min/run) |',
        '| --- | --- | --- | --- | --- | --- | --- | --- |']
    groups = []
    for method in methods:
        if method in ('supernet', 'scaleup'):
            groups.append((method, None))
        elif method == 'capacity':
            groups.append((method, comparison.capacity_target))
        else:
            groups += [(method, t) for t in targets]
    for method, target in groups:
        done = runs(method, target)
        failed = [r for r in done if 'failed' in r]
        ok = [r for r in done if 'failed' not in r]
        if failed:
            failures.append((method, target, failed[0]['failed']))
        if not ok:
            continue
        top1 = [r['top1'] for r in ok]
        m, s = mean_std(top1)
        ratio = statistics.mean(r['flops_ratio'] for r in ok)
        params = statistics.mean(r['params'] for r in ok) / 1e6
        shown_target = ('1.0' if method == 'supernet' else 'supernet FLOPs'
                        if method == 'scaleup' else f'{target}')
        delta = ''
        if method not in (reference, 'supernet', 'capacity', 'scaleup') and target is not None:
            pairs = [(r['top1'], records.get(f'{reference}|{target}|{r["seed"]}'))
                     for r in ok]
            diffs = [d['top1'] - t for t, d in pairs if d and 'failed' not in d]
            if diffs:
                dm, ds = mean_std(diffs)
                delta = f'{dm:+.2f} ± {ds:.2f} ({", ".join(f"{d:+.2f}" for d in diffs)})'
        if method == 'scaleup':
            pairs = [(r['top1'], records.get(f'supernet|None|{r["seed"]}')) for r in ok]
            diffs = [t - b['top1'] for t, b in pairs if b and 'failed' not in b]
            if diffs:
                dm, ds = mean_std(diffs)
                delta = (f'vs supernet: {dm:+.2f} ± {ds:.2f} '
                         f'({", ".join(f"{d:+.2f}" for d in diffs)})')
        minutes = statistics.mean(r['seconds'] for r in ok) / 60
        lines.append(f'| {NAMES[method]} | {shown_target} | {ratio:.3f} | {params:.3f} | '
                     f'{m:.2f} ± {s:.2f} | {len(ok)} | {delta} | {minutes:.1f} |')
        rows.append((method, target, ok))
    text = [f'Command: `{command}`', '',
            f'Supernet: {comparison.configs["name"]} (`{comparison.configs["supernet"]}`). '
            f'Budget: {comparison.epochs} epochs per method over {comparison.train_images} '
            f'generated glyph images (43 classes, 32x32), test on {comparison.test_images}; '
            f'training in {comparison.precision}'
            f'{" autocast" if comparison.precision == "bfloat16" else ""}. '
            'FLOPs counted by '
            f'mmengine on every exported model. Paired Δ: the top-1 of {NAMES[reference]} '
            f'minus the method\'s at the same target and seed (positive: {short} is better); '
            'for the scale-up row, its top-1 minus the supernet\'s.', ''] + lines
    if failures:
        text += ['', 'Runs that failed:', '']
        text += [f'- {NAMES[m]} (target {t}): {err.splitlines()[0][:400]}'
                 for m, t, err in failures]
    text += ['', verdict(records, targets, seeds, comparison.capacity_target, reference)]
    text += structures(rows)
    plot(rows, osp.join(comparison.work_dir, 'compare.png'))
    text += ['', '### Pictures', '', '- `compare.png`: top-1 against the FLOPs ratio, seeds as '
             'dots, means as crosses'] + search_pictures(comparison.work_dir, rows, reference)
    return '\n'.join(text)


def search_pictures(work_dir: str, rows, reference: str = 'dms') -> List[str]:
    """Copy the plots of the first search of the ``reference`` DMS row (its
    soft FLOPs against the target, its kept widths and blocks) next to the
    report."""
    import shutil
    lines = []
    for method, target, runs in rows:
        if method != reference:
            continue
        seed = min(r['seed'] for r in runs)
        tag = run_tag(method, target, seed)
        search = osp.join(work_dir, tag, 'search')
        for name, what in (('search_curve', 'soft FLOPs against the target and the task loss '
                            'during the search'), ('structure', 'kept width of every unit and '
                            'kept blocks of every stage')):
            picture = f'{tag}_{name}.png'
            if osp.isfile(osp.join(search, f'{name}.png')):
                shutil.copyfile(osp.join(search, f'{name}.png'), osp.join(work_dir, picture))
                lines.append(f'- `{picture}`: {what} ({REFERENCES[reference]} at {target}, '
                             f'seed {seed})')
    return lines


def structures(rows) -> List[str]:
    """The structure each method kept, for its first seed: kept/all channels of
    every unit (in the mutator's order) and kept/all blocks of every stage."""
    lines = ['', '### Structures (first seed of each row)', '',
             'Kept channels of each unit, then kept blocks of each stage, in the order of '
             '`tools/dms_summary.py`.', '']
    for method, target, runs in rows:
        run = min(runs, key=lambda r: r['seed'])
        if 'widths' not in run:
            continue
        widths = ' '.join(f'{k}/{n}' for k, n in run['widths'])
        blocks = ' '.join(f'{k}/{n}' for k, n in run.get('blocks', []))
        at = '' if target is None else f' at {target}'
        lines.append(f'- {NAMES[method]}{at} (seed {run["seed"]}): channels {widths}; '
                     f'blocks {blocks or "-"}')
    return lines


def verdict(records, targets, seeds, capacity_target, reference: str = 'dms') -> str:
    """What the numbers say, in words: the ``reference`` DMS row against
    every other method."""
    short = REFERENCES[reference]
    out = []
    sup = [records.get(f'supernet|None|{s}') for s in seeds]
    cap = [records.get(f'capacity|{capacity_target}|{s}') for s in seeds]
    gaps = [a['top1'] - b['top1'] for a, b in zip(sup, cap)
            if a and b and 'failed' not in a and 'failed' not in b]
    if gaps:
        out.append(f'Capacity check: the supernet beats uniform scaling to {capacity_target} of '
                   f'its FLOPs by {statistics.mean(gaps):+.2f} points on average '
                   f'(per seed {", ".join(f"{g:+.2f}" for g in gaps)}).')
    for target in targets:
        for method in ('uniform', 'random', 'dms', 'dmsp', 'dmsp-short', 'tp', 'tp-l2',
                       'mmrazor', 'mmrazor-long', *ABLATIONS):
            if method == reference:
                continue
            diffs = []
            for s in seeds:
                a = records.get(f'{reference}|{target}|{s}')
                b = records.get(f'{method}|{target}|{s}')
                if a and b and 'failed' not in a and 'failed' not in b:
                    diffs.append(a['top1'] - b['top1'])
            if not diffs:
                continue
            m, sd = mean_std(diffs)
            if len(diffs) > 1 and min(diffs) > 0 and m > sd:
                word = 'wins against'
            elif len(diffs) > 1 and max(diffs) < 0 and -m > sd:
                word = 'loses to'
            else:
                word = 'ties with'
            out.append(f'At {target}: {short} {word} {NAMES[method]}: {m:+.2f} ± {sd:.2f} '
                       f'points (per seed {", ".join(f"{d:+.2f}" for d in diffs)}).')
    return '\n'.join(f'- {line}' for line in out)


def plot(rows, path: str) -> None:
    """Top-1 against the FLOPs ratio: every run a dot, every group's mean a cross."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7.5, 5))
    # one colour per method shown (tab10 has 10, tab20 20; more methods than that repeat)
    shown = list(dict.fromkeys(method for method, _, _ in rows))
    palette = plt.get_cmap('tab10' if len(shown) <= 10 else 'tab20').colors
    colours = {m: palette[i % len(palette)] for i, m in enumerate(shown)}
    labelled = set()
    for method, _, runs in rows:
        x = [r['flops_ratio'] for r in runs]
        y = [r['top1'] for r in runs]
        label = NAMES[method] if method not in labelled else None
        labelled.add(method)
        ax.scatter(x, y, s=18, alpha=0.6, color=colours[method], label=label)
        ax.scatter([statistics.mean(x)], [statistics.mean(y)], s=90, marker='x',
                   color=colours[method])
    ax.set_xlabel('FLOPs ratio of the supernet (mmengine count of the export)')
    ax.set_ylabel('top-1 on the glyphs test split (%)')
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc='best')
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def machine() -> str:
    import torch
    return (f'{platform.machine()}, {os.cpu_count()} CPU cores, CPython '
            f'{platform.python_version()}, torch {torch.__version__}; no GPU was used')


PRECISIONS = ('float32', 'bfloat16')


def auto_precision(cpuinfo: str = '/proc/cpuinfo') -> str:
    """``'bfloat16'`` where the convolutions run faster in it than in float32:
    on a CUDA GPU, or on a CPU with native bfloat16 arithmetic (AMX or
    AVX512-BF16, as ``cpuinfo`` lists its flags); ``'float32'`` elsewhere,
    where oneDNN would emulate bfloat16 at a loss."""
    import torch
    if torch.cuda.is_available():
        return 'bfloat16'
    try:
        with open(cpuinfo) as f:
            flags = set(f.read().split())
    except OSError:
        return 'float32'
    return 'bfloat16' if flags & {'amx_bf16', 'avx512_bf16'} else 'float32'


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--preset', choices=sorted(PRESETS), default='full')
    parser.add_argument('--supernet', choices=sorted(SUPERNETS), default='resnet18')
    parser.add_argument('--methods', nargs='+', choices=METHODS)
    parser.add_argument('--targets', nargs='+', type=float)
    parser.add_argument('--seeds', nargs='+', type=int)
    parser.add_argument('--epochs', type=int, help='training budget E of every method')
    parser.add_argument('--train-images', type=int)
    parser.add_argument('--test-images', type=int, default=8000)
    # 10 %: at 12.5 % the gap was 3.5 to 6.5 points by seed, at 10 % 5.5 to 9.0
    # (benchmarks/RESULTS.md, 2026-12-04)
    parser.add_argument('--capacity-target', type=float, default=0.1)
    parser.add_argument('--finetune-lr', type=float,
                        help='learning rate of the finetuning of the methods that start from '
                        'the trained supernet (DMSp, Torch-Pruning, mmrazor); from-scratch '
                        'training and the DMSnp retrain keep the configs\' rate')
    parser.add_argument('--precision', choices=('auto', *PRECISIONS), default='auto',
                        help='training precision of every run (auto: bfloat16 autocast on a '
                        'GPU or a CPU with native bfloat16, AMX or AVX512-BF16; else float32)')
    parser.add_argument('--jobs', type=int, default=2,
                        help='runs at a time, each with cpu_count / jobs intra-op threads '
                        '(default 2)')
    parser.add_argument('--threads', type=int, default=None,
                        help='intra-op threads of each run (default cpu_count / jobs)')
    parser.add_argument('--work-dir', default=None)
    parser.add_argument('--report-only', action='store_true',
                        help='report the runs already recorded in the work dir; start none')
    parser.add_argument('--results', default=None,
                        help='append the report to this markdown file (e.g. '
                        'benchmarks/RESULTS.md)')
    args = parser.parse_args(argv)
    preset = PRESETS[args.preset]
    for key in ('methods', 'targets', 'seeds', 'epochs', 'train_images', 'finetune_lr'):
        if getattr(args, key) is None:
            setattr(args, key, preset[key])
    if args.precision == 'auto':
        args.precision = auto_precision()
    if args.work_dir is None:
        folder = PRESETS[args.preset].get('work_dir', args.preset)
        args.work_dir = f'work_dirs/compare_{folder}_{args.supernet}'
    return args


def main(argv=None) -> str:
    args = parse_args(argv)
    command = 'python benchmarks/compare.py ' + ' '.join(sys.argv[1:] if argv is None else argv)
    comparison = Comparison(args.work_dir, args.epochs, args.train_images, args.capacity_target,
                            args.finetune_lr, args.test_images, args.supernet,
                            threads=args.threads or max(1, (os.cpu_count() or 1) // args.jobs),
                            precision=args.precision)
    jobs = []
    for seed in ([] if args.report_only else args.seeds):
        for method in args.methods:
            if method in ('supernet', 'scaleup'):
                jobs.append((method, None, seed))
            elif method == 'capacity':
                jobs.append((method, args.capacity_target, seed))
            else:
                jobs += [(method, t, seed) for t in args.targets]
    # the runs that train only a pruned model go last, so that the pool does not end with
    # one long run alone on a core that the other job has left idle
    jobs.sort(key=lambda job: job[0] in PRUNED_ONLY)
    # the trained supernets that runs start from go first, each a job of its own: a run
    # that needs one would otherwise train it while the other runs of its seed wait idle
    def recorded(method, target, seed):
        record = comparison.records.get(f'{method}|{target}|{seed}')
        return record is not None and 'failed' not in record

    pretrain = sorted({seed for method, target, seed in jobs if method in FROM_TRAINED
                       and not recorded(method, target, seed)
                       and not osp.isfile(comparison.supernet_checkpoint(seed, train=False))})
    jobs = [('pretrained', None, seed) for seed in pretrain] + jobs
    # what runs in this process (Torch-Pruning, mmrazor) gets a job's share of the cores,
    # as the tool runs do, rather than torch's default of all of them
    import torch
    default_threads = torch.get_num_threads()
    torch.set_num_threads(comparison.threads)
    progress = Progress(len(jobs))
    print(f'compare: {len(jobs)} runs ({", ".join(args.methods)}; targets {args.targets}; '
          f'seeds {args.seeds}; {args.epochs} epochs each in {args.precision}; '
          f'{args.jobs} at a time, '
          f'{comparison.threads} thread(s) each) in {comparison.work_dir}', flush=True)

    def run(job):
        method, target, seed = job
        if method == 'pretrained':
            start = time.time()
            try:
                comparison.supernet_checkpoint(seed)
            except RunFailed as e:  # the runs that need it try once more, and fail with it
                progress.step(f'The supernet of seed {seed} ({comparison.epochs // 2} epochs): '
                              f'FAILED: {str(e).splitlines()[0][:200]}')
                return
            progress.step(f'The supernet of seed {seed} trained {comparison.epochs // 2} epochs, '
                          f'the start of {", ".join(m for m in args.methods if m in FROM_TRAINED)}'
                          f' ({(time.time() - start) / 60:.1f} min)')
            return
        record = comparison.run(method, target, seed)
        at = f' at {target}' if target is not None else ''
        if 'failed' in record:
            progress.step(f'{NAMES[method]}{at}, seed {seed}: FAILED: '
                          f'{record["failed"].splitlines()[0][:200]}')
        else:
            progress.step(f'{NAMES[method]}{at}, seed {seed}: top-1 {record["top1"]:.2f} %, '
                          f'FLOPs ratio {record["flops_ratio"]:.3f} '
                          f'({record["seconds"] / 60:.1f} min)')

    try:
        with ThreadPoolExecutor(max_workers=args.jobs) as pool:
            list(pool.map(run, jobs))
    finally:
        torch.set_num_threads(default_threads)
    text = report(comparison, args.methods, args.targets, args.seeds, command)
    elapsed = (time.time() - progress.start) / 60
    header = (f'## {time.strftime("%Y-%m-%d")}: `{command}`\n\nMachine: {machine()}; '
              f'{args.jobs} run(s) at a time, {comparison.threads} thread(s) each. '
              f'{elapsed:.0f} minutes for the runs not already recorded.\n\n')
    publish(header + text + '\n', comparison.work_dir, args.results)
    return text


def publish(text: str, work_dir: str, results: Optional[str] = None) -> None:
    """Write a report to ``work_dir/report.md``, append it to ``results`` (a
    markdown file such as ``benchmarks/RESULTS.md``) where given, and print it."""
    with open(osp.join(work_dir, 'report.md'), 'w') as f:
        f.write(text)
    if results:
        with open(results, 'a') as f:
            f.write('\n' + text)
    print('\n' + text, flush=True)


if __name__ == '__main__':
    main()
