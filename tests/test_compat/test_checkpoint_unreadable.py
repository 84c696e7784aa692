"""A truncated or empty checkpoint is refused with an error that names the file."""
import pytest
import torch
from mmengine.runner.checkpoint import load_checkpoint
from torch import nn

import dms_mm  # noqa: F401
from dms_mm.compat import checkpoint_unreadable
from dms_mm.compat.checkpoint_unreadable import UnreadableCheckpointError


def test_fix_is_applied_on_import():
    assert checkpoint_unreadable.is_applied()


def test_truncated_and_empty_checkpoints_name_the_file_and_the_way_out(tmp_path):
    model = nn.Linear(100, 100)
    good = tmp_path / 'epoch_3.pth'
    torch.save(dict(state_dict=model.state_dict(), meta=dict(epoch=3)), good)
    data = good.read_bytes()
    truncated = tmp_path / 'epoch_4.pth'  # the job was killed while saving it
    truncated.write_bytes(data[:len(data) // 2])
    empty = tmp_path / 'empty.pth'
    empty.write_bytes(b'')
    for path in (truncated, empty):
        with pytest.raises(UnreadableCheckpointError,
                           match=rf"checkpoint '{path}' \({path.stat().st_size} bytes\) cannot "
                                 r'be read: it is truncated.*--resume PATH'):
            load_checkpoint(nn.Linear(100, 100), str(path), map_location='cpu')
    # a whole checkpoint still loads, and other errors pass unchanged
    fresh = nn.Linear(100, 100)
    load_checkpoint(fresh, str(good), map_location='cpu')
    assert torch.equal(fresh.weight, model.weight)
    with pytest.raises(FileNotFoundError):
        load_checkpoint(fresh, str(tmp_path / 'missing.pth'))
