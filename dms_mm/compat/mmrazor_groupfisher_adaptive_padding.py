"""Let mmrazor's GroupFisher prune mmcv's ``Conv2dAdaptivePadding``.

Problem:
    ``GroupFisherChannelUnit.prepare_for_pruning`` swaps layers for dynamic
    ops through a map keyed by exact type (``nn.Conv2d``, ``nn.Linear``, the
    batch norms). mmcv's ``Conv2dAdaptivePadding`` (a subclass of
    ``nn.Conv2d``, used by every convolution of mmpretrain's EfficientNet
    except the squeeze-excitation ones) is not in it, stays a static layer,
    and every channel unit through it is not prunable. Mapping it to a plain
    combination of mmrazor's ops is not enough either: GroupFisher records the
    gradient with ``register_backward_hook`` (the deprecated non-full hook),
    which reports the gradient of the *padded* input of the convolution, so
    ``input * grad_input`` fails with a size mismatch.

Fix:
    A GroupFisher op for it, :class:`GroupFisherConv2dAdaptivePadding`
    (forward of mmrazor's ``DynamicConv2dAdaptivePadding``, Fisher and FLOPs
    bookkeeping of ``GroupFisherConv2d``) whose ``start_record`` uses
    ``register_full_backward_hook``: the gradient of the module input itself
    (zero padding adds nothing to the Fisher sum).
    ``GroupFisherChannelUnit._replace_with_dynamic_ops`` is wrapped so that
    its op map also sends ``Conv2dAdaptivePadding`` to this op (unless the
    map already names one).

Versions:
    Written for mmrazor 1.0.0 (the last release) with mmcv 2.x, torch>=2.0.
"""
import functools

FIXED_FOR = {'mmrazor': '==1.0.0', 'mmcv': '>=2.0.0,<3.0.0', 'torch': '>=2.0'}

#: the GroupFisher op of ``Conv2dAdaptivePadding``; set by :func:`apply`
GroupFisherConv2dAdaptivePadding = None


def _make_op() -> type:
    from mmrazor.implementations.pruning.group_fisher.ops import GroupFisherConv2d
    from mmrazor.models.architectures.dynamic_ops import DynamicConv2dAdaptivePadding

    class GroupFisherConv2dAdaptivePadding(DynamicConv2dAdaptivePadding, GroupFisherConv2d):
        """GroupFisher op of mmcv's ``Conv2dAdaptivePadding`` (see
        :mod:`dms_mm.compat.mmrazor_groupfisher_adaptive_padding`)."""

        def start_record(self) -> None:
            self.end_record()
            self.handlers.append(self.register_forward_hook(self.forward_hook_wrapper()))
            # full hook: the gradient of the module input, not of the padded one
            self.handlers.append(
                self.register_full_backward_hook(self.backward_hook_wrapper()))

    GroupFisherConv2dAdaptivePadding.__module__ = __name__
    return GroupFisherConv2dAdaptivePadding


def _wrap(original, op: type):
    from mmcv.cnn.bricks import Conv2dAdaptivePadding

    @functools.wraps(original)
    def _replace_with_dynamic_ops(self, model, dynamicop_map):
        dynamicop_map = dict(dynamicop_map)
        dynamicop_map.setdefault(Conv2dAdaptivePadding, op)
        return original(self, model, dynamicop_map)

    _replace_with_dynamic_ops.__wrapped_by_dms_mm__ = True
    return _replace_with_dynamic_ops


def _unit_class():
    from mmrazor.implementations.pruning.group_fisher import GroupFisherChannelUnit

    return GroupFisherChannelUnit


def apply() -> None:
    """Add the op and wrap ``GroupFisherChannelUnit._replace_with_dynamic_ops``.
    Idempotent."""
    global GroupFisherConv2dAdaptivePadding
    if is_applied():
        return
    unit = _unit_class()
    if GroupFisherConv2dAdaptivePadding is None:
        GroupFisherConv2dAdaptivePadding = _make_op()
    unit._replace_with_dynamic_ops = _wrap(unit._replace_with_dynamic_ops,
                                           GroupFisherConv2dAdaptivePadding)


def is_applied() -> bool:
    return getattr(_unit_class()._replace_with_dynamic_ops, '__wrapped_by_dms_mm__', False)
