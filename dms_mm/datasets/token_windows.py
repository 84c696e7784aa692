"""Windows of a token stream, the samples of a causal language model."""
from typing import List, Optional

import torch
from mmengine.dataset import BaseDataset


class TokenWindowsDataset(BaseDataset):
    """Windows of ``block_size`` tokens of one token stream:
    ``dict(inputs=LongTensor[block_size])`` (the model shifts them for its
    labels). A subclass sets :attr:`tokens` (a 1-D ``LongTensor``) and calls
    :meth:`_init_windows` before ``BaseDataset.__init__``.
    """

    tokens: torch.Tensor

    def _init_windows(self, block_size: int, stride: Optional[int],
                      num_windows: Optional[int]) -> None:
        if block_size < 2:
            raise ValueError(f'{type(self).__name__}: block_size must be at least 2, '
                             f'got {block_size}')
        self.block_size = block_size
        self.stride = block_size if stride is None else stride
        if self.stride < 1:
            raise ValueError(f'{type(self).__name__}: stride must be positive, '
                             f'got {self.stride}')
        self.num_windows = num_windows

    def load_data_list(self) -> List[dict]:
        last = len(self.tokens) - self.block_size
        starts = range(0, last + 1, self.stride)
        if self.num_windows is not None:
            starts = starts[:self.num_windows]
        return [dict(start=s) for s in starts]

    def prepare_data(self, idx: int) -> dict:
        start = self.get_data_info(idx)['start']
        return self.pipeline(dict(inputs=self.tokens[start:start + self.block_size]))
