"""A pruned causal LM as a folder that transformers loads without dms_mm."""
import json
import os
import os.path as osp
import shutil
import subprocess
import sys
import tempfile
from typing import Dict, List

import torch
from torch import nn

from . import modeling_dms_llama

#: what ``config.json`` of a Llama with layers of their own sizes says about its code
REMOTE_CODE = dict(
    model_type=modeling_dms_llama.DMSLlamaConfig.model_type,
    architectures=['DMSLlamaForCausalLM'],
    auto_map={'AutoConfig': 'modeling_dms_llama.DMSLlamaConfig',
              'AutoModelForCausalLM': 'modeling_dms_llama.DMSLlamaForCausalLM'})


def layer_sizes(lm: nn.Module) -> List[Dict[str, int]]:
    """The heads, key/value heads and FFN width of each layer of a Llama."""
    sizes = []
    for layer in lm.model.layers:
        attn, head_dim = layer.self_attn, layer.self_attn.head_dim
        sizes.append(dict(num_attention_heads=attn.q_proj.out_features // head_dim,
                          num_key_value_heads=attn.k_proj.out_features // head_dim,
                          intermediate_size=layer.mlp.down_proj.in_features))
    return sizes


def save_causal_lm(lm: nn.Module, folder: str) -> str:
    """Write a (pruned) ``LlamaForCausalLM`` with ``save_pretrained``.

    Where every layer kept the same sizes (and the hidden size is a multiple
    of the heads, as Llama's config demands), the folder is a plain Llama
    (``AutoModelForCausalLM.from_pretrained(folder)``). Otherwise its
    ``config.json`` holds the sizes of each layer and names the model code
    that the folder carries (``modeling_dms_llama.py``, which needs only
    transformers): ``from_pretrained(folder, trust_remote_code=True)``.

    Args:
        lm (nn.Module): The static ``LlamaForCausalLM`` of an export.
        folder (str): Where to write.

    Returns:
        str: ``'llama'`` or ``'dms_llama'``, the model type written.
    """
    if type(lm).__name__ != 'LlamaForCausalLM':
        raise TypeError(f'save_causal_lm: a LlamaForCausalLM, got {type(lm).__name__}')
    sizes = layer_sizes(lm)
    config = lm.config
    config.hidden_size = lm.model.embed_tokens.embedding_dim
    config.num_hidden_layers = len(sizes)
    os.makedirs(folder, exist_ok=True)
    if sizes and all(s == sizes[0] for s in sizes) \
            and config.hidden_size % sizes[0]['num_attention_heads'] == 0:
        for key, value in sizes[0].items():
            setattr(config, key, value)
        lm.save_pretrained(folder)
        return 'llama'
    # Llama's config would refuse a hidden size that is no multiple of the heads
    keep = {k: v for k, v in config.to_dict().items()
            if k not in ('model_type', 'transformers_version', 'architectures', 'auto_map')}
    lm.config = modeling_dms_llama.DMSLlamaConfig(**keep, layer_sizes=sizes,
                                                  auto_map=REMOTE_CODE['auto_map'])
    try:
        lm.save_pretrained(folder)
    finally:
        lm.config = config
    path = osp.join(folder, 'config.json')
    with open(path) as f:
        written = json.load(f)
    written.update(REMOTE_CODE)
    with open(path, 'w') as f:
        json.dump(written, f, indent=2, sort_keys=True)
    shutil.copyfile(modeling_dms_llama.__file__, osp.join(folder, 'modeling_dms_llama.py'))
    return REMOTE_CODE['model_type']


#: run in a fresh Python: load the folder with transformers alone (its own model
#: code only where its config names some), write its logits on the given ids and a
#: greedy continuation
RELOAD = '''
import json
import os
import sys
import torch
from transformers import AutoModelForCausalLM
folder, ids_file, out_file = sys.argv[1:]
with open(os.path.join(folder, 'config.json')) as f:
    remote = 'auto_map' in json.load(f)
model = AutoModelForCausalLM.from_pretrained(folder, trust_remote_code=remote).eval()
ids = torch.load(ids_file)
with torch.no_grad():
    logits = model(input_ids=ids).logits
generated = model.generate(ids[:1, :8], max_new_tokens=8, do_sample=False)
torch.save(dict(logits=logits, generated=generated, model_class=type(model).__name__,
                dms_mm_imported='dms_mm' in sys.modules), out_file)
'''


def reload_outputs(folder: str, ids: torch.Tensor) -> dict:
    """What a separate Python that loads ``folder`` with transformers alone
    (``trust_remote_code=True`` only where the folder carries its model
    code) gives on ``ids``: ``logits``, a greedy
    ``generated`` continuation of the first 8 tokens of the first row, its
    ``model_class`` and whether ``dms_mm_imported``."""
    with tempfile.TemporaryDirectory() as tmp:
        ids_file, out_file = osp.join(tmp, 'ids.pt'), osp.join(tmp, 'out.pt')
        torch.save(ids, ids_file)
        proc = subprocess.run([sys.executable, '-c', RELOAD, folder, ids_file, out_file],
                              capture_output=True, text=True, cwd=tmp)
        if proc.returncode != 0:
            raise RuntimeError(f'{folder} does not load in a fresh Python:\n'
                               f'{proc.stderr[-3000:]}')
        return torch.load(out_file)
