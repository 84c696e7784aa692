"""mmengine checkpoints load with ``weights_only=True``; pickled code is refused."""
import os
import pickle

import numpy as np
import pytest
import torch
from mmengine.logging import HistoryBuffer, MessageHub
from mmengine.runner.checkpoint import load_checkpoint, load_from_local

import dms_mm  # noqa: F401
from dms_mm.compat import checkpoint_safe_globals


class _RunsCodeWhenUnpickled:
    """A pickle payload that writes a marker file when it is loaded."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (exec, (f'open({self.marker!r}, "w").write("code ran")', ))


def test_fix_is_applied_on_import():
    assert checkpoint_safe_globals.is_applied()


def test_message_hub_state_round_trips(tmp_path):
    hub = MessageHub.get_instance('dms_mm_test_ckpt')
    for i in range(3):
        hub.update_scalar('train/loss', 1.0 / (i + 1))
        hub.update_scalar('train/flops', np.float32(0.5 + i))
    hub.update_info('iter', 3)
    hub.update_info('np_scalar', np.int64(7))
    ckpt = dict(
        meta=dict(epoch=1, iter=3, seed=np.int64(0)),
        state_dict=dict(w=torch.ones(2)),
        message_hub=hub.state_dict())
    path = tmp_path / 'epoch_1.pth'
    torch.save(ckpt, path)

    loaded = load_from_local(str(path), map_location='cpu')
    buffer = loaded['message_hub']['log_scalars']['train/loss']
    assert isinstance(buffer, HistoryBuffer)
    np.testing.assert_allclose(buffer.data[0], [1.0, 0.5, 1.0 / 3])
    assert loaded['message_hub']['runtime_info']['np_scalar'] == 7


def test_pickled_code_is_refused_and_never_runs(tmp_path):
    marker = tmp_path / 'pwned.txt'
    path = tmp_path / 'malicious.pth'
    torch.save(dict(state_dict=dict(w=torch.ones(1)),
                    meta=_RunsCodeWhenUnpickled(str(marker))), path)
    assert not marker.exists()

    with pytest.raises(pickle.UnpicklingError, match='Weights only load failed'):
        load_from_local(str(path), map_location='cpu')
    with pytest.raises(pickle.UnpicklingError):
        load_checkpoint(torch.nn.Linear(1, 1), str(path), map_location='cpu')
    assert not marker.exists(), 'the pickled code ran'
    assert not os.path.exists('pwned.txt')


def test_no_weights_only_false_in_our_code(repo_root):
    offenders = []
    for folder in ('dms_mm', 'tools', 'configs'):
        for root, _, files in os.walk(os.path.join(repo_root, folder)):
            for name in files:
                if name.endswith('.py'):
                    path = os.path.join(root, name)
                    with open(path, encoding='utf-8') as f:
                        text = f.read().replace(' ', '')
                    if 'weights_only=False' in text:
                        offenders.append(path)
    assert offenders == []


def test_getattr_is_limited_to_history_buffer_statistics(tmp_path):
    """The pickle name builtins.getattr only reaches HistoryBuffer's four
    statistics methods, never an arbitrary attribute."""

    class _GetattrPayload:

        def __reduce__(self):
            return (getattr, (HistoryBuffer, 'register_statistics'))

    path = tmp_path / 'getattr.pth'
    torch.save(dict(meta=_GetattrPayload()), path)
    with pytest.raises(pickle.UnpicklingError, match='refused getattr'):
        load_from_local(str(path), map_location='cpu')


def test_the_runner_loader_names_the_refused_file_and_leaves_it_as_it_was(tmp_path):
    from mmengine.runner.checkpoint import _load_checkpoint

    marker = tmp_path / 'pwned.txt'
    path = tmp_path / 'malicious.pth'
    torch.save(dict(state_dict=dict(w=torch.ones(1)),
                    meta=_RunsCodeWhenUnpickled(str(marker))), path)
    content = path.read_bytes()
    # what Runner.resume and load_from call
    with pytest.raises(checkpoint_safe_globals.RefusedCheckpointError) as error:
        _load_checkpoint(str(path), map_location='cpu')
    message = str(error.value)
    assert message.startswith(f"checkpoint '{path}' was refused: it holds pickled objects")
    assert 'Unsupported global: GLOBAL exec' in message
    assert 'weights_only=False' not in message.replace('weights_only=True', '')
    assert not marker.exists() and path.read_bytes() == content
