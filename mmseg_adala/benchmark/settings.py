"""What a benchmark run measures (the CLI's arguments), checked, and its list of measurements."""
import os.path as osp
from dataclasses import dataclass
from typing import List, Optional, Sequence

import torch

from ..models.backbones.vit_archs import resolve_arch
from .variants import DEFAULT_SEGMENTOR_CONFIG, DEFAULT_VARIANTS, VARIANTS

SCOPES = ('backbone', 'segmentor')
MODES = ('inference', 'train')
DTYPES = {'float32': torch.float32, 'bfloat16': torch.bfloat16, 'float16': torch.float16}


@dataclass
class BenchmarkSettings:
    """What to measure; the CLI's arguments (see tools/benchmark.py).

    Attributes:
        rounds: Times the whole list of measurements is run, interleaved; each cell pools the
            timed runs of all rounds.
        time_budget_s: Timed runs stop once they have taken this long (at least one runs), so
            the largest softmax sizes stay affordable; the JSON records the runs made.
        timeout_s: A measurement still running after this long is killed and recorded as 'timeout'.
        head_tile: The segmentor's test_cfg head_tile (tile side in px of its neck and head;
            0: untiled); None keeps the config's.
        paper_table: Also report the paper's efficiency table (softmax and linear side by side
            per size, with the paper's own ratios); needs both variants.
    """
    arch: str = 'dinov2_vits14'
    sizes: Sequence[int] = (512, 1024, 2048)
    variants: Sequence[str] = DEFAULT_VARIANTS
    scopes: Sequence[str] = ('backbone',)
    mode: str = 'inference'
    batch_size: int = 1
    device: str = 'cpu'
    dtype: str = 'float32'
    warmup: int = 1
    repeats: int = 3
    rounds: int = 1
    threads: Optional[int] = None
    vit_cfg: Optional[dict] = None
    segmentor_config: str = DEFAULT_SEGMENTOR_CONFIG
    time_budget_s: float = 600.
    timeout_s: float = 3600.
    head_tile: Optional[int] = None
    paper_table: bool = False
    command: str = ''

    def validate(self) -> None:
        """Raise ValueError with the reason if these settings cannot be measured."""
        patch_size = (self.vit_cfg or {}).get('patch_size', resolve_arch(self.arch).patch_size)
        if not self.sizes or min(self.sizes) < patch_size:
            raise ValueError(f'image sizes must be at least one patch ({patch_size} px), got {list(self.sizes)}')
        for name, value, choices in (('variant', self.variants, VARIANTS), ('scope', self.scopes, SCOPES),
                                     ('mode', [self.mode], MODES), ('dtype', [self.dtype], DTYPES),
                                     ('device', [self.device], ('cpu', 'cuda'))):
            unknown = sorted(set(value) - set(choices))
            if unknown or not value:
                raise ValueError(f'unknown {name} {unknown or value}; choose from {list(choices)}')
        if self.device == 'cuda' and not torch.cuda.is_available():
            raise ValueError(f'--device cuda, but torch {torch.__version__} sees no CUDA GPU '
                             f'(built with CUDA {torch.version.cuda})')
        if self.batch_size < 1 or self.repeats < 1 or self.rounds < 1 or self.warmup < 0:
            raise ValueError('batch size, repeats and rounds must be >= 1 and warm-up >= 0')
        if self.paper_table and not {'softmax', 'linear'} <= set(self.variants):
            raise ValueError(f'the paper table compares softmax and linear; --variants has {list(self.variants)}')
        if 'segmentor' in self.scopes:
            if not osp.isfile(self.segmentor_config):
                raise ValueError(f'segmentor config {self.segmentor_config!r} not found')
            if self.mode == 'train' and self.batch_size < 2:
                raise ValueError('training a segmentor needs --batch-size >= 2: the UPerHead pooling branch '
                                 'has BatchNorm on 1x1 maps, which cannot train on one value per channel')


def measurement_specs(settings: BenchmarkSettings) -> List[dict]:
    """One dict per measurement, in table order (scope, then size, then variant)."""
    shared = dict(arch=settings.arch, mode=settings.mode, batch_size=settings.batch_size,
                  device=settings.device, dtype=settings.dtype, warmup=settings.warmup,
                  repeats=settings.repeats, threads=settings.threads, vit_cfg=settings.vit_cfg,
                  segmentor_config=settings.segmentor_config, time_budget_s=settings.time_budget_s,
                  head_tile=settings.head_tile)
    return [dict(shared, scope=scope, size=size, variant=variant)
            for scope in settings.scopes for size in settings.sizes for variant in settings.variants]
