# DMS on Llama-2-7B (the paper's DMSp on Llama-7B, Table 10): from the pretrained weights
# down to 5.47 B parameters (0.81 of 6.74 B), on WikiText-2, 8 GPUs with FSDP through
# mmengine's FlexibleRunner (DMSFSDPStrategy: the model sharded, the structure
# parameters whole on every GPU). See configs/llama/llama2-7b_8xb4_wikitext2.py
# for where the model's folder and the text files go.
#
#   bash tools/dist_train.sh configs/dms/llama/dms_llama2-7b_search_8xb4_wikitext2.py 8
#   python tools/export_hf.py ...   (the searched model as a transformers folder)
#
# Searched (dms_mm/mutators/llama_family.py): the heads of every layer (Llama-2-7B has no
# GQA: each key/value group is one head), every FFN width, the hidden size and the layers.
# Where this deviates from the paper: the paper searches heads and FFN widths only, and
# finetunes on Alpaca with the original model distilling; here the hidden size and depth
# are searched too (`mutator.depth.enabled=False` turns depth off) and the text is
# WikiText-2's training file, without distillation.
_base_ = ['../../llama/llama2-7b_8xb4_wikitext2.py']

model = dict(
    _delete_=True,
    type='DMSAlgorithm',
    architecture=_base_.model,
    mutator=dict(
        type='DMSMutator',
        channel_unit_cfg=dict(type='DMSChannelUnit', default_args=dict(min_keep=0.05)),
        parse_cfg=dict(type='ChannelAnalyzer', demo_input=(1, _base_.llama_block_size),
                       tracer_type='FxTracer'),
        depth=dict(enabled=True)),
    target_params=5.47e9,
    loss_type='log',
    loss_weight=1.0,
    two_sided=True,
)

strategy = dict(type='DMSFSDPStrategy')
optim_wrapper = dict(
    constructor='mmrazor.DMSOptimWrapperConstructor',
    paramwise_cfg=dict(custom_keys={'mutator': dict(lr=5e-3, decay_mult=0.0)}))
custom_hooks = [
    dict(type='DMSSchedulerHook', schedule='root', decay_ratio=0.8, refine_ratio=0.2),
    dict(type='DMSExportHook', out_dir='dms_export', scale_to_target=True),
]
