"""A TCP proxy that adds a fixed delay per round trip (a database across a network).

`python -m benchmarks.proxy LISTEN_PORT TARGET_HOST TARGET_PORT DELAY_MS`

Bytes from the client are forwarded DELAY_MS/2 late, bytes back DELAY_MS/2
late, order preserved, so each request/response exchange costs DELAY_MS more.
Runs in its own process so its CPU does not come out of the server's loop.
"""

from __future__ import annotations

import asyncio
import sys

from benchmarks import eventloop


async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, delay: float) -> None:
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()

    async def deliver() -> None:
        while True:
            due, data = await queue.get()
            if not data:
                break
            wait = due - loop.time()
            if wait > 0:
                await asyncio.sleep(wait)
            writer.write(data)
            await writer.drain()
        writer.close()

    sender = asyncio.create_task(deliver())
    try:
        while data := await reader.read(65536):
            queue.put_nowait((loop.time() + delay, data))
    except ConnectionError:
        pass
    queue.put_nowait((0.0, b""))
    await sender


async def main(listen: int, host: str, port: int, delay_ms: float) -> None:
    half = delay_ms / 2000

    async def handle(client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        server_r, server_w = await asyncio.open_connection(host, port)
        await asyncio.gather(
            pipe(client_r, server_w, half), pipe(server_r, client_w, half), return_exceptions=True
        )

    server = await asyncio.start_server(handle, "127.0.0.1", listen)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    eventloop.run(main(int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), float(sys.argv[4])))
