"""A minimal round-robin TCP proxy for benchmarks: each accepted connection goes to the next
backend in turn and its bytes are copied both ways until either side closes. Round robin is
per connection, not per request (HTTP keep-alive keeps a client on one backend): the load
generator must open several connections per backend for the spread to be even.

    python -m bench._proxy <listen port> <backend port> [<backend port> ...]

All on 127.0.0.1. On SIGTERM it prints one JSON line, the connections given to each backend,
and exits.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import signal
import sys

CHUNK = 65536


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(CHUNK):
            writer.write(data)
            await writer.drain()
    except ConnectionError:
        pass
    finally:
        writer.close()


async def serve(listen: int, backends: list[int]) -> list[int]:
    """Proxy until SIGTERM; returns how many connections each backend was given."""
    given = [0] * len(backends)
    turn = itertools.cycle(range(len(backends)))

    async def connection(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        n = next(turn)
        given[n] += 1
        try:
            upstream_reader, upstream_writer = await asyncio.open_connection(
                "127.0.0.1", backends[n])
        except OSError:
            writer.close()
            return
        await asyncio.gather(_pipe(reader, upstream_writer), _pipe(upstream_reader, writer))

    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    server = await asyncio.start_server(connection, "127.0.0.1", listen, backlog=1024)
    async with server:
        await stop.wait()
    return given


def main(argv: list[str]) -> None:
    listen, *backends = (int(port) for port in argv)
    given = asyncio.run(serve(listen, backends))
    print(json.dumps({"connections": given}), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
