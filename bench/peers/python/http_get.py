"""W4 and W5 for Python: aiohttp, one ClientSession (its connector limited
to INFLIGHT connections), INFLIGHT worker tasks each requesting in a loop;
every response must be a 200 with SIZE bytes. W4 reads the body whole
(`await res.read()`); W5 reads it in chunks as they arrive
(`res.content.iter_any()`) and drops them. Wall and CPU time
(resource.getrusage, user + system) run from the first request to the last
completion; peak RSS is VmHWM over that stretch (reset just before).
    python3 bench/peers/python/http_get.py N WORKLOAD URL SIZE INFLIGHT [asyncio|uvloop]"""
import asyncio
import resource

import aiohttp  # Debian's python3-aiohttp

from common import arg_int, arg_str, now, proc_status, reset_peak, result, run

n = arg_int(1, 0)
workload = arg_str(2, "W4")
url = arg_str(3, "")
size = arg_int(4, 0)
inflight = min(arg_int(5, 1), n)
loop_name = arg_str(6, "asyncio")
chunked = workload == "W5"


def cpu_seconds():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


async def main():
    ok = 0
    total = 0
    started = 0
    connector = aiohttp.TCPConnector(limit=inflight)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def worker():
            nonlocal ok, total, started
            while started < n:
                started += 1
                async with session.get(url) as res:
                    if chunked:
                        length = 0
                        async for chunk in res.content.iter_any():
                            length += len(chunk)
                    else:
                        length = len(await res.read())
                    if res.status == 200 and length == size:
                        ok += 1
                    total += length

        reset_peak()
        rss0 = proc_status("VmRSS")
        t0, cpu0 = now(), cpu_seconds()
        await asyncio.gather(*(worker() for _ in range(inflight)))
        wall, cpu = now() - t0, cpu_seconds() - cpu0
        peak = proc_status("VmHWM")
    impl = "python-aiohttp" + ("" if loop_name == "asyncio" else "-" + loop_name)
    result(workload, impl, n=n, count=ok, bytes=total, wall_s=wall, rps=ok / wall,
           cpu_us=cpu * 1e6 / n, mibps=total / 1048576 / wall, rss_mib=peak / 1048576,
           rss0_mib=rss0 / 1048576)


run(main, loop_name)
