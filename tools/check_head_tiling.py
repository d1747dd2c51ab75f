#!/usr/bin/env python
"""Tiled against untiled neck + head logits of a full-size segmentor (random weights).

    python tools/check_head_tiling.py --arch dinov2_vitl14 --size 1022 --head-tile 512

Prints the largest difference (absolute, and relative to the largest logit) and the fraction
of logit pixels whose argmax agrees. The comparison is in mmseg_adala/benchmark/head_tiling_check.py.
"""
import argparse
import json

import torch

from mmseg_adala.benchmark import DEFAULT_SEGMENTOR_CONFIG, VARIANTS
from mmseg_adala.benchmark.head_tiling_check import compare_head_tiling


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument('--config', default=DEFAULT_SEGMENTOR_CONFIG, help='MMSeg config with an AdaLAViT backbone')
    parser.add_argument('--arch', default='dinov2_vitl14', help='backbone arch (vit_archs.ARCHS or a timm name)')
    parser.add_argument('--variant', default='linear', choices=VARIANTS)
    parser.add_argument('--vit-cfg', type=json.loads, default=None, help='JSON overrides of the timm ViT')
    parser.add_argument('--size', type=int, default=1022, help='square image side in px')
    parser.add_argument('--head-tile', type=int, default=512, help='tile side in px of the neck and head')
    parser.add_argument('--threads', type=int, default=None, help='torch intra-op threads')
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    print(json.dumps(compare_head_tiling(args.config, args.arch, args.size, args.head_tile, args.variant,
                                         args.vit_cfg), indent=1))


if __name__ == '__main__':
    main()
