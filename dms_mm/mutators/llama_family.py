"""The Llama family: transformers' ``LlamaForCausalLM`` searched as the paper
searches Llama.

torch.fx cannot trace transformers' forwards (keyword-only inputs, caches,
masks built from the inputs), so the whole causal LM is one family module:
the tracer sees a stand-in from the token ids to the logits, and every unit
is described here:

* the hidden size across the model: the embedding table's columns, every
  RMSNorm, the inputs of every projection and of ``lm_head``, and the outputs
  of ``o_proj`` and ``down_proj`` (which add into the residual stream);
* in each layer, the attention heads in whole GQA groups: a key/value head
  with the query heads that read it (``num_attention_heads /
  num_key_value_heads`` of them), as one channel of a unit whose rows in
  ``q_proj``, ``k_proj``, ``v_proj`` and columns in ``o_proj`` repeat it, so
  the export is still a GQA model with the same ratio; head dims stay whole
  (the rotary embedding turns pairs of dims by their position in the head);
* in each layer, the FFN hidden width (``gate_proj`` and ``up_proj`` rows,
  ``down_proj`` columns);
* the layers themselves: the attention and MLP residuals of a layer are scaled
  by one depth mask (on the weights of ``o_proj`` and ``down_proj``).

The vocabulary (``lm_head``'s rows) stays: it is the model's output.
"""
from types import SimpleNamespace
from typing import List

from mmengine.logging import print_log
from torch import nn
from transformers.modeling_outputs import CausalLMOutputWithPast
from transformers.models.llama.modeling_llama import (
    LlamaAttention,
    LlamaDecoderLayer,
    LlamaForCausalLM,
    LlamaMLP,
    LlamaRMSNorm,
)

from dms_mm.dynamic_ops import DMS_OP_MAP, DMSRMSNorm
from dms_mm.dynamic_ops.depth import BlockInfo, BlockScale, StageInfo

from .model_family import (
    FamilyStage,
    ModelFamily,
    StandInLinear,
    _free_dms_linear,
    channel,
    register_model_family,
)

DMS_OP_MAP.register(LlamaRMSNorm, DMSRMSNorm, native=True)


class StandInCausalLM(StandInLinear):
    """What the tracer sees in place of a causal LM: token ids in, logits of
    the vocabulary out (as transformers' output, with ``logits``)."""

    def __init__(self, vocab_size: int) -> None:
        super().__init__(1, vocab_size, bias=False)

    def forward(self, input_ids, *args, **kwargs):
        return CausalLMOutputWithPast(
            logits=super().forward(input_ids.unsqueeze(-1).to(self.weight.dtype)))

    @staticmethod
    def traced_output(logits):
        """The output as the tracer gives it on: ``.logits`` is the traced tensor."""
        return SimpleNamespace(logits=logits)


@register_model_family
class LlamaFamily(ModelFamily):
    """transformers' ``LlamaForCausalLM`` (exactly that class: the models
    derived from it run forwards of their own)."""

    module_types = (LlamaForCausalLM, )
    exact_type = True

    def unsupported(self, name, root):
        config = root.config
        where = f'{name} ({type(root).__name__})'
        if config.tie_word_embeddings:
            raise NotImplementedError(
                f'{where}: tie_word_embeddings=True (lm_head shares the embedding table) is not '
                'handled; untie them (tie_word_embeddings=False) before the search')
        if getattr(config, 'pretraining_tp', 1) != 1:
            raise NotImplementedError(f'{where}: pretraining_tp={config.pretraining_tp} '
                                      '(slices of the projections) is not handled; set it to 1')
        for i, layer in enumerate(root.model.layers):
            parts = ((layer, LlamaDecoderLayer), (layer.self_attn, LlamaAttention),
                     (layer.mlp, LlamaMLP))
            for part, kind in parts:
                if type(part) is not kind:
                    raise NotImplementedError(
                        f'{name}.model.layers.{i}: {type(part).__name__} is not transformers\' '
                        f'{kind.__name__}, which the Llama family handles')
        return None

    def stand_in(self, name, root):
        return StandInCausalLM(root.config.vocab_size)

    def output_channels(self, name, root):
        vocab = root.lm_head.out_features
        return vocab, [channel(f'{name}.lm_head', 0, vocab, True)]

    @staticmethod
    def _norms(name: str, root: nn.Module) -> List[str]:
        names = [f'{name}.model.norm']
        for i in range(len(root.model.layers)):
            names += [f'{name}.model.layers.{i}.input_layernorm',
                      f'{name}.model.layers.{i}.post_attention_layernorm']
        return names

    def _hidden_unit(self, name: str, root: nn.Module) -> dict:
        hidden = root.model.embed_tokens.embedding_dim
        produced = [channel(f'{name}.model.embed_tokens', 0, hidden, True)]
        read = [channel(f'{name}.lm_head', 0, hidden, False)]
        for norm in self._norms(name, root):
            produced.append(channel(norm, 0, hidden, True))
            read.append(channel(norm, 0, hidden, False))
        for i in range(len(root.model.layers)):
            prefix = f'{name}.model.layers.{i}'
            produced += [channel(f'{prefix}.self_attn.o_proj', 0, hidden, True),
                         channel(f'{prefix}.mlp.down_proj', 0, hidden, True)]
            read += [channel(f'{prefix}.{part}', 0, hidden, False)
                     for part in ('self_attn.q_proj', 'self_attn.k_proj', 'self_attn.v_proj',
                                  'mlp.gate_proj', 'mlp.up_proj')]
        return dict(init_args=dict(num_channels=hidden),
                    channels=dict(output_related=produced, input_related=read))

    @staticmethod
    def _group_unit(prefix: str, attn: nn.Module) -> dict:
        """The GQA groups of one attention: one channel per key/value head."""
        groups = attn.k_proj.out_features // attn.head_dim
        q_rows, kv_rows = attn.q_proj.out_features, attn.k_proj.out_features
        return dict(init_args=dict(num_channels=groups), channels=dict(
            output_related=[channel(f'{prefix}.q_proj', 0, q_rows, True),
                            channel(f'{prefix}.k_proj', 0, kv_rows, True),
                            channel(f'{prefix}.v_proj', 0, kv_rows, True)],
            input_related=[channel(f'{prefix}.o_proj', 0, q_rows, False)]))

    @staticmethod
    def _ffn_unit(prefix: str, mlp: nn.Module) -> dict:
        width = mlp.down_proj.in_features
        return dict(init_args=dict(num_channels=width), channels=dict(
            output_related=[channel(f'{prefix}.gate_proj', 0, width, True),
                            channel(f'{prefix}.up_proj', 0, width, True)],
            input_related=[channel(f'{prefix}.down_proj', 0, width, False)]))

    def inner_units(self, name, root):
        units = [self._hidden_unit(name, root)]
        for i, layer in enumerate(root.model.layers):
            prefix = f'{name}.model.layers.{i}'
            units += [self._group_unit(f'{prefix}.self_attn', layer.self_attn),
                      self._ffn_unit(f'{prefix}.mlp', layer.mlp)]
        return units

    def op_widths(self, name, root):
        # the attention products run per query head: their FLOPs follow q_proj's kept rows
        return {f'{name}.model.layers.{i}.self_attn': f'{name}.model.layers.{i}.self_attn.q_proj'
                for i in range(len(root.model.layers))}

    def stages(self, name, root):
        reason = 'decoder layer: attention and MLP residuals scaled by one mask'
        blocks = [BlockInfo(f'{name}.model.layers.{i}', True, reason)
                  for i in range(len(root.model.layers))]
        return [FamilyStage(StageInfo(f'{name}.model.layers', blocks), self._scale_layer)]

    @staticmethod
    def _scale_layer(layer: nn.Module, mutable, index: int, name: str) -> None:
        """``x + m * o_proj(...)``, then ``y + m * down_proj(...)``: on the
        weights of the two projections that end the residual branches."""
        for key, last in (('self_attn', layer.self_attn.o_proj), ('mlp', layer.mlp.down_proj)):
            if not _free_dms_linear(last):
                raise TypeError(f'{name}.{key}: its last projection is not a free DMS linear')
            last.mask_outputs(BlockScale(mutable, index, f'{name}.{key}'))

    def finish_static(self, root, kept_output, removed):
        """The config and the layers' attributes follow the kept structure:
        ``hidden_size``, ``num_hidden_layers`` (each attention's
        ``layer_idx``, which indexes the KV cache), and the per-layer sizes
        where every layer kept the same."""
        config, layers = root.config, root.model.layers
        config.hidden_size = root.model.embed_tokens.embedding_dim
        config.num_hidden_layers = len(layers)
        if getattr(config, 'layer_types', None) is not None:
            gone = set(removed.get('model.layers', []))
            config.layer_types = [t for i, t in enumerate(config.layer_types) if i not in gone]
        heads, groups, ffn = set(), set(), set()
        for i, layer in enumerate(layers):
            attn, mlp = layer.self_attn, layer.mlp
            attn.layer_idx = i
            heads.add(attn.q_proj.out_features // attn.head_dim)
            groups.add(attn.k_proj.out_features // attn.head_dim)
            mlp.hidden_size = config.hidden_size
            mlp.intermediate_size = mlp.down_proj.in_features
            ffn.add(mlp.intermediate_size)
        if len(heads) == len(groups) == len(ffn) == 1:
            config.num_attention_heads, config.num_key_value_heads = heads.pop(), groups.pop()
            config.intermediate_size = ffn.pop()
        elif layers:
            print_log('LlamaFamily: the layers kept different widths; the config keeps the '
                      "supernet's per-layer sizes (the modules hold the kept ones)",
                      logger='current')
