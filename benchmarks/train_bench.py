"""Training throughput: today's step against the cheaper ones, on the built-in data.

    python benchmarks/train_bench.py [--steps N] [--warmup N] [--quality-steps N] [--out FILE]

Builds the built-in data's training examples in memory (the generator, data
preparation and the Transform's own tokenizer, no pipeline run), then times
training steps of the real model for each setting:

- ``text, uncached, float32``: the step before caching (BERT over the history
  text in the query tower, every encoder layer re-run for every item);
- ``text, cached``: the same model, the item tower's frozen layers cached;
- ``sequence, cached``: the sequence query tower over item embeddings;
- ``sequence, cached, bfloat16``: the same under mixed precision.

Each setting but the first then trains on to ``--quality-steps`` steps in all
(the same learning-rate schedule for each) and is measured on the validation
split as the Trainer's early stopping measures it: retrieval over the whole
catalogue, history excluded (the first setting is the second's model computed
without the cache, which ``tests/test_sequence_tower.py`` shows gives the same
embeddings, at 5x its cost).

Prints examples per second, seconds per step and per batch of the input
pipeline alone (a step never waits for input when that is far below the
step), the ratio to the first setting, and the achieved
FLOP/s as a fraction of the machine's matmul peak, measured in the same run
(a large float32 and bfloat16 matmul). A step's FLOPs are counted from the
model's matmuls: the transformer layers a step runs forward (frozen ones, when
not cached) and forward plus backward (twice the forward) for trained ones, at
each batch's real (trimmed) text lengths; the small heads are left out, so the
fraction is a slight underestimate.
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time

import bertrec  # noqa: F401  (Keras 2 before TensorFlow)

# isort: split
import numpy as np
import tensorflow as tf

from bertrec import features as F
from bertrec import pretrained
from bertrec.config import Config
from bertrec.data import csv_io, generate, prepare
from trainer.catalogue_cache import CatalogueCache
from trainer.distribution import make_strategy
from trainer.model import Recommender
from trainer.task import make_optimizer
from trainer.validation import CatalogueValidation, example_rows
from transforms.preprocessing import TextPacker, item_text

#: (name, config overlay, whether validation quality is measured).
SETTINGS = [
    ("text, uncached, float32", {"model": {"query_tower": "text"}, "train": {"cache_frozen_layers": False,
                                                                              "mixed_precision": False}}, False),
    ("text, cached, float32", {"model": {"query_tower": "text"}, "train": {"mixed_precision": False}}, True),
    ("sequence, cached, float32", {"model": {"query_tower": "sequence"}, "train": {"mixed_precision": False}}, True),
    ("sequence, cached, bfloat16", {"model": {"query_tower": "sequence"}, "train": {"mixed_precision": True}}, True),
]
#: What the validation measurement reports.
QUALITY_METRICS = ("recall@10", "recall@100", "ndcg@10")


def matmul_peak(dtype, size: int = 2048, repeats: int = 20) -> float:
    """Measured FLOP/s of a [size x size] matmul in ``dtype``."""
    a = tf.cast(tf.random.normal([size, size]), dtype)
    b = tf.cast(tf.random.normal([size, size]), dtype)
    product = tf.function(lambda a, b: tf.matmul(a, b))
    product(a, b).numpy()
    start = time.perf_counter()
    for _ in range(repeats):
        product(a, b).numpy()
    return 2 * size**3 * repeats / (time.perf_counter() - start)


def layer_flops(tokens: float, length: float, hidden: int, intermediate: int) -> float:
    """Forward FLOPs of one transformer layer over ``tokens`` tokens in sequences
    of ``length``: the four attention projections, the feed-forward pair and the
    attention scores and mixing."""
    return tokens * (2 * (4 * hidden * hidden + 2 * hidden * intermediate) + 4 * length * hidden)


def examples(config: Config, work: str) -> dict:
    """The built-in data's training examples, tokenized as the Transform does."""
    data = generate.generate(config.generator)
    paths = generate.write(data, work)
    items = csv_io.read_items(paths["items"])
    interactions = csv_io.read_interactions(paths["interactions"], {i["item_id"] for i in items})
    splits, _, _ = prepare.build_examples(items, interactions, config.data)
    train, validation = splits[F.TRAIN_SPLIT], splits[F.VALIDATION_SPLIT]
    pack = TextPacker(pretrained.vocab_path())
    m = config.model
    catalogue_ids = [i["item_id"] for i in items]
    item_vocab = {item: n for n, item in enumerate(sorted({e[F.ITEM_ID] for e in train}))}
    user_vocab = {user: n for n, user in enumerate(sorted({e[F.USER_ID] for e in train}))}

    def texts(rows):
        return item_text(tf.constant([r[F.ITEM_TITLE] for r in rows]), tf.constant([r[F.ITEM_TAGS] for r in rows]),
                         tf.constant([r[F.ITEM_DESCRIPTION] for r in rows]))

    catalogue_rows = [{F.ITEM_TITLE: i["title"], F.ITEM_TAGS: i["tags"], F.ITEM_DESCRIPTION: i["description"]}
                      for i in items]
    return {
        "train": {
            F.QUERY_TOKENS: pack(tf.constant([e[F.HISTORY_TEXT] for e in train]), m.query_sequence_length).numpy(),
            F.ITEM_TOKENS: pack(texts(train), m.item_sequence_length).numpy(),
            F.USER_INDEX: np.array([user_vocab[e[F.USER_ID]] for e in train], dtype=np.int64),
            F.ITEM_INDEX: np.array([item_vocab[e[F.ITEM_ID]] for e in train], dtype=np.int64),
            F.ITEM_KEY: np.array([e[F.ITEM_ID].encode() for e in train]),
            F.HISTORY_ITEM_IDS: np.array([e[F.HISTORY_ITEM_IDS].encode() for e in train]),
        },
        "validation": {
            F.QUERY_TOKENS: pack(tf.constant([e[F.HISTORY_TEXT] for e in validation]), m.query_sequence_length).numpy(),
            F.USER_INDEX: np.array([user_vocab.get(e[F.USER_ID], len(user_vocab)) for e in validation], dtype=np.int64),
            F.HISTORY_ITEM_IDS: np.array([e[F.HISTORY_ITEM_IDS].encode() for e in validation]),
            F.ITEM_KEY: np.array([e[F.ITEM_ID].encode() for e in validation]),
        },
        "catalogue": {
            "ids": np.array([i.encode() for i in catalogue_ids]),
            "tokens": pack(texts(catalogue_rows), m.item_sequence_length).numpy(),
            "vocab_index": np.array([item_vocab.get(i, len(item_vocab)) for i in catalogue_ids], dtype=np.int64),
        },
        "num_users": len(user_vocab) + 1,
        "num_items": len(item_vocab) + 1,
    }


def step_flops(config: Config, cached: bool, frozen_layers: int, num_layers: int, batches) -> float:
    """Mean counted FLOPs of a step over ``batches`` (see the module docstring)."""
    m, hf = config.model, pretrained.minilm_config()
    hidden, intermediate = hf["hidden_size"], hf["intermediate_size"]
    trained = num_layers - frozen_layers
    total = 0.0
    for batch in batches:
        for tokens in ([batch[F.ITEM_TOKENS]] + ([batch[F.QUERY_TOKENS]] if m.query_tower == "text" else [])):
            length = float((tokens != 0).sum(axis=1).max())
            n = len(tokens) * length
            frozen = 0 if cached and tokens is batch[F.ITEM_TOKENS] else frozen_layers
            total += frozen * layer_flops(n, length, hidden, intermediate)
            total += 3 * trained * layer_flops(n, length, hidden, intermediate)
        if m.query_tower == "sequence":
            length = float(min(m.sequence_items, max(len(h.split()) for h in batch[F.HISTORY_ITEM_IDS])))
            total += 3 * m.sequence_layers * layer_flops(len(batch[F.USER_INDEX]) * length, length, hidden,
                                                         m.sequence_intermediate_dim)
    return total / len(batches)


def measure(name: str, overlay: dict, data: dict, steps: int, warmup: int, quality_steps: int) -> dict:
    """Times ``steps`` training steps of one setting after ``warmup`` steps; with
    ``quality_steps``, trains on to that many steps and measures validation."""
    config = Config.from_dict(overlay)
    t = config.train
    counts = np.bincount(data["train"][F.ITEM_INDEX], minlength=data["num_items"])
    strategy = make_strategy()
    with strategy.scope():
        model = Recommender(config, data["num_users"], counts)
        model.compile(optimizer=make_optimizer(model, t, total_steps=max(quality_steps, warmup + steps)))
    cache = CatalogueCache(model, data["catalogue"], config)
    dataset = (tf.data.Dataset.from_tensor_slices(data["train"]).shuffle(10000, seed=t.seed).repeat()
               .batch(t.batch_size, drop_remainder=True).map(cache.add_inputs, num_parallel_calls=tf.data.AUTOTUNE)
               .prefetch(tf.data.AUTOTUNE))
    # The input pipeline alone: a step never waits for it when this is well below a step's time.
    batches = iter(dataset)
    next(batches)
    start = time.perf_counter()
    for _ in range(steps):
        next(batches)
    input_seconds = (time.perf_counter() - start) / steps
    model.fit(dataset, steps_per_epoch=warmup, epochs=1, verbose=0)
    start = time.perf_counter()
    model.fit(dataset, steps_per_epoch=steps, epochs=1, verbose=0)
    seconds = time.perf_counter() - start
    encoder = model.candidate_tower.encoder
    sample = [{k: v[i : i + t.batch_size] for k, v in data["train"].items()}
              for i in range(0, 20 * t.batch_size, t.batch_size)]
    flops = step_flops(config, cache.cached, max(encoder.frozen_layers, 0),
                       len(encoder.backbone.transformer_layers), sample)
    result = {"setting": name, "examples_per_second": steps * t.batch_size / seconds,
              "seconds_per_step": seconds / steps, "input_seconds_per_batch": input_seconds,
              "flops_per_second": flops * steps / seconds,
              "mixed_precision": t.mixed_precision}
    if quality_steps:
        rest = quality_steps - warmup - steps
        if rest > 0:
            model.fit(dataset, steps_per_epoch=rest, epochs=1, verbose=0)
        validation = data["validation"]
        validator = CatalogueValidation(cache, validation, *example_rows(validation, data["catalogue"]["ids"]),
                                        QUALITY_METRICS)
        result["validation"] = validator.measure()
    return result


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=30, help="timed steps per setting")
    parser.add_argument("--warmup", type=int, default=5, help="untimed steps first (tracing, caches)")
    parser.add_argument("--quality-steps", type=int, default=300,
                        help="steps in all before the validation measurement (0: none)")
    parser.add_argument("--only", default="", help="time only the settings whose name contains this "
                        "(the first setting, the baseline, always runs)")
    parser.add_argument("--out", default="", help="also write the figures as JSON here")
    args = parser.parse_args(argv)
    config = Config()
    print("measuring the machine's matmul peak ...", flush=True)
    peak = {"float32": matmul_peak(tf.float32), "bfloat16": matmul_peak(tf.bfloat16)}
    print(f"  float32 {peak['float32'] / 1e9:.0f} GFLOP/s, bfloat16 {peak['bfloat16'] / 1e9:.0f} GFLOP/s", flush=True)
    with tempfile.TemporaryDirectory() as work:
        print("building the built-in data's training examples ...", flush=True)
        data = examples(config, work)
    print(f"  {len(data['train'][F.USER_INDEX])} training examples, {len(data['catalogue']['ids'])} items", flush=True)
    results = []
    for n, (name, overlay, quality) in enumerate(SETTINGS):
        if n and args.only not in name:
            continue
        print(f"timing {name} ({args.steps} steps after {args.warmup}) ...", flush=True)
        result = measure(name, overlay, data, args.steps, args.warmup, args.quality_steps if quality else 0)
        result["peak_fraction"] = (
            result["flops_per_second"] / peak["bfloat16" if result["mixed_precision"] else "float32"]
        )
        results.append(result)
    base = results[0]["examples_per_second"]
    columns = " ".join(f"{'val ' + m:>15}" for m in QUALITY_METRICS)
    print(f"\n{'setting':28} {'examples/s':>10} {'s/step':>7} {'input s':>8} {'vs first':>9} {'GFLOP/s':>8} "
          f"{'of peak':>8} {columns}")
    for r in results:
        quality = " ".join(f"{r['validation'][m]:15.4f}" if "validation" in r else f"{'':>15}" for m in QUALITY_METRICS)
        print(f"{r['setting']:28} {r['examples_per_second']:10.1f} {r['seconds_per_step']:7.3f} "
              f"{r['input_seconds_per_batch']:8.4f} "
              f"{r['examples_per_second'] / base:8.2f}x {r['flops_per_second'] / 1e9:8.1f} {r['peak_fraction']:8.1%} "
              f"{quality}")
    if args.quality_steps:
        print(f"validation: {len(data['validation'][F.ITEM_KEY])} examples after {args.quality_steps} steps of "
              f"{Config().train.batch_size}")
    if args.out:
        with open(args.out, "w") as f:
            json.dump({"peak_flops_per_second": peak, "settings": results}, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
