"""Reading a checkpoint file: the one function every loader uses, with errors that say what the file is.

torch's errors for a file that is no checkpoint name neither the file nor the problem: a
0-byte file gives a bare `EOFError`, text gives a `KeyError` or `IndexError` from the
unpickler, random bytes give advice to retry with `weights_only=False`, which would execute
whatever code the file holds. Loading is on torch's weights-only unpickler, asked for
explicitly (torch 2.5 still defaults to the unsafe one; `torch_load_allowlist` allows mmengine's
own classes): a file that needs any other Python object is refused, and no message here
suggests otherwise. Two other formats hold weights without pickles: safetensors (timm's and
Hugging Face's files) and TorchScript archives (OpenAI's CLIP release), whose code is
TorchScript run by torch's own interpreter, never Python, and is not run here: only the
module's state dict is taken.
"""
import os.path as osp
import pickle
import re
import zipfile

import safetensors.torch
import torch
from mmengine.runner import CheckpointLoader

# How files written by torch.save begin: a zip archive (torch>=1.6), or the pickled magic
# number of the legacy format. Anything else was never written by torch.save.
TORCH_FILE_PREFIXES = (b'PK\x03\x04', b'\x80\x02\x8a\nl\xfc\x9cF\xf9 j\xa8P\x19')
# What a checkpoint holds, for messages whose caller does not say more.
STATE_DICT = "a file written by torch.save holding a dict: a state dict, or a checkpoint with a 'state_dict'"


class CheckpointFileError(ValueError):
    """A file that is not a checkpoint: the message names it, says what it is and what was expected.

    Attributes:
        filename: The file.
        problem: What is wrong, as a phrase after "the file": 'is empty (0 bytes)', ...
    """

    def __init__(self, filename: str, problem: str, expected: str) -> None:
        self.filename, self.problem = filename, problem
        super().__init__(f'checkpoint {filename} {problem}; expected {expected}')


def _torch_reason(error: Exception) -> str:
    """torch's own reason for a damaged file, without its advice to load with weights_only=False."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    unpickler = [line.split(':', 1)[1].strip() for line in lines if line.startswith('WeightsUnpickler error:')]
    reason = (unpickler or lines or [''])[0].split('. ')[0]  # torch adds pages of advice after the first sentence
    return type(error).__name__ + (f': {reason}' if reason and 'weights_only' not in reason else '')


def _beginning(head: bytes) -> str:
    """What a file that torch.save did not write looks like: its first line of text, or its first bytes."""
    try:
        text = head.decode('utf-8')
    except UnicodeDecodeError:
        return f'binary data beginning {head[:16]!r}'
    line = text.strip().splitlines()[0] if text.strip() else text
    return f'a text file beginning {line[:80]!r}' if line.isprintable() else f'data beginning {head[:16]!r}'


def _problem(filename: str, error: Exception) -> str:
    """Why torch could not load `filename`, as a phrase after "the file"."""
    with open(filename, 'rb') as f:
        head = f.read(256)
    if not head:
        return 'is empty (0 bytes): it was never written, or its writing was cut short'
    if filename.endswith('.npz'):
        return ('is a NumPy archive (a JAX/big_vision release, as Google\'s SigLIP and AugReg files are), which is '
                'not read here: use timm\'s or open_clip\'s copy of the same weights (e.g. model.safetensors from '
                'hf-hub timm/vit_large_patch16_siglip_256.webli)')
    if filename.endswith('.safetensors'):
        return f'does not load as safetensors: it is damaged ({type(error).__name__}: {error}); copy it again'
    if not head.startswith(TORCH_FILE_PREFIXES):
        return f'is not a PyTorch checkpoint: it is {_beginning(head)}'
    refused = re.search(r'Unsupported global: GLOBAL (\S+)', str(error))
    if isinstance(error, pickle.UnpicklingError) and refused:
        return (f'holds a Python object ({refused.group(1)}) that only a loader executing the file\'s code '
                'could read: refused. Save its tensors alone with torch.save (e.g. the state dict) and load that')
    return (f'does not load: it is damaged ({_torch_reason(error)}); a write or a copy that was cut short? '
            'Copy or save it again')


def _kind(obj) -> str:
    if isinstance(obj, torch.Tensor):
        return f'a single tensor of shape {tuple(obj.shape)}'
    return f'a {type(obj).__name__}'


def _is_torchscript(filename: str) -> bool:
    """A zip written by torch.jit.save: its records include `constants.pkl` (torch.load's own test)."""
    if not zipfile.is_zipfile(filename):
        return False
    with zipfile.ZipFile(filename) as archive:
        return any(name.split('/')[-1] == 'constants.pkl' for name in archive.namelist())


def _load_file(filename: str, mmap: bool) -> dict:
    if filename.endswith('.safetensors'):
        return safetensors.torch.load_file(filename, device='cpu')
    if _is_torchscript(filename):
        return dict(torch.jit.load(filename, map_location='cpu').state_dict())
    return torch.load(filename, map_location='cpu', weights_only=True, mmap=mmap and zipfile.is_zipfile(filename))


def read_checkpoint(filename: str, expected: str = STATE_DICT, mmap: bool = False) -> dict:
    """The dict that `filename` holds, loaded on the CPU; `CheckpointFileError` if it holds none.

    Args:
        filename: A local path, or a URL that mmengine's CheckpointLoader reads (with torch's
            default unpickler: mmengine does not pass `weights_only`).
        expected: What the caller takes, for the messages (e.g. 'a segmentor checkpoint').
        mmap: Memory-map the file: only its index and small objects are read, so a check of a
            large checkpoint is cheap and a truncated file fails at once. Files in torch's
            legacy format cannot be mapped and are read whole.
    """
    if '://' in filename:
        checkpoint = CheckpointLoader.load_checkpoint(filename, map_location='cpu')
    elif not osp.isfile(filename):
        raise FileNotFoundError(f'checkpoint {filename} does not exist; expected {expected}')
    else:
        try:
            checkpoint = _load_file(filename, mmap)
        except Exception as error:  # by the damage: EOFError, UnpicklingError, KeyError, RuntimeError...
            # Not chained: torch's message advises loading with weights_only=False, which runs the file's code.
            raise CheckpointFileError(filename, _problem(filename, error), expected) from None
    if not isinstance(checkpoint, dict):
        raise CheckpointFileError(filename, f'holds {_kind(checkpoint)} rather than a dict of weights', expected)
    return checkpoint
