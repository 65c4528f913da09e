"""`python -m murmur_test_servers._moto`: moto's DynamoDB as its own process, until SIGTERM.

Used by the detached `up` CLI. Writes the bound port followed by a newline to --ready-file
(written to a temporary name and renamed, so a reader never sees half a number).
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
from types import FrameType


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m murmur_test_servers._moto")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--ready-file", help="where to write the bound port once listening")
    args = parser.parse_args(argv)

    stop = threading.Event()

    def _stop(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)

    from murmur_test_servers.dynamodb import SerialisedMoto

    server = SerialisedMoto(args.host, args.port).start()
    port = server.port
    print(f"READY http://{args.host}:{port}", flush=True)
    if args.ready_file:
        tmp = f"{args.ready_file}.tmp"
        with open(tmp, "w") as f:
            f.write(f"{port}\n")
        os.replace(tmp, args.ready_file)
    # Event.wait with a timeout wakes up to let the signal handler run promptly.
    while not stop.wait(0.5):
        pass
    server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
