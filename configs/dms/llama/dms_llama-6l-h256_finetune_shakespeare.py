# Finetune the Llama that dms_llama-6l-h256_search_shakespeare.py found, as a plain
# transformers Llama whose layers keep their searched widths (DMSSubModel), with the
# dense model's data, metric and AdamW. Point it at a search result with
#   --cfg-options model.subnet=DIR/subnet.json model.checkpoint=DIR/pruned.pth
_base_ = ['./dms_llama-6l-h256_search_shakespeare.py']

search_work_dir = 'work_dirs/dms_llama-6l-h256_search_shakespeare'
model = dict(
    _delete_=True,
    type='DMSSubModel',
    # the searched weights come from the export, not from the dense checkpoint
    architecture=dict(_base_.model.architecture, init_cfg=None),
    subnet=search_work_dir + '/dms_export/subnet.json',
    checkpoint=search_work_dir + '/dms_export/pruned.pth',
    reset_params=False,
)

optim_wrapper = dict(_delete_=True, type='OptimWrapper',
                     optimizer=dict(type='AdamW', lr=2e-4, betas=(0.9, 0.95), weight_decay=0.1),
                     clip_grad=dict(max_norm=1.0))
custom_hooks = []
