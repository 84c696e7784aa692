"""Plain text files tokenized by a local transformers tokenizer, in windows."""
import pytest
import torch
from transformers import AutoTokenizer

from dms_mm.datasets import TextFileDataset
from dms_test_utils import save_tiny_tokenizer

TEXT = ('When shall we three meet again\nIn thunder, lightning, or in rain?\n'
        'When the hurlyburly\'s done,\nWhen the battle\'s lost and won.\n') * 20


@pytest.fixture(scope='module')
def tokenizer(tmp_path_factory):
    folder = tmp_path_factory.mktemp('tokenizer')
    save_tiny_tokenizer(folder, TEXT, vocab_size=128)
    return str(folder)


def test_windows_are_the_tokenizers_ids_of_the_joined_files(tokenizer, tmp_path):
    (tmp_path / 'a.txt').write_text(TEXT[:2000])
    (tmp_path / 'b.txt').write_text(TEXT[2000:])
    data = TextFileDataset(['a.txt', 'b.txt'], tokenizer, block_size=16, stride=8,
                           data_root=str(tmp_path))
    ids = AutoTokenizer.from_pretrained(tokenizer)(TEXT[:2000] + '\n\n' + TEXT[2000:],
                                                   add_special_tokens=False)['input_ids']
    assert len(data) == (len(ids) - 16) // 8 + 1
    assert data[0]['inputs'].tolist() == ids[:16]
    assert torch.equal(data[3]['inputs'], torch.tensor(ids[24:40]))


def test_what_is_missing_is_named(tokenizer, tmp_path):
    with pytest.raises(FileNotFoundError, match='wiki.test.raw'):
        TextFileDataset('wiki.test.raw', tokenizer, data_root=str(tmp_path))
    (tmp_path / 'a.txt').write_text(TEXT)
    with pytest.raises(FileNotFoundError, match='not a local folder'):
        TextFileDataset('a.txt', 'meta-llama/Llama-2-7b-hf', data_root=str(tmp_path))
    with pytest.raises(ValueError, match='fewer than one window'):
        TextFileDataset('a.txt', tokenizer, block_size=100000, data_root=str(tmp_path))
