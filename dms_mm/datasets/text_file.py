"""Plain text files tokenized by a local transformers tokenizer: the data of a
pretrained causal language model (e.g. WikiText-2's raw files for Llama-2)."""
import os.path as osp
from typing import Optional, Sequence, Union

import torch
from mmrazor.registry import DATASETS

from .token_windows import TokenWindowsDataset


@DATASETS.register_module()
class TextFileDataset(TokenWindowsDataset):
    """Windows of ``block_size`` tokens of plain text files, tokenized by the
    tokenizer of a local folder (``AutoTokenizer.from_pretrained``, nothing
    downloaded): ``dict(inputs=LongTensor[block_size])``.

    The files are read whole and joined by ``separator``; the text is
    tokenized once, without special tokens (LLM-Pruner's perplexity protocol
    on WikiText-2: the test file as one stream, cut into windows).

    Args:
        ann_file (str | list[str]): The text file(s), relative to
            ``data_root`` unless absolute.
        tokenizer (str): A local folder that ``AutoTokenizer.from_pretrained``
            reads (usually the model's own folder).
        block_size (int): Tokens per window. Defaults to 128.
        stride (int, optional): Tokens between two window starts. Defaults to
            ``block_size``.
        num_windows (int, optional): Keep only the first windows.
        separator (str): Joins the files. Defaults to two newlines.
        data_root (str): Folder of the files. Defaults to ``''``.
        **kwargs: Passed to mmengine's ``BaseDataset`` (``pipeline``, ...).
    """

    METAINFO = dict(name='text')

    def __init__(self, ann_file: Union[str, Sequence[str]], tokenizer: str,
                 block_size: int = 128, stride: Optional[int] = None,
                 num_windows: Optional[int] = None, separator: str = '\n\n',
                 data_root: str = '', **kwargs) -> None:
        self._init_windows(block_size, stride, num_windows)
        files = [ann_file] if isinstance(ann_file, str) else list(ann_file)
        paths = [f if osp.isabs(f) else osp.join(data_root, f) for f in files]
        missing = [p for p in paths if not osp.isfile(p)]
        if missing:
            raise FileNotFoundError(f'TextFileDataset: no text file {", ".join(missing)}')
        if not osp.isdir(tokenizer):
            raise FileNotFoundError(f'TextFileDataset: tokenizer {tokenizer!r} is not a local '
                                    'folder (nothing is downloaded; point it at the model\'s '
                                    'folder)')
        from transformers import AutoTokenizer
        tok = AutoTokenizer.from_pretrained(tokenizer, local_files_only=True)
        texts = []
        for path in paths:
            with open(path, encoding='utf-8') as f:
                texts.append(f.read())
        ids = tok(separator.join(texts), add_special_tokens=False)['input_ids']
        self.tokens = torch.tensor(ids, dtype=torch.long)
        self.tokenizer = tokenizer
        if len(self.tokens) < block_size:
            raise ValueError(f'TextFileDataset: {", ".join(paths)} hold {len(self.tokens)} '
                             f'tokens, fewer than one window of {block_size}')
        super().__init__(ann_file='', data_root=data_root, **kwargs)
