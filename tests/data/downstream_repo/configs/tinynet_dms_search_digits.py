# Search the width and depth of my_project's TinyNet with dms_mm, on the digits.
_base_ = ['dms_mm::dms/efficientnet/dms_efficientnet-b0_search_digits.py']

custom_imports = dict(imports=['dms_mm', 'my_project'], allow_failed_imports=False)

model = dict(
    architecture=dict(
        backbone=dict(_delete_=True, type='TinyNet', widths=(16, 32), depths=(3, 2)),
        head=dict(in_channels=32)),
    mutator=dict(depth=dict(removable_types=['CheckedResBlock'])),
    target_flops_ratio=0.6)
