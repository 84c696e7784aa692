"""Which dynamic op a layer becomes: matched by what the layer is, not by its
exact class.

An :class:`OpMap` holds dynamic ops registered for layer types. A layer of a
registered type gets that op. A layer whose class derives from a registered
type (mmpretrain's ``LayerNorm2d``, timm's ``BatchNormAct2d``, a user's own
``nn.Conv2d`` subclass) gets the op of its nearest registered base, as a class
derived for it: the layer keeps its own attributes and methods, the op's
forward runs (a norm op that does not change its forward runs the layer's),
and the export rebuilds the layer's own class with the kept channels. A
subclass that rewrites ``forward`` or holds parameters of its own cannot be
converted safely this way; it gets no op, and :meth:`OpMap.why_not` says so
and how to register one (:func:`dms_mm.dynamic_ops.register_dms_op`).
"""
from typing import Dict, Optional, Tuple

from torch import nn

#: the tensors a conv, linear or norm layer holds itself
OWN_TENSORS = frozenset({'weight', 'bias', 'running_mean', 'running_var', 'num_batches_tracked'})


class AdoptedOp:
    """A dynamic op run on a layer of another class (``layer_type``), which it
    exports back to.

    Derived classes are made by :meth:`OpMap.op_for`; ``dynamic_op`` is the
    registered op, ``layer_type`` the layer's class.
    """

    dynamic_op: type
    layer_type: type
    #: names of the layer's attributes and parameter-free submodules that the
    #: op does not have itself
    layer_extras: Tuple[str, ...] = ()

    @classmethod
    def convert_from(cls, module: nn.Module) -> nn.Module:
        """The op of ``module``: the registered op's conversion, with the
        layer's own attributes and submodules carried over."""
        new = cls.dynamic_op.convert_from(module)
        extras = [key for key in vars(module) if key not in vars(new)]
        children = [key for key in module._modules if key not in new._modules]
        for key in extras:
            setattr(new, key, getattr(module, key))
        for key in children:
            new._modules[key] = module._modules[key]
        new.training = module.training
        new.__class__ = cls
        new.layer_extras = tuple(extras) + tuple(children)
        return new

    def to_static_op(self) -> nn.Module:
        """The static layer, of the layer's own class."""
        static = super().to_static_op()
        if type(static) is not self.layer_type:
            rebuilt = self.layer_type.__new__(self.layer_type)
            rebuilt.__dict__.update(vars(static))
            rebuilt._modules = dict(static._modules)
            for key in self.layer_extras:
                if key in self._modules:
                    rebuilt._modules[key] = self._modules[key]
                else:
                    rebuilt.__dict__[key] = vars(self)[key]
            static = rebuilt
        finish = getattr(self, 'finish_static', None)
        if finish is not None:
            finish(static)
        return static


class OpMap:
    """Dynamic ops by layer type, resolved through each layer's class
    hierarchy.

    Args:
        ops (dict): ``{layer type: dynamic op}`` to start with, where the op's
            export builds that type itself (torch's layers, as mmrazor's ops
            build them): the op is used as it is.
        rebuilt (dict): ``{layer type: dynamic op}`` to start with, where the
            export rebuilds the layer's class (as :meth:`register` does).
        name (str): What the ops are for, in messages. Defaults to
            ``'dynamic'``.

    Each dynamic op has a ``convert_from(layer)`` class method and a
    ``to_static_op()`` method, as mmrazor's dynamic ops. On a subclass that
    rewrites ``forward``, an op whose ``subclass_forward`` attribute is
    ``'layer'`` runs the layer's forward (the BatchNorms, which DMS does not
    mask), one with ``'op'`` runs its own (the slicing BatchNorms of the
    pruning check); any other op refuses such a subclass.
    """

    def __init__(self, ops: Optional[Dict[type, type]] = None,
                 rebuilt: Optional[Dict[type, type]] = None, name: str = 'dynamic') -> None:
        self.name = name
        self._ops: Dict[type, type] = {}
        self._native = set()
        self._derived: Dict[type, Tuple[Optional[type], Optional[str]]] = {}
        for layer_type, op in (ops or {}).items():
            self.register(layer_type, op, native=True)
        for layer_type, op in (rebuilt or {}).items():
            self.register(layer_type, op)

    def register(self, layer_type: type, op: type, native: bool = False) -> None:
        """Make ``op`` the dynamic op of ``layer_type`` (and of its subclasses
        that keep its forward).

        Args:
            layer_type (type): The layer class.
            op (type): Its dynamic op.
            native (bool): The op's export builds ``layer_type`` itself, so
                the op is used as it is. Otherwise (the default) a class
                derived for ``layer_type`` exports it as its own class, unless
                the op is a subclass of ``layer_type``.
        """
        if not (isinstance(layer_type, type) and issubclass(layer_type, nn.Module)):
            raise TypeError(f'{self.name} ops: layer_type must be an nn.Module class, '
                            f'got {layer_type!r}')
        if not (isinstance(op, type) and callable(getattr(op, 'convert_from', None))
                and callable(getattr(op, 'to_static_op', None))):
            raise TypeError(f'{self.name} ops: the op of {layer_type.__name__} must be a class '
                            f'with convert_from() and to_static_op(), got {op!r}')
        self._ops[layer_type] = op
        self._native.discard(layer_type)
        if native:
            self._native.add(layer_type)
        self._derived.clear()

    def resolve(self, layer_type: type) -> Tuple[Optional[type], Optional[str]]:
        """``(op, None)`` for a layer class that has an op, ``(None, why)``
        otherwise (the reason does not repeat the class's name)."""
        if layer_type not in self._derived:
            self._derived[layer_type] = self._resolve(layer_type)
        return self._derived[layer_type]

    def _resolve(self, layer_type: type) -> Tuple[Optional[type], Optional[str]]:
        if issubclass(layer_type, AdoptedOp) or any(
                issubclass(layer_type, op) for op in self._ops.values()):
            return None, 'a dynamic op already'
        base = next((cls for cls in layer_type.__mro__ if cls in self._ops), None)
        if base is None:
            return None, (f'no {self.name} op for this type; register one '
                          '(dms_mm.dynamic_ops.register_dms_op)')
        op = self._ops[base]
        if issubclass(op, layer_type) or (base is layer_type and base in self._native):
            return op, None
        subclass_forward = getattr(op, 'subclass_forward', None)
        if base is not layer_type and layer_type.forward is not base.forward \
                and subclass_forward is None:
            return None, (f'it rewrites forward() of {base.__name__}, so how '
                          'it uses its channels is unknown; register a DMS op for it '
                          '(dms_mm.dynamic_ops.register_dms_op)')
        attrs = dict(dynamic_op=op, layer_type=layer_type, __module__=op.__module__,
                     __doc__=f'{op.__name__} on a {layer_type.__name__}, exported as one.')
        if subclass_forward == 'layer':
            attrs['forward'] = layer_type.forward
        try:
            return type(f'{op.__name__}_{layer_type.__name__}', (AdoptedOp, op, layer_type),
                        attrs), None
        except TypeError as error:  # no consistent method order
            return None, f'{op.__name__} cannot run on it ({error})'

    def op_for(self, module: nn.Module) -> Tuple[Optional[type], Optional[str]]:
        """``(op, None)`` for a layer that can be converted, ``(None, why)``
        otherwise (a layer holding tensors or parametrised submodules that
        its op would not slice is refused, named)."""
        op, reason = self.resolve(type(module))
        if op is None or op.__dict__.get('layer_type') is None:
            return op, reason
        own = sorted(key for key, _ in module.named_parameters(recurse=False)) + sorted(
            key for key, _ in module.named_buffers(recurse=False))
        unknown = [key for key in own if key not in OWN_TENSORS]
        unknown += [f'{key}.*' for key, child in module.named_children()
                    if any(True for _ in child.parameters())]
        if unknown:
            return None, ('it holds tensors its op '
                          f'{op.dynamic_op.__name__} would not slice ({", ".join(unknown)}); '
                          'register a DMS op for it (dms_mm.dynamic_ops.register_dms_op)')
        return op, None

    def convert(self, module: nn.Module) -> nn.Module:
        """The dynamic op of ``module``, on its device.

        Raises:
            TypeError: ``module`` has no op; the message says why.
        """
        op, reason = self.op_for(module)
        if op is None:
            raise TypeError(reason)
        device = next((t.device for t in module.parameters()), None)
        new = op.convert_from(module)
        return new if device is None else new.to(device)

    def __contains__(self, layer_type: type) -> bool:
        return self.resolve(layer_type)[0] is not None

    def __repr__(self) -> str:
        rows = ', '.join(f'{layer.__name__} -> {op.__name__}' for layer, op in self._ops.items())
        return f'{type(self).__name__}({self.name}: {rows})'


def replace_with_ops(unit, model: nn.Module, op_map: OpMap) -> None:
    """Convert the layers of a channel unit to their ops in ``op_map``, in
    ``model`` (the unit's channels then point to the ops); layers without one
    are left as they are."""
    for channel in list(unit.input_related) + list(unit.output_related):
        if not isinstance(channel.module, nn.Module):
            continue
        parent_name, _, key = channel.name.rpartition('.')
        parent = model.get_submodule(parent_name)
        module = getattr(parent, key)
        if module is not channel.module:  # converted for another channel of the unit
            channel.module = module
        elif op_map.op_for(module)[0] is not None:
            channel.module = op_map.convert(module)
            setattr(parent, key, channel.module)
