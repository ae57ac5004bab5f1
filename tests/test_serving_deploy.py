"""The TF Serving deployment files parse with TF Serving's config protos and agree
with each other; the version policy picks what TF Serving would."""
import os

import pytest
import yaml
from google.protobuf import text_format
from tensorflow_serving.config import file_system_storage_path_source_pb2, model_server_config_pb2

from bertrec.errors import UserError
from conftest import PROJECT_DIR
from serving import ops_audit
from serving.metrics import METRICS_PATH
from serving.model_manager import aspired_versions
from serving.server import model_configs
from serving.tfs_config_protos import BatchingParameters, MonitoringConfig, SSLConfig
from serving.tls import server_credentials

DEPLOY = os.path.join(PROJECT_DIR, "serving", "deploy")


def _parse(name, message):
    with open(os.path.join(DEPLOY, name)) as f:
        return text_format.Parse(f.read(), message)


def _compose_service():
    with open(os.path.join(DEPLOY, "docker-compose.yml")) as f:
        return yaml.safe_load(f)["services"]["tfserving"]


def test_model_config_serves_the_newest_pushed_version():
    config = _parse("models.config", model_server_config_pb2.ModelServerConfig())
    (model,) = config.model_config_list.config
    assert model.name == "bertrec" and model.model_platform == "tensorflow"
    assert model.model_version_policy.latest.num_versions == 1
    # The local server reads the same file.
    assert [c.name for c in model_configs(config_file=os.path.join(DEPLOY, "models.config"))] == ["bertrec"]


def test_batching_and_monitoring_files_parse_with_tf_serving_messages():
    batching = _parse("batching_parameters.txt", BatchingParameters())
    assert 1 <= batching.max_batch_size.value <= 64  # never above the model's serve.max_batch_size
    assert batching.batch_timeout_micros.value <= 10000
    assert batching.num_batch_threads.value >= 1
    assert not batching.pad_variable_length_inputs
    monitoring = _parse("monitoring.config", MonitoringConfig())
    # TF Serving's page and `bertrec serve --metrics-port`'s are at the same path.
    assert monitoring.prometheus_config.enable and monitoring.prometheus_config.path == METRICS_PATH


def test_ssl_config_is_tf_servings_message_with_pem_placeholders_that_compose_can_switch_on():
    ssl = _parse("ssl.config", SSLConfig())
    for field in ("server_key", "server_cert", "custom_ca"):
        text = getattr(ssl, field)
        assert text.startswith("-----BEGIN ") and "-----END " in text, field  # PEM text, not a file name
    assert ssl.client_verify
    # The placeholders are not mistaken for a key: the local server names the field to fill in.
    with pytest.raises(UserError, match="server_key is not a valid PEM private key"):
        server_credentials(os.path.join(DEPLOY, "ssl.config"))
    with open(os.path.join(DEPLOY, "docker-compose.yml")) as f:
        assert "# - --ssl_config_file=/config/ssl.config\n" in f.read(), "the compose file shows how to turn TLS on"


def test_compose_runs_the_official_image_on_the_pushed_directory_with_these_files():
    service = _compose_service()
    # The image is the release the op audit checks a model against by default.
    assert service["image"] == f"tensorflow/serving:{ops_audit.DEPLOYED_TF_SERVING}"
    flags = dict(arg.lstrip("-").split("=", 1) for arg in service["command"])
    mounts = {volume.rsplit(":", 2)[1]: volume for volume in service["volumes"]}
    model = _parse("models.config", model_server_config_pb2.ModelServerConfig()).model_config_list.config[0]
    assert model.base_path in mounts, "the model config's base_path must be a mounted volume"
    assert mounts["/config"].startswith("./")
    for flag in ("model_config_file", "batching_parameters_file", "monitoring_config_file"):
        path = flags[flag]
        assert path.startswith("/config/") and os.path.exists(os.path.join(DEPLOY, path[len("/config/"):])), flag
    assert flags["enable_batching"] == "true" and flags["port"] == "8500"


def test_version_policies_pick_like_tf_serving():
    policy = file_system_storage_path_source_pb2.FileSystemStoragePathSourceConfig.ServableVersionPolicy
    assert aspired_versions(policy(), [3, 1, 2]) == [3]
    assert aspired_versions(text_format.Parse("latest { num_versions: 2 }", policy()), [3, 1, 2]) == [2, 3]
    assert aspired_versions(text_format.Parse("all {}", policy()), [3, 1, 2]) == [1, 2, 3]
    assert aspired_versions(text_format.Parse("specific { versions: 1 versions: 7 }", policy()), [3, 1, 2]) == [1]
