"""moto's server as Sluice runs it: exits with the process that started it, and with the
fixes to moto's DynamoDB (1-4) and S3 (6) that Sluice's local runs depend on.

1. A transaction is backed up by the items it touches, not by a deep copy of the whole
   table (stream included): moto's copy made every TransactWriteItems cost time in
   proportion to the table's history (72 ms at 1,000 items, against 3 ms), and its
   restore on cancellation replaced the table object, which orphaned open stream iterators
   and handed out stream sequence numbers again. A cancelled transaction now writes
   nothing and streams nothing, as in DynamoDB.
2. Requests are served one at a time: moto's backends are not safe under concurrent
   writes (a restore could undo another request's write).
3. A query looks only at the items that can match: moto sorted the whole table for every
   query (comparing keys as cast values) before picking the items of one partition or one
   index key, so each query on the `due` index cost time in proportion to the table
   (12 ms at 2,000 items, 1 ms with the fix), the largest share of a hand-off in
   `sluice dev`.
4. GetRecords answers the stream records as moto holds them, already in the wire's form,
   instead of walking each attribute of each image through moto's model-driven
   serializer: about 1 ms a record, 11 ms for a batch of six (a hand-off's), against 5.

And one stand-in, since nothing runs inside the emulator:

5. EMR steps end. moto leaves every step RUNNING or PENDING forever, so a pipeline with an
   EmrCluster could never finish under `sluice dev`. Here a cluster runs its steps one at
   a time, and each is COMPLETED once it has been RUNNING for SLUICE_MOTO_STEP_SECONDS
   (1 s by default); CancelSteps cancels steps that have not ended. No Hive, Pig or Hadoop
   runs: this only lets the launch, submit, follow and shut-down path run end to end.

And one fix to moto's S3:

6. CompleteMultipartUpload answers with its result as S3 does, in a
   `CompleteMultipartUploadResult` element: moto's serializer named it
   `CompleteMultipartUploadResponse`, which lenient parsers (botocore) skip over and the
   Rust SDK refuses, so no multipart upload or copy could finish.

And one to its CloudFormation:

7. A DynamoDB table made from a template gets the template's TimeToLiveSpecification and
   PointInTimeRecoverySpecification, which moto dropped: the test that deploys
   infra/template.yaml checks the table's TTL as the code expects it.
"""
import copy as _copy, os, sys, threading, time

_parent = os.getppid()

def _watch():
    while os.getppid() == _parent:
        time.sleep(0.5)
    os._exit(0)

threading.Thread(target=_watch, daemon=True).start()

import moto.server as _server
import moto.dynamodb.models as _ddb
from moto.dynamodb.models.table import Table as _Table
from moto.dynamodb.models.dynamo_type import DynamoType as _DynamoType

class _Copy:
    """moto backs up whole tables before a transaction: keep the table, back up below."""
    def __getattr__(self, name):
        return getattr(_copy, name)
    def deepcopy(self, value, *args, **kwargs):
        if isinstance(value, _Table):
            return value
        return _copy.deepcopy(value, *args, **kwargs)

_ddb.copy = _Copy()
_transact = _ddb.DynamoDBBackend.transact_write_items

def _key_of(table, attributes):
    try:
        hash_key = _DynamoType(attributes[table.hash_key_attr])
        range_key = _DynamoType(attributes[table.range_key_attr]) if table.range_key_attr else None
    except (KeyError, TypeError):
        return None
    return hash_key, range_key

def _current(table, hash_key, range_key):
    found = table.items.get(hash_key)
    if range_key is None or found is None:
        return found
    return found.get(range_key)

def transact_write_items(self, transact_items):
    saved, streams = [], {}
    for entry in transact_items:
        _, operation = next(iter(entry.items()))
        table = self.tables.get(operation.get("TableName"))
        key = table and _key_of(table, operation.get("Item") or operation.get("Key") or {})
        if not key:
            continue
        saved.append((table, key, _copy.deepcopy(_current(table, *key))))
        if table.stream_shard is not None:
            streams.setdefault(id(table), (table, len(table.stream_shard.items)))
    try:
        return _transact(self, transact_items)
    except Exception:
        # A cancelled transaction writes nothing and streams nothing.
        for table, (hash_key, range_key), before in reversed(saved):
            if range_key is None:
                if before is None:
                    table.items.pop(hash_key, None)
                else:
                    table.items[hash_key] = before
            elif before is None:
                table.items.get(hash_key, {}).pop(range_key, None)
            else:
                table.items[hash_key][range_key] = before
        for table, length in streams.values():
            del table.stream_shard.items[length:]
        raise

_ddb.DynamoDBBackend.transact_write_items = transact_write_items

_query = _Table.query

def _same(attribute, wanted):
    return attribute is not None and attribute.type == wanted.type and attribute.value == wanted.value

def query(self, *args, **kwargs):
    """moto's query, over the items whose hash key matches (compared as stored values)."""
    # moto's backend passes the index name eighth, by position.
    index_name = args[7] if len(args) > 7 else kwargs.get("index_name")
    conditions = kwargs.get("hash_key_conditions")
    hash_key = args[0] if args else kwargs.get("hash_key")
    if index_name and conditions:
        # Not all_items(): it sorts the whole table on every call; the query sorts what
        # it finds itself.
        stored = (self.items.values() if not self.range_key_attr
                  else (item for items in self.items.values() for item in items.values()))
        candidates = [
            item for item in stored
            if all(_same(item.attrs.get(name), value) for name, value in conditions)
        ]
    elif not index_name and hash_key is not None:
        found = self.items.get(hash_key)
        if found is None:
            candidates = []
        elif self.range_key_attr:
            candidates = list(found.values())
        else:
            candidates = [found]
    else:
        return _query(self, *args, **kwargs)
    self.all_items = lambda: iter(candidates)
    try:
        return _query(self, *args, **kwargs)
    finally:
        del self.all_items

_Table.query = query

import datetime as _datetime, json as _json
from moto.dynamodbstreams.responses import DynamoDBStreamsHandler as _Streams

def _wire(value):
    """A stream record's timestamps as the wire has them: seconds since the epoch."""
    if isinstance(value, _datetime.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=_datetime.timezone.utc)
        return value.timestamp()
    raise TypeError(f"{type(value).__name__} in a stream record")

def get_records(self):
    limit = self._get_param("Limit") or 1000
    result = self.backend.get_records(self._get_param("ShardIterator"), limit)
    return _json.dumps(result, default=_wire)

_Streams.get_records = get_records

import moto.emr.models as _emr
from moto.core.responses import ActionResult as _ActionResult
from moto.emr.responses import ElasticMapReduceResponse as _EmrResponse

_STEP_SECONDS = float(os.environ.get("SLUICE_MOTO_STEP_SECONDS", "1"))

def _advance_steps(cluster):
    """The cluster's steps, oldest first, one at a time: RUNNING for a while, then COMPLETED."""
    now = time.time()
    for step in cluster.steps:
        if step.state == "RUNNING":
            started = getattr(step, "_sluice_started", None)
            if started is None:
                step._sluice_started = now
                return
            if now - started < _STEP_SECONDS:
                return
            step.state = "COMPLETED"
            step.end_date_time = _emr.utcnow()
        elif step.state == "PENDING":
            step.state = "RUNNING"
            step._sluice_started = now
            step.start_date_time = _emr.utcnow()
            return
    if cluster.state == "RUNNING":
        cluster.state = "WAITING"

_list_steps = _emr.ElasticMapReduceBackend.list_steps
_describe_step = _emr.ElasticMapReduceBackend.describe_step

def list_steps(self, cluster_id, *args, **kwargs):
    if cluster_id in self.clusters:
        _advance_steps(self.clusters[cluster_id])
    return _list_steps(self, cluster_id, *args, **kwargs)

def describe_step(self, cluster_id, step_id):
    if cluster_id in self.clusters:
        _advance_steps(self.clusters[cluster_id])
    return _describe_step(self, cluster_id, step_id)

_emr.ElasticMapReduceBackend.list_steps = list_steps
_emr.ElasticMapReduceBackend.describe_step = describe_step

def cancel_steps(self):
    cluster = self.backend.clusters.get(self._get_param("ClusterId"))
    wanted = set(self._get_param("StepIds", []))
    answers = []
    for step in (cluster.steps if cluster else []):
        if step.id in wanted:
            if step.state in ("PENDING", "RUNNING"):
                step.state = "CANCELLED"
                answers.append({"StepId": step.id, "Status": "SUBMITTED", "Reason": ""})
            else:
                answers.append({"StepId": step.id, "Status": "FAILED", "Reason": "the step has ended"})
    return _ActionResult({"CancelStepsInfoList": answers})

_EmrResponse.cancel_steps = cancel_steps

from moto.core import serialize as _serialize

_s3_body = _serialize.S3Serializer._serialize_body

def _s3_serialize_body(self, body):
    wrong = "CompleteMultipartUploadResponse"
    if wrong in body:
        body = {"CompleteMultipartUploadResult": body[wrong]}
    return _s3_body(self, body)

_serialize.S3Serializer._serialize_body = _s3_serialize_body

from moto.dynamodb.models import table as _ddb_table

_table_from_cloudformation = _ddb_table.Table.create_from_cloudformation_json.__func__

def _table_with_ttl(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs):
    table = _table_from_cloudformation(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs)
    properties = cloudformation_json.get("Properties", {})
    enabled = lambda value: value in (True, "true", "True")
    ttl = properties.get("TimeToLiveSpecification")
    if ttl and "AttributeName" in ttl:
        table.ttl = {
            "TimeToLiveStatus": "ENABLED" if enabled(ttl.get("Enabled")) else "DISABLED",
            "AttributeName": ttl["AttributeName"],
        }
    recovery = properties.get("PointInTimeRecoverySpecification")
    if recovery and enabled(recovery.get("PointInTimeRecoveryEnabled")):
        table.continuous_backups["PointInTimeRecoveryDescription"]["PointInTimeRecoveryStatus"] = "ENABLED"
    return table

_ddb_table.Table.create_from_cloudformation_json = classmethod(_table_with_ttl)

_run_simple = _server.run_simple
_one_at_a_time = threading.Lock()

def run_simple(host, port, app, *args, **kwargs):
    """One request at a time: moto's backends are not safe under concurrent writes."""
    def serial(environ, start_response):
        with _one_at_a_time:
            return list(app(environ, start_response))
    return _run_simple(host, port, serial, *args, **kwargs)

_server.run_simple = run_simple
_server.main(sys.argv[1:])
