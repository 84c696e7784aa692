# Retrain the structure found by dms_efficientnet-b0_scaleup_search_glyphs.py. DMSSubModel
# grows the architecture the way subnet.json records ("expand"), then keeps what the search
# kept. Point it at a search result with
#   --cfg-options model.subnet=DIR/subnet.json model.checkpoint=DIR/pruned.pth
_base_ = ['./dms_efficientnet-b0_retrain_glyphs.py']

search_work_dir = 'work_dirs/dms_efficientnet-b0_scaleup_search_glyphs'
model = dict(
    subnet=search_work_dir + '/dms_export/subnet.json',
    checkpoint=search_work_dir + '/dms_export/pruned.pth',
)
