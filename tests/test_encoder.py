import numpy as np
import tensorflow as tf

from bertrec import pretrained
from bertrec.config import ModelConfig
from trainer.encoder import TextEncoder, build_backbone
from transforms.preprocessing import TextPacker


def _embed(encoder, texts):
    return encoder(TextPacker(pretrained.vocab_path())(tf.constant(texts), 24)).numpy()


def test_minilm_weights_give_meaningful_sentence_embeddings():
    encoder = TextEncoder(build_backbone(ModelConfig(), 24))
    e = _embed(encoder, ["The Starship Nebula", "Astronaut in Orbit", "Baking Bread in the Oven"])
    assert np.allclose(np.linalg.norm(e, axis=1), 1.0, atol=1e-5)
    space_space, space_food = e[0] @ e[1], e[0] @ e[2]
    assert space_space > space_food + 0.1, (space_space, space_food)


def test_partial_fine_tuning_freezes_all_but_the_top_layers():
    backbone = build_backbone(ModelConfig(encoder="tiny", tiny_num_layers=3, trainable_encoder_layers=1), 16)
    trainable = {v.name.split("/")[0] for v in backbone.trainable_weights}
    assert trainable == {"transformer_layer_2"}
    everything = build_backbone(ModelConfig(encoder="tiny", tiny_num_layers=3, trainable_encoder_layers=-1), 16)
    assert len(everything.trainable_weights) > len(backbone.trainable_weights) * 3


def test_padding_budget_does_not_change_embeddings():
    """Only the batch's longest text is encoded: a larger sequence-length budget
    (more trailing padding) gives the same embeddings."""
    encoder = TextEncoder(build_backbone(ModelConfig(), 64))
    short = TextPacker(pretrained.vocab_path())(tf.constant(["a ghost haunts the old house", "stock market"]), 16)
    padded = tf.pad(short, [[0, 0], [0, 48]])
    np.testing.assert_allclose(encoder(short).numpy(), encoder(padded).numpy(), atol=1e-5)
