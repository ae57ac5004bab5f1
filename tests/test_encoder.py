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


def _packed(texts, length=24):
    return TextPacker(pretrained.vocab_path())(tf.constant(texts), length)


def test_split_encoder_matches_the_backbone_and_its_cacheable_part():
    """``call`` runs the backbone in two parts (frozen states, then the trained
    top layers): it must give what the keras-nlp backbone itself computes, and
    the frozen part computed once (as training caches it) must give the same."""
    backbone = build_backbone(ModelConfig(trainable_encoder_layers=2), 24)
    encoder = TextEncoder(backbone)
    assert encoder.frozen_layers == 4
    tokens = _packed(["The Starship Nebula, a space opera", "Baking bread"])
    mask = TextEncoder.padding_mask(tokens)
    sequence = backbone({"token_ids": tf.cast(tokens, tf.int32), "segment_ids": tf.zeros_like(mask),
                         "padding_mask": mask})["sequence_output"]
    weights = tf.cast(mask, tf.float32)[:, :, tf.newaxis]
    reference = tf.math.l2_normalize(tf.reduce_sum(sequence * weights, 1) / tf.reduce_sum(weights, 1), -1).numpy()
    np.testing.assert_allclose(encoder(tokens).numpy(), reference, atol=1e-5)
    cached = encoder.from_states(encoder.frozen_states(tokens), mask)
    np.testing.assert_allclose(cached.numpy(), reference, atol=1e-5)


def test_nothing_is_cacheable_when_the_embeddings_train():
    assert TextEncoder(build_backbone(ModelConfig(encoder="tiny", trainable_encoder_layers=-1), 16)).frozen_layers == -1
    assert TextEncoder(build_backbone(ModelConfig(encoder="tiny", trainable_encoder_layers=0), 16)).frozen_layers == 2


def test_bfloat16_encoder_stays_close_to_float32():
    """Mixed precision changes the arithmetic, not the model: sentence embeddings
    agree with float32 to a cosine of 0.99 and keep their float32 output."""
    tokens = _packed(["The Starship Nebula", "Astronaut in Orbit", "Baking Bread in the Oven"])
    full = TextEncoder(build_backbone(ModelConfig(), 24))(tokens).numpy()
    mixed = TextEncoder(build_backbone(ModelConfig(), 24, dtype="mixed_bfloat16"))(tokens)
    assert mixed.dtype == tf.float32
    assert np.min(np.sum(full * mixed.numpy(), axis=1)) > 0.99
