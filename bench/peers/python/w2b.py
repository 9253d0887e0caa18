"""W2b for Python: the ping-pong of bench/tide/w2b_pingpong.lua with
futures: on its turn a side creates a future, publishes it, sets the result
of the one the other side published and awaits its own.
    python3 bench/peers/python/w2b.py N [asyncio|uvloop]"""
import asyncio

from common import arg_int, arg_str, impl_name, now, result, run

n = arg_int(1, 1000000)
loop_name = arg_str(2, "asyncio")
if n % 2:
    raise SystemExit("N must be even: each side takes half the hops")
slot = {}  # slot[side] = the future that side is waiting on
hops = 0


def wake(side):
    fut = slot.pop(side, None)
    if fut is not None:
        fut.set_result(hops)


async def player(me, other, turns):
    global hops
    create_future = asyncio.get_running_loop().create_future
    for _ in range(turns):
        fut = create_future()
        slot[me] = fut
        wake(other)
        await fut
        hops += 1
    wake(other)  # the other side's last await ends here


async def game(count):
    t0 = now()
    a = asyncio.create_task(player("a", "b", count // 2))
    b = asyncio.create_task(player("b", "a", count // 2))
    await a
    await b
    return now() - t0


async def main():
    global hops
    await game(n // 10 + 2)  # warm-up, as every W2b program does
    hops = 0
    ns = await game(n) * 1e9 / n
    result("W2b", impl_name(loop_name), n=n, count=hops, ns=ns)


run(main, loop_name)
