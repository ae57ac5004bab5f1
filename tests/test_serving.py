"""Serving: the real local gRPC server on loopback, driven by the real client,
on the model the shared tiny pipeline run pushed."""
import contextlib
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time

import grpc
import numpy as np
import pytest

from conftest import BIN, PROJECT_DIR, run_bertrec, write_config
from serving_helpers import sample, scrape, write_pki, write_ssl_config

MODEL = "bertrec"
OK_OR_REJECTED = {"OK", "INVALID_ARGUMENT", "NOT_FOUND", "FAILED_PRECONDITION"}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _catalogue_ids(model_dir):
    from serving import warmup

    ids = set()
    for record in warmup.read(model_dir):
        import tensorflow as tf

        for value in tf.make_ndarray(record.predict_log.request.inputs["history_item_ids"]).ravel():
            ids.update(value.decode().split())
    return sorted(ids)


class Server:
    """``bertrec serve`` in its own process, with its log in a file and its metrics page
    on ``metrics_port``; ``extra_args`` are more ``bertrec serve`` flags."""

    def __init__(self, directory, base_path, config_path, extra_args=()):
        self.port = _free_port()
        self.metrics_port = _free_port()
        self.base_path = base_path
        self.log_path = os.path.join(str(directory), "server.log")
        self._log = open(self.log_path, "w")
        env = dict(os.environ, TF_USE_LEGACY_KERAS="1", BERTREC_CONFIG=config_path)
        self.process = subprocess.Popen(
            [os.path.join(BIN, "bertrec"), "serve", "--port", str(self.port), "--model-name", MODEL,
             "--model-base-path", base_path, "--metrics-port", str(self.metrics_port), *extra_args],
            env=env, cwd=PROJECT_DIR, stdout=self._log, stderr=subprocess.STDOUT,
        )
        self.address = f"127.0.0.1:{self.port}"

    def log(self) -> str:
        with open(self.log_path) as f:
            return f.read()

    def wait_until_serving(self, timeout=180):
        deadline = time.time() + timeout
        while time.time() < deadline:
            assert self.process.poll() is None, f"server exited:\n{self.log()[-3000:]}"
            if "listening on port" in self.log():
                return
            time.sleep(0.5)
        raise AssertionError(f"server did not start:\n{self.log()[-3000:]}")

    def kill(self):
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        self._log.close()


@pytest.fixture(scope="module")
def pushed(pipeline_run):
    """The version the tiny pipeline run pushed."""
    return pipeline_run[2].stdout.strip().splitlines()[-1]


@pytest.fixture(scope="module")
def server(pushed, tmp_path_factory):
    directory = tmp_path_factory.mktemp("serving")
    base_path = os.path.join(str(directory), "models", MODEL)
    shutil.copytree(pushed, os.path.join(base_path, "1"))
    config_path = write_config(directory, {"server": {"poll_seconds": 0.5, "threads": 4}}, name="serve-test")
    server = Server(directory, base_path, config_path)
    try:
        server.wait_until_serving()
        yield server
    finally:
        server.kill()


@pytest.fixture(scope="module")
def client(server):
    from serving.client import ServingClient

    with ServingClient(server.address, MODEL, timeout=60) as c:
        c.wait_ready(30)
        yield c


@pytest.fixture(scope="module")
def item_ids(pushed):
    return _catalogue_ids(pushed)


def test_model_ships_warmup_requests_and_the_server_replays_them(pushed, server):
    from serving import warmup

    records = warmup.read(pushed)
    signatures = {r.predict_log.request.model_spec.signature_name for r in records}
    assert signatures == {"serving_default", "retrieve", "rank"}
    assert f"({len(records)} warm-up requests replayed)" in server.log()


def test_answers_match_an_in_process_call_of_the_same_signature(client, pushed, item_ids):
    import tensorflow as tf

    from serving.loader import load_model

    model = load_model(pushed)
    histories = [item_ids[:3], item_ids[5:6]]
    users = ["u00001", "someone-new"]
    local = model.signatures["serving_default"](
        user_id=tf.constant(users), history_item_ids=tf.constant([" ".join(h) for h in histories])
    )
    remote = client.recommend(histories, users)
    for row, items in enumerate(remote):
        assert [r.item_id for r in items] == [i.decode() for i in local["item_ids"].numpy()[row]]
        assert [r.title for r in items] == [t.decode() for t in local["titles"].numpy()[row]]
        np.testing.assert_allclose([r.score for r in items], local["scores"].numpy()[row], rtol=1e-5)

    retrieved = client.recommend(histories[:1], users[:1], signature="retrieve")[0]
    local_retrieved = model.signatures["retrieve"](user_id=tf.constant(users[:1]),
                                                   history_item_ids=tf.constant([" ".join(histories[0])]))
    assert [r.item_id for r in retrieved] == [i.decode() for i in local_retrieved["item_ids"].numpy()[0]]

    candidates = [item_ids[10:15]]
    scores = client.rank(histories[:1], candidates, users[:1])
    local_scores = model.signatures["rank"](
        user_id=tf.constant(users[:1]), history_item_ids=tf.constant([" ".join(histories[0])]),
        candidate_ids=tf.constant(candidates),
    )["scores"].numpy()
    np.testing.assert_allclose(scores, local_scores, rtol=1e-5)


def test_status_and_metadata(client):
    status = client.status()
    assert [(s["version"], s["state"]) for s in status] == [(1, "AVAILABLE")]
    metadata = client.metadata()
    assert metadata["version"] == 1
    assert {"serving_default", "retrieve", "rank", "evaluate"} <= set(metadata["signatures"])
    assert set(metadata["signatures"]["rank"]["inputs"]) == {"user_id", "history_item_ids", "candidate_ids"}


def test_the_metrics_page_shows_requests_latency_errors_batch_sizes_and_the_loaded_version(client, server, item_ids):
    from serving import protocol

    before = scrape(server.metrics_port)
    for i in range(4):
        client.recommend([item_ids[i : i + 2]])
    client.recommend([item_ids[:1]] * 3)  # one request of three rows
    with pytest.raises(grpc.RpcError) as e:
        client.predict({"user_id": protocol.context_inputs(["u"], [item_ids[:1]])["user_id"]})
    assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    after = scrape(server.metrics_port)

    def grew(name, **labels):
        return sample(after, name, **labels) - sample(before, name, **labels)

    count, latency = ":tensorflow:serving:request_count_total", ":tensorflow:serving:request_latency"
    assert grew(count, model_name=MODEL, status="OK") == 5
    assert grew(count, model_name=MODEL, status="INVALID_ARGUMENT") == 1
    assert grew(count) == 6
    # Successful calls only, in microseconds, in TF Serving's buckets.
    predict = dict(model_name=MODEL, API="Predict", entrypoint="GRPC")
    assert grew(f"{latency}_count", **predict) == 5
    bounds = sorted({float(dict(labels)["le"]) for name, labels in after if name == f"{latency}_bucket"})
    # TF Serving's Buckets::Exponential(10, 1.8, 33): 10 µs, 18 µs, ... 10 * 1.8**32 µs (25 minutes), +Inf.
    assert len(bounds) == 34 and bounds[:3] == pytest.approx([10.0, 18.0, 32.4]) and bounds[-1] == float("inf")
    assert bounds[-2] == pytest.approx(1.4748e9, rel=1e-3)
    assert grew(f"{latency}_bucket", le="10.0", **predict) == 0  # nothing answers in 10 µs
    assert grew(f"{latency}_bucket", le="+Inf", **predict) == 5
    assert 5 * 100 < grew(f"{latency}_sum", **predict) < 5 * 60e6  # between 0.1 ms and a minute each
    # The batcher saw five requests of seven rows (the refused one never reached it).
    batching = ":tensorflow:serving:batching_session"
    assert grew(f"{batching}:input_batch_size_count") == 5 and grew(f"{batching}:input_batch_size_sum") == 7
    assert grew(f"{batching}:processed_batch_size_sum") == 7
    loaded = [s["version"] for s in client.status() if s["state"] == "AVAILABLE"]
    state = "bertrec_serving_model_version_state"
    assert [int(dict(labels)["version"]) for (name, labels), value in after.items()
            if name == state and dict(labels)["state"] == "AVAILABLE" and value == 1] == loaded


def test_bad_requests_get_tf_serving_status_codes(client, server, item_ids):
    from serving import protocol
    from serving.client import ServingClient

    good = protocol.context_inputs(["u1"], [item_ids[:2]])

    def code_of(call):
        try:
            call()
        except grpc.RpcError as e:
            return e.code().name, e.details()
        return "OK", ""

    cases = {
        "unknown model": (lambda: ServingClient(server.address, "nope").predict(good), "NOT_FOUND", "nope"),
        "unknown version": (lambda: client.predict(good, version=99), "NOT_FOUND", "Specific(bertrec, 99)"),
        "unknown signature": (lambda: client.predict(good, "nope"), "FAILED_PRECONDITION", '"nope" not found'),
        "missing input": (lambda: client.predict({"user_id": good["user_id"]}),
                          "INVALID_ARGUMENT", "Missing but required: {history_item_ids}"),
        "extra input": (lambda: client.predict(dict(good, x=np.array([1.0]))), "INVALID_ARGUMENT", "Sent extra: {x}"),
        "mistyped input": (lambda: client.predict(dict(good, user_id=np.array([7], np.int64))),
                           "INVALID_ARGUMENT", "to be string but int64"),
        "wrong rank": (lambda: client.predict(dict(good, user_id=np.array([[b"u"]]))),
                       "INVALID_ARGUMENT", "must have shape [?]"),
        "empty history": (lambda: client.predict(protocol.context_inputs(["u1"], [[]])),
                          "INVALID_ARGUMENT", "history_item_ids is empty"),
        "oversized text": (lambda: client.predict(protocol.context_inputs(["u1"], [item_ids[:1] * 2000])),
                           "INVALID_ARGUMENT", "longer than 4096 bytes"),
        "batch too large": (lambda: client.predict(protocol.context_inputs(["u"] * 65, [item_ids[:1]] * 65)),
                            "INVALID_ARGUMENT", "batch size must be 1..64"),
        "batch mismatch": (lambda: client.predict(dict(good, user_id=np.array([b"a", b"b"], dtype=object))),
                           "INVALID_ARGUMENT", "differ in batch size"),
        "too many candidates": (lambda: client.rank([item_ids[:1]], [item_ids[:1] * 1001]),
                                "INVALID_ARGUMENT", "1..1000 items"),
        "unknown candidate": (lambda: client.rank([item_ids[:1]], [["no-such-item"]]),
                              "INVALID_ARGUMENT", "no-such-item"),
        "expired deadline": (lambda: client.predict(good, timeout=0.001), "DEADLINE_EXCEEDED", ""),
    }
    for name, (call, code, text) in cases.items():
        got, details = code_of(call)
        assert got == code, (name, got, details)
        assert text in details, (name, details)
    assert client.recommend([item_ids[:2]])[0], "the server must still answer after bad requests"


def _malformed_request(rng, item_ids):
    from tensorflow.core.framework import tensor_pb2, tensor_shape_pb2, types_pb2
    from tensorflow_serving.apis import predict_pb2

    request = predict_pb2.PredictRequest()
    request.model_spec.name = rng.choice([MODEL, MODEL, "", "x" * 300])
    request.model_spec.signature_name = rng.choice(["", "serving_default", "retrieve", "rank", "evaluate", "??"])
    if rng.random() < 0.2:
        request.model_spec.version.value = rng.choice([0, 1, -5, 2**62])
    for name in rng.sample(["user_id", "history_item_ids", "candidate_ids", "examples", "junk"], rng.randint(0, 4)):
        proto = tensor_pb2.TensorProto(dtype=rng.choice(
            [types_pb2.DT_STRING, types_pb2.DT_FLOAT, types_pb2.DT_INT64, types_pb2.DT_BOOL, 0, 999]))
        dims = [rng.choice([0, 1, 2, 3, -1, 10**9]) for _ in range(rng.randint(0, 3))]
        proto.tensor_shape.CopyFrom(tensor_shape_pb2.TensorShapeProto(dim=[{"size": d} for d in dims]))
        kind = rng.random()
        if kind < 0.4:
            proto.string_val.extend(rng.choice([b"", b"\xff\xfe", " ".join(item_ids[:3]).encode(), b"a" * 10000])
                                    for _ in range(rng.randint(0, 4)))
        elif kind < 0.6:
            proto.float_val.extend(rng.random() for _ in range(rng.randint(0, 4)))
        elif kind < 0.8:
            proto.tensor_content = bytes(rng.getrandbits(8) for _ in range(rng.randint(0, 64)))
        request.inputs[name].CopyFrom(proto)
    if rng.random() < 0.1:
        request.output_filter.append(rng.choice(["scores", "nope", "item_ids"]))
    return request


def test_fuzzed_malformed_requests_never_kill_the_server(client, server, item_ids):
    from tensorflow_serving.apis import prediction_service_pb2_grpc

    rng = random.Random(1234)
    channel = grpc.insecure_channel(server.address)
    stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
    raw = channel.unary_unary("/tensorflow.serving.PredictionService/Predict",
                              request_serializer=None, response_deserializer=None)
    codes = {}
    for i in range(300):
        try:
            if i % 10 == 9:  # bytes that are not a PredictRequest at all
                raw(bytes(rng.getrandbits(8) for _ in range(rng.randint(1, 200))), timeout=30)
            else:
                stub.Predict(_malformed_request(rng, item_ids), timeout=30)
            code = "OK"
        except grpc.RpcError as e:
            code = e.code().name
            if i % 10 != 9:
                assert code in OK_OR_REJECTED, (i, code, e.details())
        codes[code] = codes.get(code, 0) + 1
    channel.close()
    assert server.process.poll() is None, "server died"
    assert codes.get("INVALID_ARGUMENT", 0) > 50, codes
    assert client.recommend([item_ids[:2]])[0]


@contextlib.contextmanager
def asking_under_load(server, histories, clients=3):
    """``clients`` threads sending ``serving_default`` requests until the block ends:
    yields (errors, versions that answered), filled as they go."""
    from serving import protocol
    from serving.client import ServingClient

    stop = threading.Event()
    errors, versions = [], []

    def keep_asking():
        with ServingClient(server.address, MODEL, timeout=60) as c:
            i = 0
            while not stop.is_set():
                request = protocol.predict_request(
                    MODEL, protocol.context_inputs(["u"], [histories[i % len(histories)]]))
                try:
                    versions.append(c.call(request).model_spec.version.value)
                except grpc.RpcError as e:
                    errors.append(f"{e.code().name}: {e.details()}")
                i += 1

    threads = [threading.Thread(target=keep_asking) for _ in range(clients)]
    for t in threads:
        t.start()
    try:
        yield errors, versions
    finally:
        stop.set()
        for t in threads:
            t.join()


def test_new_version_is_picked_up_under_load_and_a_half_written_one_is_never_served(client, server, pushed, item_ids):
    from serving.loadtest import random_histories

    with asking_under_load(server, random_histories(item_ids, 200, 5, seed=1)) as (errors, versions):
        time.sleep(2)
        # A half-written version: saved_model.pb is there, the variables are not.
        broken = os.path.join(server.base_path, "3")
        os.makedirs(broken)
        shutil.copy(os.path.join(pushed, "saved_model.pb"), broken)
        # A complete newer one, copied in place (not atomically), as the Pusher does.
        shutil.copytree(pushed, os.path.join(server.base_path, "2"))
        deadline = time.time() + 120
        while time.time() < deadline:
            states = {s["version"]: s for s in client.status()}
            if (states.get(2, {}).get("state") == "AVAILABLE" and states.get(1, {}).get("state") == "END"
                    and states.get(3, {}).get("state") == "END"):
                break
            time.sleep(0.5)
        time.sleep(2)
    assert not errors, errors[:5]
    assert 1 in versions and 2 in versions and 3 not in versions, sorted(set(versions))
    assert versions[-1] == 2
    states = {s["version"]: s for s in client.status()}
    assert states[2]["state"] == "AVAILABLE" and states[1]["state"] == "END"
    assert states[3]["state"] == "END" and states[3]["error_message"], states[3]
    # A specific version on request: the new one by number, the unloaded one is gone.
    assert client.recommend([item_ids[:2]], version=2)[0]
    with pytest.raises(grpc.RpcError) as e:
        client.recommend([item_ids[:2]], version=1)
    assert e.value.code() == grpc.StatusCode.NOT_FOUND


def test_items_added_by_bertrec_index_are_served_under_load_without_a_failed_request(
    client, server, item_ids, pipeline_run, tmp_path
):
    import csv

    from bertrec.data.csv_io import write_rows
    from serving.loadtest import random_histories
    from serving.model_versions import latest_version_dir

    with open(os.path.join(pipeline_run[1].paths().data_dir, "items.csv"), newline="") as f:
        rows = list(csv.DictReader(f))
    rows += [{**rows[i], "item_id": f"fresh-{i}", "title": f"Fresh arrival {i}"} for i in range(20)]
    items_path = write_rows(str(tmp_path / "items.csv"), list(rows[0]), rows)
    with pytest.raises(grpc.RpcError) as e:  # not in the catalogue yet
        client.rank([item_ids[:2]], [["fresh-0", item_ids[3]]])
    assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    # The half-written version an earlier test left would count as the newest.
    shutil.rmtree(os.path.join(server.base_path, "3"), ignore_errors=True)
    before = latest_version_dir(server.base_path)
    histories = random_histories(item_ids, 200, 5, seed=2)
    with asking_under_load(server, histories) as (errors, versions):
        started = time.time()
        out = run_bertrec(["index", "--items", str(items_path), "--model", before], pipeline_run[0])
        new_version = json.loads(out.stdout.strip().splitlines()[-1])["version"]
        deadline = time.time() + 120
        while time.time() < deadline:
            states = {s["version"]: s["state"] for s in client.status()}
            if states.get(new_version) == "AVAILABLE":
                break
            time.sleep(0.5)
        assert states.get(new_version) == "AVAILABLE", states
        live = time.time() - started
        time.sleep(1)
    assert not errors, errors[:5]
    assert versions[-1] == new_version and int(os.path.basename(before)) in versions
    assert live < 300, f"new items took {live:.0f}s to go live"
    scores = client.rank([item_ids[:2]], [["fresh-0", item_ids[3]]])[0]
    assert scores[0] > 0 and abs(scores.sum() - 1.0) < 1e-5
    served = {r.item_id for row in client.recommend(histories[:40], signature="retrieve") for r in row}
    assert any(i.startswith("fresh-") for i in served)


def test_cli_recommend_status_and_loadtest_against_the_server(server, item_ids, tmp_path, pipeline_run):
    config_path = pipeline_run[0]
    out = run_bertrec(["recommend", "--server", server.address, "--model-name", MODEL, "--user", "u00001"]
                      + item_ids[:3], config_path)
    lines = out.stdout.strip().splitlines()
    assert lines[0].split()[:3] == ["rank", "item_id", "score"]
    assert len(lines) == 11 and lines[1].split()[0] == "1"
    report_path = tmp_path / "load.json"
    out = run_bertrec(["loadtest", "--server", server.address, "--model-name", MODEL, "--clients", "4",
                       "--requests", "40", "--json", str(report_path)], config_path)
    report = json.loads(report_path.read_text())
    assert report["requests"] == 40 and report["errors"] == {}
    assert report["qps"] > 0 and 0 < report["latency_ms"]["p50"] <= report["latency_ms"]["p99"]
    assert "p99 ms" in out.stdout


def test_a_tls_server_with_client_verify_answers_only_clients_with_a_certificate(
    pushed, item_ids, tmp_path, pipeline_run
):
    from serving.client import ServingClient
    from serving.tls import channel_credentials

    pki = write_pki(tmp_path)
    ssl_config = write_ssl_config(tmp_path, pki, client_verify=True)
    tls_server = Server(tmp_path, os.path.dirname(pushed), pipeline_run[0], ["--ssl-config-file", ssl_config])
    try:
        tls_server.wait_until_serving()
        for credentials in (None, channel_credentials(ca_cert=pki["ca"])):  # plain text; TLS without a certificate
            with ServingClient(tls_server.address, MODEL, timeout=30, credentials=credentials) as c:
                with pytest.raises(grpc.RpcError) as e:
                    c.recommend([item_ids[:2]])
            assert e.value.code() == grpc.StatusCode.UNAVAILABLE
        tls_flags = ["--ca-cert", pki["ca"], "--client-cert", pki["client_cert"], "--client-key", pki["client_key"]]
        out = run_bertrec(["recommend", "--server", tls_server.address, "--model-name", MODEL, "--json", *tls_flags]
                          + item_ids[:3], pipeline_run[0])
        assert len(json.loads(out.stdout.strip().splitlines()[-1])["items"]) == 10
    finally:
        tls_server.kill()
    assert "(TLS)" in tls_server.log()


def test_server_shuts_down_cleanly_on_sigterm(server, client, item_ids):
    results = []

    def ask():
        try:
            client.recommend([item_ids[:2]])
            results.append("OK")
        except grpc.RpcError as e:
            results.append(e.code().name)

    threads = [threading.Thread(target=ask) for _ in range(4)]
    for t in threads:
        t.start()
    time.sleep(0.05)
    server.process.send_signal(signal.SIGTERM)
    for t in threads:
        t.join()
    assert server.process.wait(timeout=60) == 0
    assert "stopped" in server.log()
    # Requests already running finished; later ones were refused, none failed inside.
    assert set(results) <= {"OK", "UNAVAILABLE"}, results


def test_exported_model_uses_only_ops_stock_tf_serving_links(pushed):
    out = subprocess.run([sys.executable, "-m", "serving.ops_audit", pushed], cwd=PROJECT_DIR,
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr[-2000:]
    audit = json.loads(out.stdout.strip().splitlines()[-1])
    assert audit["unknown_ops"] == []
    assert not any("scann" in op.lower() for op in audit["tensorflow_text_ops"])
    # Every TF Serving release from the deployed image on can load it (no trimmer ops).
    assert audit["target"] == "2.16.1" and audit["missing_in_tf_serving"] == {}
