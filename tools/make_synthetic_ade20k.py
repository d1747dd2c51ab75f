#!/usr/bin/env python
"""Writes a synthetic ADE20K-layout dataset: orientation textures (a patch tells its class) or
the demo's context scenes (only a key elsewhere in the image does).

Example: python tools/make_synthetic_ade20k.py data/synthetic_ade20k --num-train 200 --size 128
         python tools/make_synthetic_ade20k.py data/context --scene context --size 112 --num-classes 4
"""
import argparse
import inspect

from mmseg_adala.datasets.context_scenes import render_context_scene
from mmseg_adala.datasets.synthetic_ade20k import make_synthetic_ade20k, render_scene

SCENES = {'texture': render_scene, 'context': render_context_scene}


class HelpFormatter(argparse.RawDescriptionHelpFormatter, argparse.ArgumentDefaultsHelpFormatter):
    """Keeps the example's line breaks and shows each option's default."""


def main():
    # Defaults come from the library function, so the two cannot drift apart.
    default = {name: p.default for name, p in
               inspect.signature(make_synthetic_ade20k).parameters.items()}
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=HelpFormatter)
    parser.add_argument('root', help='output folder; gets images/ and annotations/')
    parser.add_argument('--num-train', type=int, default=default['num_train'],
                        help='training images')
    parser.add_argument('--num-val', type=int, default=default['num_val'],
                        help='validation images')
    parser.add_argument('--size', type=int, nargs='+', default=[default['image_size']],
                        metavar='PX', help='image side, or height and width')
    parser.add_argument('--num-classes', type=int, default=default['num_classes'],
                        help='K: the first K ADE20K classes (texture: one texture each; context: '
                             'background and K - 1 object classes)')
    parser.add_argument('--scene', choices=sorted(SCENES), default='texture',
                        help='what the images show (see mmseg_adala/datasets/)')
    parser.add_argument('--seed', type=int, default=default['seed'], help='random seed')
    args = parser.parse_args()
    if len(args.size) > 2:
        parser.error('--size takes one or two numbers')

    summary = make_synthetic_ade20k(args.root, args.num_train, args.num_val,
                                    args.size[0] if len(args.size) == 1 else tuple(args.size),
                                    args.num_classes, args.seed, SCENES[args.scene])
    height, width = summary['image_size']
    for split, count in summary['num_images'].items():
        print(f'wrote {count} {split} images ({height}x{width}) to '
              f'{summary["root"]}/images/{split}, their labels to annotations/{split}')
    frequencies = ', '.join(f'{label}: {share:.3f}'
                            for label, share in enumerate(summary['class_frequencies']))
    print(f'share of training pixels per label (0 = other or key, ignored; 1..{summary["num_classes"]}'
          f' = the first ADE20K classes): {frequencies}')


if __name__ == '__main__':
    main()
