"""The one source of truth for every knob of bertrec.

A :class:`Config` is built from defaults (tuned for the built-in data on a
2-core CPU machine), optionally overlaid with a JSON file, and passed down:
the pipeline file hands ``config.to_dict()`` to Transform and Trainer as their
``custom_config``, so a changed knob is part of the component's inputs and TFX's
cache re-runs exactly the components it affects.

Example JSON overlay (any subset of sections and fields)::

    {"train": {"max_epochs": 1}, "model": {"encoder": "tiny"}}
"""
from __future__ import annotations

import dataclasses
import json
import os
import re
import typing
from typing import Any, Dict, List, Optional

from bertrec.errors import UserError

#: Environment variable naming a JSON overlay file. The tfx CLI executes the
#: pipeline file without arguments, so this is how a config reaches it.
CONFIG_ENV = "BERTREC_CONFIG"


class ConfigError(UserError):
    """A configuration file or value is invalid."""


@dataclasses.dataclass
class DataConfig:
    """Where the raw data is and how it becomes training examples."""

    #: Folder with items.csv, interactions.csv and optionally users.csv.
    #: Empty means the built-in generated data (``<work_dir>/data``).
    data_dir: str = ""
    #: How many of a user's most recent earlier interactions form the user
    #: context text the query tower reads.
    history_length: int = 10
    #: How many of a user's most recent earlier item ids an example carries
    #: (``history_item_ids``, at least ``history_length``): the history the
    #: model's history affinity compares items with (``model.history_affinity``).
    max_history_items: int = 256
    #: Fraction of interactions that form the eval (test) split, read only by the
    #: Evaluator gate and the final report.
    eval_fraction: float = 0.15
    #: Fraction of the remaining (training) interactions carved out as the
    #: validation split: early stopping, the score terms' fits, baselines'
    #: tuning and every design choice use it.
    validation_fraction: float = 0.15
    #: "time": the latest interactions are the eval split and the latest of the
    #: rest the validation split (what production faces). "random": seeded
    #: random samples are (the usual MovieLens 100K protocol: eval_fraction 0.2).
    split: str = "time"
    split_seed: int = 42
    #: Cap on train examples written (0 = all); an even sample over time is kept
    #: and the summary says how many were left out.
    max_train_examples: int = 0
    #: Cap on eval (test) examples written (0 = all), an even sample over time.
    #: The Evaluator runs BERT over every one, so this bounds its time.
    max_eval_examples: int = 3000
    #: Cap on validation examples written (0 = all), sampled the same way. Early
    #: stopping and the score terms use ``train.validation_examples`` of them and
    #: the re-ranker is held out on up to as many others, so more than twice that
    #: gives the re-ranker's gate its full size; ``bertrec evaluate`` tunes the
    #: comparison models on them.
    max_validation_examples: int = 10000


@dataclasses.dataclass
class GeneratorConfig:
    """The deterministic built-in catalogue and user generator."""

    num_items: int = 2000
    num_users: int = 1000
    num_interactions: int = 50000
    #: Fraction of items first released after the train/eval cut-off.
    cold_start_fraction: float = 0.05
    seed: int = 13


@dataclasses.dataclass
class ModelConfig:
    """Architecture of the towers and the ranking head."""

    #: "minilm": BertBackbone initialised from the shipped all-MiniLM-L6-v2 weights.
    #: "tiny": a small randomly initialised BertBackbone (tests, smoke runs).
    encoder: str = "minilm"
    #: Token budget of the user context (history text), [CLS] and [SEP] included.
    query_sequence_length: int = 64
    #: Token budget of an item's text (title, tags, description).
    item_sequence_length: int = 40
    #: How many of the encoder's top transformer layers are fine-tuned; the
    #: embeddings and lower layers stay frozen (partial fine-tuning cuts the
    #: backward pass and keeps the pretrained semantics). -1 = all layers.
    trainable_encoder_layers: int = 1
    #: What the query tower reads. "sequence": the text embeddings of the user's
    #: ``sequence_items`` most recent items (the encoder's as shipped, a table
    #: the model holds for its catalogue), through a small transformer
    #: (``trainer/sequence_tower.py``): no BERT pass per request or step.
    #: "text": BERT over the titles of the ``data.history_length`` most recent
    #: items (the history text).
    query_tower: str = "sequence"
    #: The sequence tower: how many recent items it reads ...
    sequence_items: int = 50
    #: ... its transformer blocks, attention heads and feed-forward width.
    sequence_layers: int = 1
    sequence_heads: int = 4
    sequence_intermediate_dim: int = 512
    #: Output size of the tower projections; 0 = no projection (use the encoder's
    #: mean-pooled output as is, which keeps MiniLM's zero-shot sentence space).
    projection_dim: int = 0
    #: Hybrid towers: add a learned user-id embedding to the query tower's text
    #: embedding / an item-id embedding to the candidate tower's. Ids unseen in
    #: training (new users, cold-start items) add nothing: they fall back to text.
    user_id_embedding: bool = True
    item_id_embedding: bool = True
    #: Start items unseen in training (cold start) from the popularity boost new
    #: items drew at the end of the training log (``trainer/priors.py``), instead
    #: of the average item's. Only with ``data.split = "time"``: in a random split
    #: an unseen item is rare, not new. Not used when ``freshness`` is on and
    #: items have release times: freshness covers new releases (both together
    #: boosted them twice: recall@100 0.765 against 0.778 on the built-in data).
    new_item_prior: bool = True
    #: Add the history affinity to retrieval and ranking scores: a kernel density
    #: of the item among the embeddings of the user's whole history (up to
    #: ``data.max_history_items``), with its scale and bandwidth fitted after
    #: training (``trainer/affinity.py``). The query text reads only the
    #: ``data.history_length`` most recent items.
    history_affinity: bool = True
    #: Add the freshness term to retrieval and ranking scores: a bias per bucket
    #: of the item's age at request time (not yet released, 0-7, 7-30, 30-90,
    #: 90-365, 365+ days, release unknown), fitted after training
    #: (``trainer/freshness.py``); release times are items.csv's
    #: ``release_timestamp``. Serving ages items by the server's clock.
    freshness: bool = True
    #: Add the item-item term to retrieval and ranking scores: the EASE weights
    #: of the training log (which items users had together), summed over the
    #: history's items, times a scale fitted after training
    #: (``trainer/item_item.py``). Cold-start items get nothing from it.
    item_item: bool = True
    #: EASE's ridge penalties to choose from, with the scale, on validation
    #: (larger: weaker, smoother item-item weights; the best differs by data:
    #: 100 on the built-in data, 1,000 to 30,000 on MovieLens). EASE is learnt
    #: once per value.
    item_item_l2_grid: List[float] = dataclasses.field(default_factory=lambda: [30.0, 300.0, 3000.0, 30000.0])
    #: Weights kept per item: the model holds [items x neighbours] of them.
    item_item_neighbours: int = 100
    #: Only this many most-interacted items take part. EASE inverts an
    #: [items x items] matrix once per ``item_item_l2_grid`` value: about 30 s
    #: and 2.4 GB of memory each at 10,000 items on 2 cores, growing with the cube.
    item_item_max_items: int = 10000
    #: Re-rank retrieval's ``serve.retrieve_k`` items with a re-ranker fitted on
    #: the lists retrieval returns for validation examples (``trainer/reranker.py``):
    #: retrieval score + an MLP over features retrieval cannot use (how the
    #: candidate relates to each history item, the score terms separately).
    #: Off: the ranking head's logits plus the score terms.
    reranker: bool = True
    #: Hidden layer sizes of the re-ranker's MLP ([] = a linear correction).
    reranker_hidden_units: List[int] = dataclasses.field(default_factory=lambda: [32, 16])
    #: Size of the user-id and item-id embeddings of the ranking head.
    id_embedding_dim: int = 16
    #: Hidden layer sizes of the ranking MLP.
    ranking_hidden_units: List[int] = dataclasses.field(default_factory=lambda: [64, 32])
    #: Softmax temperature of the retrieval loss on cosine similarities.
    temperature: float = 0.05
    #: Sizes of the "tiny" encoder.
    tiny_num_layers: int = 2
    tiny_hidden_dim: int = 64
    tiny_num_heads: int = 2
    tiny_intermediate_dim: int = 128
    dropout: float = 0.1


@dataclasses.dataclass
class TrainConfig:
    """Optimisation and distribution."""

    #: Global batch size (split across replicas); also the number of in-batch
    #: negatives of the retrieval loss.
    batch_size: int = 64
    #: Training runs whole epochs over the training split (an epoch's steps are
    #: its examples / batch_size) and stops after this many at most ...
    max_epochs: int = 3
    #: ... or earlier, when ``early_stopping_metric`` of the validation split
    #: (retrieval over the whole catalogue, history excluded, measured on
    #: ``validation_examples`` of them at each epoch's end) has not improved for
    #: this many epochs; the best epoch's weights are kept.
    early_stopping_patience: int = 1
    #: recall@k, ndcg@k or mrr@k.
    early_stopping_metric: str = "recall@100"
    #: Cap on training steps (0 = none): smoke runs and tests. A capped epoch is
    #: a partial pass.
    max_steps: int = 0
    #: The network's learning rate rises linearly over this fraction of the
    #: planned steps, then falls linearly to 0 at the last planned step.
    warmup_fraction: float = 0.1
    #: Compute the encoder's frozen layers once per run for every catalogue item
    #: and train on the cached states (``trainer/catalogue_cache.py``): same
    #: model, several times cheaper steps. Needs frozen embeddings
    #: (``model.trainable_encoder_layers`` >= 0).
    cache_frozen_layers: bool = True
    #: Run the encoders' matrix products in bfloat16 (weights, losses, logits and
    #: scores stay float32): about 2x the float32 matmul throughput on CPUs with
    #: AVX-512 BF16 and on GPUs from Ampere on (A100, L4, H100: the same tensor
    #: core speed as float16, with no loss scaling), slower where neither is
    #: there. float16 (for V100 / T4) is not offered: Keras' loss scaling cannot
    #: wrap TFRS's CompositeOptimizer, which the id embeddings' Adagrad needs.
    #: Applies to the exported model too.
    mixed_precision: bool = False
    #: The re-ranker's Adam learning rate, and its most epochs over the
    #: validation lists (it stops after 5 without a better hold-out loss).
    reranker_learning_rate: float = 3e-3
    reranker_max_epochs: int = 100
    #: Adam's learning rate for the encoder layers, projections and heads.
    learning_rate: float = 3e-4
    #: Adagrad's step size for id embeddings and biases (item priors, hybrid
    #: tower ids, ranking-head ids), scaled by 1 / sqrt(embedding size) so that a
    #: step moves a row by about this much.
    id_learning_rate: float = 0.1
    #: How many validation examples (a seeded sample) early stopping measures and
    #: the score terms (history affinity, freshness, item-item) and the
    #: re-ranker are fitted on; the re-ranker is held out on up to as many of
    #: the others. Both fits hold a few [examples x catalogue] float matrices.
    validation_examples: int = 2000
    retrieval_loss_weight: float = 1.0
    ranking_loss_weight: float = 0.5
    #: Number of logical CPU devices to split the host CPU into, so that
    #: MirroredStrategy runs several replicas without a GPU (0 = leave devices as
    #: they are: every GPU, or the one CPU). Applied once, at process start.
    logical_cpu_devices: int = 0
    seed: int = 7


@dataclasses.dataclass
class ServeConfig:
    """What the exported signatures return and the request limits they enforce.

    The limits live in the model (INVALID_ARGUMENT from inside the graph), so the
    real TensorFlow Serving and the local server enforce the same ones.
    """

    #: Items returned by serving_default (after re-ranking).
    top_k: int = 10
    #: Candidates retrieved from the whole catalogue before re-ranking.
    retrieve_k: int = 100
    #: Most examples one request may carry.
    max_batch_size: int = 64
    #: Longest ``rank`` candidate list per example.
    max_candidates: int = 1000
    #: Longest ``user_id`` or ``history_item_ids`` string, in bytes.
    max_input_bytes: int = 4096
    #: How serving retrieves over the catalogue: "exact" scores every item (one
    #: matrix product; fast enough to some 100,000 items on 2 cores) or
    #: "partitioned", an approximate index of stock TF ops that scores the items of
    #: the ``index_probe`` k-means partitions nearest the query
    #: (``trainer/partitioned_index.py``; measured by ``make bench-scale``).
    #: ``bertrec evaluate`` always scores every item.
    index: str = "exact"
    #: Partitions of the "partitioned" index (0: about sqrt(catalogue items)).
    index_partitions: int = 0
    #: Partitions scored per request by the "partitioned" index: more is slower and misses less.
    index_probe: int = 16
    #: How much partitions group items by popularity prior as well as by embedding
    #: (``trainer/partitioned_index.py``): 1 weighs the prior as retrieval does;
    #: higher suits models whose ranking the prior moves as much as the cosine.
    index_prior_weight: float = 16.0


@dataclasses.dataclass
class ServerConfig:
    """The local gRPC model server (``bertrec serve``), the client and the load test.

    Not part of the Trainer's inputs: changing these never re-trains.
    """

    #: The name clients put in ``model_spec.name`` (empty = pipeline.name, the
    #: folder Pusher pushes to, as TF Serving's convention has it).
    model_name: str = ""
    #: gRPC port (TF Serving's default is 8500).
    port: int = 8500
    #: How often the model base directory is scanned for new versions.
    poll_seconds: float = 2.0
    #: gRPC request threads (callers waiting for a batch hold one each).
    threads: int = 16
    #: Server-side batching, like TF Serving's batching parameters: most rows
    #: merged into one model call (0 = no batching) ...
    batch_max_size: int = 16
    #: ... how long a batch waits for more requests when the model is idle ...
    batch_timeout_micros: int = 2000
    #: ... and how many batches run at once (about one per core).
    batch_threads: int = 2
    #: Client-side deadline of one call, in seconds.
    timeout_seconds: float = 30.0
    #: HTTP port of the Prometheus metrics page, at TF Serving's path
    #: /monitoring/prometheus/metrics (serving/metrics.py lists the metrics);
    #: 0 = no page, as TF Serving's --rest_api_port=0.
    metrics_port: int = 0
    #: TF Serving's --ssl_config_file: an SSLConfig text proto holding the PEM
    #: server_key, server_cert, custom_ca and client_verify (require client
    #: certificates signed by custom_ca). Empty = plain text.
    ssl_config_file: str = ""
    #: Client side (recommend, status, metadata, loadtest): a PEM file of the CA
    #: that signed the server's certificate. Setting it, or a client certificate,
    #: makes the client use TLS (with the system's trusted CAs when empty).
    ca_cert: str = ""
    #: The client's own PEM certificate and key, for a server with client_verify.
    client_cert: str = ""
    client_key: str = ""


@dataclasses.dataclass
class EvalConfig:
    """Evaluator gating (TFMA)."""

    #: k of the retrieval recall metric.
    recall_k: int = 100
    #: Blessing needs at least this retrieval recall@recall_k ...
    min_retrieval_recall: float = 0.05
    #: ... and at least this recall@top_k of the final re-ranked list.
    min_ranked_recall: float = 0.01
    #: ... and may not be worse than the last blessed model by more than this
    #: (absolute) on either metric.
    max_recall_drop: float = 0.01
    #: The validation metric ``bertrec evaluate`` tunes its baselines' hyper-
    #: parameters by (EASE's ridge, the recent-popularity window, the text
    #: baseline's recency decay, the id two-tower's epochs): recall@k, ndcg@k or mrr@k.
    tune_metric: str = "ndcg@10"
    #: Resamples of the paired bootstrap behind the report's 95% intervals.
    bootstrap_samples: int = 1000


@dataclasses.dataclass
class PipelineConfig:
    """Where the pipeline runs and how."""

    name: str = "bertrec"
    #: Everything the run writes (data, examples, pipeline root, metadata,
    #: pushed models). Empty = ./runs/<name> under the current directory.
    work_dir: str = ""
    #: Extra Beam arguments; DirectRunner locally, e.g. Dataflow on Vertex.
    beam_args: List[str] = dataclasses.field(
        default_factory=lambda: ["--direct_running_mode=in_memory", "--direct_num_workers=1"]
    )
    #: Vertex AI settings, used only by the Vertex runner (tfx_pipeline/vertex_runner.py).
    vertex_project: str = "your-gcp-project"
    vertex_region: str = "us-central1"
    #: Container image with bertrec installed (tfx_pipeline/Dockerfile).
    vertex_image: str = "us-docker.pkg.dev/your-gcp-project/bertrec/bertrec:latest"
    #: GCS folder for examples, pipeline root and pushed models on Vertex.
    vertex_root: str = "gs://your-bucket/bertrec"
    #: Run the Beam components (ExampleGen, StatisticsGen, Transform, Evaluator)
    #: on Dataflow; False keeps DirectRunner inside the Vertex containers.
    vertex_use_dataflow: bool = True


@dataclasses.dataclass(frozen=True)
class Paths:
    """The layout of a work directory (all absolute)."""

    work_dir: str
    data_dir: str  # the CSV files (generated ones unless data.data_dir is set)
    examples_dir: str  # prepared tf.Example splits, ExampleGen's input
    pipeline_root: str
    metadata_path: str  # ML Metadata (SQLite)
    serving_model_dir: str  # Pusher's destination, watched by TF Serving


def _field_types(section_type) -> Dict[str, Any]:
    """A config section's field types (its annotations, resolved)."""
    return typing.get_type_hints(section_type)


_TYPE_NAMES = {bool: "true or false", int: "a whole number", float: "a number", str: "a string"}
_PLURAL_NAMES = {bool: "booleans", int: "whole numbers", float: "numbers", str: "strings"}


def _typed(value: Any, kind: Any, where: str) -> Any:
    """``value`` as a field of type ``kind`` (an int where a float is expected
    becomes a float); a ConfigError naming ``where`` if it is not one. JSON's
    ``true`` is not a number here, nor ``"false"`` a boolean."""
    if typing.get_origin(kind) in (list, List):
        (item,) = typing.get_args(kind)
        if not isinstance(value, list):
            raise ConfigError(f"{where} must be a list of {_PLURAL_NAMES[item]}, got {value!r}")
        return [_typed(v, item, f"{where}[{i}]") for i, v in enumerate(value)]
    valid = {
        bool: isinstance(value, bool),
        int: isinstance(value, int) and not isinstance(value, bool),
        float: isinstance(value, (int, float)) and not isinstance(value, bool),
        str: isinstance(value, str),
    }.get(kind, True)
    if not valid:
        raise ConfigError(f"{where} must be {_TYPE_NAMES[kind]}, got {value!r}")
    return float(value) if kind is float else value


#: Fields earlier versions had, and what replaces them (for the unknown-field error).
_REPLACED = {
    "train.train_steps": "training runs whole epochs; see train.max_epochs and train.max_steps",
    "train.epochs": "see train.max_epochs (with early stopping)",
    "train.validation_steps": "validation measures train.validation_examples examples at each epoch's end",
    "train.affinity_fit_examples": "see train.validation_examples",
    "model.item_item_l2": "model.item_item_l2_grid lists the values to choose from on validation",
}


@dataclasses.dataclass
class Config:
    """Every knob of bertrec, by section."""

    data: DataConfig = dataclasses.field(default_factory=DataConfig)
    generator: GeneratorConfig = dataclasses.field(default_factory=GeneratorConfig)
    model: ModelConfig = dataclasses.field(default_factory=ModelConfig)
    train: TrainConfig = dataclasses.field(default_factory=TrainConfig)
    serve: ServeConfig = dataclasses.field(default_factory=ServeConfig)
    server: ServerConfig = dataclasses.field(default_factory=ServerConfig)
    evaluate: EvalConfig = dataclasses.field(default_factory=EvalConfig)
    pipeline: PipelineConfig = dataclasses.field(default_factory=PipelineConfig)

    def paths(self) -> Paths:
        """Absolute paths of everything a run reads and writes.

        Absolute because the tfx CLI re-runs the pipeline file from other directories.
        """
        work = os.path.abspath(self.pipeline.work_dir or os.path.join("runs", self.pipeline.name))
        return Paths(
            work_dir=work,
            data_dir=os.path.abspath(self.data.data_dir) if self.data.data_dir else os.path.join(work, "data"),
            examples_dir=os.path.join(work, "examples"),
            pipeline_root=os.path.join(work, "pipeline_root"),
            metadata_path=os.path.join(work, "metadata.sqlite"),
            serving_model_dir=os.path.join(work, "serving_model", self.pipeline.name),
        )

    def served_model_name(self) -> str:
        """The model's name on a model server."""
        return self.server.model_name or self.pipeline.name

    def to_dict(self) -> Dict[str, Any]:
        """Plain dict, JSON-serialisable (what TFX components receive)."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: Dict[str, Any], source: str = "config") -> "Config":
        """Overlays ``values`` on the defaults; unknown keys are errors.

        Top-level keys starting with "_" are annotations (such as the source
        fingerprint the pipeline adds to a component's custom_config) and are
        skipped.
        """
        config = cls()
        for section_name, section_values in (values or {}).items():
            if section_name.startswith("_"):
                continue
            if section_name not in _SECTIONS:
                raise ConfigError(
                    f"{source}: unknown section {section_name!r}; "
                    f"known sections: {', '.join(sorted(_SECTIONS))}"
                )
            if not isinstance(section_values, dict):
                raise ConfigError(f"{source}: section {section_name!r} must be an object")
            section = getattr(config, section_name)
            known = {f.name: f for f in dataclasses.fields(section)}
            for key, value in section_values.items():
                if key not in known:
                    replaced = _REPLACED.get(f"{section_name}.{key}")
                    raise ConfigError(
                        f"{source}: unknown field {section_name}.{key}; "
                        + (f"it was replaced: {replaced}" if replaced else f"known fields: {', '.join(sorted(known))}")
                    )
                setattr(section, key,
                        _typed(value, _field_types(type(section))[key], f"{source}: {section_name}.{key}"))
        config.validate(source)
        return config

    @classmethod
    def load(cls, path: Optional[str] = None) -> "Config":
        """Defaults overlaid with the JSON file at ``path`` (or ``$BERTREC_CONFIG``)."""
        path = path or os.environ.get(CONFIG_ENV, "")
        if not path:
            config = cls()
            config.validate("defaults")
            return config
        try:
            with open(path, encoding="utf-8") as f:
                values = json.load(f)
        except OSError as e:
            raise ConfigError(f"cannot read config file {path}: {e.strerror}") from e
        except json.JSONDecodeError as e:
            raise ConfigError(f"{path}: invalid JSON at line {e.lineno}: {e.msg}") from e
        return cls.from_dict(values, source=path)

    def validate(self, source: str = "config") -> None:
        """Raises ConfigError naming the first invalid field."""
        checks = [
            (self.data.history_length >= 1, "data.history_length must be >= 1"),
            (self.data.max_history_items >= self.data.history_length,
             "data.max_history_items must be >= data.history_length"),
            (0.0 < self.data.eval_fraction < 1.0, "data.eval_fraction must be in (0, 1)"),
            (0.0 < self.data.validation_fraction < 1.0, "data.validation_fraction must be in (0, 1)"),
            (self.data.split in ("time", "random"), "data.split must be 'time' or 'random'"),
            *((getattr(self.data, cap) >= 0, f"data.{cap} must be >= 0 (0 = all)")
              for cap in ("max_train_examples", "max_eval_examples", "max_validation_examples")),
            (self.model.encoder in ("minilm", "tiny"), "model.encoder must be 'minilm' or 'tiny'"),
            (self.model.query_sequence_length >= 8, "model.query_sequence_length must be >= 8"),
            (self.model.item_sequence_length >= 8, "model.item_sequence_length must be >= 8"),
            (self.train.batch_size >= 2, "train.batch_size must be >= 2"),
            (self.train.max_epochs >= 1, "train.max_epochs must be >= 1"),
            (self.train.early_stopping_patience >= 1, "train.early_stopping_patience must be >= 1"),
            (re.fullmatch(r"(recall|ndcg|mrr)@[1-9][0-9]*", self.train.early_stopping_metric) is not None,
             "train.early_stopping_metric must be recall@k, ndcg@k or mrr@k"),
            (self.train.max_steps >= 0, "train.max_steps must be >= 0"),
            (0.0 <= self.train.warmup_fraction < 1.0, "train.warmup_fraction must be in [0, 1)"),
            (self.train.validation_examples >= 1, "train.validation_examples must be >= 1"),
            (self.train.reranker_max_epochs >= 1, "train.reranker_max_epochs must be >= 1"),
            (self.train.reranker_learning_rate > 0, "train.reranker_learning_rate must be > 0"),
            # Validation examples carry at most max_history_items: the re-ranker and
            # the sequence tower must not read more of a served history than that.
            (self.model.sequence_items <= self.data.max_history_items,
             "model.sequence_items must be <= data.max_history_items"),
            (all(u >= 1 for u in self.model.reranker_hidden_units), "model.reranker_hidden_units must be >= 1"),
            (self.model.query_tower in ("sequence", "text"), "model.query_tower must be 'sequence' or 'text'"),
            (self.model.sequence_items >= 1, "model.sequence_items must be >= 1"),
            (self.model.sequence_layers >= 0, "model.sequence_layers must be >= 0"),
            (self.model.sequence_heads >= 1, "model.sequence_heads must be >= 1"),
            (bool(self.model.item_item_l2_grid) and all(v > 0 for v in self.model.item_item_l2_grid),
             "model.item_item_l2_grid must list values > 0"),
            (self.model.item_item_neighbours >= 1, "model.item_item_neighbours must be >= 1"),
            (self.model.item_item_max_items >= 2, "model.item_item_max_items must be >= 2"),
            (1 <= self.serve.top_k <= self.serve.retrieve_k, "need 1 <= serve.top_k <= serve.retrieve_k"),
            (self.evaluate.recall_k <= self.serve.retrieve_k, "evaluate.recall_k must be <= serve.retrieve_k"),
            (re.fullmatch(r"(recall|ndcg|mrr)@[1-9][0-9]*", self.evaluate.tune_metric) is not None,
             "evaluate.tune_metric must be recall@k, ndcg@k or mrr@k"),
            (self.evaluate.bootstrap_samples >= 100, "evaluate.bootstrap_samples must be >= 100"),
            (self.serve.max_batch_size >= 1, "serve.max_batch_size must be >= 1"),
            (self.serve.max_candidates >= 1, "serve.max_candidates must be >= 1"),
            (self.serve.max_input_bytes >= 16, "serve.max_input_bytes must be >= 16"),
            (self.serve.index in ("exact", "partitioned"), "serve.index must be 'exact' or 'partitioned'"),
            (self.serve.index_partitions >= 0, "serve.index_partitions must be >= 0"),
            (self.serve.index_probe >= 1, "serve.index_probe must be >= 1"),
            (self.serve.index_prior_weight > 0, "serve.index_prior_weight must be > 0"),
            (0 <= self.server.port <= 65535, "server.port must be in 0..65535"),
            (self.server.poll_seconds > 0, "server.poll_seconds must be > 0"),
            (self.server.threads >= 1, "server.threads must be >= 1"),
            (0 <= self.server.batch_max_size <= self.serve.max_batch_size,
             "server.batch_max_size must be in 0..serve.max_batch_size"),
            (self.server.batch_timeout_micros >= 0, "server.batch_timeout_micros must be >= 0"),
            (self.server.batch_threads >= 1, "server.batch_threads must be >= 1"),
            (self.server.timeout_seconds > 0, "server.timeout_seconds must be > 0"),
            (0 <= self.server.metrics_port <= 65535, "server.metrics_port must be in 0..65535 (0 = no metrics page)"),
            (
                self.generator.num_items >= 20 and self.generator.num_users >= 2,
                "generator needs >= 20 items and >= 2 users",
            ),
        ]
        for ok, message in checks:
            if not ok:
                raise ConfigError(f"{source}: {message}")
        if not re.fullmatch(r"[a-z0-9][a-z0-9-]*", self.pipeline.name):
            raise ConfigError(
                f"{source}: pipeline.name {self.pipeline.name!r} must match [a-z0-9][a-z0-9-]* "
                "(Vertex AI's rule)"
            )


_SECTIONS = {f.name for f in dataclasses.fields(Config)}


# -- what each pipeline component receives ------------------------------------
# Sliced here, not in the components' modules, so that compiling the pipeline
# (offline, for Vertex) does not import TensorFlow Recommenders or keras-nlp.

#: Config sections the Trainer reads; only these are its custom_config, so that
#: e.g. a changed work directory does not re-train.
TRAINER_SECTIONS = ("data", "model", "train", "serve", "evaluate")
#: custom_config key of the path of the examples' preparation summary, whose
#: split fingerprint (``bertrec.data.prepare.split_fingerprint``) the model
#: records in ``training.json``.
SPLIT_SUMMARY_KEY = "_split_summary"


def trainer_config(config: Config) -> Dict[str, Any]:
    """The part of the config the Trainer uses (its custom_config)."""
    return {name: value for name, value in config.to_dict().items() if name in TRAINER_SECTIONS}


def transform_config(config: Config) -> Dict[str, Any]:
    """The part of the config the Transform uses (its custom_config).

    Only these knobs reach the Transform, so changing any other one (training
    epochs, say) leaves the Transform's inputs unchanged and TFX's cache reuses it.
    """
    return {
        "model": {
            "query_sequence_length": config.model.query_sequence_length,
            "item_sequence_length": config.model.item_sequence_length,
        }
    }
