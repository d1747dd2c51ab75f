"""Helpers of the tests that run on the `device` fixture's device (tests/conftest.py)."""
import torch


def with_meta_default_device(fn, *args, **kwargs):
    """fn's result, computed while the default device is 'meta'.

    A tensor that fn creates without naming a device is then a meta tensor, which no operation
    mixes with real ones: fn passes only if everything it creates is on its inputs' device (on
    a GPU, a tensor made on the default device, the CPU, fails or costs a blocking copy).
    """
    with torch.device('meta'):
        return fn(*args, **kwargs)


def assert_close_to_cpu(out: torch.Tensor, reference: torch.Tensor, device: str) -> None:
    """`out` (on `device`) against the CPU's float32 `reference`: the same numbers on the CPU;
    on a GPU within the rounding of other summation orders and TF32 convolutions (cuDNN's default)."""
    assert out.device.type == device
    tolerance = 1e-6 if device == 'cpu' else 1e-2
    torch.testing.assert_close(out.cpu(), reference, rtol=tolerance, atol=tolerance * reference.abs().max().item())
