"""Devices and the distribution strategy the Trainer uses."""
from __future__ import annotations

import tensorflow as tf


def configure_logical_cpus(count: int) -> None:
    """Splits the host CPU into ``count`` logical devices (0 = leave as is).

    This is how the multi-replica path runs without a GPU. TensorFlow allows it
    only before its runtime initialises, so entry points call this first thing;
    an already-matching configuration is accepted, a conflicting one is an error.
    """
    if count <= 0:
        return
    cpus = tf.config.list_physical_devices("CPU")
    try:
        tf.config.set_logical_device_configuration(cpus[0], [tf.config.LogicalDeviceConfiguration()] * count)
    except RuntimeError as e:
        have = len(tf.config.list_logical_devices("CPU"))
        if have != count:
            raise RuntimeError(
                f"cannot split the CPU into {count} logical devices: TensorFlow is already "
                f"initialised with {have}; set train.logical_cpu_devices before any TensorFlow work"
            ) from e


def make_strategy() -> tf.distribute.MirroredStrategy:
    """MirroredStrategy over every visible accelerator, else every logical CPU."""
    devices = [d.name for d in tf.config.list_logical_devices("GPU")]
    devices = devices or [d.name for d in tf.config.list_logical_devices("CPU")]
    return tf.distribute.MirroredStrategy(devices)
