"""A thin strided 1x1 convolution trains in a channels-last model on a CPU: no
crash, the gradients of NCHW (oneDNN issue 6035 killed pruned ResNet retrains)."""
import subprocess
import sys

import torch
from torch import nn

from dms_mm.compat.onednn_strided_1x1_nhwc import affected, keep_nchw

# run apart: where the fix misses, the kernel corrupts the heap and kills the process
CHECK = '''
import sys, torch
from torch import nn
from dms_mm.engine.hooks.channels_last_hook import to_channels_last
torch.set_num_threads(1)
torch.manual_seed(0)
cin, stride = int(sys.argv[1]), int(sys.argv[2])
def block():
    return nn.Sequential(nn.Conv2d(3, cin, 3, padding=1), nn.Conv2d(cin, 14, 1, stride))
ref, nhwc = block(), block()
nhwc.load_state_dict(ref.state_dict())
count, kept = to_channels_last(nhwc)
print('kept', kept)
x = torch.randn(64, 3, 32, 32)
for _ in range(3):
    for model in (ref, nhwc):
        model.zero_grad()
        model(x).square().sum().backward()
    for a, b in zip(ref.parameters(), nhwc.parameters()):
        torch.testing.assert_close(b.grad, a.grad, rtol=1e-4, atol=1e-3)
print('same gradients')
'''


def _check(cin, stride):
    proc = subprocess.run([sys.executable, '-c', CHECK, str(cin), str(stride)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and 'same gradients' in proc.stdout, (
        f'in_channels={cin} stride={stride}: exit {proc.returncode}\n{proc.stderr[-2000:]}')
    return proc.stdout


def test_a_thin_strided_shortcut_trains_channels_last_with_the_nchw_gradients():
    # a downsample shortcut of a pruned ResNet: 6 channels in, stride 2
    assert "kept ['1']" in _check(6, 2)
    assert 'kept []' in _check(32, 2)


def test_only_the_affected_convolutions_stay_nchw():
    model = nn.Sequential(nn.Conv2d(6, 14, 1, 2), nn.Conv2d(16, 14, 1, 2),
                          nn.Conv2d(6, 14, 1, 1), nn.Conv2d(6, 14, 3, 2),
                          nn.Conv2d(16, 16, 1, 2, groups=2))
    assert [affected(m) for m in model] == [True, False, False, False, True]
    weights = [m.weight for m in model]
    model.to(memory_format=torch.channels_last)
    assert keep_nchw(model) == ['0', '4'] == keep_nchw(model)  # idempotent
    assert [m.weight is w for m, w in zip(model, weights)] == [True] * 5  # same objects
    assert model[0].weight.stride() == (6, 1, 1, 1)
    assert model[1].weight.stride() == (16, 1, 16, 16)  # channels-last
    x = torch.randn(2, 6, 8, 8).to(memory_format=torch.channels_last)
    # trains on NCHW input; inference is left alone
    assert model[0](x).is_contiguous()
    with torch.no_grad():
        assert model[0](x).is_contiguous(memory_format=torch.channels_last)
    assert model[2](x).is_contiguous(memory_format=torch.channels_last)
