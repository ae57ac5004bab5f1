"""TLS, the metrics page and the server's refusals of bad set-ups, on a real gRPC
server on loopback (in this process, serving an empty model directory: the
handshake, the page and the refusals need no model; tests/test_serving.py serves
a real one over TLS and scrapes its metrics after real predictions)."""
import contextlib
import socket
import urllib.error

import grpc
import pytest
from google.protobuf import text_format

from bertrec import cli
from bertrec.errors import UserError
from serving.client import ServingClient
from serving.server import ModelServer, model_configs
from serving.tfs_config_protos import SSLConfig
from serving.tls import channel_credentials, server_credentials
from serving_helpers import sample, scrape, write_pki, write_ssl_config

MODEL = "bertrec"


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    return write_pki(tmp_path_factory.mktemp("pki"))


def _server(tmp_path, port=0, **kwargs) -> ModelServer:
    return ModelServer(model_configs(MODEL, str(tmp_path / "models")), port=port, threads=2, **kwargs)


def _status_code(server, credentials) -> str:
    """The code a GetModelStatus call gets: NOT_FOUND means it reached the (model-less)
    server; UNAVAILABLE that the connection was refused."""
    with ServingClient(f"127.0.0.1:{server.port}", MODEL, timeout=10, credentials=credentials) as client:
        try:
            client.status()
        except grpc.RpcError as e:
            return e.code().name
    return "OK"


@pytest.fixture
def running(tmp_path):
    """Starts a ModelServer built by the test, and always stops it."""
    started = []

    def start(**kwargs):
        server = _server(tmp_path, **kwargs)
        server.start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop(0)


def test_a_tls_server_refuses_plain_text_and_answers_a_client_that_trusts_its_ca(running, pki, tmp_path):
    server = running(ssl_config_file=write_ssl_config(tmp_path, pki, client_verify=False))
    assert server.tls
    assert _status_code(server, None) == "UNAVAILABLE"
    assert _status_code(server, channel_credentials(ca_cert=pki["other_ca"])) == "UNAVAILABLE"
    assert _status_code(server, channel_credentials(ca_cert=pki["ca"])) == "NOT_FOUND"


def test_client_verify_refuses_a_client_without_a_certificate(running, pki, tmp_path):
    server = running(ssl_config_file=write_ssl_config(tmp_path, pki, client_verify=True))
    assert _status_code(server, channel_credentials(ca_cert=pki["ca"])) == "UNAVAILABLE"
    with_cert = channel_credentials(pki["ca"], pki["client_cert"], pki["client_key"])
    assert _status_code(server, with_cert) == "NOT_FOUND"


def _ssl_config_text(pki, **fields) -> str:
    """An SSLConfig text proto; a value naming a ``pki`` file stands for that file's PEM text."""
    values = {name: open(pki[value]).read() if value in pki else value for name, value in fields.items()}
    return text_format.MessageToString(SSLConfig(**values))


@pytest.mark.parametrize("content, message", [
    (None, "cannot read SSL config file"),
    ("server_key: 'x' unknown_field: 1", "not an SSLConfig text proto"),
    (dict(server_cert="server_cert"), "server_key is empty"),
    (dict(server_key="/etc/certs/server.key", server_cert="server_cert"), "server_key holds no PEM private key"),
    (dict(server_key="server_key", server_cert="certs/server.pem"),
     "server_cert holds no PEM certificate (got 'certs/server.pem')"),
    (dict(server_key="client_key", server_cert="server_cert"), "server_key is not the private key of"),
    (dict(server_key="server_key", server_cert="server_cert", client_verify=True), "client_verify needs custom_ca"),
])
def test_a_bad_ssl_config_is_refused_with_what_is_wrong(pki, tmp_path, content, message):
    path = tmp_path / "ssl.config"
    if content is not None:
        path.write_text(content if isinstance(content, str) else _ssl_config_text(pki, **content))
    with pytest.raises(UserError) as e:
        server_credentials(str(path))
    assert message in str(e.value)


def test_serve_reports_a_bad_ssl_config_in_one_line(tmp_path, capsys):
    missing = tmp_path / "nope.config"
    code = cli.main(["serve", "--model-base-path", str(tmp_path), "--port", "0", "--ssl-config-file", str(missing)])
    err = capsys.readouterr().err
    assert code == 2
    assert err.strip() == f"bertrec: error: cannot read SSL config file {missing}: No such file or directory"


@pytest.mark.parametrize("files, message", [
    (dict(ca_cert="missing.pem"), "cannot read CA certificate file"),
    (dict(ca_cert="server_key"), "is not a valid PEM certificate"),
    (dict(ca_cert="ca", client_cert="client_cert"), "give both or neither"),
    (dict(ca_cert="ca", client_cert="client_cert", client_key="server_key"),
     "is not the private key of client certificate file"),
])
def test_bad_client_certificate_files_are_refused(pki, tmp_path, files, message):
    paths = {flag: pki.get(name, str(tmp_path / name)) for flag, name in files.items()}
    with pytest.raises(UserError) as e:
        channel_credentials(**paths)
    assert message in str(e.value)


@contextlib.contextmanager
def _taken_port():
    """A port some other socket is listening on, for the duration of the block."""
    with socket.socket() as taken:
        taken.bind(("0.0.0.0", 0))
        taken.listen()
        yield taken.getsockname()[1]


def test_a_port_in_use_is_refused_even_by_another_grpc_server(running, tmp_path):
    with _taken_port() as port:
        with pytest.raises(UserError, match=f"cannot listen on port {port}"):
            _server(tmp_path, port)
    # gRPC's default SO_REUSEPORT would let a second server share a live server's port.
    first = running()
    with pytest.raises(UserError, match=f"cannot listen on port {first.port}"):
        _server(tmp_path, first.port)


def test_a_metrics_port_in_use_is_refused(running, tmp_path):
    with _taken_port() as port:
        with pytest.raises(UserError, match=f"cannot serve metrics on port {port}: Address already in use"):
            _server(tmp_path, metrics_port=port)


def test_the_metrics_page_counts_refused_requests_and_lives_at_tf_servings_path(running, tmp_path):
    with socket.socket() as probe:  # a free port for the page
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = running(metrics_port=port)
    assert server.metrics_port == port
    assert _status_code(server, None) == "NOT_FOUND"  # GetModelStatus: not counted, as in TF Serving
    for name in (MODEL, "x" * 300):  # a model with no version yet; one that is not served
        with ServingClient(f"127.0.0.1:{server.port}", name, timeout=10) as client:
            with pytest.raises(grpc.RpcError) as e:
                client.recommend([["i1"]])
        assert e.value.code() == grpc.StatusCode.NOT_FOUND
    samples = scrape(port)
    count = ":tensorflow:serving:request_count_total"
    assert sample(samples, count, model_name=MODEL, status="NOT_FOUND") == 1
    assert sample(samples, count, model_name="<unknown>", status="NOT_FOUND") == 1
    assert sample(samples, count) == 2
    with pytest.raises(urllib.error.HTTPError) as e:
        scrape(port, "/metrics")
    assert e.value.code == 404
