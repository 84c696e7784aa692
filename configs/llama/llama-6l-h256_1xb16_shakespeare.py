# A small Llama trained from scratch on Shakespeare (dms_mm/datasets/shakespeare.py): 6
# layers, hidden size 256, 8 query heads sharing 2 key/value heads (GQA), FFN width 688,
# a 4,096-token BPE vocabulary; 6.25 M parameters. transformers' LlamaForCausalLM, built
# from its LlamaConfig by dms_mm's HFCausalLM, trained on windows of 128 tokens; the
# metric is the perplexity of the held-out plays (Julius Caesar and Twelfth Night for
# validation, Macbeth and Much Ado About Nothing for the test) over the same windows.
# For a model saved by transformers (save_pretrained), replace `config=...` with
# `pretrained='PATH/TO/FOLDER'` (read locally; nothing is downloaded).
default_scope = 'mmrazor'
custom_imports = dict(imports=['dms_mm'], allow_failed_imports=False)

llama_vocab_size = 4096
llama_block_size = 128
model = dict(
    type='HFCausalLM',
    model_type='llama',
    config=dict(
        vocab_size=llama_vocab_size,
        hidden_size=256,
        intermediate_size=688,
        num_hidden_layers=6,
        num_attention_heads=8,
        num_key_value_heads=2,
        max_position_embeddings=llama_block_size,
        tie_word_embeddings=False,
    ),
)

shakespeare = dict(type='ShakespeareDataset', block_size=llama_block_size,
                   vocab_size=llama_vocab_size)
shakespeare_loader = dict(num_workers=0, collate_fn=dict(type='default_collate'))
train_dataloader = dict(shakespeare_loader, batch_size=16,
                        dataset=dict(split='train', **shakespeare),
                        sampler=dict(type='DefaultSampler', shuffle=True))
val_dataloader = dict(shakespeare_loader, batch_size=32,
                      dataset=dict(split='val', **shakespeare),
                      sampler=dict(type='DefaultSampler', shuffle=False))
test_dataloader = dict(val_dataloader, dataset=dict(split='test', **shakespeare))
val_evaluator = dict(type='Perplexity')
test_evaluator = val_evaluator

optim_wrapper = dict(
    optimizer=dict(type='AdamW', lr=1e-3, betas=(0.9, 0.95), weight_decay=0.1),
    clip_grad=dict(max_norm=1.0))
max_iters = 3000
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0, end=100),
    dict(type='CosineAnnealingLR', by_epoch=False, begin=100, end=max_iters, eta_min=1e-4),
]
train_cfg = dict(type='IterBasedTrainLoop', max_iters=max_iters, val_interval=500)
val_cfg = dict()
test_cfg = dict()

default_hooks = dict(
    logger=dict(type='LoggerHook', interval=50),
    checkpoint=dict(type='CheckpointHook', by_epoch=False, interval=500, max_keep_ckpts=1),
)
log_processor = dict(by_epoch=False)
env_cfg = dict(cudnn_benchmark=False, dist_cfg=dict(backend='nccl'))
randomness = dict(seed=0, deterministic=False)
