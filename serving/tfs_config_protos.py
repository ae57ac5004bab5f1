"""Three TensorFlow Serving config messages that ``tensorflow-serving-api`` does not ship.

The pip package has ``ModelServerConfig`` but not ``MonitoringConfig``
(tensorflow_serving/config/monitoring_config.proto), ``BatchingParameters``
(tensorflow_serving/servables/tensorflow/session_bundle_config.proto) nor
``SSLConfig`` (tensorflow_serving/config/ssl_config.proto), the messages behind
``--monitoring_config_file``, ``--batching_parameters_file`` and ``--ssl_config_file``.
They are declared here with TF Serving's package, field names and numbers
(the fields of TF Serving 2.16 that bertrec's files use; SSLConfig whole), so
the deployment files are parsed by the same schema the server parses them with.
"""
from __future__ import annotations

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory, wrappers_pb2

_F = descriptor_pb2.FieldDescriptorProto


def _file() -> descriptor_pb2.FileDescriptorProto:
    proto = descriptor_pb2.FileDescriptorProto(
        name="bertrec/tensorflow_serving_config_subset.proto",
        package="tensorflow.serving",
        syntax="proto3",
        dependency=["google/protobuf/wrappers.proto"],
    )

    def message(name, fields):
        m = proto.message_type.add(name=name)
        for field_name, number, kind, type_name, label in fields:
            f = m.field.add(name=field_name, number=number, type=kind, label=label)
            if type_name:
                f.type_name = type_name
        return m

    optional, repeated = _F.LABEL_OPTIONAL, _F.LABEL_REPEATED
    int64_value = ".google.protobuf.Int64Value"
    message("PrometheusConfig", [
        ("enable", 1, _F.TYPE_BOOL, None, optional),
        ("path", 2, _F.TYPE_STRING, None, optional),
    ])
    message("MonitoringConfig", [
        ("prometheus_config", 1, _F.TYPE_MESSAGE, ".tensorflow.serving.PrometheusConfig", optional),
    ])
    message("BatchingParameters", [
        ("max_batch_size", 1, _F.TYPE_MESSAGE, int64_value, optional),
        ("batch_timeout_micros", 2, _F.TYPE_MESSAGE, int64_value, optional),
        ("max_enqueued_batches", 3, _F.TYPE_MESSAGE, int64_value, optional),
        ("num_batch_threads", 4, _F.TYPE_MESSAGE, int64_value, optional),
        ("thread_pool_name", 5, _F.TYPE_MESSAGE, ".google.protobuf.StringValue", optional),
        ("allowed_batch_sizes", 6, _F.TYPE_INT64, None, repeated),
        ("pad_variable_length_inputs", 7, _F.TYPE_BOOL, None, optional),
    ])
    # The PEM text itself, not file names: TF Serving hands these strings to gRPC as they are.
    message("SSLConfig", [
        ("server_key", 1, _F.TYPE_STRING, None, optional),
        ("server_cert", 2, _F.TYPE_STRING, None, optional),
        ("custom_ca", 3, _F.TYPE_STRING, None, optional),
        ("client_verify", 4, _F.TYPE_BOOL, None, optional),
    ])
    return proto


def _classes():
    pool = descriptor_pool.DescriptorPool()
    wrappers = descriptor_pb2.FileDescriptorProto()
    wrappers_pb2.DESCRIPTOR.CopyToProto(wrappers)
    pool.Add(wrappers)
    pool.Add(_file())
    factory = message_factory.MessageFactory(pool)
    return [
        factory.GetPrototype(pool.FindMessageTypeByName(f"tensorflow.serving.{name}"))
        for name in ("MonitoringConfig", "BatchingParameters", "SSLConfig")
    ]


MonitoringConfig, BatchingParameters, SSLConfig = _classes()
