# Llama-2-7B (a local transformers folder) on WikiText-2, for 8 GPUs through mmengine's
# FlexibleRunner with FSDP. Nothing is downloaded: put the
# model's folder (config, weights, tokenizer) at `llama_root` and WikiText-2's raw files
# (wiki.train.raw, wiki.valid.raw, wiki.test.raw) at `wikitext_root`. The metric is the
# perplexity of wiki.test.raw over windows of 128 tokens (LLM-Pruner's protocol, which the
# DMS paper's Table 10 follows).
#
#   bash tools/dist_train.sh configs/llama/llama2-7b_8xb4_wikitext2.py 8
#   bash tools/dist_test.sh configs/llama/llama2-7b_8xb4_wikitext2.py CKPT 8
#
# Only a GPU cluster runs it at this size; tests/test_configs/test_llama2_7b.py runs it on a
# tiny Llama saved the same way, on 2 CPU processes.
default_scope = 'mmrazor'
custom_imports = dict(imports=['dms_mm'], allow_failed_imports=False)

llama_root = 'data/Llama-2-7b-hf'
wikitext_root = 'data/wikitext-2-raw'
llama_block_size = 128
model = dict(type='HFCausalLM', model_type='llama', pretrained=llama_root)

wikitext = dict(type='TextFileDataset', data_root=wikitext_root, tokenizer=llama_root,
                block_size=llama_block_size)
text_loader = dict(num_workers=2, collate_fn=dict(type='default_collate'))
train_dataloader = dict(text_loader, batch_size=4,
                        dataset=dict(wikitext, ann_file='wiki.train.raw'),
                        sampler=dict(type='DefaultSampler', shuffle=True))
val_dataloader = dict(text_loader, batch_size=8,
                      dataset=dict(wikitext, ann_file='wiki.test.raw'),
                      sampler=dict(type='DefaultSampler', shuffle=False))
test_dataloader = val_dataloader
val_evaluator = dict(type='Perplexity')
test_evaluator = val_evaluator

runner_type = 'FlexibleRunner'
# The model is one FSDP unit: a DMS export copies the model, which nested FSDP units
# (one per decoder layer) do not allow. Checkpoints are mmengine's default, one shard per
# rank (they resume; tools/export_hf.py cannot read them). On GPUs,
# `--cfg-options strategy.state_dict_cfg=full` writes whole checkpoints; untested here,
# where the gathering crashed (SIGSEGV) on CPU processes (gloo).
strategy = dict(type='FSDPStrategy')
optim_wrapper = dict(
    optimizer=dict(type='AdamW', lr=1e-5, betas=(0.9, 0.95), weight_decay=0.0),
    clip_grad=dict(max_norm=1.0))
max_iters = 2000
param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0, end=100),
    dict(type='CosineAnnealingLR', by_epoch=False, begin=100, end=max_iters, eta_min=1e-6),
]
train_cfg = dict(type='IterBasedTrainLoop', max_iters=max_iters, val_interval=max_iters)
val_cfg = dict()
test_cfg = dict()

default_hooks = dict(
    logger=dict(type='LoggerHook', interval=10),
    checkpoint=dict(type='CheckpointHook', by_epoch=False, interval=max_iters,
                    max_keep_ckpts=1),
)
log_processor = dict(by_epoch=False)
env_cfg = dict(cudnn_benchmark=False, dist_cfg=dict(backend='nccl'))
randomness = dict(seed=0, deterministic=False)
