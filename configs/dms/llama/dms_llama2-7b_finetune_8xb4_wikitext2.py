# Finetune the Llama-2-7B that dms_llama2-7b_search_8xb4_wikitext2.py found (DMSSubModel: a
# plain transformers Llama whose layers keep their searched widths), with the dense
# config's data, metric, AdamW and FSDP on 8 GPUs. Point it at a search result with
#   --cfg-options model.subnet=DIR/subnet.json model.checkpoint=DIR/pruned.pth
_base_ = ['./dms_llama2-7b_search_8xb4_wikitext2.py']

search_work_dir = 'work_dirs/dms_llama2-7b_search_8xb4_wikitext2'
model = dict(
    _delete_=True,
    type='DMSSubModel',
    # the searched weights come from the export, not from the pretrained folder
    architecture=_base_.model.architecture,
    subnet=search_work_dir + '/dms_export/subnet.json',
    checkpoint=search_work_dir + '/dms_export/pruned.pth',
    reset_params=False,
)

strategy = dict(type='FSDPStrategy')
optim_wrapper = dict(_delete_=True, type='OptimWrapper',
                     optimizer=dict(type='AdamW', lr=1e-5, betas=(0.9, 0.95), weight_decay=0.0),
                     clip_grad=dict(max_norm=1.0))
custom_hooks = []
