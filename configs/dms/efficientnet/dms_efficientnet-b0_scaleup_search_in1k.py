# Scaling up with DMS (the paper's default pipeline): grow mmpretrain's EfficientNet-B0 into a
# larger supernet, 1.5 times as wide in every searchable channel unit and with twice as many
# removable blocks per run of blocks of one width (depths [1, 3, 3, 5, 5, 7, 1]), then search
# it down to the FLOPs of EfficientNet-B0 itself. DMS decides where B0's budget goes, and may
# give some parts more width or depth than B0 has. Everything else is
# dms_efficientnet-b0_search_in1k.py.
#
# To start from trained B0 weights, set model.expand.checkpoint to a checkpoint of the
# architecture below: its weights fill the first channels and blocks of the grown model.
_base_ = ['./dms_efficientnet-b0_search_in1k.py']

# The FLOPs of EfficientNet-B0 at 224x224 as the DMS mutator counts them (the "supernet"
# line of `python tools/dms_summary.py configs/dms/efficientnet/
# dms_efficientnet-b0_search_in1k.py`). The grown supernet has 1329.3 MFLOPs, so this is a
# ratio of 0.3022. tests/test_configs/test_efficientnet_configs.py recounts it.
efficientnet_b0_flops = 401659392

model = dict(
    expand=dict(channel_ratio=1.5, block_ratio=2.0, checkpoint=None),
    target_flops_ratio=None,
    target_flops=efficientnet_b0_flops,
)
