"""A Hugging Face causal language model as an mmengine model."""
from typing import Dict, List, Optional, Union

import torch
from mmengine.model import BaseModel
from mmrazor.models.task_modules.demo_inputs import default_demo_inputs as razor_demo_inputs
from mmrazor.models.task_modules.demo_inputs.demo_inputs import BaseDemoInput
from mmrazor.registry import MODELS, TASK_UTILS

#: the model types HFCausalLM builds from a config dict: transformers' config and model
#: classes by name
CAUSAL_LMS = dict(llama=('LlamaConfig', 'LlamaForCausalLM'))


@MODELS.register_module()
class HFCausalLM(BaseModel):
    """A ``transformers`` causal LM (``LlamaForCausalLM``) trained, validated
    and tested by mmengine's runner.

    Built from ``config`` (the keyword arguments of the transformers config
    class, for a model from scratch) or from ``pretrained`` (a local folder of
    ``save_pretrained``; nothing is downloaded). Batches are
    ``dict(inputs=LongTensor[B, T])`` of token ids (:class:`ShakespeareDataset`
    with mmengine's ``default_collate``); the labels are the inputs, shifted
    inside the model as transformers does.

    Modes of ``forward``: ``'loss'`` gives ``dict(loss=...)``, the mean
    next-token cross-entropy; ``'predict'`` gives one dict per sequence with the
    summed negative log-likelihood of its predicted tokens and their count (what
    :class:`Perplexity` reads); ``'tensor'`` gives the logits.

    Args:
        config (dict, optional): Keyword arguments of the config class of
            ``model_type`` (for ``'llama'``, ``transformers.LlamaConfig``).
        pretrained (str, optional): A local ``from_pretrained`` folder,
            instead of ``config``.
        model_type (str): A key of :data:`CAUSAL_LMS`. Defaults to ``'llama'``.
        data_preprocessor (dict, optional): mmengine's data preprocessor
            config. Defaults to None (``BaseDataPreprocessor``: moves the
            batch to the device).
        init_cfg (dict, optional): mmengine's initialisation config.
    """

    def __init__(self, config: Optional[Dict] = None, pretrained: Optional[str] = None,
                 model_type: str = 'llama', data_preprocessor: Optional[Dict] = None,
                 init_cfg: Optional[Dict] = None) -> None:
        super().__init__(data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        if (config is None) == (pretrained is None):
            raise ValueError('HFCausalLM: give exactly one of config (a model from scratch) '
                             'and pretrained (a local from_pretrained folder)')
        if model_type not in CAUSAL_LMS:
            raise ValueError(f'HFCausalLM: model_type must be one of {sorted(CAUSAL_LMS)}, '
                             f'got {model_type!r}')
        import transformers
        config_name, model_name = CAUSAL_LMS[model_type]
        model_class = getattr(transformers, model_name)
        if pretrained is not None:
            self.model = model_class.from_pretrained(pretrained, local_files_only=True)
        else:
            self.model = model_class(getattr(transformers, config_name)(**dict(config)))
        self.model_type = model_type
        #: the vocabulary of the demo inputs (kept here: a search's tracer swaps the model)
        self.vocab_size = int(self.model.config.vocab_size)

    def init_weights(self) -> None:
        """Keep transformers' own initialisation (or the pretrained weights):
        mmengine's default would re-initialise the linears. An ``init_cfg``
        (``dict(type='Pretrained', checkpoint=...)``: a checkpoint of this
        model trained by the runner) is applied."""
        if self.init_cfg:
            super().init_weights()

    def demo_inputs(self, shape, device=None, generator=None) -> torch.Tensor:
        """Random token ids of ``shape`` (``(batch, tokens)``): what the
        analyses of a search run this model on in place of an image."""
        if len(shape) != 2:
            raise ValueError(f'HFCausalLM: the demo input is (batch, tokens), got {tuple(shape)}')
        ids = torch.randint(0, self.vocab_size, tuple(shape), generator=generator)
        return ids if device is None else ids.to(device)

    def forward(self, inputs: torch.Tensor, data_samples=None,
                mode: str = 'tensor') -> Union[Dict[str, torch.Tensor], List[Dict], torch.Tensor]:
        if mode == 'tensor':  # (no check here: the channel tracer runs this mode symbolically)
            return self.model(input_ids=inputs).logits
        if inputs.dim() != 2:
            raise ValueError(f'HFCausalLM: inputs must be token ids [batch, tokens], got shape '
                             f'{tuple(inputs.shape)}')
        if mode == 'loss':
            return dict(loss=self.model(input_ids=inputs, labels=inputs).loss)
        logits = self.model(input_ids=inputs).logits
        if mode == 'predict':
            nll = torch.nn.functional.cross_entropy(
                logits[:, :-1].flatten(0, 1).float(), inputs[:, 1:].flatten(),
                reduction='none').view(inputs.shape[0], -1)
            return [dict(nll=float(row.sum()), tokens=row.numel()) for row in nll]
        raise ValueError(f'HFCausalLM: unknown mode {mode!r} (loss, predict or tensor)')


@TASK_UTILS.register_module()
class CausalLMDemoInput(BaseDemoInput):
    """mmrazor's demo input of an :class:`HFCausalLM`: random token ids of the
    demo shape (``(batch, tokens)``) in tensor mode. mmrazor's channel tracer
    picks it by the model's type."""

    default_shape = (1, 128)

    def _get_data(self, model, input_shape, training):
        return dict(inputs=model.demo_inputs(input_shape), data_samples=None, mode='tensor')


razor_demo_inputs.default_demo_input_class[HFCausalLM] = CausalLMDemoInput
razor_demo_inputs.default_demo_input_class.move_to_end(HFCausalLM, last=False)
