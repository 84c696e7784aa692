"""The channel unit of DMS: one :class:`DMSMutableChannel` per group of coupled
channels found by mmrazor's ChannelAnalyzer."""
import math
from typing import Optional

import torch.nn as nn
from mmrazor.models.architectures.dynamic_ops import DynamicChannelMixin
from mmrazor.models.mutables import MutableChannelContainer, MutableChannelUnit
from mmrazor.registry import MODELS

from dms_mm.dynamic_ops import DMS_OP_MAP, replace_with_ops
from dms_mm.mutables import DMSMutableChannel

from .channel_analyzer import unit_exclusion_reason


@MODELS.register_module()
class DMSChannelUnit(MutableChannelUnit):
    """A unit of coupled channels whose width DMS learns.

    Args:
        num_channels (int): Channels of the unit.
        group_size (int): Channels per mask element. When it does not divide
            ``num_channels``, their greatest common divisor is used.
            Defaults to 1.
        min_keep (float): Lowest keep ratio. Defaults to 0.0.
        max_keep (float): Highest (and initial) keep ratio. Defaults to 1.0.
        lambda_scale (float): Sharpness of the top-k. Defaults to 1.0.
        ema_decay (float): Decay of the importance EMA. Defaults to 0.99.
    """

    def __init__(self, num_channels: int, group_size: int = 1, min_keep: float = 0.0,
                 max_keep: float = 1.0, lambda_scale: float = 1.0,
                 ema_decay: float = 0.99) -> None:
        super().__init__(num_channels)
        self.group_size = math.gcd(int(num_channels), int(group_size))
        self.min_keep, self.max_keep = min_keep, max_keep
        self.lambda_scale, self.ema_decay = lambda_scale, ema_decay
        self.mutable_channel = DMSMutableChannel(
            num_channels, group_size=self.group_size, min_keep=min_keep, max_keep=max_keep,
            lambda_scale=lambda_scale, ema_decay=ema_decay)

    def prepare_for_pruning(self, model: nn.Module) -> None:
        replace_with_ops(self, model, DMS_OP_MAP)
        self._register_channel_container(model, MutableChannelContainer)
        self._register_mutable_channel(self.mutable_channel)

    def exclusion_reason(self) -> Optional[str]:
        """Why the unit cannot be searched, or None if it can."""
        reason = unit_exclusion_reason(self)
        if reason is None and not any(
                isinstance(c.module, DynamicChannelMixin) for c in self.input_related):
            reason = 'no consumer applies the mask'
        if reason is None and not self.is_mutable:
            reason = 'mmrazor marks it not prunable'
        return reason

    @property
    def current_choice(self) -> float:
        return self.mutable_channel.current_choice

    @current_choice.setter
    def current_choice(self, choice) -> None:
        self.mutable_channel.current_choice = choice

    def sample_choice(self) -> float:
        """DMS learns the width; the only 'sample' is the current keep ratio."""
        return self.current_choice

    def config_template(self, with_init_args=False, with_channels=False):
        config = super().config_template(with_init_args, with_channels)
        if with_init_args:
            config['init_args'].update(
                group_size=self.group_size, min_keep=self.min_keep, max_keep=self.max_keep,
                lambda_scale=self.lambda_scale, ema_decay=self.ema_decay)
        return config
