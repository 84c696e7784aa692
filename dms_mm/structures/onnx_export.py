"""The static pruned model to ONNX: export, check against torch, time both.

OpenMMLab models run in their ``mode='tensor'`` forward (a classifier's class
scores, a detector's raw head maps: what mmdeploy exports too, without the data
preprocessor and without post-processing). :func:`export_onnx` writes the
graph, and :func:`onnx_difference` runs it in onnxruntime and compares every
output with torch's (the timing is :func:`dms_mm.resources.latency_table.median_ms`).
``onnx``, ``onnxscript`` and ``onnxruntime`` are imported only here
(``requirements/deploy.txt``).
"""
from typing import List

import torch
import torch.nn as nn

from dms_mm.utils.outputs import flat_tensors as tensors_in

#: the exporters of torch.onnx.export: torch's current one (torch.export) and the
#: TorchScript one it replaces
EXPORTERS = ('dynamo', 'torchscript')


def flat_tensors(outputs) -> List[torch.Tensor]:
    """The tensors of a nested tuple, list or dict of outputs, in order."""
    try:
        return tensors_in(outputs)
    except TypeError as e:
        raise TypeError(f'the model returned {e}: only the tensor outputs of '
                        "mode='tensor' can be exported") from None


class TensorForward(nn.Module):
    """An OpenMMLab model seen through its ``mode='tensor'`` forward, its
    outputs flattened to a tuple of tensors (one ONNX output each).

    Args:
        model (nn.Module): A static model (mmpretrain, mmdet, ...) whose
            ``forward(inputs, mode='tensor')`` returns tensors.
    """

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, inputs: torch.Tensor):
        return tuple(flat_tensors(self.model(inputs, mode='tensor')))


def export_onnx(model: nn.Module, inputs: torch.Tensor, path: str, opset: int = 18,
                exporter: str = 'dynamo') -> List[str]:
    """Write ``model`` (a :class:`TensorForward` or any module taking one
    tensor) to ``path`` as ONNX, in eval mode, at the shape of ``inputs``.

    Args:
        model (nn.Module): The model; it is left in eval mode.
        inputs (torch.Tensor): An example input (its shape is fixed in the graph).
        path (str): The ``.onnx`` file to write.
        opset (int): The ONNX opset. Defaults to 18.
        exporter (str): ``'dynamo'`` (torch.export, torch's default) or
            ``'torchscript'``. Defaults to ``'dynamo'``.

    Returns:
        list[str]: The names of the graph's outputs.
    """
    if exporter not in EXPORTERS:
        raise ValueError(f'exporter must be one of {EXPORTERS}, got {exporter!r}')
    model.eval()
    with torch.no_grad():
        count = len(flat_tensors(model(inputs)))
    names = [f'output{i}' for i in range(count)]
    torch.onnx.export(model, (inputs, ), path, input_names=['inputs'], output_names=names,
                      opset_version=opset, dynamo=exporter == 'dynamo')
    # the exporter may switch the modules back to the mode it found them in
    model.eval()
    import onnx
    onnx.checker.check_model(path)
    return names


def onnxruntime_session(path: str, threads: int = 1):
    """An onnxruntime CPU session of ``path`` with ``threads`` intra-op threads."""
    import onnxruntime as ort
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    return ort.InferenceSession(path, options, providers=['CPUExecutionProvider'])


def onnx_difference(session, model: nn.Module, inputs: torch.Tensor) -> float:
    """Largest difference between an output of the ONNX session and the same
    output of ``model`` (eval mode), relative to the largest magnitude of that
    torch output."""
    model.eval()
    with torch.no_grad():
        expected = flat_tensors(model(inputs))
    got = session.run(None, {session.get_inputs()[0].name: inputs.numpy()})
    if len(got) != len(expected):
        raise ValueError(f'the ONNX graph has {len(got)} outputs, the model {len(expected)}')
    worst = 0.0
    for want, have in zip(expected, got):
        have = torch.from_numpy(have)
        if tuple(have.shape) != tuple(want.shape):
            raise ValueError(f'an ONNX output has shape {tuple(have.shape)}, the model\'s '
                             f'{tuple(want.shape)}')
        scale = want.abs().max().clamp_min(1e-12)
        worst = max(worst, float((have - want).abs().max() / scale))
    return worst

