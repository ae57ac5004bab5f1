"""End to end: the real pipeline on tiny data, through Pusher, and what a user sees of it."""
import collections
import csv
import glob
import json
import os
import subprocess
import sys

from conftest import PROJECT_DIR, TINY, held_out_leaks, run_bertrec, write_config


def _executions(config, node_id):
    """ML Metadata executions of a pipeline node, oldest first."""
    from ml_metadata.metadata_store import metadata_store
    from tfx.orchestration import metadata

    store = metadata_store.MetadataStore(metadata.sqlite_metadata_connection_config(config.paths().metadata_path))
    context = store.get_context_by_type_and_name("node", f"{config.pipeline.name}.{node_id}")
    return sorted(store.get_executions_by_context(context.id), key=lambda e: e.id)


def _item_themes(config):
    with open(os.path.join(config.paths().data_dir, "item_themes.csv")) as f:
        return {row["item_id"]: row["theme"] for row in csv.DictReader(f)}


def test_run_pushes_a_model_and_prints_its_path_last(pipeline_run):
    _, config, result = pipeline_run
    last_line = result.stdout.strip().splitlines()[-1]
    assert os.path.isabs(last_line)
    assert os.path.dirname(last_line) == config.paths().serving_model_dir
    assert os.path.exists(os.path.join(last_line, "saved_model.pb"))
    # Progress output names every component as it runs.
    for component in ("ImportExampleGen", "Transform", "Trainer", "Evaluator", "Pusher"):
        assert f"Component {component} is finished" in result.stdout


def test_trainer_ran_two_replicas_and_logged_to_tensorboard(pipeline_run):
    _, config, _ = pipeline_run
    logs = "".join(open(p).read() for p in glob.glob(os.path.join(config.paths().work_dir, "logs", "*.log")))
    assert "training on 2 replica(s)" in logs
    events = glob.glob(os.path.join(config.paths().pipeline_root, "Trainer", "model_run", "*", "**",
                                    "events.out.tfevents.*"), recursive=True)
    assert events, "no TensorBoard event files in the Trainer's run directory"


def test_training_summary_records_the_fitted_score_terms(pipeline_run):
    _, config, result = pipeline_run
    model_dir = result.stdout.strip().splitlines()[-1]
    with open(os.path.join(model_dir, "assets.extra", "training.json")) as f:
        summary = json.load(f)
    assert summary["history_affinity"]["scale"] >= 0 and summary["history_affinity"]["bandwidth"] > 0
    item_item = summary["item_item"]
    assert item_item["scale"] == 0 or item_item["l2"] in config.model.item_item_l2_grid, item_item
    # The re-ranker was fitted on validation lists and held out on others.
    reranked = summary["reranker"]
    assert min(reranked["train_lists"], reranked["stop_lists"], reranked["gate_lists"]) > 0, reranked
    assert reranked["features"][:2] == ["retrieval_score", "ranking_head"] and isinstance(reranked["kept"], bool)
    bias = summary["freshness"]["bias"]
    assert set(bias) == {"unknown", "unreleased", "0-7d", "7-30d", "30-90d", "90-365d", "365d+"}
    fit = summary["score_terms_fit"]
    # Fitted on the validation split (300 examples), not on the test split.
    assert (fit["examples"] == config.data.max_validation_examples
            and fit["log_likelihood"] >= fit["log_likelihood_without"]), fit
    with open(os.path.join(config.paths().examples_dir, "summary.json")) as f:
        assert summary["split_fingerprint"] == json.load(f)["split_fingerprint"]
    # The built-in items have release times: freshness, not the new-item prior, handles new ones.
    assert summary["unseen_item_prior"] == 0.0


def test_training_ran_whole_epochs_and_kept_the_best_validated_one(pipeline_run):
    _, config, result = pipeline_run
    model_dir = result.stdout.strip().splitlines()[-1]
    with open(os.path.join(model_dir, "assets.extra", "training.json")) as f:
        summary = json.load(f)
    with open(os.path.join(config.paths().examples_dir, "summary.json")) as f:
        train_examples = json.load(f)["counts"]["train"]
    # An epoch is a pass over the training split, whatever its size.
    assert summary["steps_per_epoch"] == -(-train_examples // config.train.batch_size)
    assert (1 <= summary["epochs"] <= config.train.max_epochs
            and summary["steps"] == summary["epochs"] * summary["steps_per_epoch"])
    curve = [epoch[config.train.early_stopping_metric] for epoch in summary["validation_curve"]]
    assert len(curve) == summary["epochs"] and summary["best_epoch"] == 1 + curve.index(max(curve))
    # The frozen layers were cached, and the towers learnt: validation retrieval
    # over the whole catalogue (recall@100 of 240 items) beats random ranking (0.42).
    assert summary["frozen_layers_cached"] and max(curve) > 0.5, summary


def test_evaluator_computed_retrieval_and_ranking_metrics_and_blessed(pipeline_run):
    import tensorflow_model_analysis as tfma

    _, config, _ = pipeline_run
    evaluation = sorted(glob.glob(os.path.join(config.paths().pipeline_root, "Evaluator", "evaluation", "*")))[-1]
    overall = dict(tfma.load_eval_result(evaluation).slicing_metrics)[()]
    retrieval = overall["retrieval_hit"][""]["retrieval_recall"]["doubleValue"]
    ranked = overall["ranked_hit"][""]["ranked_recall"]["doubleValue"]
    assert overall["retrieval_hit"][""]["example_count"]["doubleValue"] == config.data.max_eval_examples
    # Random guessing over 240 items: 50/240 = 0.21 for retrieval, 10/240 = 0.04 ranked.
    assert retrieval > 0.35, overall
    assert ranked > 0.08, overall
    ndcg = overall["ranked_ndcg"][""]["ranked_ndcg"]["doubleValue"]
    mrr = overall["ranked_reciprocal_rank"][""]["ranked_mrr"]["doubleValue"]
    # One target per example: NDCG@10 <= recall@10, and MRR >= NDCG@10's 1/log2 discount of the same hits.
    assert 0 < ndcg <= ranked and 0 < mrr, overall
    assert tfma.load_validation_result(evaluation).validation_ok


def _most_popular(config, n):
    """The n items with the most interactions in the run's data."""
    with open(os.path.join(config.paths().data_dir, "interactions.csv")) as f:
        counts = collections.Counter(row["item_id"] for row in csv.DictReader(f))
    return [item for item, _ in counts.most_common(n)]


def test_pushed_model_answers_in_a_fresh_process_without_pipeline_outputs(pipeline_run):
    """A new user whose history is all one theme gets that theme in the top 10 far
    more than popularity alone would give, from the pushed model alone (pipeline
    root moved away while it answers).

    The model blends in item popularity (its retrieval prior), so the tiny
    fixture, trained for 80 steps, mixes in popular items of other themes; the
    default model on the built-in data answers 10 of 10 in theme (measured)."""
    config_path, config, result = pipeline_run
    model_dir = result.stdout.strip().splitlines()[-1]
    themes = _item_themes(config)
    popular = _most_popular(config, 10)
    hidden = config.paths().pipeline_root + ".hidden"
    os.rename(config.paths().pipeline_root, hidden)
    try:
        fractions = {}
        for theme in ("space", "cooking", "horror", "finance"):
            history = [i for i, t in sorted(themes.items()) if t == theme][:5]
            out = run_bertrec(["recommend", "--json", "--model", model_dir, "--user", "new-user"] + history,
                              config_path)
            items = json.loads(out.stdout.strip().splitlines()[-1])["items"]
            ids, scores = [i["item_id"] for i in items], [i["score"] for i in items]
            assert len(ids) == 10 and all(i["title"] for i in items)
            assert not set(ids) & set(history), "seen items must be excluded"
            assert scores == sorted(scores, reverse=True)
            fractions[theme] = sum(themes[i] == theme for i in ids) / 10
    finally:
        os.rename(hidden, config.paths().pipeline_root)
    by_popularity = {theme: sum(themes[i] == theme for i in popular) / 10 for theme in fractions}
    # At least two more items of the theme than the ten most popular hold, and half on average.
    assert all(fractions[t] >= by_popularity[t] + 0.2 for t in fractions), (fractions, by_popularity)
    assert sum(fractions.values()) / len(fractions) >= 0.5, fractions


def test_signatures_retrieve_rank_and_reject_unknown_ids(pipeline_run):
    _, config, result = pipeline_run
    model_dir = result.stdout.strip().splitlines()[-1]
    script = f"""
import json, tensorflow as tf
from serving.loader import load_model
m = load_model({model_dir!r})
r = m.signatures["retrieve"](user_id=tf.constant(["u00001"]), history_item_ids=tf.constant(["i00001 i00002"]))
ids = [i.decode() for i in r["item_ids"].numpy()[0]]
k = m.signatures["rank"](user_id=tf.constant(["u00001"]), history_item_ids=tf.constant(["i00001"]),
                         candidate_ids=tf.constant([ids[:3]]))
try:
    m.signatures["rank"](user_id=tf.constant(["u00001"]), history_item_ids=tf.constant(["i00001"]),
                         candidate_ids=tf.constant([["i00003", "no-such-item"]]))
    error = ""
except tf.errors.InvalidArgumentError as e:
    error = e.message
print(json.dumps({{"retrieved": ids, "scores": r["scores"].numpy()[0].tolist(),
                  "rank": k["scores"].numpy()[0].tolist(), "error": error}}))
"""
    out = subprocess.run([sys.executable, "-c", script], cwd=PROJECT_DIR, capture_output=True, text=True, check=True)
    answer = json.loads(out.stdout.strip().splitlines()[-1])
    assert len(answer["retrieved"]) == config.serve.retrieve_k
    assert not {"i00001", "i00002"} & set(answer["retrieved"])
    assert answer["scores"] == sorted(answer["scores"], reverse=True)
    assert len(answer["rank"]) == 3 and all(0.0 <= s <= 1.0 for s in answer["rank"])
    assert abs(sum(answer["rank"]) - 1.0) < 1e-4, answer["rank"]  # a distribution over the candidates given
    assert "no-such-item" in answer["error"]


def test_evaluate_reports_bert_and_baselines_by_slice_with_intervals(pipeline_run, tmp_path):
    config_path, config, result = pipeline_run
    out_path = tmp_path / "evaluation.json"
    out = run_bertrec(["evaluate", "--max-examples", "200", "--out", str(out_path)], config_path)
    report = json.loads(out_path.read_text())
    assert report["examples"] == 200 and report["split"] == "test"
    assert report["model"] == result.stdout.strip().splitlines()[-1]
    models = {"bert (retrieval)", "bert (re-ranked)", "most-popular", "recent most-popular", "ease", "id two-tower",
              "text (TF-IDF) + terms", "score terms alone", "minilm zero-shot + terms"}
    assert set(report["models"]) == models and all(m["sees"] for m in report["models"].values())
    # Tuned on validation, and the report says what was chosen.
    assert report["models"]["ease"]["chosen"]["l2"] > 0 and report["models"]["id two-tower"]["chosen"]["epochs"] >= 1
    assert list(report["slices"])[:3] == ["all", "warm targets", "cold targets"]
    for name, block in report["slices"].items():
        assert set(block["models"]) == models, name
    overall = report["slices"]["all"]
    bert = overall["models"]["bert (retrieval)"]
    # Far above chance (50 of 240 items = 0.21) for the retrieval stage over the whole catalogue.
    assert bert["recall@50"] > 0.35, overall
    assert 0 <= bert["ndcg@10"] <= bert["recall@10"] <= bert["recall@50"]
    # Every model has a paired interval against EASE that contains its difference.
    for name, by_metric in overall["intervals"].items():
        if name != "ease":
            d = by_metric["recall@10"]["vs_ease"]
            assert d["low"] <= d["difference"] <= d["high"], (name, d)
            expected = overall["models"][name]["recall@10"] - overall["models"]["ease"]["recall@10"]
            assert abs(d["difference"] - expected) < 1e-9
    # Text reaches items nobody interacted with in training: far above chance
    # (each target competes with about 240 items, so recall@50 by chance is about 0.2).
    cold = report["slices"]["cold targets"]
    assert cold["count"] > 0
    assert cold["models"]["bert (retrieval)"]["recall@50"] > 0.4, cold
    assert "d R@10 vs EASE" in out.stdout and "warm targets" in out.stdout
    # The re-ranked list against the retrieval list it re-orders, with intervals.
    for metric in ("recall@10", "ndcg@10"):
        d = overall["intervals"]["bert (re-ranked)"][metric]["vs_retrieval"]
        expected = overall["models"]["bert (re-ranked)"][metric] - bert[metric]
        assert d["low"] <= d["difference"] <= d["high"] and abs(d["difference"] - expected) < 1e-9, d
    assert "vs_retrieval" not in overall["intervals"]["bert (retrieval)"]["recall@10"]
    assert "d NDCG@10 vs retrieval" in out.stdout


def test_evaluate_refuses_a_model_trained_on_another_split(pipeline_run, tmp_path):
    _, config, result = pipeline_run
    other = json.loads(json.dumps(TINY))
    other["data"]["split_seed"] = 7
    other["data"]["split"] = "random"
    path = write_config(tmp_path, other, name=config.pipeline.name)
    with open(path) as f:
        values = json.load(f)
    values["pipeline"]["work_dir"] = config.paths().work_dir
    with open(path, "w") as f:
        json.dump(values, f)
    refused = run_bertrec(["evaluate", "--max-examples", "50"], path, check=False)
    assert refused.returncode == 2
    assert "trained on another data split" in refused.stderr and "split='random'" in refused.stderr


def test_no_held_out_interaction_reaches_the_pipelines_examples(pipeline_run):
    """What ExampleGen ingested: no validation or test pair in any example that may not see it."""
    import tensorflow as tf

    from bertrec import features as F
    from bertrec.data.prepare import DATA_FILE

    _, config, _ = pipeline_run
    splits = {}
    for split in F.CONTEXT_SPLITS:
        path = os.path.join(config.paths().examples_dir, split, DATA_FILE)
        splits[split] = []
        for record in tf.data.TFRecordDataset(path, compression_type="GZIP"):
            feature = tf.train.Example.FromString(record.numpy()).features.feature
            splits[split].append({name: feature[name].bytes_list.value[0].decode()
                                  for name in (F.USER_ID, F.ITEM_ID, F.HISTORY_ITEM_IDS)})
    assert all(splits.values())
    assert held_out_leaks(splits) == []


def test_second_run_reuses_cached_components(pipeline_run):
    """Nothing changed: data preparation is skipped, Transform and Trainer come from
    the cache, and the same model is not pushed again (the Evaluator does run once
    more, now that the model has a blessed baseline: itself)."""
    config_path, config, first = pipeline_run
    second = run_bertrec(["run"], config_path)
    assert "are up to date" in second.stdout
    assert second.stdout.strip().splitlines()[-1] == first.stdout.strip().splitlines()[-1]
    assert "no new model version was pushed" in second.stdout
    assert len(os.listdir(config.paths().serving_model_dir)) == 1
    from ml_metadata.proto import metadata_store_pb2

    for node in ("ImportExampleGen", "Transform", "Trainer"):
        states = [e.last_known_state for e in _executions(config, node)]
        assert states.count(metadata_store_pb2.Execution.COMPLETE) == 1, (node, states)
        assert metadata_store_pb2.Execution.CACHED in states, (node, states)


def test_worse_model_is_not_blessed_and_serving_keeps_the_old_version(pipeline_run, tmp_path):
    config_path, config, first = pipeline_run
    pushed_before = sorted(os.listdir(config.paths().serving_model_dir))
    worse = json.loads(json.dumps(TINY))
    # A randomly initialised tiny encoder trained for two steps: far worse than MiniLM.
    worse["model"].update({"encoder": "tiny"})
    worse["train"].update({"max_steps": 2, "max_epochs": 1})
    worse_path = write_config(tmp_path, worse, name=config.pipeline.name)
    with open(worse_path) as f:
        values = json.load(f)
    values["pipeline"]["work_dir"] = config.paths().work_dir  # same pipeline, same baseline
    with open(worse_path, "w") as f:
        json.dump(values, f)
    result = run_bertrec(["run"], worse_path)

    assert "did not bless" in result.stdout
    assert result.stdout.strip().splitlines()[-1] == first.stdout.strip().splitlines()[-1]
    assert sorted(os.listdir(config.paths().serving_model_dir)) == pushed_before
    blessing = sorted(glob.glob(os.path.join(config.paths().pipeline_root, "Evaluator", "blessing", "*")),
                      key=lambda p: int(os.path.basename(p)))[-1]
    assert os.path.exists(os.path.join(blessing, "NOT_BLESSED"))


def test_vertex_runner_compiles_the_same_pipeline(tmp_path):
    env = dict(os.environ, TF_USE_LEGACY_KERAS="1")
    env.pop("BERTREC_CONFIG", None)
    subprocess.run(
        [sys.executable, os.path.join(PROJECT_DIR, "tfx_pipeline", "vertex_runner.py")],
        cwd=tmp_path, env=env, check=True, capture_output=True, timeout=300,
    )
    spec = json.load(open(tmp_path / "bertrec_pipeline.json"))
    executors = spec["pipelineSpec"]["deploymentSpec"]["executors"]
    for component in ("ImportExampleGen", "Transform", "Trainer", "Evaluator", "Pusher", "AnomaliesGate"):
        assert f"{component}_executor" in executors
    assert "--runner=DataflowRunner" in json.dumps(spec)
    assert spec["runtimeConfig"]["gcsOutputDirectory"].startswith("gs://")


def test_anomalies_stop_the_pipeline_with_a_readable_summary(tmp_path):
    """Examples missing a feature never reach the Transform."""
    import tensorflow as tf

    from bertrec.config import Config
    from bertrec.data.prepare import DATA_FILE, to_tf_example

    config_path = write_config(tmp_path, TINY, name="bertrec-anomalies")
    config = Config.load(config_path)
    row = {
        "user_id": "u1", "history_item_ids": "i2", "history_text": "Two", "item_id": "i1",
        "item_title": "One", "item_description": "d", "item_tags": "t", "rating": 4.0, "timestamp": 1,
    }
    for split in ("train", "validation", "eval", "catalogue"):
        os.makedirs(os.path.join(config.paths().examples_dir, split))
        with tf.io.TFRecordWriter(os.path.join(config.paths().examples_dir, split, DATA_FILE), options="GZIP") as w:
            for _ in range(20):
                example = tf.train.Example.FromString(to_tf_example(row))
                if split == "eval":
                    del example.features.feature["rating"]
                w.write(example.SerializeToString())
    env = dict(os.environ, TF_USE_LEGACY_KERAS="1", BERTREC_CONFIG=config_path)
    result = subprocess.run(
        [sys.executable, os.path.join(PROJECT_DIR, "tfx_pipeline", "local_runner.py")],
        env=env, capture_output=True, text=True, timeout=900,
    )
    assert result.returncode != 0
    assert "ExampleValidator found anomalies" in result.stderr + result.stdout
    assert "eval: feature 'rating'" in result.stderr + result.stdout
    assert not os.path.exists(os.path.join(config.paths().pipeline_root, "Transform"))
