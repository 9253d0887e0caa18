"""W3 for Python: N tasks each `await asyncio.sleep(0.1)`; the last one to
finish sets a future the main task awaits. The task list is kept, as the
asyncio docs ask. Wall time from the first create_task to the last
completion; memory is the resident peak over that stretch minus the
resident size before it (after gc.collect()), per task.
    python3 bench/peers/python/w3.py N [asyncio|uvloop] [seconds]"""
import asyncio
import gc

from common import (arg_int, arg_str, impl_name, now, proc_status, reset_peak,
                    result, run)

n = arg_int(1, 100000)
loop_name = arg_str(2, "asyncio")
seconds = float(arg_str(3, "0.1"))
done = 0


async def main():
    all_done = asyncio.get_running_loop().create_future()

    async def worker():
        global done
        await asyncio.sleep(seconds)
        done += 1
        if done == n:
            all_done.set_result(None)

    gc.collect()
    reset_peak()
    rss0 = proc_status("VmRSS")
    t0 = now()
    tasks = [asyncio.create_task(worker()) for _ in range(n)]
    await all_done
    wall = now() - t0
    rss_b = (proc_status("VmHWM") - rss0) / n
    del tasks
    result("W3", impl_name(loop_name), n=n, count=done, wall_s=wall, rss_B=rss_b)


run(main, loop_name)
