"""The send ceiling of boto3, the tool a team reaches for first, against herd's fake SQS server.

    cargo bench --bench aws -- serve &          # prints the endpoint; the server is on CPU 1
    taskset -c 0 python3 benches/peers/boto3_send.py http://127.0.0.1:PORT [--batch 10] [--threads 16] [--seconds 10]

Sends to the `bench-work` queue from N threads (one client each, as boto3 advises) for a fixed
time and prints messages a second, requests a second and the process's CPU share.
"""

import argparse
import resource
import threading
import time

import boto3
import botocore.config


def main():
    p = argparse.ArgumentParser()
    p.add_argument("endpoint")
    p.add_argument("--batch", type=int, default=1)
    p.add_argument("--threads", type=int, default=16)
    p.add_argument("--seconds", type=float, default=10.0)
    a = p.parse_args()
    url = f"{a.endpoint}/000000000000/bench-work"
    stop = time.monotonic() + a.seconds
    counts = [0] * a.threads

    def worker(i):
        sqs = boto3.session.Session().client(
            "sqs",
            endpoint_url=a.endpoint,
            region_name="us-east-1",
            aws_access_key_id="bench",
            aws_secret_access_key="bench",
            config=botocore.config.Config(max_pool_connections=4, retries={"max_attempts": 1}),
        )
        n = 0
        while time.monotonic() < stop:
            if a.batch == 1:
                sqs.send_message(QueueUrl=url, MessageBody='{"commandId": "%d-%d", "instruction": "x"}' % (i, n))
                n += 1
            else:
                entries = [
                    {"Id": str(k), "MessageBody": '{"commandId": "%d-%d", "instruction": "x"}' % (i, n + k)}
                    for k in range(a.batch)
                ]
                sqs.send_message_batch(QueueUrl=url, Entries=entries)
                n += a.batch
            counts[i] = n

    started = time.monotonic()
    cpu0 = time.process_time()
    threads = [threading.Thread(target=worker, args=(i,)) for i in range(a.threads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.monotonic() - started
    cpu = time.process_time() - cpu0
    sent = sum(counts)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"boto3 {a.threads} threads, batch {a.batch}: {sent / wall:.0f} msgs/s, "
        f"{sent / a.batch / wall:.0f} requests/s, CPU {cpu / wall * 100:.0f} %, peak RSS {rss:.0f} MiB"
    )


if __name__ == "__main__":
    main()
