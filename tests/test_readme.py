"""Every command in README.md's ```bash blocks runs as written from a clone.

For each command line: a `make` target exists in the Makefile; a repository file exists, is
executable (shebang and run bit) where the line invokes it directly; every command but make and
the shell launchers (`python FILE`, `python -m MODULE`, `pip COMMAND`, `tools/X.py`) accepts every
`--flag` the line uses, checked against its own `--help` run the way the line runs it; every
config named exists. The `--help` runs go in parallel: each is an interpreter start with mmseg.

Top-level: it checks the repository's README.md, not a package module.
"""
import os
import os.path as osp
import re
import shlex
import subprocess
import sys

import pytest

# Each command's --help is an interpreter start with mmseg.
pytestmark = pytest.mark.slow

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
ASSIGNMENT = re.compile(r'^[A-Z_][A-Z0-9_]*=')


def bash_commands(markdown: str):
    """The commands of the ```bash blocks: one token list per line, leading VAR=value dropped."""
    commands = []
    for block in re.findall(r'^```bash\n(.*?)^```', markdown, flags=re.M | re.S):
        for line in block.replace('\\\n', ' ').splitlines():
            tokens = shlex.split(line, comments=True)
            while tokens and ASSIGNMENT.match(tokens[0]):
                tokens.pop(0)
            if tokens:
                commands.append(tokens)
    return commands


def invocation(tokens):
    """(how to start the tool, the repository file it runs or None, its arguments) of a command line.

    `python FILE`, `python -m MODULE`, `pip COMMAND` and a repository file run directly.
    """
    if tokens[0] in ('python', 'python3') and tokens[1] == '-m':
        return [sys.executable, '-m', tokens[2]], None, tokens[3:]
    if tokens[0] in ('python', 'python3'):
        return [sys.executable, tokens[1]], tokens[1], tokens[2:]
    if tokens[0] == 'pip':
        return [sys.executable, '-m', 'pip', tokens[1]], None, tokens[2:]
    return [tokens[0]], tokens[0], tokens[1:]


def has_help(tokens):
    """Whether the command takes `--help` (all but make and the shell launchers, which pass flags on)."""
    return tokens[0] != 'make' and not tokens[0].endswith('.sh')


README_COMMANDS = bash_commands(open(osp.join(REPO, 'README.md'), encoding='utf-8').read())


def test_readme_has_commands():
    assert [tokens[:2] for tokens in README_COMMANDS[:2]] == [['make', 'demo'], ['make', 'test']]


@pytest.fixture(scope='module')
def help_texts():
    """`--help` of each command the README runs, started as the README starts it, by start command."""
    # An activated venv puts its python first on PATH, which `#!/usr/bin/env python` finds.
    env = dict(os.environ, PATH=osp.dirname(sys.executable) + os.pathsep + os.environ.get('PATH', ''))
    starts = {' '.join(invocation(tokens)[0]): invocation(tokens)[0]
              for tokens in README_COMMANDS if has_help(tokens)}
    running, texts = {}, {}
    for tool, start in starts.items():
        try:
            running[tool] = subprocess.Popen([*start, '--help'], cwd=REPO, env=env, stdout=subprocess.PIPE,
                                             stderr=subprocess.STDOUT, text=True)
        except OSError as error:  # not executable: test_readme_command says so
            texts[tool] = str(error)
    for tool, process in running.items():
        output, _ = process.communicate(timeout=120)
        assert process.returncode == 0, f'{tool} --help failed:\n{output}'
        texts[tool] = output
    return texts


@pytest.mark.parametrize('tokens', README_COMMANDS, ids=[' '.join(tokens)[:60] for tokens in README_COMMANDS])
def test_readme_command(tokens, help_texts):
    if tokens[0] == 'make':
        makefile = open(osp.join(REPO, 'Makefile'), encoding='utf-8').read()
        for target in tokens[1:]:
            assert re.search(rf'^{re.escape(target)}:', makefile, flags=re.M), f'no Makefile target {target!r}'
        return
    start, path, arguments = invocation(tokens)
    if path is not None:
        assert osp.isfile(osp.join(REPO, path)), f'{path} does not exist'
    if start == [path]:
        assert os.access(osp.join(REPO, path), os.X_OK), f'{path} is invoked directly but is not executable'
        assert open(osp.join(REPO, path), encoding='utf-8').readline().startswith('#!'), f'{path} has no shebang'
    for argument in arguments:
        if argument.startswith('configs/'):
            assert osp.isfile(osp.join(REPO, argument)), f'{argument} does not exist'
    if start[1:3] in (['-m', 'mmseg_adala.train'], ['-m', 'mmseg_adala.test']):  # a config by its name
        assert osp.isfile(osp.join(REPO, 'configs', arguments[0])), f'no config {arguments[0]} in configs/'
    if has_help(tokens):
        help_text = help_texts[' '.join(start)]
        for flag in (argument for argument in arguments if argument.startswith('--')):
            assert re.search(rf'(?<![\w-]){re.escape(flag)}(?![\w-])', help_text), \
                f'{" ".join(start)} does not accept {flag}'
