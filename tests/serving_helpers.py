"""Helpers of the serving tests: a scrape of the metrics page, parsed by the
Prometheus client's own parser, and a throwaway PKI for the TLS tests (a CA, a
server certificate for localhost and 127.0.0.1, a client certificate, and TF
Serving SSLConfig files built from them)."""
import datetime
import ipaddress
import os
import urllib.request

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from google.protobuf import text_format
from prometheus_client.parser import text_string_to_metric_families

from serving.metrics import METRICS_PATH
from serving.tfs_config_protos import SSLConfig

#: What Prometheus 2.x sends when it scrapes (it prefers OpenMetrics).
PROMETHEUS_ACCEPT = ("application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,"
                     "text/plain;version=0.0.4;q=0.5,*/*;q=0.1")


def scrape(port: int, path: str = METRICS_PATH) -> dict:
    """The metrics page over HTTP, fetched as Prometheus fetches it:
    {(sample name, frozenset of label items): value}."""
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", headers={"Accept": PROMETHEUS_ACCEPT})
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.headers["Content-Type"].startswith("text/plain; version=0.0.4")
        text = response.read().decode()
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def sample(samples: dict, name: str, **labels) -> float:
    """The sum of the samples named ``name`` whose labels include ``labels`` (0 when none)."""
    wanted = set(labels.items())
    return sum(value for (n, items), value in samples.items() if n == name and wanted <= items)


def _key():
    return ec.generate_private_key(ec.SECP256R1())


def _certificate(subject_key, name, issuer_key, issuer_name, *, ca=False, sans=(), usage=None):
    now = datetime.datetime.now(datetime.timezone.utc)
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
        .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer_name)]))
        .public_key(subject_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(list(sans)), critical=False)
    if usage:
        builder = builder.add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


def _write(directory, name, data: bytes) -> str:
    path = os.path.join(str(directory), name)
    with open(path, "wb") as f:
        f.write(data)
    return path


def _key_pem(key) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def write_pki(directory) -> dict:
    """PEM files in ``directory``: ca, server_cert, server_key, client_cert, client_key,
    and other_ca (a CA that signed none of them); returns name -> path."""
    ca_key, other_ca_key = _key(), _key()
    ca = _certificate(ca_key, "bertrec test CA", ca_key, "bertrec test CA", ca=True)
    other_ca = _certificate(other_ca_key, "another CA", other_ca_key, "another CA", ca=True)
    server_key, client_key = _key(), _key()
    server = _certificate(
        server_key, "localhost", ca_key, "bertrec test CA",
        sans=(x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))),
        usage=ExtendedKeyUsageOID.SERVER_AUTH,
    )
    client = _certificate(
        client_key, "bertrec test client", ca_key, "bertrec test CA", usage=ExtendedKeyUsageOID.CLIENT_AUTH
    )
    pem = serialization.Encoding.PEM
    return {
        "ca": _write(directory, "ca.pem", ca.public_bytes(pem)),
        "other_ca": _write(directory, "other-ca.pem", other_ca.public_bytes(pem)),
        "server_cert": _write(directory, "server.pem", server.public_bytes(pem)),
        "server_key": _write(directory, "server.key", _key_pem(server_key)),
        "client_cert": _write(directory, "client.pem", client.public_bytes(pem)),
        "client_key": _write(directory, "client.key", _key_pem(client_key)),
    }


def write_ssl_config(directory, pki: dict, client_verify: bool, name="ssl.config") -> str:
    """A TF Serving SSLConfig text proto holding the PEM text of ``pki``'s server
    key and certificate (and its CA, for client_verify); returns its path."""

    def read(key):
        with open(pki[key]) as f:
            return f.read()

    config = SSLConfig(server_key=read("server_key"), server_cert=read("server_cert"), client_verify=client_verify)
    if client_verify:
        config.custom_ca = read("ca")
    return _write(directory, name, text_format.MessageToString(config).encode())
