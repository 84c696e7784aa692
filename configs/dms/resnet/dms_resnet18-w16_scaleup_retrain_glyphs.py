# Retrain the structure found by dms_resnet18-w16_scaleup_search_glyphs.py. Point it at a
# search result with
#   --cfg-options model.subnet=DIR/subnet.json model.checkpoint=DIR/pruned.pth
_base_ = ['./dms_resnet18-w16_retrain_glyphs.py']

search_work_dir = 'work_dirs/dms_resnet18-w16_scaleup_search_glyphs'
model = dict(
    architecture=dict(
        backbone=dict(depth=34, stem_channels=24, base_channels=24),
        head=dict(in_channels=8 * 24)),
    subnet=search_work_dir + '/dms_export/subnet.json',
    checkpoint=search_work_dir + '/dms_export/pruned.pth',
)
