"""Benchmark result records as mmseg_adala.benchmark's measurements write them, for the report and harness tests."""


def benchmark_record(variant, size, ms, peak, status='ok', tokens=None):
    """A backbone measurement of `variant` at `size`: ms per image and peak MB if it ran ('ok')."""
    record = dict(scope='backbone', variant=variant, size=size, status=status, tokens=tokens)
    if status == 'ok':
        record.update(ms_per_image=ms, images_per_s=1000 / ms, peak_mb=peak)
    return record
