"""Holder process for librdkafka's built-in mock Kafka cluster.

Run with the interpreter that has confluent-kafka installed:

    python kafka_holder.py [--control SOCKET] [--detached] [NAME:PARTITIONS ...]

It loads librdkafka from the confluent-kafka wheel with ctypes (the Python binding does not expose
the mock API), creates a 1-broker mock cluster, creates the topics given on argv, prints
`READY <bootstraps>` on stdout and serves a line protocol until SIGTERM:

    topic NAME PARTITIONS   ->  OK | ERR <reason>
    ping                    ->  OK <bootstraps>

on stdin/stdout (the pytest fixture), and on the unix socket given with --control (the detached
`up` CLI, whose stdin is /dev/null). Without --detached the holder exits when stdin closes, so it
never outlives the test session that owns the pipe.

The mock cluster lives in this process's memory: everything is gone when the holder exits.
"""

from __future__ import annotations

import argparse
import ctypes
import glob
import importlib.util
import os
import signal
import socketserver
import sys
import threading
from pathlib import Path
from types import FrameType

_RD_KAFKA_PRODUCER = 0


def find_librdkafka() -> str:
    """The librdkafka bundled in the confluent-kafka wheel (the same build the Python clients use)."""
    override = os.environ.get("MURMUR_LIBRDKAFKA")
    if override:
        return override
    # find_spec rather than import: importing confluent_kafka would load the library via cimpl first.
    spec = importlib.util.find_spec("confluent_kafka")
    if spec is None or spec.origin is None:
        raise RuntimeError("confluent-kafka is not installed in this interpreter")
    site = Path(spec.origin).parent.parent
    found = sorted(glob.glob(str(site / "confluent_kafka.libs" / "librdkafka*.so*")))
    if not found:
        raise RuntimeError(f"no librdkafka*.so* under {site / 'confluent_kafka.libs'} (set MURMUR_LIBRDKAFKA)")
    return found[0]


class MockCluster:
    def __init__(self, library: str) -> None:
        lib = ctypes.CDLL(library)
        vp, cp = ctypes.c_void_p, ctypes.c_char_p
        lib.rd_kafka_conf_new.restype = vp
        lib.rd_kafka_conf_set.argtypes = [vp, cp, cp, cp, ctypes.c_size_t]
        lib.rd_kafka_new.restype = vp
        lib.rd_kafka_new.argtypes = [ctypes.c_int, vp, cp, ctypes.c_size_t]
        lib.rd_kafka_mock_cluster_new.restype = vp
        lib.rd_kafka_mock_cluster_new.argtypes = [vp, ctypes.c_int]
        lib.rd_kafka_mock_cluster_bootstraps.restype = cp
        lib.rd_kafka_mock_cluster_bootstraps.argtypes = [vp]
        lib.rd_kafka_mock_topic_create.restype = ctypes.c_int
        lib.rd_kafka_mock_topic_create.argtypes = [vp, cp, ctypes.c_int, ctypes.c_int]
        lib.rd_kafka_mock_group_initial_rebalance_delay_ms.restype = None
        lib.rd_kafka_mock_group_initial_rebalance_delay_ms.argtypes = [vp, ctypes.c_int32]
        lib.rd_kafka_err2str.restype = cp
        lib.rd_kafka_err2str.argtypes = [ctypes.c_int]
        self._lib = lib
        self._lock = threading.Lock()

        conf = lib.rd_kafka_conf_new()
        errstr = ctypes.create_string_buffer(512)
        # The handle only owns the cluster; it never connects anywhere. Silence its
        # "no bootstrap.servers" warning rather than let it look like a problem in the log.
        lib.rd_kafka_conf_set(conf, b"log_level", b"3", errstr, len(errstr))
        self._rk = lib.rd_kafka_new(_RD_KAFKA_PRODUCER, conf, errstr, len(errstr))
        if not self._rk:
            raise RuntimeError(f"rd_kafka_new failed: {errstr.value.decode()}")
        self._cluster = lib.rd_kafka_mock_cluster_new(self._rk, 1)
        if not self._cluster:
            raise RuntimeError("rd_kafka_mock_cluster_new failed")
        # Default is 3000 ms, which makes every new consumer group's first join wait 3 s.
        lib.rd_kafka_mock_group_initial_rebalance_delay_ms(self._cluster, 0)
        self.bootstraps: str = lib.rd_kafka_mock_cluster_bootstraps(self._cluster).decode()

    def create_topic(self, name: str, partitions: int) -> str | None:
        """None on success, else the reason."""
        # The mock happily "creates" a 0-partition topic that then cannot be used; refuse instead.
        if partitions < 1:
            return f"partitions must be >= 1, got {partitions}"
        if not name or any(c.isspace() for c in name):
            return f"invalid topic name {name!r}"
        with self._lock:
            err = self._lib.rd_kafka_mock_topic_create(self._cluster, name.encode(), partitions, 1)
            return None if err == 0 else f"{self._lib.rd_kafka_err2str(err).decode()} (code {err})"

    def handle(self, line: str) -> str:
        parts = line.split()
        if not parts:
            return "ERR empty command"
        if parts[0] == "ping" and len(parts) == 1:
            return f"OK {self.bootstraps}"
        if parts[0] == "topic" and len(parts) == 3:
            try:
                partitions = int(parts[2])
            except ValueError:
                return f"ERR partitions must be an integer, got {parts[2]!r}"
            reason = self.create_topic(parts[1], partitions)
            return "OK" if reason is None else f"ERR {reason}"
        return f"ERR unknown command {line.strip()!r} (expected: topic NAME PARTITIONS | ping)"


def _serve_control_socket(cluster: MockCluster, path: str) -> socketserver.ThreadingUnixStreamServer:
    class Handler(socketserver.StreamRequestHandler):
        def handle(self) -> None:
            for raw in self.rfile:
                self.wfile.write((cluster.handle(raw.decode(errors="replace")) + "\n").encode())
                self.wfile.flush()

    if os.path.exists(path):
        os.unlink(path)  # stale socket from a holder that was SIGKILLed
    server = socketserver.ThreadingUnixStreamServer(path, Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name="control-socket", daemon=True).start()
    return server


def _parse_topic(spec: str) -> tuple[str, int]:
    name, sep, partitions = spec.rpartition(":")
    if not sep or not name:
        raise argparse.ArgumentTypeError(f"expected NAME:PARTITIONS, got {spec!r}")
    return name, int(partitions)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("topics", nargs="*", type=_parse_topic, metavar="NAME:PARTITIONS")
    parser.add_argument("--control", help="also serve the line protocol on this unix socket path")
    parser.add_argument("--detached", action="store_true", help="ignore stdin EOF; run until SIGTERM")
    args = parser.parse_args(argv)

    def _exit(signum: int, frame: FrameType | None) -> None:
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, _exit)
    signal.signal(signal.SIGINT, _exit)

    cluster = MockCluster(find_librdkafka())
    for name, partitions in args.topics:
        reason = cluster.create_topic(name, partitions)
        if reason is not None:
            print(f"ERR topic {name}: {reason}", file=sys.stderr, flush=True)
            return 2
    server = _serve_control_socket(cluster, args.control) if args.control else None
    try:
        print(f"READY {cluster.bootstraps}", flush=True)
        if not args.detached:
            for line in sys.stdin:
                print(cluster.handle(line), flush=True)
            return 0  # stdin closed: our owner is gone
        while True:
            signal.pause()
    finally:
        if server is not None:
            server.server_close()
            if args.control and os.path.exists(args.control):
                os.unlink(args.control)


if __name__ == "__main__":
    sys.exit(main())
