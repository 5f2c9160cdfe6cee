# A TCP proxy that delays every byte by DELAY seconds in each direction: a long link on loopback.
# usage: delay_proxy.py LISTEN_PORT TARGET_PORT DELAY_SECONDS
import asyncio, sys
LISTEN, TARGET, DELAY = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
async def pipe(r, w):
    loop = asyncio.get_running_loop()
    q = asyncio.Queue()
    async def sender():
        while True:
            t, data = await q.get()
            if data is None:
                w.close(); return
            d = t - loop.time()
            if d > 0: await asyncio.sleep(d)
            w.write(data); await w.drain()
    task = asyncio.create_task(sender())
    while True:
        data = await r.read(65536)
        await q.put((loop.time() + DELAY, data or None))
        if not data: break
    await task
async def handle(cr, cw):
    sr, sw = await asyncio.open_connection("127.0.0.1", TARGET)
    await asyncio.gather(pipe(cr, sw), pipe(sr, cw), return_exceptions=True)
async def main():
    srv = await asyncio.start_server(handle, "127.0.0.1", LISTEN)
    async with srv: await srv.serve_forever()
asyncio.run(main())
