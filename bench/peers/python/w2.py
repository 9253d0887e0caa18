"""W2 for Python asyncio: create a future, set its result, await it; N
times in one task (awaiting a done future does not suspend).
    python3 bench/peers/python/w2.py N [asyncio|uvloop]"""
import asyncio

from common import arg_int, arg_str, impl_name, now, result, run

n = arg_int(1, 1000000)
loop_name = arg_str(2, "asyncio")


async def loop(count):
    create_future = asyncio.get_running_loop().create_future
    total = 0
    for i in range(1, count + 1):
        fut = create_future()
        fut.set_result(i)
        total += await fut
    return total


async def main():
    await loop(n // 10 + 1)  # warm-up, as every W2 program does
    t0 = now()
    total = await loop(n)
    ns = (now() - t0) * 1e9 / n
    result("W2", impl_name(loop_name), n=n, count=n if total == n * (n + 1) // 2 else -1, ns=ns)


run(main, loop_name)
