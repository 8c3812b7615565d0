#!/usr/bin/env python3
"""Cold start of the Lambda binaries: process start to the first handled event.

Builds nothing: run `cargo build --profile lambda -p sluice-api -p sluice-scheduler
-p sluice-preconditions -p sluice-resources -p sluice-activities -p sluice-actions` first. Starts moto's
server on a free loopback port with Sluice's run table, plays the Lambda Runtime API on
another, and starts each bootstrap fresh for each sample, timing from spawn until it posts
its answer: `api` to a ListPipelines function-URL event (which reads the table), each
stage function to the scheduled tick of its `events/` folder (which reads its queues).

    python3 scripts/coldstart.py [function ...]    # default: all six, 20 samples each
"""
import http.server, json, os, socket, statistics, subprocess, sys, threading, time, urllib.request

import boto3

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TARGET = os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target"))
FUNCTIONS = sys.argv[1:] or ["api", "scheduler", "preconditions", "resources", "activities", "actions"]
SAMPLES = int(os.environ.get("SAMPLES", "20"))


def event_of(function):
    name = "list-pipelines.json" if function == "api" else "scheduled-tick.json"
    return open(os.path.join(ROOT, "events", function, name), "rb").read()


def answered_well(function, answer):
    if function == "api":
        return answer.get("statusCode") == 200
    return answer.get("stage") == function and "error" not in answer


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class RuntimeApi(http.server.BaseHTTPRequestHandler):
    answered = None  # threading.Event set when the function posts its response
    answer = None
    event = b""

    def log_message(self, *args):
        pass

    def do_GET(self):  # /2018-06-01/runtime/invocation/next
        if RuntimeApi.answered.is_set():
            time.sleep(5)  # the function is stopped long before this returns
        self.send_response(200)
        self.send_header("Lambda-Runtime-Aws-Request-Id", "coldstart")
        self.send_header("Lambda-Runtime-Deadline-Ms", str(int(time.time() * 1000) + 30000))
        self.send_header("Lambda-Runtime-Invoked-Function-Arn", "arn:aws:lambda:us-east-1:123456789012:function:api")
        self.send_header("Content-Length", str(len(RuntimeApi.event)))
        self.end_headers()
        try:
            self.wfile.write(RuntimeApi.event)
        except BrokenPipeError:
            pass  # a function stopped after its answer

    def do_POST(self):  # .../response or .../error
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        RuntimeApi.answer = (self.path, body)
        RuntimeApi.answered.set()
        self.send_response(202)
        self.send_header("Content-Length", "0")
        self.end_headers()


def measure(function, runtime, endpoint):
    binary = os.path.join(TARGET, "lambda", function)
    RuntimeApi.event = event_of(function)
    env = dict(os.environ, AWS_LAMBDA_RUNTIME_API=f"127.0.0.1:{runtime.server_address[1]}",
               AWS_LAMBDA_FUNCTION_NAME=function, AWS_LAMBDA_FUNCTION_VERSION="$LATEST",
               AWS_LAMBDA_FUNCTION_MEMORY_SIZE="128", AWS_REGION="us-east-1",
               AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing",
               AWS_ENDPOINT_URL=endpoint, SLUICE_TABLE="sluice-coldstart")
    samples = []
    for _ in range(SAMPLES):
        RuntimeApi.answered = threading.Event()
        started = time.perf_counter()
        process = subprocess.Popen([binary], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if not RuntimeApi.answered.wait(30):
            process.kill()
            sys.exit(f"{function} did not answer within 30 s")
        samples.append((time.perf_counter() - started) * 1000)
        process.kill()
        process.wait()
        path, body = RuntimeApi.answer
        answer = json.loads(body)
        if not path.endswith("/response") or not answered_well(function, answer):
            sys.exit(f"{function} answered {path}: {body[:300]!r}")
    samples.sort()
    print(f"{function}: binary {os.path.getsize(binary) / 1e6:.1f} MB; cold start to the first handled event, "
          f"{SAMPLES} samples: p50 {statistics.median(samples):.1f} ms, max {samples[-1]:.1f} ms")


def main():
    moto_port = free_port()
    moto = subprocess.Popen(["moto_server", "-H", "127.0.0.1", "-p", str(moto_port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    endpoint = f"http://127.0.0.1:{moto_port}"
    try:
        for _ in range(100):
            try:
                urllib.request.urlopen(endpoint + "/moto-api/", timeout=1)
                break
            except Exception:
                time.sleep(0.1)
        dynamodb = boto3.client("dynamodb", endpoint_url=endpoint, region_name="us-east-1",
                                aws_access_key_id="testing", aws_secret_access_key="testing")
        dynamodb.create_table(
            TableName="sluice-coldstart", BillingMode="PAY_PER_REQUEST",
            AttributeDefinitions=[{"AttributeName": n, "AttributeType": "S"} for n in ("pk", "sk", "due_pk", "due_sk")],
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
            GlobalSecondaryIndexes=[{"IndexName": "due", "Projection": {"ProjectionType": "ALL"},
                                     "KeySchema": [{"AttributeName": "due_pk", "KeyType": "HASH"},
                                                   {"AttributeName": "due_sk", "KeyType": "RANGE"}]}])
        # moto sets up its EC2 and EMR on the first call (EC2 about 1.5 s): not the resources
        # function's cold start, so it happens here, before any is timed.
        for service, call in (("ec2", "describe_instances"), ("emr", "list_clusters")):
            client = boto3.client(service, endpoint_url=endpoint, region_name="us-east-1",
                                  aws_access_key_id="testing", aws_secret_access_key="testing")
            getattr(client, call)()
        runtime = http.server.ThreadingHTTPServer(("127.0.0.1", 0), RuntimeApi)
        threading.Thread(target=runtime.serve_forever, daemon=True).start()
        for function in FUNCTIONS:
            measure(function, runtime, endpoint)
    finally:
        moto.terminate()
        moto.wait()


main()
