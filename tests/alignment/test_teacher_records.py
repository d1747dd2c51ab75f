"""TeacherReference: the demo's feature columns, the same whatever the threads or the order of scoring."""
import torch
from tiny import TINY_VIT

from mmseg_adala.alignment.teacher_records import TeacherReference, relative_error
from mmseg_adala.models import AdaLAViT


def _backbone(checkpoint, attn_type):
    backbone = AdaLAViT(arch='dinov2_vits14', vit_cfg=TINY_VIT, img_size=112, attn_type=attn_type,
                        init_cfg=dict(type='Pretrained', checkpoint=checkpoint))
    backbone.init_weights()
    return backbone.eval()


def _scores(reference, student):
    return reference.attention_errors(student), reference.feature_cosine(student)


def test_scores_do_not_depend_on_threads_or_order(teacher_checkpoint):
    images = torch.randn(3, 3, 112, 84)  # an 8x6 grid
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        reference = TeacherReference(_backbone(teacher_checkpoint, 'softmax'), images)
        linear, control = _backbone(teacher_checkpoint, 'linear'), _backbone(teacher_checkpoint, 'none')
        first = [_scores(reference, student) for student in (linear, control)]
        torch.set_num_threads(2)
        reference = TeacherReference(_backbone(teacher_checkpoint, 'softmax'), images)
        second = [_scores(reference, student) for student in (control, linear)][::-1]
    finally:
        torch.set_num_threads(threads)
    for (errors, cosine), (errors_again, cosine_again) in zip(first, second):
        torch.testing.assert_close(errors, errors_again, rtol=0, atol=1e-6)
        torch.testing.assert_close(cosine, cosine_again, rtol=0, atol=1e-6)


def test_scores_are_the_stage_measures_by_hand(teacher_checkpoint):
    """Attention error: each block on the teacher's own normed block input; cosine: final tokens."""
    images = torch.randn(2, 3, 112, 112)
    teacher, student = _backbone(teacher_checkpoint, 'softmax'), _backbone(teacher_checkpoint, 'none')
    reference = TeacherReference(teacher, images)
    errors, cosine = _scores(reference, student)

    with torch.no_grad():
        x = teacher.vit.norm_pre(teacher.vit._pos_embed(teacher.vit.patch_embed(images)))
        for index, (block, student_block) in enumerate(zip(teacher.vit.blocks, student.vit.blocks)):
            normed = block.norm1(x)
            expected = relative_error(student_block.attn(normed), block.attn(normed))
            torch.testing.assert_close(errors[:, index], expected, rtol=1e-5, atol=1e-7)
            x = block(x)
        final = torch.nn.functional.cosine_similarity(student.forward_tokens(images), teacher.vit.norm(x), dim=-1)
    torch.testing.assert_close(cosine, final.mean(1), rtol=1e-5, atol=1e-6)
    assert reference.attention_errors(teacher).abs().max() < 1e-6  # the teacher scores 0 against itself
    torch.testing.assert_close(reference.feature_cosine(teacher), torch.ones(2), rtol=0, atol=1e-5)
