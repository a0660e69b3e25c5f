"""Locust against herd's fake SQS server: its send ceiling, and how evenly it paces 20/s.

    cargo bench --bench aws -- serve &        # prints the endpoint; the server is on CPU 1
    # send ceiling: 16 users sending as fast as they can for 10 s
    taskset -c 0 locust -f benches/peers/locust_sqs.py --headless -u 16 -r 16 -t 10s --host http://127.0.0.1:PORT
    # pacing: one user at 20 messages a second for 30 s (with HERD_BENCH_SERVE_PACE=20 on the
    # server, which then prints how far apart the messages arrived)
    PACE=20 taskset -c 0 locust -f benches/peers/locust_sqs.py --headless -u 1 -r 1 -t 30s --host http://127.0.0.1:PORT

Each user has its own boto3 client (as boto3 advises for threads); every send is reported to
Locust's statistics, and at the end the file prints messages a second and the process's CPU.
"""

import os
import resource
import time

import boto3
import botocore.config
from locust import User, constant, constant_throughput, events, task

SENT = [0]
STARTED = [None]


class SqsUser(User):
    """Sends one message per task to the `bench-work` queue."""

    wait_time = constant_throughput(float(os.environ["PACE"])) if os.environ.get("PACE") else constant(0)

    def on_start(self):
        self.sqs = boto3.session.Session().client(
            "sqs",
            endpoint_url=self.host,
            region_name="us-east-1",
            aws_access_key_id="bench",
            aws_secret_access_key="bench",
            config=botocore.config.Config(retries={"max_attempts": 1}),
        )
        self.url = f"{self.host}/000000000000/bench-work"
        if STARTED[0] is None:
            STARTED[0] = time.monotonic()

    @task
    def send(self):
        started = time.perf_counter()
        error = None
        try:
            self.sqs.send_message(QueueUrl=self.url, MessageBody='{"commandId": "%d", "instruction": "x"}' % SENT[0])
            SENT[0] += 1
        except Exception as e:  # reported to Locust, as any failed request
            error = e
        events.request.fire(
            request_type="SQS",
            name="SendMessage",
            response_time=(time.perf_counter() - started) * 1000,
            response_length=0,
            exception=error,
            context={},
        )


@events.quitting.add_listener
def report(environment, **_):
    wall = time.monotonic() - (STARTED[0] or time.monotonic())
    usage = resource.getrusage(resource.RUSAGE_SELF)
    cpu = usage.ru_utime + usage.ru_stime
    print(
        f"locust: {SENT[0]} messages in {wall:.1f} s = {SENT[0] / max(wall, 1e-9):.0f}/s; "
        f"CPU {cpu / max(wall, 1e-9) * 100:.0f} % of a core; peak RSS {usage.ru_maxrss / 1024:.0f} MiB"
    )
