"""How a checkpoint's state dict differs from a model's."""
from typing import Dict, List, NamedTuple, Tuple


class StateDictMismatch(NamedTuple):
    """Keys of the model missing from the file, keys of the file the model lacks
    (both in the model's and the file's order), and ``(key, shape in the file,
    shape in the model)`` of the tensors whose shapes differ."""
    missing: List[str]
    unexpected: List[str]
    shapes: List[Tuple[str, tuple, tuple]]

    def __bool__(self) -> bool:
        return bool(self.missing or self.unexpected or self.shapes)


def compare_state_dicts(expected: Dict, state: Dict) -> StateDictMismatch:
    """Compare a checkpoint's ``state`` with a model's ``expected`` state dict."""
    return StateDictMismatch(
        missing=[k for k in expected if k not in state],
        unexpected=[k for k in state if k not in expected],
        shapes=[(k, tuple(state[k].shape), tuple(v.shape)) for k, v in expected.items()
                if k in state and hasattr(state[k], 'shape')
                and tuple(state[k].shape) != tuple(v.shape)])
