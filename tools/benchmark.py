#!/usr/bin/env python
"""Speed and peak memory of AdaLAViT with softmax, linear or no attention, against image size.

    python tools/benchmark.py --arch dinov2_vits14 --sizes 518 1022 2044 --scope backbone

    # DINOv2-L UperNet at 4096 px: backbone and neck+head+labels time and peak memory apart
    python tools/benchmark.py --arch dinov2_vitl14 --scope segmentor --variants linear --sizes 4096 \
        --warmup 0 --repeats 1

Writes benchmark.md (the table, also printed), benchmark.json (raw numbers and settings) and
benchmark.png (throughput and memory against size) into --out-dir. The measuring is in
mmseg_adala/benchmark/; this file only reads the command line.
"""
import argparse
import json
import shlex
import sys

from mmseg_adala.benchmark import (DEFAULT_SEGMENTOR_CONFIG, DEFAULT_VARIANTS, DTYPES, MODES, VARIANTS,
                                   BenchmarkSettings, markdown_report, run_benchmark, write_report)


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument('--arch', default='dinov2_vits14',
                        help='backbone arch: a short name (dinov2_vitl14, dinov3_vitl16, ...) or a timm name')
    parser.add_argument('--vit-cfg', type=json.loads, default=None,
                        help='JSON overrides of the timm ViT, e.g. \'{"embed_dim":48,"depth":2,"num_heads":2}\'')
    parser.add_argument('--sizes', type=int, nargs='+', default=[512, 1024, 2048],
                        help='square image sides in px (DINOv2 patch 14: 518, 1022, 2044 need no padding)')
    parser.add_argument('--variants', nargs='+', choices=VARIANTS, default=list(DEFAULT_VARIANTS))
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
    parser.add_argument('--segmentor-config', default=DEFAULT_SEGMENTOR_CONFIG,
                        help='MMSeg config with an AdaLAViT backbone (scope segmentor/both)')
    parser.add_argument('--head-tile', type=int, default=None,
                        help="segmentor: tile side in px of the neck and head (0: untiled; default: the config's)")
    return parser.parse_args(argv)


def main() -> None:
    args = parse_args()
    settings = BenchmarkSettings(
        arch=args.arch, sizes=args.sizes, variants=args.variants,
        scopes=['backbone', 'segmentor'] if args.scope == 'both' else [args.scope], mode=args.mode,
        batch_size=args.batch_size, device=args.device, dtype=args.dtype, warmup=args.warmup,
        repeats=args.repeats, rounds=args.rounds, threads=args.threads, vit_cfg=args.vit_cfg,
        segmentor_config=args.segmentor_config, time_budget_s=args.time_budget_s, timeout_s=args.timeout_s,
        head_tile=args.head_tile,
        command=shlex.join(['python', *sys.argv]))
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
