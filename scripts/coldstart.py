#!/usr/bin/env python3
"""Cold start of the api Lambda: process start to its first answered request.

Builds nothing: run `cargo build --profile lambda -p sluice-api` first. Starts moto's
server on a free loopback port with Sluice's run table, plays the Lambda Runtime API
on another, and starts the bootstrap fresh for each sample, timing from spawn until it
posts the answer to a ListPipelines function-URL event (which reads the table).

    python3 scripts/coldstart.py [path/to/api] [samples]
"""
import http.server, json, os, socket, statistics, subprocess, sys, threading, time, urllib.request

import boto3

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TARGET = os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target"))
BINARY = sys.argv[1] if len(sys.argv) > 1 else os.path.join(TARGET, "lambda", "api")
SAMPLES = int(sys.argv[2]) if len(sys.argv) > 2 else 20
EVENT = open(os.path.join(ROOT, "events", "api", "list-pipelines.json"), "rb").read()


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class RuntimeApi(http.server.BaseHTTPRequestHandler):
    answered = None  # threading.Event set when the function posts its response
    answer = None

    def log_message(self, *args):
        pass

    def do_GET(self):  # /2018-06-01/runtime/invocation/next
        if RuntimeApi.answered.is_set():
            time.sleep(5)  # the function is stopped long before this returns
        self.send_response(200)
        self.send_header("Lambda-Runtime-Aws-Request-Id", "coldstart")
        self.send_header("Lambda-Runtime-Deadline-Ms", str(int(time.time() * 1000) + 30000))
        self.send_header("Lambda-Runtime-Invoked-Function-Arn", "arn:aws:lambda:us-east-1:123456789012:function:api")
        self.send_header("Content-Length", str(len(EVENT)))
        self.end_headers()
        self.wfile.write(EVENT)

    def do_POST(self):  # .../response or .../error
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        RuntimeApi.answer = (self.path, body)
        RuntimeApi.answered.set()
        self.send_response(202)
        self.send_header("Content-Length", "0")
        self.end_headers()


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
        runtime = http.server.ThreadingHTTPServer(("127.0.0.1", 0), RuntimeApi)
        threading.Thread(target=runtime.serve_forever, daemon=True).start()
        env = dict(os.environ, AWS_LAMBDA_RUNTIME_API=f"127.0.0.1:{runtime.server_address[1]}",
                   AWS_LAMBDA_FUNCTION_NAME="api", AWS_LAMBDA_FUNCTION_VERSION="$LATEST",
                   AWS_LAMBDA_FUNCTION_MEMORY_SIZE="128", AWS_REGION="us-east-1",
                   AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing",
                   AWS_ENDPOINT_URL=endpoint, SLUICE_TABLE="sluice-coldstart")
        samples = []
        for _ in range(SAMPLES):
            RuntimeApi.answered = threading.Event()
            started = time.perf_counter()
            function = subprocess.Popen([BINARY], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            if not RuntimeApi.answered.wait(30):
                function.kill()
                sys.exit("the function did not answer within 30 s")
            samples.append((time.perf_counter() - started) * 1000)
            function.kill()
            function.wait()
            path, body = RuntimeApi.answer
            answer = json.loads(body)
            if not path.endswith("/response") or answer.get("statusCode") != 200:
                sys.exit(f"the function answered {path}: {body[:300]!r}")
        samples.sort()
        size = os.path.getsize(BINARY)
        print(f"binary {BINARY}: {size / 1e6:.1f} MB")
        print(f"cold start to first answered ListPipelines, {SAMPLES} samples: "
              f"p50 {statistics.median(samples):.1f} ms, max {samples[-1]:.1f} ms")
    finally:
        moto.terminate()
        moto.wait()


main()
