"""`AdaLAInferencer`: MMSeg's inferencer with a strict checkpoint load, a choice of input scale and
of whole-image or sliding-window inference.

Linear attention's cost grows linearly with the number of pixels, so a whole 2048x2048 or
4096x4096 image fits in one forward pass (`mode='whole'`, the default). `MMSegInferencer` brings
the model building, the pipeline, the forward pass and the label maps; it loads weights leniently
(mismatched keys only warn) and always resizes as the config's test pipeline does, which is what
this class changes. It also says, from an image file's header, whether the image is one it
can take (`check_input_size`): not above a pixel limit, and of a shape the model can see at
the chosen scale.
"""
from typing import Optional, Tuple, Union

import torch
from mmengine.config import Config
from mmseg.apis import MMSegInferencer, init_model

from mmseg_adala.datasets.image_size import DEFAULT_MAX_PIXELS, check_fits_model, check_pixel_limit, header_size
from mmseg_adala.engine import load_segmentor_checkpoint

Scale = Union[str, Tuple[int, int]]
DTYPES = ('float32', 'bfloat16', 'float16')


class AdaLAInferencer(MMSegInferencer):
    """Segments images (paths or BGR arrays) into label maps at each image's own resolution.

    `AdaLAInferencer(config, checkpoint)(images)['predictions']` gives the (H, W) class ids, one
    array or a list of them, as `MMSegInferencer` does.

    Args:
        config: segmentor config file.
        checkpoint: segmentor checkpoint, loaded strictly: one that does not fit the config (a
            stage export, another attention) raises `CheckpointMismatchError` with its cause
            instead of segmenting with partly random weights. None: random weights.
        scale: 'config' resizes as the config's test pipeline does (the scale the model was
            trained at), 'native' does not resize (a model trained at short side 512 then sees a
            4096-px photo at 8x its training scale), (W, H) is `Resize(scale=(W, H),
            keep_ratio=True)`. The prediction is mapped back to the image's size either way.
        mode: 'whole' (one forward per image) or 'slide' (MMSeg's sliding window).
        crop_size: slide mode's window side.
        stride: slide mode's window step.
        device: cpu, cuda or cuda:N; None picks one.
        cfg_options: overrides merged into the config.
        dtype: 'float32', or 'bfloat16' / 'float16': the forward pass under `torch.autocast`
            over float32 weights, as AmpOptimWrapper trains; the attention kernels keep their
            statistics in float32 whatever the autocast (mmseg_adala/ops).
        max_pixels: The most pixels `check_input_size` lets through; None: the config's
            `max_image_pixels`, else 16384^2.
    """

    def __init__(self, config: str, checkpoint: Optional[str] = None, scale: Scale = 'config',
                 mode: str = 'whole', crop_size: int = 512, stride: int = 341,
                 device: Optional[str] = None, cfg_options: Optional[dict] = None, dtype: str = 'float32',
                 max_pixels: Optional[int] = None) -> None:
        cfg = Config.fromfile(config)
        if cfg_options:
            cfg.merge_from_dict(cfg_options)
        if mode == 'whole':  # the config's other keys (head_tile) stay
            cfg.model.test_cfg = dict(cfg.model.get('test_cfg') or {}, mode='whole')
        elif mode == 'slide':
            cfg.model.test_cfg = dict(mode='slide', crop_size=(crop_size,) * 2, stride=(stride,) * 2)
        else:
            raise ValueError(f"mode must be 'whole' or 'slide', got {mode!r}")
        if not (scale in ('config', 'native') or len(scale) == 2):
            raise ValueError(f"scale must be 'config', 'native' or (W, H), got {scale!r}")
        if dtype not in DTYPES:
            raise ValueError(f'dtype must be one of {DTYPES}, got {dtype!r}')
        self.scale = scale
        self.dtype = getattr(torch, dtype)
        self.max_pixels = max_pixels or cfg.get('max_image_pixels', DEFAULT_MAX_PIXELS)
        self._fit_scale = None  # (scale, how it was chosen) of the pipeline's keep-ratio Resize, if it has one
        super().__init__(cfg, checkpoint, device=device)

    def min_input_side(self) -> int:
        """The smallest image side the model takes, in px: the backbone's `min_grid` patches (AdaLAViT), else 1."""
        backbone = getattr(self.model, 'backbone', None)
        if hasattr(backbone, 'min_grid') and hasattr(backbone, 'patch_size'):
            return (backbone.min_grid - 1) * backbone.patch_size + 1
        return 1

    def check_input_size(self, path: str, size: Tuple[int, int]) -> None:
        """Raise `ImageSizeError` for a `size` (W, H) image file this inferencer should not decode or cannot
        segment: above `max_pixels`, or of an aspect ratio that the keep-ratio resize to `scale` would bring
        below the model's smallest side (which OpenCV's resize fails on with a raw `inv_scale_x > 0`
        assertion). Unresized, a side below it is the model's own `InputTooSmallError`."""
        check_pixel_limit(path, size, self.max_pixels)
        if self._fit_scale is not None:
            scale, how = self._fit_scale
            check_fits_model(path, size, scale, self.min_input_side(), how)

    def preprocess(self, inputs, batch_size: int = 1, **kwargs):
        """MMSeg's, after every image file is checked from its header (`check_input_size`), before any is decoded."""
        for path in inputs:
            size = header_size(path) if isinstance(path, str) else None
            if size is not None:
                self.check_input_size(path, size)
        return super().preprocess(inputs, batch_size, **kwargs)

    def forward(self, inputs, **kwargs):
        """MMSeg's forward (`test_step`), under autocast when `dtype` is a half type."""
        device_type = next(self.model.parameters()).device.type
        with torch.autocast(device_type, dtype=self.dtype, enabled=self.dtype != torch.float32):
            return super().forward(inputs, **kwargs)

    def _init_model(self, cfg: Config, weights: Optional[str], device: str):
        """MMSeg's `init_model` (it drops the backbone's pretrained `init_cfg`), then our strict loader."""
        model = init_model(cfg, None, device=device)
        checkpoint = {} if weights is None else load_segmentor_checkpoint(model, weights, cfg.model)
        model.dataset_meta = checkpoint.get('meta', {}).get('dataset_meta')  # None: no class names
        return model

    def _init_pipeline(self, cfg: Config):
        """MMSeg's test pipeline with its Resize kept, removed or replaced as `scale` says."""
        if self.scale != 'config':
            pipeline = [transform for transform in cfg.test_dataloader.dataset.pipeline
                        if transform['type'] != 'Resize']
            if self.scale != 'native':
                after_load = self._get_transform_idx(pipeline, 'LoadImageFromFile') + 1
                pipeline.insert(after_load, dict(type='Resize', scale=tuple(self.scale), keep_ratio=True))
            cfg.test_dataloader.dataset.pipeline = pipeline
        resize = next((t for t in cfg.test_dataloader.dataset.pipeline if t['type'] == 'Resize'), None)
        if resize is not None and resize.get('scale') is not None and resize.get('keep_ratio'):
            how = "the config's test scale" if self.scale == 'config' else 'the scale asked for'
            scale = (resize['scale'],) * 2 if isinstance(resize['scale'], int) else tuple(resize['scale'])
            self._fit_scale = (scale, how)
        return super()._init_pipeline(cfg)
