"""The training loops of the two alignment stages, by name in a config's `train_cfg`."""
from collections import Counter

import torch
from mmengine.dist import all_reduce
from mmengine.runner import IterBasedTrainLoop
from mmseg.registry import LOOPS

from ..engine.model_wrappers import bare_model
from .attention_align import AttentionAlignModel
from .feature_align import FeatureAlignModel


class AlignmentLoop(IterBasedTrainLoop):
    """An iteration-based loop (resumable, validation every `val_interval`) for one stage.

    Before training it checks that the config's model is this stage's and logs which
    parameters train, so a mis-set config shows at once rather than after a day of GPU time.
    While training it keeps the running total of unreadable images skipped, over all
    processes, as the logged scalar `skipped_images` (resumed with the message hub).
    """

    model_type = None
    skipped_key = 'train/skipped_images'

    def run(self):
        model = bare_model(self.runner.model)
        if not isinstance(model, self.model_type):
            raise TypeError(f'{type(self).__name__} trains a {self.model_type.__name__}, but the config\'s '
                            f'model is a {type(model).__name__}: set model.type={self.model_type.__name__!r}')
        trained = [(name, p.numel()) for name, p in model.named_parameters() if p.requires_grad]
        total = sum(p.numel() for p in model.parameters())
        groups = Counter(name.split('.')[-2] for name, _ in trained)
        self.runner.logger.info(
            f'{type(self).__name__}: training {sum(n for _, n in trained):,} of {total:,} parameters '
            f'(teacher frozen); by module: {dict(groups)}')
        return super().run()

    def run_iter(self, data_batch: dict) -> None:
        skipped = torch.tensor(float(sum(sample.metainfo.get('num_skipped', 0)
                                         for sample in data_batch['data_samples'])))
        all_reduce(skipped)
        hub = self.runner.message_hub
        total = hub.log_scalars[self.skipped_key].current() if self.skipped_key in hub.log_scalars else 0
        hub.update_scalar(self.skipped_key, total + skipped.item())
        super().run_iter(data_batch)


@LOOPS.register_module()
class AttentionAlignLoop(AlignmentLoop):
    """Stage 1: per-block attention alignment (`AttentionAlignModel`)."""

    model_type = AttentionAlignModel


@LOOPS.register_module()
class FeatureAlignLoop(AlignmentLoop):
    """Stage 2: whole-network feature alignment (`FeatureAlignModel`)."""

    model_type = FeatureAlignModel
