"""The Shakespeare corpus: whole works held out, a lossless tokenizer trained on the
training works, cached token ids, and windows a causal language model reads."""
import os
import os.path as osp
import shutil

import pytest
import torch
from mmrazor.registry import DATASETS
from tokenizers import Tokenizer

from dms_mm.datasets.shakespeare import (
    END_OF_TEXT,
    TEST_WORKS,
    VAL_WORKS,
    load_shakespeare,
    shakespeare_works,
)


@pytest.fixture(scope='module')
def data_root(repo_root, tmp_path_factory):
    """A copy of the texts `make install` extracted, so that the caches are this
    module's own."""
    texts = osp.join(repo_root, 'data', 'shakespeare', 'texts')
    root = tmp_path_factory.mktemp('shakespeare')
    shutil.copytree(texts, root / 'texts')
    return str(root)


@pytest.fixture(scope='module')
def corpus(data_root):
    return load_shakespeare(data_root, vocab_size=1024)


def test_whole_works_are_held_out_in_modern_spelling_only(data_root, corpus):
    works = corpus['works']
    assert works['val'] == sorted(VAL_WORKS) and works['test'] == sorted(TEST_WORKS)
    every = shakespeare_works(osp.join(data_root, 'texts'))
    assert sorted(works['train'] + works['val'] + works['test']) == sorted(every)
    assert len(every) == 42 and 'hamlet' in works['train'] and 'sonnets' in works['train']
    # the First Folio files of the same plays are not read
    assert all(p.endswith('_gut.txt') for p in every.values())
    assert osp.isfile(osp.join(data_root, 'texts', 'macbeth_gut_f.txt'))


def test_the_token_ids_decode_to_the_held_out_texts(data_root, corpus):
    tokenizer = Tokenizer.from_file(corpus['tokenizer'])
    assert tokenizer.get_vocab_size() == 1024 and tokenizer.token_to_id(END_OF_TEXT) == 0
    texts = []
    for name in sorted(TEST_WORKS):
        with open(osp.join(data_root, 'texts', f'{name}_gut.txt'), encoding='utf-8') as f:
            texts.append(f.read())
    tokens = corpus['tokens']['test'].tolist()
    assert tokens.count(0) == 2 and tokens[-1] == 0
    first_end = tokens.index(0)
    assert tokenizer.decode(tokens[:first_end]) == texts[0]
    assert tokenizer.decode(tokens[first_end + 1:-1]) == texts[1]
    # merges learnt on the training works: more than two characters a token at 1,024
    # tokens (one a byte without them)
    assert len(tokens) < len(''.join(texts)) / 2


def test_the_tokenizer_and_token_ids_are_made_once(data_root, corpus):
    made = {p: os.stat(osp.join(data_root, p)).st_mtime_ns for p in os.listdir(data_root)
            if p.endswith(('.json', '.npy'))}
    assert len(made) == 4  # the tokenizer and three splits
    again = load_shakespeare(data_root, vocab_size=1024)
    assert {p: os.stat(osp.join(data_root, p)).st_mtime_ns for p in made} == made
    assert (again['tokens']['train'] == corpus['tokens']['train']).all()


def test_windows_of_a_split_as_a_config_builds_them(data_root, corpus):
    dataset = DATASETS.build(dict(type='ShakespeareDataset', _scope_='mmrazor', split='val',
                                  block_size=64, stride=48, data_root=data_root,
                                  vocab_size=1024))
    tokens = torch.from_numpy(corpus['tokens']['val'].astype('int64'))
    assert len(dataset) == (len(tokens) - 64) // 48 + 1
    for i in (0, 1, len(dataset) - 1):
        window = dataset[i]['inputs']
        assert window.dtype == torch.int64 and torch.equal(window, tokens[i * 48:i * 48 + 64])
    short = DATASETS.build(dict(type='ShakespeareDataset', _scope_='mmrazor', split='test',
                                data_root=data_root, vocab_size=1024, num_windows=5))
    assert len(short) == 5 and short[4]['inputs'].shape == (128, )


def test_missing_texts_and_bad_settings_are_named(tmp_path, data_root):
    with pytest.raises(FileNotFoundError, match='make install'):
        load_shakespeare(str(tmp_path))
    with pytest.raises(ValueError, match='split'):
        DATASETS.build(dict(type='ShakespeareDataset', _scope_='mmrazor', split='dev',
                            data_root=data_root, vocab_size=1024))
    with pytest.raises(ValueError, match='vocab_size'):
        load_shakespeare(data_root, vocab_size=70000)
