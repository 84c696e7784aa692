# The glyphs search (dms_resnet18-w16_search_glyphs.py) under a latency target: half of the
# supernet's latency, as the table measured on the device predicts it
# (dms_mm.resources.SoftLatencyEstimator). Measure the table first, on the device and with
# the threads and batch the model will run with (here one CPU thread, batches of 16: at
# batch 1 the whole model took from 3.5 to 5.6 ms in three timings on this machine), from
# the search config:
#   python tools/measure_latency.py configs/dms/resnet/dms_resnet18-w16_search_glyphs.py \
#       --device cpu --threads 1 --batch 16 --out work_dirs/latency/resnet18-w16_glyphs_cpu.json
# A table measured on another device or torch is refused; to search here for another device,
# latency_table=dict(path=..., allow_other_device=True).
_base_ = ['./dms_resnet18-w16_search_glyphs.py']

model = dict(
    target_flops_ratio=None,
    target_latency_ratio=0.5,
    latency_table='work_dirs/latency/resnet18-w16_glyphs_cpu.json',
)
