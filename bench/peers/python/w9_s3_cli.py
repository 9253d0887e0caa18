#!/usr/bin/env python3
"""W9's command-line peers: N times, an upload then a download of one
SIZE-byte object through the S3 emulator that bench/run starts (BENCH_S3).

    w9_s3_cli.py N SIZE awscli|curl

awscli  `aws s3 cp FILE s3://bench/KEY` and back (Debian's awscli,
        /usr/bin/aws, else the `aws` on PATH: its defaults, 8 MiB parts, 10
        at a time)
curl    `curl -T FILE` (one PUT, UNSIGNED-PAYLOAD, signed with
        --aws-sigv4) and `curl -o FILE`: the server's own limit for one
        stream each way

Each direction is timed on its own: wall time around the command, CPU of
the command (RUSAGE_CHILDREN). The copy must have SIZE bytes.
"""
import os
import resource
import subprocess
import sys
import time

MIB = 1024 * 1024


def run(argv, env):
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.monotonic()
    subprocess.run(argv, env=env, check=True, stdout=subprocess.DEVNULL)
    wall = time.monotonic() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def main():
    n, size, tool = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
    endpoint = os.environ["BENCH_S3"]
    src = "bench/out/s3/%d.bin" % size
    dst = "bench/out/s3/down-%s.bin" % tool
    env = dict(os.environ, AWS_ACCESS_KEY_ID="S3RVER", AWS_SECRET_ACCESS_KEY="S3RVER",
               AWS_DEFAULT_REGION="us-east-1", AWS_CONFIG_FILE="/dev/null",
               AWS_SHARED_CREDENTIALS_FILE="/dev/null")
    env.pop("AWS_PROFILE", None)
    aws = "/usr/bin/aws" if os.path.exists("/usr/bin/aws") else "aws"
    if tool == "awscli":
        up = [aws, "s3", "cp", src, "s3://bench/%s.bin" % tool, "--endpoint-url", endpoint,
              "--only-show-errors"]
        down = [aws, "s3", "cp", "s3://bench/%s.bin" % tool, dst, "--endpoint-url", endpoint,
                "--only-show-errors"]
    elif tool == "curl":
        sig = ["--aws-sigv4", "aws:amz:us-east-1:s3", "-u", "S3RVER:S3RVER",
               "-H", "x-amz-content-sha256: UNSIGNED-PAYLOAD", "-sSf"]
        url = "%s/bench/%s.bin" % (endpoint, tool)
        up = ["curl"] + sig + ["-T", src, url, "-o", "/dev/null"]
        down = ["curl"] + sig + [url, "-o", dst]
    else:
        sys.exit("tool: awscli or curl")
    up_s = down_s = up_cpu = down_cpu = 0.0
    count = nbytes = 0
    for _ in range(n):
        w, c = run(up, env)
        up_s, up_cpu = up_s + w, up_cpu + c
        w, c = run(down, env)
        down_s, down_cpu = down_s + w, down_cpu + c
        got = os.path.getsize(dst)
        if got == size:
            count += 1
            nbytes += got
    os.remove(dst)
    fields = {"n": n, "count": count, "bytes": nbytes, "up_mibps": n * size / MIB / up_s,
              "down_mibps": n * size / MIB / down_s, "up_cpu_s": up_cpu / n, "down_cpu_s": down_cpu / n}
    parts = ["RESULT", "workload=W9", "impl=" + tool]
    for k in sorted(fields):
        v = fields[k]
        parts.append("%s=%s" % (k, ("%.6g" % v) if isinstance(v, float) else v))
    print(" ".join(parts), flush=True)


if __name__ == "__main__":
    main()
