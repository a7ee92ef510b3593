"""Reading Kubernetes protobuf request bodies (`application/vnd.kubernetes.protobuf`).

kubectl's typed commands (`create namespace|deployment|service`, `drain`) send protobuf; the
server decodes it to the JSON document the client would otherwise have sent and goes on as usual.
Responses stay JSON: client-go decodes by the response's Content-Type. `encode_k8s_protobuf`
writes the same format from the same table (tests, and clients that want to send protobuf).
"""

# The kinds added beside the first ten add their field tables to the schema when imported.
from knet.apiserver.protobuf import schema, schema_auth, schema_ext, schema_ext2, schema_workloads  # noqa: F401
from knet.apiserver.protobuf.decode import MEDIA_TYPE, decode_k8s_protobuf
from knet.apiserver.protobuf.encode import encode_k8s_protobuf
from knet.apiserver.protobuf.wire import ProtobufError

for _table in (schema_workloads.MESSAGES, schema_workloads.APPS, schema_workloads.CORE):
    for _name, _message in _table.items():
        schema.MESSAGES.setdefault(_name, _message)
schema.KINDS.update(schema_workloads.KINDS)
# Kinds whose tables live in their own modules (one line each keeps merges easy).
schema.MESSAGES.update(schema_auth.MESSAGES)
schema.KINDS.update(schema_auth.KINDS)

__all__ = ["MEDIA_TYPE", "ProtobufError", "decode_k8s_protobuf", "encode_k8s_protobuf"]
