"""Helpers shared by the Python benchmark programs: the command line, the
event loop choice (asyncio's own, or uvloop's libuv loop), memory figures
from /proc/self/status, and the RESULT line that bench/driver.lua parses
(the same format every benchmark program prints)."""
import asyncio
import re
import sys
import time


def arg_int(i, default):
    """Positional argument i (1 = first after the script) as an int."""
    return int(sys.argv[i]) if len(sys.argv) > i and sys.argv[i] else default


def arg_str(i, default):
    return sys.argv[i] if len(sys.argv) > i and sys.argv[i] else default


def run(main, loop_name):
    """Runs the coroutine function `main` on the named loop."""
    if loop_name == "uvloop":
        import uvloop  # Debian's python3-uvloop
        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    elif loop_name != "asyncio":
        raise SystemExit(f"loop: asyncio or uvloop, got {loop_name}")
    asyncio.run(main())


def impl_name(loop_name):
    return "python-" + loop_name


def proc_status(field):
    """A field of /proc/self/status ("VmRSS", "VmHWM") in bytes."""
    with open("/proc/self/status") as f:
        m = re.search(field + r":\s*(\d+) kB", f.read())
    return int(m.group(1)) * 1024


def reset_peak():
    """Resets VmHWM to the current VmRSS, so a later VmHWM is the measured peak."""
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")


now = time.perf_counter  # monotonic seconds


def result(workload, impl, **fields):
    parts = ["RESULT", f"workload={workload}", f"impl={impl}"]
    for k in sorted(fields):
        v = fields[k]
        parts.append(f"{k}={v}" if isinstance(v, int) else f"{k}={v:.6g}")
    print(" ".join(parts), flush=True)
