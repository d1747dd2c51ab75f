"""The benchmark's outputs: the markdown tables with their ratio columns, the plot, the JSON."""
import json
import os
import os.path as osp
from typing import Dict, List, Optional, Sequence

import torch

from .settings import SCOPES

# The ratio columns of the table: (numerator, denominator) of ms/img.
RATIOS = (('softmax', 'linear'), ('linear', 'no_attention'))


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


# The paper's efficiency table (DINOv2-L Mask2Former, one H100, batch 1, end to end): linear's
# speed-up over softmax per image side and, at 1024 px, both throughputs and peak memories.
PAPER_EFFICIENCY = {
    256: dict(speedup=0.78),
    512: dict(speedup=1.14),
    1024: dict(speedup=2.26, images_per_s=(7.07, 15.95), peak_gb=(3.28, 1.38)),
}


def paper_table(rows: List[dict]) -> str:
    """The paper's efficiency table: a column per image side; softmax's and linear's img/s and
    peak memory, linear's ratio to softmax for each, and the paper's (where it gives them)."""
    def records(row):
        return [row['variants'].get(name, {}) for name in ('softmax', 'linear')]

    def measured(row, key, spec, suffix=''):
        return [_format(r.get(key) if r.get('status') == 'ok' else None, spec, suffix) for r in records(row)]

    def ratio(row, key):
        softmax, linear = (r.get(key) if r.get('status') == 'ok' else None for r in records(row))
        return _format(linear / softmax if softmax and linear is not None else None, '.2f', 'x')

    def paper(size, key, unit):
        figures = PAPER_EFFICIENCY.get(size, {})
        if key == 'speedup':
            return _format(figures.get('speedup'), '.2f', 'x')
        if key not in figures:
            return ''
        softmax, linear = figures[key]
        return f'{linear / softmax:.2f}x ({linear:g} / {softmax:g} {unit})'

    table = {name: [] for name in ('softmax img/s', 'linear img/s', 'speed-up, linear / softmax', 'paper speed-up',
                                   'softmax peak MB', 'linear peak MB', 'memory, linear / softmax', 'paper memory')}
    for row in rows:
        speeds, peaks = measured(row, 'images_per_s', '.3g'), measured(row, 'peak_mb', '.0f')
        cells = [*speeds, ratio(row, 'images_per_s'), paper(row['size'], 'speedup', ''),
                 *peaks, ratio(row, 'peak_mb'), paper(row['size'], 'peak_gb', 'GB')]
        for name, cell in zip(table, cells):
            table[name].append(cell)
    lines = ['| | ' + ' | '.join(f'{row["size"]}²' for row in rows) + ' |', '|---|' + '---:|' * len(rows)]
    lines += [f'| {name} | ' + ' | '.join(cells) + ' |' for name, cells in table.items()]
    return '\n'.join(lines)


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


def split_table(rows: List[dict], variants: Sequence[str]) -> str:
    """The segmentor's time and peak memory in its backbone and in the rest (neck, heads, labels)."""
    lines = ['| size | variant | backbone ms/img | head ms/img | backbone peak MB | head peak MB |',
             '|---:|---|---:|---:|---:|---:|']
    for row in rows:
        for variant in variants:
            record = row['variants'].get(variant)
            if record is not None and record['status'] == 'ok' and 'backbone_ms_per_image' in record:
                lines.append(f'| {row["size"]} | {variant} | {record["backbone_ms_per_image"]:.1f} | '
                             f'{record["head_ms_per_image"]:.1f} | {_format(record["backbone_peak_mb"], ".1f")} | '
                             f'{_format(record["head_peak_mb"], ".1f")} |')
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
        if scope == 'segmentor' and settings['mode'] == 'inference':
            lines += ['', 'The same runs split at the backbone: head = neck, decode head and the label map at the '
                          'image\'s size (predict()); its peak counts the backbone features it holds.', '',
                      split_table(rows, settings['variants'])]
    if settings.get('paper_table'):
        scope = 'segmentor' if 'segmentor' in settings['scopes'] else 'backbone'
        model = osp.basename(settings['segmentor_config']) if scope == 'segmentor' else settings['arch']
        lines += ['', f'## The paper\'s efficiency table ({scope}: {model})', '',
                  'Paper: DINOv2-L Mask2Former on one H100, batch 1, end to end, peak memory as the paper '
                  'measured it (it does not say how); here: the peak above the built model, on this device.', '',
                  paper_table(scaling_rows(report['results'], settings['variants']).get(scope, []))]
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
            for part, style in (('backbone', '-.'), ('head', ':')):
                points = [(size, record[f'{part}_peak_mb']) for size, record in done
                          if (record.get(f'{part}_peak_mb') or 0) > 0]
                if points:
                    memory_axis.plot(*zip(*points), marker='.', linestyle=style, label=f'{variant} ({part} part)')
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
