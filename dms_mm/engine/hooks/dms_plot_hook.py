"""DMSPlotHook: every search leaves pictures of its result in the work dir.

* ``search_curve.png``: soft FLOPs ratio (and latency ratio, with a latency
  table) against the target ratio, and the task loss, over the iterations;
* ``structure.png``: the kept width of every searched channel unit against its
  original width, and the kept blocks of every searched stage.

The scalars themselves already reach mmengine's visualizer (and TensorBoard,
when its backend is configured) through the LoggerHook, since they are in the
algorithm's loss dict.
"""
import json
import os.path as osp
from typing import Dict, List

from mmengine.dist import is_main_process
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmrazor.registry import HOOKS


def _value(x) -> float:
    return float(x.item() if hasattr(x, 'item') else x)


def plot_search_curve(history: Dict[str, List[float]], path: str) -> None:
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4))
    it = history['iter']
    ax1.plot(it, history['flops_ratio'], label='soft FLOPs ratio', color='tab:blue')
    ax1.plot(it, history['target_ratio'], label='target ratio', color='tab:red', ls='--')
    if history.get('params_ratio'):
        ax1.plot(it, history['params_ratio'], label='params ratio', color='tab:green',
                 alpha=0.6)
    if history.get('latency_ratio'):
        ax1.plot(it, history['latency_ratio'], label='latency ratio', color='tab:orange')
    ax1.set_xlabel('iteration')
    ax1.set_ylabel('ratio to the supernet')
    ax1.set_title('Resources during the search')
    ax1.grid(alpha=0.3)
    ax1.legend()
    ax2.plot(it, history['task_loss'], color='tab:purple')
    ax2.set_xlabel('iteration')
    ax2.set_ylabel('task loss')
    ax2.set_title('Task loss')
    ax2.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_structure(structure: Dict, path: str) -> None:
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    units = [(name, u) for name, u in structure['units'].items() if u['searched']]
    stages = list(structure['stages'].items())
    fig, (ax1, ax2) = plt.subplots(
        1, 2, figsize=(13, 4.5), gridspec_kw=dict(width_ratios=[3, 1]))
    xs = range(len(units))
    ax1.bar(xs, [u['channels'] for _, u in units], color='lightgray', label='original')
    ax1.bar(xs, [u['kept'] for _, u in units], color='tab:blue', label='kept')
    ax1.set_xticks(list(xs))
    ax1.set_xticklabels([name.split('_(')[0].replace('backbone.', '') for name, _ in units],
                        rotation=90, fontsize=6)
    ax1.set_ylabel('channels')
    ax1.set_title('Width per channel unit')
    ax1.legend()
    xs = range(len(stages))
    ax2.bar(xs, [len(s['blocks']) for _, s in stages], color='lightgray',
            label='removable blocks')
    ax2.bar(xs, [len(s['kept']) for _, s in stages], color='tab:orange', label='kept')
    ax2.set_xticks(list(xs))
    ax2.set_xticklabels([name.replace('backbone.', '') for name, _ in stages], rotation=45,
                        fontsize=7)
    ax2.set_ylabel('blocks')
    ax2.set_title('Depth per stage')
    ax2.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


@HOOKS.register_module()
class DMSPlotHook(Hook):
    """Draws ``search_curve.png`` and ``structure.png`` at the end of training.

    The recorded curve is saved in every checkpoint (``meta``), so a resumed
    search draws it whole.

    Args:
        interval (int): Record the scalars every ``interval`` iterations.
            Defaults to 1.
    """

    priority = 'LOW'

    def __init__(self, interval: int = 1) -> None:
        self.interval = interval
        self.history: Dict[str, List[float]] = dict(
            iter=[], flops_ratio=[], target_ratio=[], params_ratio=[], latency_ratio=[],
            task_loss=[])

    def after_train_iter(self, runner, batch_idx: int, data_batch=None, outputs=None) -> None:
        if outputs is None or 'flops_ratio' not in outputs:
            return
        if (runner.iter + 1) % self.interval:
            return
        task = sum(_value(v) for k, v in outputs.items()
                   if k.startswith('loss') and k not in ('loss_resource', 'loss_params'))
        self.history['iter'].append(runner.iter + 1)
        self.history['task_loss'].append(task)
        for key in ('flops_ratio', 'target_ratio', 'params_ratio', 'latency_ratio'):
            if key in outputs:
                self.history[key].append(_value(outputs[key]))

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        # so that a resumed search draws its whole curve
        checkpoint.setdefault('meta', {})['dms_plot_history'] = {
            key: list(values) for key, values in self.history.items()}

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        saved = checkpoint.get('meta', {}).get('dms_plot_history')
        if getattr(runner, '_resume', False) and saved:
            self.history = {key: list(saved.get(key, [])) for key in self.history}

    def after_train(self, runner) -> None:
        if not is_main_process() or not self.history['iter']:
            return
        algorithm = runner.model.module if is_model_wrapper(runner.model) else runner.model
        plot_search_curve(self.history, osp.join(runner.work_dir, 'search_curve.png'))
        structure = algorithm.mutator.structure()
        plot_structure(structure, osp.join(runner.work_dir, 'structure.png'))
        with open(osp.join(runner.work_dir, 'search_history.json'), 'w') as f:
            json.dump(dict(history=self.history, structure=structure), f)
        runner.logger.info(f'DMSPlotHook: wrote search_curve.png and structure.png to '
                           f'{runner.work_dir}')
