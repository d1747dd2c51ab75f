"""Speed and peak memory of the same AdaLAViT with softmax, linear or no attention, per image size.

Linear attention costs O(N d^2) against softmax's O(N^2 d) in the token count N, so its gain
grows with resolution. The variants of one network (`variants.VARIANT_ATTENTION`):

- ``softmax``: AdaLAViT with ``attn_type='softmax'`` (the DINOv2 teacher's kernel, via SDPA);
- ``linear``: ``attn_type='linear', feature_map='elu'`` (the ViT-AdaLA student);
- ``no_attention``: ``attn_type='none'``, which keeps every attention's qkv and proj layers
  but drops the attention kernel (out = proj(v)). It is the ceiling of any linear-attention
  backbone: the rest of the network costs what it costs whatever the kernel, so
  linear / no_attention says how much of the remaining time is the linear kernel itself.

`settings` says what to measure, `measure` takes one measurement in a process, `harness`
runs them all, each in a fresh process, round after round, and `report` writes the tables
and the plot. tools/benchmark.py is the command line.

Two checks of correctness rather than speed build on the variants and the harness, so they
live here too: `head_tiling_check` (tiled against untiled neck + head logits of a full-size
segmentor, tools/check_head_tiling.py) and `gpu_check` (a GPU machine's acceptance check,
tools/gpu_check.sh).
"""
from .harness import pool_rounds, run_benchmark
from .measure import PeakMemory, run_measurement, steady_cpu_allocator
from .report import (PAPER_EFFICIENCY, markdown_report, markdown_table, paper_table, plot_report, scaling_rows,
                     write_report)
from .settings import DTYPES, MODES, SCOPES, BenchmarkSettings, measurement_specs
from .variants import (DEFAULT_SEGMENTOR_CONFIG, DEFAULT_VARIANTS, VARIANT_ATTENTION, VARIANTS, build_backbone,
                       build_segmentor, segmentor_model_config)

__all__ = ['BenchmarkSettings', 'DEFAULT_SEGMENTOR_CONFIG', 'DEFAULT_VARIANTS', 'DTYPES', 'MODES', 'PAPER_EFFICIENCY',
           'PeakMemory', 'SCOPES', 'VARIANTS', 'VARIANT_ATTENTION', 'build_backbone', 'build_segmentor',
           'markdown_report', 'markdown_table', 'measurement_specs', 'paper_table', 'plot_report', 'pool_rounds',
           'run_benchmark', 'run_measurement', 'scaling_rows', 'segmentor_model_config', 'steady_cpu_allocator',
           'write_report']
