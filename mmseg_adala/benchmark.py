"""Speed and peak memory of the same AdaLAViT with softmax, linear or no attention, per image size.

Linear attention costs O(N d^2) against softmax's O(N^2 d) in the token count N, so its gain
grows with resolution. Three variants of one network are measured:

- ``softmax``: AdaLAViT with ``attn_type='softmax'`` (the DINOv2 teacher's kernel, via SDPA);
- ``linear``: ``attn_type='linear', feature_map='elu'`` (the ViT-AdaLA student);
- ``no_attention``: ``attn_type='none'``, which keeps every attention's qkv and proj layers
  but drops the attention kernel (out = proj(v)). It is the ceiling of any linear-attention
  backbone: the rest of the network costs what it costs whatever the kernel, so
  linear / no_attention says how much of the remaining time is the linear kernel itself.

Each (scope, variant, size) measurement runs in a fresh process (forked from a server that has
only imported the libraries), so no allocator cache or high-water mark carries over from one
variant to the next, and an out-of-memory crash loses one measurement, not the benchmark.
With several rounds, the whole list of measurements is run round after round, so a slow spell
of a shared machine hits every variant alike instead of one.
"""
import ctypes
import json
import math
import multiprocessing
import os
import os.path as osp
import platform
import signal
import statistics
import sys
import time
import traceback
from dataclasses import asdict, dataclass
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import torch
import torch.nn as nn

from .models import AdaLAViT
from .models.backbones.adala_vit import DINOV2_ARCHS

VARIANTS = ('softmax', 'linear', 'no_attention', 'window', 'lolcats', 'l2vit')
# Measured unless --variants says otherwise; the local-window baselines are opt-in.
DEFAULT_VARIANTS = ('softmax', 'linear', 'no_attention')
SCOPES = ('backbone', 'segmentor')
MODES = ('inference', 'train')
DTYPES = {'float32': torch.float32, 'bfloat16': torch.bfloat16, 'float16': torch.float16}
# AdaLAViT arguments per variant.
VARIANT_ATTENTION = {
    'softmax': dict(attn_type='softmax'),
    'linear': dict(attn_type='linear', feature_map='elu'),
    'no_attention': dict(attn_type='none'),
    # ViTDet's window attention in every block; the LoLCATs baseline; L2ViT-style alternation
    # (configs/lolcats, configs/l2vit). The alternation lists 12 blocks: ViT-S and ViT-B only.
    'window': dict(attn_type='window', attn_cfg=dict(window_size=14)),
    'lolcats': dict(attn_type='window_linear', feature_map='hedgehog', attn_cfg=dict(window_size=8)),
    'l2vit': dict(attn_type=['window', 'linear'] * 6, feature_map='relu',
                  attn_cfg=dict(window_size=7, local_concentration=True)),
}
# The ratio columns of the table: (numerator, denominator) of ms/img.
RATIOS = (('softmax', 'linear'), ('linear', 'no_attention'))
DINOV2_PATCH_SIZE = 14
# Side, in patches, of the image that primes each process before it is measured (two, as the
# segmentor's neck halves the one-stride ViT map and needs at least one pixel left).
PRIMING_PATCHES = 2
DEFAULT_SEGMENTOR_CONFIG = osp.join(osp.dirname(osp.dirname(osp.abspath(__file__))),
                                    'configs', 'adala_dinov2_l_ade20k.py')


def build_backbone(variant: str, arch: str = 'dinov2_vits14', vit_cfg: Optional[dict] = None,
                   **kwargs) -> AdaLAViT:
    """The AdaLAViT of one variant (random weights), e.g. ``build_backbone('no_attention')``."""
    return AdaLAViT(arch=arch, vit_cfg=vit_cfg, **VARIANT_ATTENTION[variant], **kwargs)


def segmentor_model_config(config_path: str, variant: str, arch: str, vit_cfg: Optional[dict] = None):
    """The segmentor config of `config_path` turned into one variant for a single process.

    The backbone gets the arch, attention and `vit_cfg` overrides and no pretrained weights.
    The config's number of backbone outputs is kept but spread evenly over the chosen depth
    (5, 11, 17, 23 for 24 blocks; 2, 5, 8, 11 for 12), since the config's indices are for its
    own arch; a backbone with fewer blocks than outputs gives its last block only, which
    MultiLevelNeck repeats at every scale (as configs/tiny does). The neck takes the chosen
    width. SyncBN becomes BN (one process) and inference is whole-image (what linear
    attention is for).
    """
    from mmengine.config import Config
    from mmseg.registry import MODELS

    model = Config.fromfile(config_path).model
    backbone = model.backbone
    if backbone.get('type') != 'AdaLAViT':
        raise ValueError(f'{config_path}: the benchmark needs an AdaLAViT backbone, got {backbone.get("type")!r}')
    backbone.update(arch=arch, init_cfg=None, **VARIANT_ATTENTION[variant])
    if vit_cfg:
        backbone.vit_cfg = {**(backbone.get('vit_cfg') or {}), **vit_cfg}
    with torch.device('meta'):  # the shape only: no memory, no initialisation
        shape = MODELS.build(dict(backbone, out_indices=(-1,)))
    depth, num_outputs = len(shape.vit.blocks), len(backbone.out_indices)
    if depth < num_outputs:  # too shallow for distinct outputs: MultiLevelNeck repeats a single one
        num_outputs = 1
    backbone.out_indices = tuple(math.ceil(depth * (i + 1) / num_outputs) - 1 for i in range(num_outputs))
    if model.get('neck') is not None:
        model.neck.in_channels = [shape.embed_dim] * num_outputs
    model.test_cfg = dict(mode='whole')
    return _replace_norm_type(model, 'SyncBN', 'BN')


def _replace_norm_type(cfg, old: str, new: str):
    """`cfg` with every ``type=old`` dict (norm configs) changed to ``type=new``, recursively."""
    if isinstance(cfg, dict):
        for key, value in cfg.items():
            cfg[key] = new if key == 'type' and value == old else _replace_norm_type(value, old, new)
    elif isinstance(cfg, (list, tuple)):
        return type(cfg)(_replace_norm_type(item, old, new) for item in cfg)
    return cfg


def build_segmentor(config_path: str, variant: str, arch: str, vit_cfg: Optional[dict] = None) -> nn.Module:
    """The MMSeg segmentor of one variant (random weights): see :func:`segmentor_model_config`."""
    from mmseg.registry import MODELS
    from mmseg.utils import register_all_modules

    register_all_modules(init_default_scope=True)
    return MODELS.build(segmentor_model_config(config_path, variant, arch, vit_cfg))


@dataclass
class BenchmarkSettings:
    """What to measure; the CLI's arguments (see tools/benchmark.py).

    Attributes:
        rounds: Times the whole list of measurements is run, interleaved; each cell pools the
            timed runs of all rounds.
        time_budget_s: Timed runs stop once they have taken this long (at least one runs), so
            the largest softmax sizes stay affordable; the JSON records the runs made.
        timeout_s: A measurement still running after this long is killed and recorded as 'timeout'.
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
    command: str = ''

    def validate(self) -> None:
        """Raise ValueError with the reason if these settings cannot be measured."""
        if self.arch not in DINOV2_ARCHS:
            raise ValueError(f'unknown arch {self.arch!r}; choose one of {sorted(DINOV2_ARCHS)}')
        patch_size = (self.vit_cfg or {}).get('patch_size', DINOV2_PATCH_SIZE)
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
                  segmentor_config=settings.segmentor_config, time_budget_s=settings.time_budget_s)
    return [dict(shared, scope=scope, size=size, variant=variant)
            for scope in settings.scopes for size in settings.sizes for variant in settings.variants]


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
            torch.cuda.synchronize(self.device)
            torch.cuda.reset_peak_memory_stats(self.device)
            self.baseline_mb = torch.cuda.memory_allocated(self.device) / 2 ** 20
            return
        try:
            with open('/proc/self/clear_refs', 'w') as clear_refs:
                clear_refs.write('5')  # 5: reset the peak RSS to the current RSS
            self.baseline_mb = self._proc_status_mb('VmRSS')
        except OSError:
            self.baseline_mb = None

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


def _network(spec: dict, device: torch.device) -> Tuple[nn.Module, AdaLAViT, Callable]:
    """(model, its backbone, forward returning a tuple of output tensors) for the spec's scope."""
    if spec['scope'] == 'backbone':
        backbone = build_backbone(spec['variant'], spec['arch'], spec['vit_cfg']).to(device)
        return backbone, backbone, backbone
    segmentor = build_segmentor(spec['segmentor_config'], spec['variant'], spec['arch'], spec['vit_cfg']).to(device)
    if spec['mode'] == 'inference':
        # encode_decode is the whole-image network: backbone, neck, decode head and the logits'
        # upsampling to the image, without the data pipeline, the preprocessor (the input is
        # already a normalised tensor) or predict()'s argmax and packing into data samples.
        def inference_outputs(x):
            size = tuple(x.shape[-2:])
            metas = [dict(img_shape=size, pad_shape=size, ori_shape=size)] * len(x)
            return (segmentor.encode_decode(x, metas),)
        return segmentor, segmentor.backbone, inference_outputs

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
        grid_side = math.ceil(spec['size'] / backbone.patch_size)
        record.update(tokens=grid_side ** 2 + backbone.vit.num_prefix_tokens,
                      params=sum(p.numel() for p in model.parameters()))
        memory = PeakMemory(device)
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
        record.update(_timing(times, spec['batch_size']), peak_mb=memory.peak_mb(), baseline_mb=memory.baseline_mb)
    except Exception as error:  # noqa: BLE001  (one failed measurement must not end the benchmark)
        record.update(status='OOM' if _is_out_of_memory(error) else 'error', error=f'{type(error).__name__}: {error}',
                      traceback=traceback.format_exc())
    return record


def _timing(times: List[float], batch_size: int) -> dict:
    """The timing fields of a record from its timed runs (seconds per batch): medians."""
    median = statistics.median(times)
    return dict(times_s=times, seconds_per_batch=median, ms_per_image=1000 * median / batch_size,
                images_per_s=batch_size / median)


def pool_rounds(records: List[dict]) -> dict:
    """One record from the same measurement's records of several rounds.

    The timed runs of all rounds are pooled into one median; the peak memory is the largest.
    A failure in any round makes the cell that failure.
    """
    failed = [record for record in records if record['status'] != 'ok']
    if failed or len(records) == 1:
        return (failed or records)[0]
    pooled = dict(records[0])
    pooled.update(_timing([t for record in records for t in record['times_s']], pooled['batch_size']))
    peaks = [record['peak_mb'] for record in records if record['peak_mb'] is not None]
    pooled['peak_mb'] = max(peaks) if peaks else None
    return pooled


def _measurement_process(spec: dict, connection) -> None:
    connection.send(run_measurement(spec))
    connection.close()


def run_isolated(spec: dict, timeout_s: float, context) -> dict:
    """:func:`run_measurement` in a fresh child process; a crash or a hang becomes a failed record."""
    receiver, sender = context.Pipe(duplex=False)
    process = context.Process(target=_measurement_process, args=(spec, sender), daemon=True)
    process.start()
    sender.close()  # ours: the child's end must be its only one, or a crash never reads as EOF
    record = None
    if receiver.poll(timeout_s):
        try:
            record = receiver.recv()
        except EOFError:  # the child died before reporting
            pass
    else:
        process.kill()
        record = dict(spec, status='timeout', error=f'killed after {timeout_s:.0f} s')
    process.join()
    if record is None:
        killed = process.exitcode == -signal.SIGKILL  # on CPU, usually the kernel's OOM killer
        record = dict(spec, status='OOM' if killed else 'error',
                      error=f'measurement process exited with code {process.exitcode}')
    return record


def run_benchmark(settings: BenchmarkSettings, progress: Callable[[str], None] = print) -> dict:
    """Measure every (scope, size, variant), each in a fresh process, round after round.

    Returns the raw report, a record per (scope, size, variant) pooled over the rounds.

    The processes fork from a server that has imported this module (torch, timm, MMSeg) but
    run nothing, so each starts clean in a fraction of a second instead of re-importing.
    """
    settings.validate()
    context = multiprocessing.get_context('forkserver')
    context.set_forkserver_preload([__name__])
    specs = measurement_specs(settings)
    rounds: List[List[dict]] = [[] for _ in specs]
    env = None
    for round_index in range(settings.rounds):
        for spec, records in zip(specs, rounds):
            progress(f'[{spec["scope"]}] {spec["variant"]} {spec["size"]}px'
                     f'{f" (round {round_index + 1}/{settings.rounds})" if settings.rounds > 1 else ""} ...')
            record = run_isolated(spec, settings.timeout_s, context)
            env = env or record.pop('environment', None)
            record.pop('environment', None)
            records.append(record)
            progress(f'    {_cell_summary(record)}')
    return dict(command=settings.command, settings=asdict(settings), environment=env or {},
                results=[pool_rounds(records) for records in rounds])


def _cell_summary(record: dict) -> str:
    if record['status'] != 'ok':
        return f'{record["status"]}: {record.get("error", "")}'
    peak = 'n/a' if record['peak_mb'] is None else f'{record["peak_mb"]:.1f} MB'
    return (f'{record["ms_per_image"]:.1f} ms/img, {record["images_per_s"]:.3g} img/s, peak {peak} '
            f'({len(record["times_s"])} timed runs)')


def scaling_rows(results: List[dict], variants: Sequence[str]) -> Dict[str, List[dict]]:
    """The table rows per scope: per size, each variant's record and the ratio columns.

    A ratio ``a/b`` is ms/img of `a` over ms/img of `b`: softmax/linear is linear's speed-up,
    linear/no_attention is linear's time over the attention-free ceiling (1 = at the ceiling).
    It is None where either side is missing or failed.
    """
    tables: Dict[str, List[dict]] = {}
    for record in results:
        rows = tables.setdefault(record['scope'], [])
        row = next((r for r in rows if r['size'] == record['size']), None)
        if row is None:
            row = dict(size=record['size'], tokens=None, variants={}, ratios={})
            rows.append(row)
        row['variants'][record['variant']] = record
        row['tokens'] = row['tokens'] or record.get('tokens')
    for rows in tables.values():
        rows.sort(key=lambda r: r['size'])
        for row in rows:
            for numerator, denominator in RATIOS:
                if numerator in variants and denominator in variants:
                    top, bottom = (row['variants'].get(name, {}) for name in (numerator, denominator))
                    ok = top.get('status') == bottom.get('status') == 'ok'
                    row['ratios'][f'{numerator}/{denominator}'] = (
                        top['ms_per_image'] / bottom['ms_per_image'] if ok else None)
    return tables


def _format(value: Optional[float], spec: str, suffix: str = '') -> str:
    return '–' if value is None else format(value, spec) + suffix


def markdown_table(rows: List[dict], variants: Sequence[str]) -> str:
    """One markdown table: a row per size; ms/img, img/s and peak MB per variant, then the ratios."""
    ratio_names = [f'{a}/{b}' for a, b in RATIOS if a in variants and b in variants]
    header = ['size', 'tokens'] + [f'{v} {col}' for v in variants for col in ('ms/img', 'img/s', 'peak MB')]
    lines = ['| ' + ' | '.join(header + ratio_names) + ' |', '|' + '---:|' * (len(header) + len(ratio_names))]
    for row in rows:
        cells = [str(row['size']), _format(row['tokens'], 'd')]
        for variant in variants:
            record = row['variants'].get(variant)
            if record is None:
                cells += ['–'] * 3
            elif record['status'] != 'ok':
                cells += [record['status'], '–', '–']
            else:
                cells += [format(record['ms_per_image'], '.1f'), format(record['images_per_s'], '.3g'),
                          _format(record['peak_mb'], '.1f')]
        cells += [_format(row['ratios'].get(name), '.2f', suffix='x') for name in ratio_names]
        lines.append('| ' + ' | '.join(cells) + ' |')
    return '\n'.join(lines)


def markdown_report(report: dict) -> str:
    """benchmark.md: the command, the setting, the column definitions and a table per scope."""
    settings, env = report['settings'], report['environment']
    memory = ('torch.cuda.max_memory_allocated' if settings['device'] == 'cuda'
              else 'peak RSS (VmHWM) of a fresh process per measurement')
    lines = [
        '# AdaLAViT: softmax vs linear vs no attention', '',
        f'Command: `{report["command"]}`', '',
        f'- device: {env.get("device", settings["device"])} ({env.get("device_name", "?")}), '
        f'torch {env.get("torch", torch.__version__)}, {env.get("threads", "?")} threads',
        f'- arch {settings["arch"]}{" with " + json.dumps(settings["vit_cfg"]) if settings["vit_cfg"] else ""}, '
        f'mode {settings["mode"]}, batch {settings["batch_size"]}, {settings["dtype"]}, '
        f'warm-up {settings["warmup"]}, median of the timed runs of {settings["rounds"]} interleaved '
        f'round(s) of up to {settings["repeats"]}',
        '- CPU allocator: ' + ('glibc, fixed policy: blocks up to 32 MB from the untrimmed heap, larger ones mmapped'
                               if env.get('steady_cpu_allocator') else 'the C library\'s default'),
        '- sizes are square image sides in px; DINOv2\'s patch is 14 px, so 518/1022/2044 are exact '
        'patch multiples (others are padded up to one); tokens = patches + prefix tokens',
        f'- peak MB: peak memory above the built model and its input ({memory})',
        '- softmax/linear: linear\'s speed-up over softmax; linear/no_attention: linear\'s time over the '
        'ceiling with no attention kernel at all (1.00x = at the ceiling)',
    ]
    for scope, rows in scaling_rows(report['results'], settings['variants']).items():
        lines += ['', f'## {scope}', '', markdown_table(rows, settings['variants'])]
    failures = [r for r in report['results'] if r['status'] != 'ok']
    if failures:
        lines += ['', 'Failed: ' + '; '.join(f'{r["scope"]} {r["variant"]} {r["size"]}px: {r.get("error", "")}'
                                             for r in failures)]
    return '\n'.join(lines) + '\n'


def plot_report(report: dict, path: str) -> None:
    """benchmark.png: throughput and peak memory against image size, log-log, a line per variant."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    figure, (speed_axis, memory_axis) = plt.subplots(1, 2, figsize=(11, 4.5))
    linestyles = dict(zip(SCOPES, ('-', '--')))
    for scope, rows in scaling_rows(report['results'], report['settings']['variants']).items():
        for variant in report['settings']['variants']:
            done = [(row['size'], row['variants'][variant]) for row in rows
                    if row['variants'].get(variant, {}).get('status') == 'ok']
            label = f'{variant} ({scope})' if len(report['settings']['scopes']) > 1 else variant
            speeds = [(size, record['images_per_s']) for size, record in done]
            memories = [(size, record['peak_mb']) for size, record in done if (record['peak_mb'] or 0) > 0]
            for axis, points in ((speed_axis, speeds), (memory_axis, memories)):
                if points:
                    axis.plot(*zip(*points), marker='o', linestyle=linestyles[scope], label=label)
    env = report['environment']
    for axis, ylabel in ((speed_axis, 'images / s'), (memory_axis, 'peak memory above the model (MB)')):
        axis.set_xlabel('image side (px)')
        axis.set_ylabel(ylabel)
        if not axis.has_data():  # every measurement failed: an empty log axis cannot be drawn
            axis.text(0.5, 0.5, 'no successful measurement', ha='center', transform=axis.transAxes)
            continue
        axis.set_xscale('log')
        axis.set_yscale('log')
        axis.grid(True, which='both', alpha=0.3)
        axis.legend()
    figure.suptitle(f'{report["settings"]["arch"]} {report["settings"]["mode"]}, {env.get("device_name", "")}, '
                    f'{env.get("threads", "?")} threads, {report["settings"]["dtype"]}')
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


def write_report(report: dict, out_dir: str) -> Dict[str, str]:
    """Write benchmark.md, benchmark.json and benchmark.png into `out_dir`; returns their paths."""
    os.makedirs(out_dir, exist_ok=True)
    paths = {ext: osp.join(out_dir, f'benchmark.{ext}') for ext in ('md', 'json', 'png')}
    with open(paths['md'], 'w') as markdown:
        markdown.write(markdown_report(report))
    with open(paths['json'], 'w') as raw:
        json.dump(report, raw, indent=2)
    plot_report(report, paths['png'])
    return paths
