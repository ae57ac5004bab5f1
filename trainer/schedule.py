"""The learning-rate schedule of the network's optimizer."""
from __future__ import annotations

import tensorflow as tf


class WarmupLinearDecay(tf.keras.optimizers.schedules.LearningRateSchedule):
    """Linear warmup from 0 to ``peak`` over ``warmup_steps``, then linear decay to
    0 at ``total_steps`` (BERT's fine-tuning schedule: the warmup keeps the first
    steps, whose gradients come from an untrained head, from wrecking the
    pretrained top layer; the decay lets the last epochs settle)."""

    def __init__(self, peak: float, warmup_steps: int, total_steps: int):
        super().__init__()
        self.peak, self.warmup_steps, self.total_steps = peak, max(int(warmup_steps), 0), max(int(total_steps), 1)

    def __call__(self, step):
        step = tf.cast(step, tf.float32)
        warmup = (step + 1.0) / max(self.warmup_steps, 1)
        decay = (self.total_steps - step) / max(self.total_steps - self.warmup_steps, 1)
        return self.peak * tf.clip_by_value(tf.minimum(warmup, decay), 0.0, 1.0)

    def get_config(self):
        return {"peak": self.peak, "warmup_steps": self.warmup_steps, "total_steps": self.total_steps}
