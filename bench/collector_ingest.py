"""Collector ingest against the raw S3 PUT rate, in one run (issue 18's ratio).

Starts the engines of scripts/test-services (a single-node Ceph radosgw and a 3-node
NATS JetStream cluster; or uses the set running under MIMIC_TEST_SERVICES_DIR), then:

1. the raw rate: bench/engines_bench PUTs 1 MiB objects to the bucket, one stream;
2. the collector's ingest: `mimic-collector serve` over TLS on loopback, once with the
   embedded directory and once with `--s3 ... --nats ... --stream-replicas 3`, and
   bench/collector_load uploads UPLOADERS sealed bundles of BUNDLE bytes at once in
   1 MiB chunks (enrolment first, one device per uploader; no heartbeats);

and prints the ingest MB/s of each collector and its ratio to the raw PUT rate. For the
S3 collector it also checks that every stored bundle was announced on the stream.

Usage: python3 bench/collector_ingest.py BUILD [--uploaders N] [--bundle SIZE] [--runs R]
(BUILD: a build directory with src/mimic-collector, bench/engines_bench and
bench/collector_load).
"""

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(SRC, "tests", "integration"))


def services(state, *args):
    p = subprocess.run([os.path.join(SRC, "scripts", "test-services"), *args, state],
                       capture_output=True, text=True, timeout=900)
    if p.returncode != 0:
        raise SystemExit("test-services %s: %s" % (" ".join(args), p.stderr.strip()))
    return p.stdout


def load_env(state):
    env = dict(os.environ)
    for line in services(state, "env").splitlines():
        k, _, v = line.partition("=")
        if k.startswith("MIMIC_TEST_"):
            env[k] = v
    return env


def raw_put(build, env, n):
    out = subprocess.run([os.path.join(build, "bench", "engines_bench"), "-n", str(n), "-m", "1"],
                         env=env, capture_output=True, text=True, check=True, timeout=600).stdout
    return float(re.search(r"s3 PUT 1 MiB x \d+: ([\d.]+) MB/s", out).group(1))


def ingest(build, env, args, engine_args, label):
    import fleetenv
    fleetenv.COLLECTOR = os.path.join(build, "src", "mimic-collector")
    d = tempfile.mkdtemp(prefix="mimic-ingest-")
    try:
        fleetenv.make_org(d)
        os.environ.update({k: env[k] for k in env if k.startswith("AWS_")})
        try:
            proc, err, port = fleetenv.serve(d, d + "/collector", args=engine_args, log="warn")
        except AssertionError:
            with open(d + "/collector.log") as f:
                raise SystemExit("%s: the collector did not start: %s" % (label, f.read().strip()))
        try:
            tokens = subprocess.run([fleetenv.COLLECTOR, "token", "new", "--data",
                                     d + "/collector", "--count", str(args.uploaders)],
                                    capture_output=True, text=True, check=True).stdout
            with open(d + "/tokens", "w") as f:
                f.write(tokens)
            t0 = time.monotonic()
            r = subprocess.run([os.path.join(build, "bench", "collector_load"), "--url",
                                "https://127.0.0.1:%d" % port, "--ca", d + "/tls.crt",
                                "--tokens", d + "/tokens", "--dataset-pub", d + "/dataset.pub",
                                "--heartbeats", "0", "--uploaders", str(args.uploaders),
                                "--bundle", args.bundle, "--chunk", "1M", "--threads", "8",
                                "--collector-pid", str(proc.pid)],
                               capture_output=True, text=True, timeout=1800)
            wall = time.monotonic() - t0
            if r.returncode != 0:
                raise SystemExit("%s: collector_load failed:\n%s%s" % (label, r.stdout, r.stderr))
            m = re.search(r"^upload +bundles=(\d+) bytes=(\d+) seconds=([\d.]+)", r.stdout, re.M)
            cpu = re.search(r"^upload +collector_cpu=([\d.]+)s", r.stdout, re.M)
            n, nbytes, secs = int(m.group(1)), int(m.group(2)), float(m.group(3))
            listed = subprocess.run([fleetenv.COLLECTOR, "list", "--data", d + "/collector"],
                                    capture_output=True, text=True, check=True).stdout
            stored = len([x for x in listed.splitlines() if x.strip()])
            return {"label": label, "bundles": n, "stored": stored, "mb": nbytes / 1e6,
                    "s": secs, "mbps": nbytes / 1e6 / secs, "wall": wall,
                    "cpu": float(cpu.group(1)) if cpu else None}
        finally:
            proc.kill()
            proc.wait()
            proc.stdout.close()
            err.close()
    finally:
        shutil.rmtree(d, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("build")
    ap.add_argument("--uploaders", type=int, default=16)
    ap.add_argument("--bundle", default="4M")
    ap.add_argument("--runs", type=int, default=1)
    ap.add_argument("--put-objects", type=int, default=64)
    args = ap.parse_args()
    build = os.path.abspath(args.build)
    state = os.environ.get("MIMIC_TEST_SERVICES_DIR")
    own = state is None
    if own:
        state = tempfile.mkdtemp(prefix="mimic-ingest-services-")
        services(state, "up")
    try:
        env = load_env(state)
        env["AWS_ACCESS_KEY_ID"] = env["MIMIC_TEST_S3_ACCESS"]
        env["AWS_SECRET_ACCESS_KEY"] = env["MIMIC_TEST_S3_SECRET"]
        rows = []
        for run in range(args.runs):
            stream = "INGEST%d" % (time.time_ns() % 10**9)
            s3 = ["--s3", env["MIMIC_TEST_S3_URL"], "--s3-bucket", env["MIMIC_TEST_S3_BUCKET"],
                  "--nats", env["MIMIC_TEST_NATS_URLS"], "--stream", stream,
                  "--stream-replicas", "3"]
            put = raw_put(build, env, args.put_objects)
            for label, extra in (("directory", []), ("s3 + nats", s3)):
                r = ingest(build, env, args, extra, label)
                r["put"] = put
                r["run"] = run + 1
                if extra:
                    # Every stored bundle was announced (the outbox may still be sending).
                    client = os.path.join(build, "tests", "integration", "engines_client")
                    for _ in range(60):
                        out = subprocess.run([client, "count", stream], env=env,
                                             capture_output=True, text=True).stdout
                        if out.strip() == "msgs=%d" % r["stored"]:
                            break
                        time.sleep(0.5)
                    else:
                        raise SystemExit("%d bundles stored but the stream has %s" % (
                            r["stored"], out.strip()))
                rows.append(r)
        print("| run | collector | bundles stored | MB | ingest MB/s | raw S3 PUT MB/s "
              "(same run) | ingest / PUT | collector CPU s |")
        print("|---|---|---|---|---|---|---|---|")
        for r in rows:
            print("| %d | %s | %d / %d | %.1f | %.1f | %.1f | %.2f | %s |" % (
                r["run"], r["label"], r["stored"], r["bundles"], r["mb"], r["mbps"], r["put"],
                r["mbps"] / r["put"], "%.2f" % r["cpu"] if r["cpu"] is not None else "-"))
    finally:
        if own:
            services(state, "down")


if __name__ == "__main__":
    main()
