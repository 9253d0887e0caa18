"""W1 for Python: `await asyncio.sleep(0)` N times in one task; a zero
sleep yields to the event loop for one iteration.
    python3 bench/peers/python/w1.py N [asyncio|uvloop]"""
import asyncio

from common import arg_int, arg_str, impl_name, now, result, run

n = arg_int(1, 200000)
loop_name = arg_str(2, "asyncio")


async def turns(count):
    for _ in range(count):
        await asyncio.sleep(0)
    return count


async def main():
    await turns(n // 10 + 1)  # warm-up, as every W1 program does
    t0 = now()
    count = await turns(n)
    result("W1", impl_name(loop_name), n=n, count=count, ns=(now() - t0) * 1e9 / n)


run(main, loop_name)
