"""mmseg-adala: ViT-AdaLA linear-attention ViTs for MMSegmentation.

The stack is pinned to versions that work together (see README, "Known-good versions");
mmcv itself is built by tools/setup_env.sh because PyPI only has its source.
"""
import os

from setuptools import find_packages, setup
from setuptools.command.build_py import build_py


class BuildWithConfigs(build_py):
    """Copies configs/ into the package as mmseg_adala/.mim/configs, OpenMMLab's layout for
    shipped configs, so `python -m mmseg_adala.train adala_dinov2_l_ade20k.py` works from a
    wheel. An editable install reads the clone's configs/ instead (mmseg_adala.engine.config_files)."""

    def run(self):
        super().run()
        if not self.editable_mode:
            self.copy_tree('configs', os.path.join(self.build_lib, 'mmseg_adala', '.mim', 'configs'))


setup(
    name='mmseg-adala',
    version='0.1.0',
    description='Linear-attention ViTs adapted from DINOv2 (ViT-AdaLA) for MMSegmentation',
    long_description=open('README.md', encoding='utf-8').read(),
    long_description_content_type='text/markdown',
    packages=find_packages(include=['mmseg_adala', 'mmseg_adala.*']),
    # torch 2.12.1, the known-good version, has wheels for Python 3.10 and later (3.9: up to
    # torch 2.8); 3.13 is untested with mmcv 2.1.0's build. tools/setup_env.sh checks the same range.
    python_requires='>=3.10,<3.13',
    install_requires=[
        # torch.OutOfMemoryError is new in 2.5; mmcv 2.1.0 cannot build against torch>=2.14 (C++20 headers)
        'torch>=2.5,<2.14',
        'torchvision',
        'mmcv==2.1.0',  # mmseg 1.2.2 asserts mmcv<2.2.0
        'mmengine==0.10.7',
        'mmsegmentation==1.2.2',
        'timm>=1.0.23,<2',  # attn_layer= on VisionTransformer; DINOv3 (Eva with rotate_half RoPE)
        'safetensors',  # timm's and Hugging Face's weight files (also a dependency of timm)
        'ftfy',  # imported by mmseg
        'regex',  # imported by mmseg
        'matplotlib',  # benchmark plots
    ],
    extras_require={
        'tests': ['pytest>=7'],
        # Mask2Former (configs/*mask2former*): MMSeg's Mask2FormerHead is mmdet's. 3.3.0 is mmdet's
        # newest release and asserts mmcv>=2.0.0rc4,<2.2.0 and mmengine<1.0 at import, which the
        # pins above satisfy; its own requirements name neither, so it changes no pin.
        'mask2former': ['mmdet==3.3.0'],
    },
    cmdclass={'build_py': BuildWithConfigs},
)
