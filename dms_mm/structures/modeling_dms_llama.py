"""A Llama whose layers have sizes of their own: the model code that a folder
written by ``dms_mm.structures.hf_export.save_causal_lm`` carries, for
``AutoModelForCausalLM.from_pretrained(folder, trust_remote_code=True)``.

It needs transformers and torch only (not dms_mm): the folder is copied with
this file to wherever it is loaded. Each layer's heads (in whole GQA groups,
head dims unchanged) and FFN width are read from ``config.layer_sizes``; the
hidden size, the layers and everything else are a Llama's.
"""
from torch import nn
from transformers import LlamaConfig, LlamaForCausalLM

try:  # transformers 5 validates its configs as strict dataclasses
    from huggingface_hub.dataclasses import strict
except ImportError:  # pragma: no cover
    def strict(cls):
        return cls


@strict
class DMSLlamaConfig(LlamaConfig):
    """A ``LlamaConfig`` with ``layer_sizes``: one dict per layer with its
    ``num_attention_heads``, ``num_key_value_heads`` and
    ``intermediate_size``."""

    model_type = 'dms_llama'
    layer_sizes: list | None = None

    def validate_architecture(self):
        """Each layer's query heads are whole multiples of its key/value heads
        (the hidden size need not be a multiple of the heads: the head dim is
        given)."""
        for i, size in enumerate(getattr(self, 'layer_sizes', None) or []):
            heads, groups = size['num_attention_heads'], size['num_key_value_heads']
            if groups < 1 or heads % groups:
                raise ValueError(f'layer {i}: {heads} query heads are not a multiple of '
                                 f'{groups} key/value heads')


class DMSLlamaForCausalLM(LlamaForCausalLM):
    """``LlamaForCausalLM`` with the sizes of each layer's projections from
    ``config.layer_sizes``."""

    config_class = DMSLlamaConfig

    def __init__(self, config: DMSLlamaConfig) -> None:
        super().__init__(config)
        sizes = config.layer_sizes
        if len(sizes) != len(self.model.layers):
            raise ValueError(f'DMSLlamaConfig: {len(sizes)} layer_sizes for '
                             f'{len(self.model.layers)} layers')
        hidden, head_dim = config.hidden_size, config.head_dim
        attn_bias, mlp_bias = config.attention_bias, config.mlp_bias
        for layer, size in zip(self.model.layers, sizes):
            attn, mlp = layer.self_attn, layer.mlp
            heads, groups = size['num_attention_heads'], size['num_key_value_heads']
            attn.q_proj = nn.Linear(hidden, heads * head_dim, bias=attn_bias)
            attn.k_proj = nn.Linear(hidden, groups * head_dim, bias=attn_bias)
            attn.v_proj = nn.Linear(hidden, groups * head_dim, bias=attn_bias)
            attn.o_proj = nn.Linear(heads * head_dim, hidden, bias=attn_bias)
            attn.num_key_value_groups = heads // groups
            width = size['intermediate_size']
            mlp.gate_proj = nn.Linear(hidden, width, bias=mlp_bias)
            mlp.up_proj = nn.Linear(hidden, width, bias=mlp_bias)
            mlp.down_proj = nn.Linear(width, hidden, bias=mlp_bias)
            mlp.intermediate_size = width
        self.post_init()
