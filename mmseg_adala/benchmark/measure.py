"""One measurement, meant for a fresh process: build a variant, time it, take its peak memory."""
import ctypes
import math
import os
import os.path as osp
import platform
import statistics
import sys
import time
import traceback
from typing import Callable, List, Optional, Tuple

import torch
import torch.nn as nn
from mmengine.structures import PixelData
from mmseg.models.decode_heads import Mask2FormerHead
from mmseg.structures import SegDataSample

from ..models import AdaLAViT
from .settings import DTYPES
from .variants import build_backbone, build_segmentor

# Side, in patches, of the image that primes each process before it is measured (two, as the
# segmentor's neck halves the one-stride ViT map and needs at least one pixel left).
PRIMING_PATCHES = 2


class PeakMemory:
    """Peak memory above the usage at :meth:`reset`: the activations, workspace and gradients.

    CUDA: ``torch.cuda.max_memory_allocated`` (the tensors, not the allocator's cache). CPU:
    the process's resident-set high-water mark (Linux VmHWM), reset through
    /proc/self/clear_refs, so the model build's own transient peak does not hide a smaller
    forward. Elsewhere CPU memory is not measured (None).
    """

    def __init__(self, device: torch.device) -> None:
        self.device = device
        self.baseline_mb: Optional[float] = None

    def reset(self) -> None:
        if self.device.type == 'cuda':
            self.clear_peak()
            self.baseline_mb = torch.cuda.memory_allocated(self.device) / 2 ** 20
            return
        try:
            self.clear_peak()
            self.baseline_mb = self._proc_status_mb('VmRSS')
        except OSError:
            self.baseline_mb = None

    def clear_peak(self) -> None:
        """Start a new high-water mark at the current usage; the baseline stays."""
        if self.device.type == 'cuda':
            torch.cuda.synchronize(self.device)
            torch.cuda.reset_peak_memory_stats(self.device)
            return
        with open('/proc/self/clear_refs', 'w') as clear_refs:
            clear_refs.write('5')  # 5: reset the peak RSS to the current RSS

    def peak_mb(self) -> Optional[float]:
        if self.baseline_mb is None:
            return None
        if self.device.type == 'cuda':
            return torch.cuda.max_memory_allocated(self.device) / 2 ** 20 - self.baseline_mb
        return self._proc_status_mb('VmHWM') - self.baseline_mb

    @staticmethod
    def _proc_status_mb(key: str) -> float:
        with open('/proc/self/status') as status:
            for line in status:
                if line.startswith(key + ':'):
                    return int(line.split()[1]) / 1024  # kB
        raise OSError(f'/proc/self/status has no {key}')


def steady_cpu_allocator() -> bool:
    """Give glibc's allocator one fixed policy, so every run of every variant allocates alike.

    By default glibc moves its mmap threshold (128 kB up to 32 MB) with the sizes freed so far
    and trims its heap after frees, so whether a forward's activations page-fault in afresh
    depends on the allocation history: on virtual machines those faults cost up to half of a
    linear-attention layer and come and go from run to run. Here blocks up to 32 MB (glibc's
    largest threshold) always come from the heap, which is never trimmed, and larger ones are
    always mmapped (they fault in every time, in proportion to their size, in every variant).
    Returns False without glibc.
    """
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    m_trim_threshold, m_mmap_threshold = -1, -3
    return bool(mallopt(m_mmap_threshold, 32 * 2 ** 20)) and bool(mallopt(m_trim_threshold, 2 ** 31 - 1))


def _synchronize(device: torch.device) -> None:
    if device.type == 'cuda':
        torch.cuda.synchronize(device)


class BackboneSplit:
    """The time and peak memory of a segmentor's backbone and of the rest of each step (neck,
    heads, post-processing), from hooks around the backbone's forward.

    The peaks are above `memory`'s baseline: the rest's peak counts the backbone features it holds.
    """

    def __init__(self, backbone: nn.Module, memory: PeakMemory) -> None:
        self.memory = memory
        self.backbone_s: List[float] = []
        self.rest_s: List[float] = []
        self.backbone_peak_mb = self.rest_peak_mb = 0.
        self._times: List[float] = []
        backbone.register_forward_pre_hook(lambda *_: self._mark('rest'))
        backbone.register_forward_hook(lambda *_: self._mark('backbone'))

    def _mark(self, ended: str) -> None:
        """A phase boundary: `ended` is the phase that just ended."""
        _synchronize(self.memory.device)
        self._times.append(time.perf_counter())
        if self.memory.baseline_mb is not None:
            peak = self.memory.peak_mb()
            if ended == 'backbone':
                self.backbone_peak_mb = max(self.backbone_peak_mb, peak)
            else:
                self.rest_peak_mb = max(self.rest_peak_mb, peak)
            self.memory.clear_peak()

    def wrap(self, step: Callable[[], None]) -> Callable[[], None]:
        """`step`, with its backbone and rest times appended to the lists."""
        def run():
            self._times = []
            self._mark('rest')
            step()
            self._mark('rest')
            start, enter, leave, end = self._times
            self.backbone_s.append(leave - enter)
            self.rest_s.append(end - start - (leave - enter))
        return run

    def fields(self, timed_runs: int, batch_size: int) -> dict:
        """The record's split fields over the last `timed_runs` steps (medians, peaks over all)."""
        peaks = dict(backbone_peak_mb=self.backbone_peak_mb, head_peak_mb=self.rest_peak_mb)
        if self.memory.baseline_mb is None:
            peaks = dict(backbone_peak_mb=None, head_peak_mb=None)
        return dict(peaks, backbone_ms_per_image=1000 * statistics.median(self.backbone_s[-timed_runs:]) / batch_size,
                    head_ms_per_image=1000 * statistics.median(self.rest_s[-timed_runs:]) / batch_size)


def _network(spec: dict, device: torch.device) -> Tuple[nn.Module, AdaLAViT, Callable]:
    """(model, its backbone, forward returning a tuple of output tensors) for the spec's scope."""
    if spec['scope'] == 'backbone':
        backbone = build_backbone(spec['variant'], spec['arch'], spec['vit_cfg']).to(device)
        return backbone, backbone, backbone
    segmentor = build_segmentor(spec['segmentor_config'], spec['variant'], spec['arch'], spec['vit_cfg'],
                                spec.get('head_tile')).to(device)
    if spec['mode'] == 'inference':
        # predict() is what tools/test.py and tools/infer.py run: backbone, neck, decode head
        # (tiled as the config's test_cfg says) and the label map at the image's size, without
        # the data pipeline and the preprocessor (the input is already a normalised tensor).
        def inference_outputs(x):
            size = tuple(x.shape[-2:])
            samples = [SegDataSample(metainfo=dict(img_shape=size, pad_shape=size, ori_shape=size)) for _ in x]
            return tuple(sample.pred_sem_seg.data for sample in segmentor.predict(x, samples))
        return segmentor, segmentor.backbone, inference_outputs

    if isinstance(segmentor.decode_head, Mask2FormerHead):
        def train_outputs(x):
            # Mask2Former's step is its loss (mask matching, point sampling): on random labels.
            labels = torch.randint(segmentor.decode_head.num_classes, (len(x), 1, *x.shape[-2:]), device=x.device)
            size = tuple(x.shape[-2:])
            samples = [SegDataSample(gt_sem_seg=PixelData(data=label), metainfo=dict(img_shape=size, pad_shape=size))
                       for label in labels]
            return tuple(segmentor.loss(x, samples).values())
        return segmentor, segmentor.backbone, train_outputs

    def train_outputs(x):
        # Training runs the decode head and the auxiliary head(s) on the same features.
        features = segmentor.extract_feat(x)
        heads = [segmentor.decode_head]
        if segmentor.with_auxiliary_head:
            aux = segmentor.auxiliary_head
            heads += list(aux) if isinstance(aux, nn.ModuleList) else [aux]
        return tuple(head(features) for head in heads)
    return segmentor, segmentor.backbone, train_outputs


def _step(model: nn.Module, forward: Callable, images: torch.Tensor, mode: str,
          dtype: torch.dtype) -> Callable[[], None]:
    """One timed unit of work: a forward (inference) or forward + backward (train).

    Reduced precision is autocast over float32 weights, as the training configs' AmpOptimWrapper does.
    """
    device_type = images.device.type

    def autocast():
        return torch.autocast(device_type, dtype=dtype, enabled=dtype != torch.float32)

    if mode == 'inference':
        model.eval()

        def run():
            with torch.inference_mode(), autocast():
                forward(images)
        return run

    model.train()

    def run():
        model.zero_grad(set_to_none=True)
        with autocast():
            outputs = forward(images)
        sum(output.float().mean() for output in outputs).backward()
    return run


def environment(device: str) -> dict:
    """Where the numbers come from: torch, device name, intra-op threads."""
    if device == 'cuda':
        device_name = torch.cuda.get_device_name()
    else:
        device_name = platform.processor() or platform.machine()
        if osp.isfile('/proc/cpuinfo'):
            with open('/proc/cpuinfo') as cpuinfo:
                names = [line.split(':', 1)[1].strip() for line in cpuinfo if line.startswith('model name')]
            device_name = names[0] if names else device_name
    return dict(torch=torch.__version__, device=device, device_name=device_name,
                threads=torch.get_num_threads(), cpu_count=os.cpu_count(), python=platform.python_version(),
                executable=sys.executable, platform=platform.platform())


def _is_out_of_memory(error: BaseException) -> bool:
    return isinstance(error, torch.OutOfMemoryError) or "can't allocate memory" in str(error)


def run_measurement(spec: dict) -> dict:
    """Build one variant, warm it up, time it and measure its peak memory; meant for a fresh process.

    Returns:
        The spec's keys plus `status` ('ok', 'OOM' or 'error'), `environment`, and when measured
        `tokens`, `params`, `times_s`, `seconds_per_batch` (median), `ms_per_image`,
        `images_per_s`, `peak_mb` (above the built model and its input) and `baseline_mb`.
    """
    if spec['threads']:
        torch.set_num_threads(spec['threads'])
    torch.manual_seed(0)
    record = dict(spec, status='ok', environment=dict(environment(spec['device']),
                                                      steady_cpu_allocator=steady_cpu_allocator()))
    device = torch.device(spec['device'])
    try:
        model, backbone, forward = _network(spec, device)

        def step_on(side: int) -> Callable[[], None]:
            images = torch.randn(spec['batch_size'], 3, side, side, device=device)
            return _step(model, forward, images, spec['mode'], DTYPES[spec['dtype']])

        # One run on a two-patch image first: it loads the kernels and libraries the run needs
        # (their code and buffers are resident memory too), so the peak below is the run's own.
        step_on(PRIMING_PATCHES * backbone.patch_size)()
        model.zero_grad(set_to_none=True)  # training's gradients belong to the measured peak
        step = step_on(spec['size'])
        memory = PeakMemory(device)
        split = BackboneSplit(backbone, memory) if spec['scope'] == 'segmentor' else None
        if split is not None:
            step = split.wrap(step)
        grid_side = math.ceil(spec['size'] / backbone.patch_size)
        record.update(tokens=grid_side ** 2 + backbone.vit.num_prefix_tokens,
                      params=sum(p.numel() for p in model.parameters()))
        memory.reset()
        for _ in range(spec['warmup']):
            step()
        _synchronize(device)
        times = []
        while len(times) < spec['repeats'] and sum(times) < spec['time_budget_s']:
            start = time.perf_counter()
            step()
            _synchronize(device)
            times.append(time.perf_counter() - start)
        record.update(timing_fields(times, spec['batch_size']), peak_mb=memory.peak_mb(),
                      baseline_mb=memory.baseline_mb)
        if split is not None:  # its phase boundaries restarted the high-water mark
            record.update(split.fields(len(times), spec['batch_size']))
            if memory.baseline_mb is not None:
                record['peak_mb'] = max(split.backbone_peak_mb, split.rest_peak_mb)
    except Exception as error:  # noqa: BLE001  (one failed measurement must not end the benchmark)
        record.update(status='OOM' if _is_out_of_memory(error) else 'error', error=f'{type(error).__name__}: {error}',
                      traceback=traceback.format_exc())
    return record


def timing_fields(times: List[float], batch_size: int) -> dict:
    """The timing fields of a record from its timed runs (seconds per batch): medians."""
    median = statistics.median(times)
    return dict(times_s=times, seconds_per_batch=median, ms_per_image=1000 * median / batch_size,
                images_per_s=batch_size / median)
