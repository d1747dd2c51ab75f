"""Half-precision inference (autocast over float32 weights) against float32 on the same images."""
import pytest
import torch
from mmengine.config import ConfigDict
from mmseg.structures import SegDataSample
from test_encoder_decoder import make_pair


@pytest.mark.slow
@pytest.mark.parametrize('dtype', [torch.bfloat16, torch.float16])
def test_half_precision_labels_follow_float32_where_float32_is_sure(dtype):
    _, model = make_pair()
    model.test_cfg = ConfigDict(mode='whole', head_tile=30, keep_logits=True)
    image = torch.randn(1, 3, 98, 112)
    meta = dict(img_shape=(98, 112), pad_shape=(98, 112), ori_shape=(130, 150))
    with torch.no_grad():
        full = model.predict(image, [SegDataSample(metainfo=meta)])[0]
        with torch.autocast('cpu', dtype=dtype):
            half = model.predict(image, [SegDataSample(metainfo=meta)])[0]
    expected, got = full.seg_logits.data, half.seg_logits.data.float()
    assert not torch.equal(got, expected)  # autocast did reach the network
    scale = expected.abs().max()
    assert (got - expected).abs().max() < 0.03 * scale  # bf16 keeps 8 bits: a few ulps after a dozen layers
    top2 = expected.topk(2, dim=0).values
    sure = (top2[0] - top2[1]) > 0.06 * scale  # pixels whose float32 winner no half rounding can overturn
    assert sure.float().mean() > 0.5
    assert torch.equal(half.pred_sem_seg.data[0][sure], full.pred_sem_seg.data[0][sure])
