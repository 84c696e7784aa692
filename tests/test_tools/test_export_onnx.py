"""tools/export_onnx.py: a pruned classifier and a pruned detector to ONNX, run
by onnxruntime with torch's outputs."""
import json
import os.path as osp

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import DefaultScope
from mmrazor.registry import MODELS

from dms_mm.structures import export_subnet
from dms_test_utils import randomize_structure
from tools import export_onnx

RESNET = 'configs/dms/resnet/dms_resnet18-w16_{}_glyphs.py'
YOLOX = 'configs/dms/yolox/dms_yolox-tiny_{}_shapes.py'


def _random_export(repo_root, config, out_dir, seed):
    """A randomised structure of a search config, exported as a search ends."""
    cfg = Config.fromfile(osp.join(repo_root, config.format('search')))
    algorithm = MODELS.build(cfg.model).eval()
    randomize_structure(algorithm.mutator, seed=seed)
    export_subnet(algorithm, str(out_dir), cfg.model.architecture)
    return str(out_dir / 'subnet.json'), str(out_dir / 'pruned.pth')


def _main(argv):
    """The tool in this process; the default scope it sets (the config's) is
    dropped afterwards, so the tests after this one build from their own."""
    with DefaultScope.overwrite_default_scope('mmrazor'):
        return export_onnx.main(argv)


def _export(repo_root, config, subnet, checkpoint, out, *extra):
    return _main([osp.join(repo_root, config.format('retrain')), checkpoint, '--out', str(out),
                  '--iters', '3', *extra, '--cfg-options', f'model.subnet={subnet}'])


@pytest.fixture(scope='module')
def resnet_export(repo_root, tmp_path_factory):
    return _random_export(repo_root, RESNET, tmp_path_factory.mktemp('resnet'), seed=3)


def test_a_pruned_classifier_runs_in_onnxruntime_as_in_torch(repo_root, resnet_export,
                                                             tmp_path):
    subnet, pruned = resnet_export
    result = _export(repo_root, RESNET, subnet, pruned, tmp_path / 'resnet.onnx')
    assert osp.isfile(tmp_path / 'resnet.onnx') and result['weights'] == 'the weights'
    assert result['input_shape'] == [1, 3, 32, 32] and result['outputs'] == 1
    assert result['max_relative_difference'] <= 1e-4
    kept = json.load(open(subnet))['resources']['static_flops']
    assert result['flops'] == pytest.approx(kept)
    written = json.load(open(tmp_path / 'resnet.json'))
    assert written['torch_ms'] > 0 and written['onnxruntime_ms'] > 0


def test_the_ema_weights_of_a_retrain_checkpoint_are_the_ones_exported(
        repo_root, resnet_export, tmp_path):
    """A retrain with mmengine's EMAHook: its checkpoint's averaged weights, as
    tools/test.py evaluates them, not the last step's."""
    subnet, pruned = resnet_export
    state = torch.load(pruned, map_location='cpu')['state_dict']
    ema = {f'module.{k}': v * 0.5 if v.is_floating_point() else v for k, v in state.items()}
    checkpoint = tmp_path / 'epoch_4.pth'
    torch.save(dict(state_dict=state, ema_state_dict=dict(ema, steps=torch.tensor(10))),
               checkpoint)
    _export(repo_root, RESNET, subnet, str(checkpoint), tmp_path / 'ema.onnx', '--batch', '2')
    _export(repo_root, RESNET, subnet, pruned, tmp_path / 'last.onnx', '--batch', '2')
    result = json.load(open(tmp_path / 'ema.json'))
    assert result['weights'] == 'the EMA weights' and result['input_shape'][0] == 2
    x = torch.randn(2, 3, 32, 32).numpy()
    ema_out, last_out = (export_onnx.onnxruntime_session(str(tmp_path / name)).run(
        None, {'inputs': x})[0] for name in ('ema.onnx', 'last.onnx'))
    assert abs(ema_out - last_out).max() > 1e-3


def test_a_pruned_detector_exports_every_head_output(repo_root, tmp_path):
    subnet, pruned = _random_export(repo_root, YOLOX, tmp_path, seed=5)
    result = _export(repo_root, YOLOX, subnet, pruned, tmp_path / 'yolox.onnx', '--shape',
                     '96', '128')
    # YOLOX's head: class scores, boxes and objectness at each of 3 levels
    assert result['outputs'] == 9 and result['input_shape'] == [1, 3, 96, 128]
    assert result['max_relative_difference'] <= 1e-4


def test_a_search_config_or_weights_of_another_structure_are_refused(
        repo_root, resnet_export, tmp_path):
    subnet, pruned = resnet_export
    with pytest.raises(SystemExit, match='retrain config'):
        _main([osp.join(repo_root, RESNET.format('search')), pruned, '--out',
               str(tmp_path / 'x.onnx')])
    other, _ = _random_export(repo_root, RESNET, tmp_path, seed=4)
    with pytest.raises(SystemExit, match='do not fit the pruned model'):
        _export(repo_root, RESNET, other, pruned, tmp_path / 'x.onnx')
    assert not osp.exists(tmp_path / 'x.onnx')
