"""mmseg-adala: ViT-AdaLA linear-attention ViTs for MMSegmentation.

The stack is pinned to versions that work together (see README, "Known-good versions");
mmcv itself is built by tools/setup_env.sh because PyPI only has its source.
"""
from setuptools import find_packages, setup

setup(
    name='mmseg-adala',
    version='0.1.0',
    description='Linear-attention ViTs adapted from DINOv2 (ViT-AdaLA) for MMSegmentation',
    long_description=open('README.md', encoding='utf-8').read(),
    long_description_content_type='text/markdown',
    packages=find_packages(include=['mmseg_adala', 'mmseg_adala.*']),
    python_requires='>=3.9,<3.13',
    install_requires=[
        'torch>=2.1,<2.14',  # mmcv 2.1.0 cannot build against torch>=2.14 (C++20 headers)
        'torchvision',
        'mmcv==2.1.0',  # mmseg 1.2.2 asserts mmcv<2.2.0
        'mmengine==0.10.7',
        'mmsegmentation==1.2.2',
        'timm>=1.0.23,<2',  # attn_layer= on VisionTransformer
        'ftfy',  # imported by mmseg
        'regex',  # imported by mmseg
        'matplotlib',  # benchmark plots
    ],
    extras_require={'tests': ['pytest>=7']},
)
