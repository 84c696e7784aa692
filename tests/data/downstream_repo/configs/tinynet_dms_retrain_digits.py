# Retrain the structure found by tinynet_dms_search_digits.py.
_base_ = ['dms_mm::dms/efficientnet/dms_efficientnet-b0_retrain_digits.py']

custom_imports = dict(imports=['dms_mm', 'my_project'], allow_failed_imports=False)

search_dir = 'work_dirs/tinynet_dms_search_digits/dms_export'
model = dict(
    architecture=dict(
        backbone=dict(_delete_=True, type='TinyNet', widths=(16, 32), depths=(3, 2)),
        head=dict(in_channels=32)),
    subnet=search_dir + '/subnet.json',
    checkpoint=search_dir + '/pruned.pth')
