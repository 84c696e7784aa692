"""``nn.Embedding`` in a DMS search: its embedding width is a channel unit.

Like a BatchNorm, it passes its channels on unmasked (every consumer masks
them); the export keeps the columns of the kept channels.
"""
from typing import Dict, Set

import torch
from mmrazor.models.architectures.dynamic_ops import DynamicChannelMixin
from mmrazor.registry import MODELS
from torch import nn

from .ops import DMSOpMixin
from .registration import register_dms_op


@register_dms_op(nn.Embedding)
@MODELS.register_module()
class DMSEmbedding(DMSOpMixin, DynamicChannelMixin, nn.Embedding):
    """An embedding table whose width (``embedding_dim``) a mutable selects;
    its rows (the vocabulary) stay."""

    accepted_mutable_attrs: Set[str] = {'num_embeddings', 'embedding_dim'}
    attr_mappings: Dict[str, str] = {'in_channels': 'num_embeddings',
                                     'out_channels': 'embedding_dim'}

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.mutable_attrs = nn.ModuleDict()

    @property
    def static_op_factory(self):
        return nn.Embedding

    @classmethod
    def convert_from(cls, module: nn.Embedding) -> 'DMSEmbedding':
        new = cls(module.num_embeddings, module.embedding_dim, padding_idx=module.padding_idx,
                  max_norm=module.max_norm, norm_type=module.norm_type,
                  scale_grad_by_freq=module.scale_grad_by_freq, sparse=module.sparse)
        new.load_state_dict(module.state_dict())
        new.weight.requires_grad_(module.weight.requires_grad)
        return new

    def register_mutable_attr(self, attr: str, mutable) -> None:
        self.check_mutable_attr_valid(attr)
        key = self.attr_mappings.get(attr, attr)
        if key not in self.mutable_attrs:
            self.check_mutable_channels(mutable)
            size = getattr(self, key)
            if mutable.current_mask.size(0) != size:
                raise ValueError(f'DMSEmbedding: a mutable of {mutable.current_mask.size(0)} '
                                 f'channels for {key}={size}')
            self.mutable_attrs[key] = mutable

    def kept_columns(self) -> torch.Tensor:
        """The weight's columns of the kept channels."""
        if 'embedding_dim' not in self.mutable_attrs:
            return self.weight
        mask = self.mutable_attrs['embedding_dim'].current_mask
        return self.weight[:, mask.to(self.weight.device)]

    def to_static_op(self) -> nn.Embedding:
        weight = self.kept_columns()
        static = nn.Embedding(weight.shape[0], weight.shape[1], padding_idx=self.padding_idx,
                              max_norm=self.max_norm, norm_type=self.norm_type,
                              scale_grad_by_freq=self.scale_grad_by_freq, sparse=self.sparse)
        static.weight = nn.Parameter(weight.detach().clone(),
                                     requires_grad=self.weight.requires_grad)
        return static.to(weight.device)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return nn.Embedding.forward(self, x)
