#!/usr/bin/env python
"""Speed and peak memory of AdaLAViT with softmax, linear or no attention, against image size.

    python tools/benchmark.py --arch dinov2_vits14 --sizes 518 1022 2044 --scope backbone

    # DINOv2-L UperNet at 4096 px: backbone and neck+head+labels time and peak memory apart
    python tools/benchmark.py --arch dinov2_vitl14 --scope segmentor --variants linear --sizes 4096 \
        --warmup 0 --repeats 1

    # the paper's efficiency table: DINOv2-L Mask2Former (Cityscapes config), softmax and linear
    # at 256, 512 and 1024 px, img/s and peak memory side by side with their ratios
    python tools/benchmark.py --paper-table

Writes benchmark.md (the table, also printed), benchmark.json (raw numbers and settings) and
benchmark.png (throughput and memory against size) into --out-dir. The measuring is in
mmseg_adala/benchmark/; this file only reads the command line.
"""
import argparse
import json
import os.path as osp
import shlex
import sys

from mmseg_adala.benchmark import (DEFAULT_SEGMENTOR_CONFIG, DEFAULT_VARIANTS, DTYPES, MODES, PAPER_EFFICIENCY,
                                   VARIANTS, BenchmarkSettings, markdown_report, run_benchmark, write_report)
from mmseg_adala.engine.config_files import CONFIG_ROOT

# --paper-table's model, sizes and variants (unless given): the paper's table is DINOv2-L Mask2Former.
PAPER_TABLE = dict(arch='dinov2_vitl14', sizes=sorted(PAPER_EFFICIENCY), variants=['softmax', 'linear'],
                   segmentor_config=osp.join(CONFIG_ROOT, 'adala_dinov2_l_cityscapes_mask2former_1024.py'))


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument('--arch', default=None,
                        help='backbone arch: a short name (dinov2_vitl14, dinov3_vitl16, ...) or a timm name '
                             '(default: dinov2_vits14; --paper-table: dinov2_vitl14)')
    parser.add_argument('--vit-cfg', type=json.loads, default=None,
                        help='JSON overrides of the timm ViT, e.g. \'{"embed_dim":48,"depth":2,"num_heads":2}\'')
    parser.add_argument('--sizes', type=int, nargs='+', default=None,
                        help='square image sides in px (DINOv2 patch 14: 518, 1022, 2044 need no padding; '
                             'default: 512 1024 2048; --paper-table: 256 512 1024)')
    parser.add_argument('--variants', nargs='+', choices=VARIANTS, default=None,
                        help=f'default: {" ".join(DEFAULT_VARIANTS)}; --paper-table: softmax linear')
    parser.add_argument('--scope', choices=['backbone', 'segmentor', 'both'], default='backbone',
                        help='the AdaLAViT alone, or the whole UperNet segmentor of --segmentor-config')
    parser.add_argument('--mode', choices=MODES, default='inference',
                        help='inference: forward under inference_mode; train: forward + backward')
    parser.add_argument('--batch-size', type=int, default=1)
    parser.add_argument('--device', choices=['cpu', 'cuda'], default='cpu')
    parser.add_argument('--dtype', choices=list(DTYPES), default='float32',
                        help='bfloat16/float16 autocast over float32 weights')
    parser.add_argument('--warmup', type=int, default=1, help='untimed runs first')
    parser.add_argument('--repeats', type=int, default=3, help='timed runs; the median is reported')
    parser.add_argument('--rounds', type=int, default=1,
                        help='run all measurements this many times, interleaved, and pool their timed runs')
    parser.add_argument('--threads', type=int, default=None, help='torch intra-op threads (default: torch\'s)')
    parser.add_argument('--time-budget-s', type=float, default=600.,
                        help='stop timing a measurement after this long (at least one timed run)')
    parser.add_argument('--timeout-s', type=float, default=3600.,
                        help='kill a measurement after this long and record it as a timeout')
    parser.add_argument('--out-dir', default='work_dirs/benchmark')
    parser.add_argument('--segmentor-config', default=None,
                        help='MMSeg config with an AdaLAViT backbone (scope segmentor/both; default: '
                             'configs/adala_dinov2_l_ade20k.py; --paper-table: the Cityscapes Mask2Former one)')
    parser.add_argument('--paper-table', action='store_true',
                        help="also print the paper's efficiency table: softmax and linear img/s and peak memory "
                             'per size with their ratios (scope segmentor)')
    parser.add_argument('--head-tile', type=int, default=None,
                        help="segmentor: tile side in px of the neck and head (0: untiled; default: the config's)")
    return parser.parse_args(argv)


def settings_from_args(args: argparse.Namespace) -> BenchmarkSettings:
    """The settings of the command line, with the defaults of --paper-table or of a plain run."""
    defaults = PAPER_TABLE if args.paper_table else dict(
        arch='dinov2_vits14', sizes=[512, 1024, 2048], variants=list(DEFAULT_VARIANTS),
        segmentor_config=DEFAULT_SEGMENTOR_CONFIG)
    chosen = {key: value if getattr(args, key) is None else getattr(args, key) for key, value in defaults.items()}
    scope = 'segmentor' if args.paper_table and args.scope == 'backbone' else args.scope
    return BenchmarkSettings(
        **chosen, scopes=['backbone', 'segmentor'] if scope == 'both' else [scope], mode=args.mode,
        batch_size=args.batch_size, device=args.device, dtype=args.dtype, warmup=args.warmup,
        repeats=args.repeats, rounds=args.rounds, threads=args.threads, vit_cfg=args.vit_cfg,
        time_budget_s=args.time_budget_s, timeout_s=args.timeout_s, head_tile=args.head_tile,
        paper_table=args.paper_table, command=shlex.join(['python', *sys.argv]))


def main() -> None:
    args = parse_args()
    settings = settings_from_args(args)
    try:
        settings.validate()
    except ValueError as error:
        sys.exit(f'benchmark.py: error: {error}')
    report = run_benchmark(settings, progress=lambda line: print(line, file=sys.stderr, flush=True))
    paths = write_report(report, args.out_dir)
    print(markdown_report(report))
    print(f'wrote {", ".join(paths.values())}', file=sys.stderr)


if __name__ == '__main__':
    main()
