"""A dataset of unlabeled images, for the distillation stages (1 and 2) of ViT-AdaLA.

Those stages only need images: COCO's flat ``train2017/`` or ImageNet-22K's class folders
(``n01440764/n01440764_10026.JPEG``) both work as `data_root`, since the folder is scanned
recursively. A pipeline in the style of DINOv2's training crops::

    train_pipeline = [
        dict(type='LoadImageOrSkip'),
        dict(type='RandomResizedCrop', size=224),
        dict(type='RandomFlip', prob=0.5),
        dict(type='PackSegInputs'),  # packs the image alone when there is no gt_seg_map
    ]
    train_dataloader = dict(
        batch_size=64, num_workers=8, sampler=dict(type='InfiniteSampler', shuffle=True),
        dataset=dict(type='UnlabeledImageFolder', data_root='data/coco/train2017',
                     pipeline=train_pipeline))

ImageNet-22K has no validation split: `held_out_every` holds out a slice of the training
folder, every n-th image of the sorted list, so that it spans all classes::

    train_dataloader = dict(dataset=dict(data_root='data/imagenet22k/train', held_out_every=10000))
    val_dataloader = dict(dataset=dict(data_root='data/imagenet22k/train', held_out_every=10000,
                                       held_out=True, test_mode=True))

Images stay BGR uint8 here: the model's normalisation (for DINOv2 mean 123.675, 116.28, 103.53; std 58.395,
57.12, 57.375; bgr_to_rgb=True) is the job of the model's data preprocessor, as in any
mmseg config.
"""
import os
from typing import List, Sequence

from mmengine.dataset import BaseDataset
from mmseg.registry import DATASETS

from .transforms import LoadImageOrSkip

IMG_EXTENSIONS = ('.jpg', '.jpeg', '.png', '.webp')

_SET_ROOT = ('Set {key}.data_root (and data_prefix.img_path, if you use it) to a folder of images, '
             "such as COCO's train2017/ or the ImageNet-22K root that holds the class folders.")


@DATASETS.register_module()
class UnlabeledImageFolder(BaseDataset):
    """Every image under a folder, or those an ann_file lists, as ``dict(img_path=...)``.

    Without `ann_file` the folder is scanned recursively with ``os.walk`` (which gets file
    types from the directory entries, so ImageNet-22K's 14M files cost directory reads, not
    14M ``stat`` calls), symlinked folders included, and the absolute paths are sorted so that
    every process and every run sees the same order. To skip the scan, write the list once
    into an ann_file.

    In training, unreadable images are skipped: ``LoadImageOrSkip`` returns None for them and
    BaseDataset then draws another random index, at most `max_refetch` times in a row; the
    metainfo of each packed sample (``data_samples``) holds in ``num_skipped`` how many images
    were skipped to get it, for the training loop's running total. In `test_mode`
    (validation) nothing is substituted, since a metric over a random replacement would count
    that image twice: an unreadable image is an error that names it.

    Args:
        data_root: the image folder (joined with ``data_prefix['img_path']`` if given).
        ann_file: optional text file of image paths relative to the image folder, one per
            line; blank lines and lines starting with '#' are skipped, order is kept. A
            relative ann_file is taken relative to `data_root`, as BaseDataset does.
        pipeline: the transforms, typically starting with ``LoadImageOrSkip``.
        extensions: file endings to keep when scanning (with the dot), case-insensitive.
        max_refetch: how many other indices to try after a skipped sample before giving up.
            33 failures in a row happen by chance only if most images are broken, so the
            error then points at a bad folder sooner than BaseDataset's default of 1000.
        held_out_every: hold out every n-th image of the list (the 1st, the n+1-th, ...), a
            validation slice of a folder that has no validation split; 0 holds out nothing.
        held_out: be the held-out images instead of the others.
        test_mode: a validation or test set (see above); errors then name `val_dataloader`.
        **kwargs: other BaseDataset arguments (serialize_data, lazy_init, indices, ...).
    """

    def __init__(self, data_root: str, ann_file: str = '', pipeline: Sequence = (),
                 extensions: Sequence[str] = IMG_EXTENSIONS, max_refetch: int = 32,
                 held_out_every: int = 0, held_out: bool = False, test_mode: bool = False,
                 **kwargs) -> None:
        if held_out and held_out_every < 1:
            raise ValueError(f'held_out=True needs held_out_every >= 1 (got {held_out_every}): '
                             'which images are held out?')
        self.extensions = tuple(ext.lower() for ext in extensions)
        self.held_out_every = held_out_every
        self.held_out = held_out
        super().__init__(ann_file=ann_file, data_root=data_root, pipeline=list(pipeline),
                         max_refetch=max_refetch, test_mode=test_mode, **kwargs)

    @property
    def config_key(self) -> str:
        """Where this dataset is set in a config, for error messages."""
        return 'val_dataloader.dataset' if self.test_mode else 'train_dataloader.dataset'

    @property
    def img_root(self) -> str:
        """The folder the images are under: data_root joined with data_prefix['img_path']."""
        root = self.data_prefix['img_path']
        # BaseDataset's join leaves a trailing '/', which would hide that a root is a file;
        # '' stays '' (not '.') so that a forgotten data_root is an error, not a scan of cwd.
        return os.path.normpath(root) if root else root

    @property
    def num_skipped(self) -> int:
        """How many unreadable images this dataset object has skipped.

        This is the sum of the counters of the ``LoadImageOrSkip`` transforms in its pipeline,
        so it counts skips (a broken file drawn twice counts twice) in this process only: each
        dataloader worker has its own copy of the dataset, and the main process's stays at 0
        when workers do the loading.
        """
        return sum(t.num_skipped for t in self.pipeline.transforms
                   if isinstance(t, LoadImageOrSkip))

    def load_data_list(self) -> List[dict]:
        """List the images, raising an error that says what to fix if there are none."""
        root = self.img_root
        set_root = _SET_ROOT.format(key=self.config_key)
        if not os.path.exists(root):
            raise FileNotFoundError(f'Image folder {root!r} does not exist. {set_root}')
        if not os.path.isdir(root):
            raise ValueError(f'Image folder {root!r} is not a folder. {set_root}')
        root = os.path.abspath(root)
        paths = self._read_ann_file(root) if self.ann_file else self._scan(root)
        if not paths and self.ann_file:
            raise ValueError(f'Image list {self.ann_file!r} lists no images. Add image paths '
                             f"relative to data_root to it, or set {self.config_key}."
                             f"ann_file='' to scan {root!r}.")
        if not paths:
            raise ValueError(f'Found no {"/".join(self.extensions)} files under {root!r} '
                             f'(searched recursively). {set_root} Pass extensions=... for '
                             'other file types.')
        if self.held_out_every:
            paths = [path for i, path in enumerate(paths)
                     if (i % self.held_out_every == 0) == self.held_out]
            if not paths:
                raise ValueError(f'Holding out every {self.held_out_every}th image of {root!r} '
                                 'leaves no training images: raise held_out_every.')
        return [dict(img_path=path) for path in paths]

    def _scan(self, root: str) -> List[str]:
        """Absolute, sorted paths of the files under `root` with one of `self.extensions`."""
        paths = [os.path.join(folder, name)
                 for folder, _, names in os.walk(root, followlinks=True)
                 for name in names if name.lower().endswith(self.extensions)]
        paths.sort()
        return paths

    def _read_ann_file(self, root: str) -> List[str]:
        """Absolute paths of the images `self.ann_file` lists, in its order."""
        if not os.path.isfile(self.ann_file):
            raise FileNotFoundError(
                f'Image list ann_file {self.ann_file!r} does not exist (a relative ann_file is '
                f'taken relative to data_root). Set {self.config_key}.ann_file to a text '
                "file of image paths relative to data_root, or to '' to scan data_root.")
        with open(self.ann_file, encoding='utf-8') as f:
            lines = (line.strip() for line in f)
            return [os.path.join(root, line) for line in lines
                    if line and not line.startswith('#')]

    def __getitem__(self, idx: int) -> dict:
        """BaseDataset's, with the skips it took and clear errors when images are unreadable."""
        skipped = self.num_skipped
        try:
            data = super().__getitem__(idx)
        except Exception as err:
            # BaseDataset raises a bare Exception only when the pipeline returned None: at
            # once in test mode, after max_refetch random retries in training.
            if type(err) is not Exception:
                raise
            if self.test_mode:
                raise RuntimeError(
                    f'Image {self.get_data_info(idx)["img_path"]!r} is unreadable (the warning '
                    'above says why), and validation does not replace images: fix or delete it, '
                    f'or leave it out of {self.config_key}.ann_file.') from err
            raise RuntimeError(
                f'{self.max_refetch + 1} samples in a row from {self.img_root!r} were skipped '
                f'({self.num_skipped} unreadable images so far in this process): most images '
                'there seem broken. The warnings above name them; fix or delete them, or list '
                'the good ones in an ann_file.') from err
        data['data_samples'].set_metainfo(dict(num_skipped=self.num_skipped - skipped))
        return data
