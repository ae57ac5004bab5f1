"""TLS for the model server and its clients, the way TensorFlow Serving does it.

The server reads TF Serving's ``--ssl_config_file``: an ``SSLConfig`` text proto
(tensorflow_serving/config/ssl_config.proto) whose ``server_key``,
``server_cert`` and ``custom_ca`` hold the PEM text itself, not file names, and
whose ``client_verify`` makes a client certificate signed by ``custom_ca``
mandatory. The same file works with ``tensorflow_model_server``.

Clients take PEM files: the CA that signed the server's certificate and, for a
server with ``client_verify``, their own certificate and key.

Everything is checked before gRPC sees it, because gRPC reports an unusable
certificate only as "Failed to bind to address".
"""
from __future__ import annotations

from typing import List, Optional

import grpc
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from google.protobuf import text_format

from bertrec.errors import UserError
from serving.tfs_config_protos import SSLConfig

_PEM_MARKER = "-----BEGIN "


def load_ssl_config(path: str) -> SSLConfig:
    """The SSLConfig text proto at ``path``; UserError when it is unreadable or malformed."""
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except OSError as e:
        raise UserError(f"cannot read SSL config file {path}: {e.strerror}") from e
    try:
        return text_format.Parse(text, SSLConfig())
    except text_format.ParseError as e:
        raise UserError(
            f"{path}: not an SSLConfig text proto (server_key, server_cert, custom_ca, client_verify): {e}"
        ) from e


def _certificates(pem: str, what: str) -> List[x509.Certificate]:
    if _PEM_MARKER not in pem:
        shown = pem.strip()[:80]
        raise UserError(f"{what} holds no PEM certificate (got {shown!r}); it must be the PEM text itself")
    try:
        return x509.load_pem_x509_certificates(pem.encode())
    except ValueError as e:
        raise UserError(f"{what} is not a valid PEM certificate: {e}") from e


def _private_key(pem: str, what: str):
    if _PEM_MARKER not in pem:
        raise UserError(f"{what} holds no PEM private key; it must be the PEM text itself")
    try:
        return serialization.load_pem_private_key(pem.encode(), password=None)
    except TypeError as e:  # gRPC cannot use a passphrase either
        raise UserError(f"{what} is encrypted; give an unencrypted key") from e
    except ValueError as e:
        raise UserError(f"{what} is not a valid PEM private key: {e}") from e


def _public_key_bytes(key) -> bytes:
    return key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def _check_pair(key_pem: str, cert_pem: str, key_what: str, cert_what: str) -> None:
    """The key parses, the certificate chain parses, and the key is the certificate's."""
    key = _private_key(key_pem, key_what)
    leaf = _certificates(cert_pem, cert_what)[0]
    if _public_key_bytes(key.public_key()) != _public_key_bytes(leaf.public_key()):
        raise UserError(f"{key_what} is not the private key of {cert_what}")


def server_credentials(ssl_config_file: str) -> grpc.ServerCredentials:
    """gRPC server credentials from a TF Serving SSLConfig file, as TF Serving builds them:
    client certificates are requested, and required, only with ``client_verify``."""
    config = load_ssl_config(ssl_config_file)
    for field in ("server_key", "server_cert"):
        if not getattr(config, field).strip():
            raise UserError(f"{ssl_config_file}: {field} is empty")
    _check_pair(
        config.server_key, config.server_cert, f"{ssl_config_file}: server_key", f"{ssl_config_file}: server_cert"
    )
    root_certificates = None
    if config.client_verify:
        if not config.custom_ca.strip():
            raise UserError(f"{ssl_config_file}: client_verify needs custom_ca, the CA that signs client certificates")
        _certificates(config.custom_ca, f"{ssl_config_file}: custom_ca")
        root_certificates = config.custom_ca.encode()
    return grpc.ssl_server_credentials(
        [(config.server_key.encode(), config.server_cert.encode())],
        root_certificates=root_certificates,
        require_client_auth=config.client_verify,
    )


def _read(path: str, what: str) -> str:
    try:
        with open(path, encoding="utf-8") as f:
            return f.read()
    except OSError as e:
        raise UserError(f"cannot read {what} {path}: {e.strerror}") from e


def channel_credentials(
    ca_cert: str = "", client_cert: str = "", client_key: str = ""
) -> Optional[grpc.ChannelCredentials]:
    """Client TLS credentials from PEM files, or None (plain text) when none is given.

    ``ca_cert`` verifies the server (the system's trusted roots when empty);
    ``client_cert`` and ``client_key`` go together, for a server with client_verify.
    """
    if not (ca_cert or client_cert or client_key):
        return None
    if bool(client_cert) != bool(client_key):
        raise UserError("a client certificate needs its key and a key its certificate (give both or neither)")
    root = None
    if ca_cert:
        pem = _read(ca_cert, "CA certificate file")
        _certificates(pem, f"CA certificate file {ca_cert}")
        root = pem.encode()
    key = cert = None
    if client_cert:
        cert_pem, key_pem = _read(client_cert, "client certificate file"), _read(client_key, "client key file")
        _check_pair(key_pem, cert_pem, f"client key file {client_key}", f"client certificate file {client_cert}")
        key, cert = key_pem.encode(), cert_pem.encode()
    return grpc.ssl_channel_credentials(root_certificates=root, private_key=key, certificate_chain=cert)
