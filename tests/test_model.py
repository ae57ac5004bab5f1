"""The recommender trains under MirroredStrategy across the two logical CPUs (see conftest)."""
import numpy as np
import tensorflow as tf

from bertrec import features as F
from bertrec.config import Config
from trainer.distribution import make_strategy
from trainer.model import Recommender


def _batch(n, rng):
    theme = rng.randint(8, size=n)
    # Eight "themes" of 50 token ids each; the query and the item of a pair share a theme.
    query = 2000 + 50 * theme[:, None] + rng.randint(50, size=(n, 8))
    item = 2000 + 50 * theme[:, None] + rng.randint(50, size=(n, 8))
    return {
        F.QUERY_TOKENS: np.concatenate([np.full((n, 1), 101), query, np.full((n, 1), 102)], 1).astype(np.int64),
        F.ITEM_TOKENS: np.concatenate([np.full((n, 1), 101), item, np.full((n, 1), 102)], 1).astype(np.int64),
        F.USER_INDEX: rng.randint(10, size=n).astype(np.int64),
        F.ITEM_INDEX: np.arange(n, dtype=np.int64) % 40,
        F.LABEL_RATING: rng.choice([2.0, 5.0], size=n).astype(np.float32),
    }


def test_trains_on_two_replicas_and_loss_falls():
    strategy = make_strategy()
    assert strategy.num_replicas_in_sync == 2
    config = Config.from_dict({
        "model": {"encoder": "tiny", "trainable_encoder_layers": -1, "query_sequence_length": 10, "item_sequence_length": 10},
        "train": {"learning_rate": 1e-3},
    })
    rng = np.random.RandomState(0)
    data = tf.data.Dataset.from_tensor_slices(_batch(640, rng)).batch(32, drop_remainder=True)
    with strategy.scope():
        pool = _batch(40, np.random.RandomState(1))
        model = Recommender(config, 11, 41, pool[F.ITEM_TOKENS], pool[F.ITEM_INDEX])
        model.compile(optimizer=tf.keras.optimizers.Adam(config.train.learning_rate))
    history = model.fit(data, epochs=6, verbose=0)
    losses = history.history["loss"]
    assert losses[-1] < losses[0] * 0.8, losses
    # 16 examples per replica: guessing would put the true item in the top 5 at 5/16 = 0.31.
    assert history.history["in_batch_top5"][-1] > 0.6, history.history
