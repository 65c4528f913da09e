"""`python -m murmur_test_servers up|down|topic|status`: the test servers for humans and scripts.

    eval "$(python -m murmur_test_servers up --mongo --kafka --dynamodb --topic orders.cdc:3)"
    python -m murmur_test_servers topic payments 6
    python -m murmur_test_servers down

`up` starts the servers detached (own session, output in the state dir), records them in
STATE_DIR/state.json (plus one NAME.pid file each) and prints `export` lines on stdout; progress
and errors go to stderr. `down` stops what state.json lists, checking each pid's start time so
that a reused pid is never killed.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
import tempfile
from pathlib import Path
from typing import Any

from ._proc import pid_alive, pid_start_time, stop_pid
from .dynamodb import DynamoDBServer
from .dynamodb import env as aws_env
from .kafka import KafkaBroker, KafkaHolderError, check_topic_name, create_topic_via_socket
from .mongo import MongoServer

STATE_ENV = "MURMUR_TEST_SERVERS_STATE_DIR"
SERVICES = ("mongo", "kafka", "dynamodb")
# AF_UNIX paths are limited to 108 bytes on Linux (sun_path).
_MAX_SOCKET_PATH = 100


def default_state_dir() -> Path:
    return Path(os.environ.get(STATE_ENV) or Path(tempfile.gettempdir()) / f"murmur-test-servers-{os.getuid()}")


def _state_file(state_dir: Path) -> Path:
    return state_dir / "state.json"


def read_state(state_dir: Path) -> dict[str, Any]:
    try:
        state: dict[str, Any] = json.loads(_state_file(state_dir).read_text())
    except FileNotFoundError:
        return {}
    return state


def _running(state: dict[str, Any]) -> dict[str, Any]:
    return {
        name: entry
        for name, entry in state.get("services", {}).items()
        if pid_alive(entry["pid"]) and pid_start_time(entry["pid"]) == entry.get("start_time")
    }


def _parse_topic(spec: str) -> tuple[str, int]:
    name, sep, partitions = spec.rpartition(":")
    if not sep or not name or not partitions.isdigit() or int(partitions) < 1:
        raise argparse.ArgumentTypeError(f"expected NAME:PARTITIONS with PARTITIONS >= 1, got {spec!r}")
    try:
        check_topic_name(name)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc
    return name, int(partitions)


def _exports(state: dict[str, Any], state_dir: Path) -> str:
    services = state.get("services", {})
    values: dict[str, str] = {STATE_ENV: str(state_dir)}
    if "mongo" in services:
        values["MURMUR_TEST_MONGO_URI"] = services["mongo"]["uri"]
    if "kafka" in services:
        values["MURMUR_TEST_KAFKA"] = services["kafka"]["bootstrap"]
    if "dynamodb" in services:
        values["MURMUR_TEST_DYNAMODB"] = services["dynamodb"]["endpoint"]
        values.update(aws_env())
    return "".join(f"export {key}={shlex.quote(value)}\n" for key, value in values.items())


def _say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def cmd_up(args: argparse.Namespace) -> int:
    state_dir: Path = args.state_dir.resolve()
    wanted = [s for s in SERVICES if getattr(args, s)] or list(SERVICES)
    if args.topic and "kafka" not in wanted:
        wanted.append("kafka")
    state_dir.mkdir(parents=True, exist_ok=True)
    old = read_state(state_dir)
    if _running(old):
        _say(f"servers from an earlier `up` are still running in {state_dir}: run `down` first")
        return 1
    control = state_dir / "kafka.sock"
    if "kafka" in wanted and len(str(control)) > _MAX_SOCKET_PATH:
        _say(f"--state-dir path too long for a unix socket ({control}); pick a shorter one")
        return 2

    started: list[Any] = []
    services: dict[str, dict[str, Any]] = {}
    try:
        if "mongo" in wanted:
            mongo = MongoServer(state_dir / "mongo", detached=True).start()
            started.append(mongo)
            services["mongo"] = {"pid": mongo.pid, "uri": mongo.uri, "log": str(mongo.log_path)}
        if "kafka" in wanted:
            kafka = KafkaBroker(args.topic, state_dir / "kafka", detached=True, control_socket=control).start()
            started.append(kafka)
            services["kafka"] = {
                "pid": kafka.pid,
                "bootstrap": kafka.bootstrap,
                "control": str(control),
                "log": str(kafka.log_path),
            }
        if "dynamodb" in wanted:
            dynamo = DynamoDBServer(state_dir / "dynamodb", in_process=False, detached=True).start()
            started.append(dynamo)
            services["dynamodb"] = {"pid": dynamo.pid, "endpoint": dynamo.endpoint, "log": str(dynamo.log_path)}
    except Exception as exc:
        for server in reversed(started):
            server.stop()
        _say(f"up failed: {exc}")
        return 1

    for name, entry in services.items():
        entry["start_time"] = pid_start_time(entry["pid"])
        (state_dir / f"{name}.pid").write_text(f"{entry['pid']}\n")
    state = {"services": services}
    tmp = _state_file(state_dir).with_suffix(".tmp")
    tmp.write_text(json.dumps(state, indent=2))
    tmp.replace(_state_file(state_dir))
    for name, entry in services.items():
        _say(f"{name}: pid {entry['pid']}, log {entry['log']}")
    sys.stdout.write(_exports(state, state_dir))
    return 0


def cmd_down(args: argparse.Namespace) -> int:
    state_dir: Path = args.state_dir.resolve()
    state = read_state(state_dir)
    services = state.get("services", {})
    if not services:
        _say(f"nothing recorded in {state_dir}")
    failed = False
    for name, entry in services.items():
        stopped = stop_pid(entry["pid"], entry.get("start_time"))
        if pid_alive(entry["pid"]) and pid_start_time(entry["pid"]) == entry.get("start_time"):
            _say(f"{name}: pid {entry['pid']} would not stop")
            failed = True
        else:
            _say(f"{name}: {'stopped' if stopped else 'was not running'} (pid {entry['pid']})")
        (state_dir / f"{name}.pid").unlink(missing_ok=True)
    if not failed:
        _state_file(state_dir).unlink(missing_ok=True)
        (state_dir / "kafka.sock").unlink(missing_ok=True)
    return 1 if failed else 0


def cmd_topic(args: argparse.Namespace) -> int:
    state_dir: Path = args.state_dir.resolve()
    kafka = _running(read_state(state_dir)).get("kafka")
    if kafka is None:
        _say(f"no running kafka holder recorded in {state_dir}: run `up --kafka` first")
        return 1
    try:
        create_topic_via_socket(kafka["control"], args.name, args.partitions)
    except (KafkaHolderError, ValueError) as exc:
        _say(str(exc))
        return 1
    _say(f"created topic {args.name} with {args.partitions} partitions")
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    state_dir: Path = args.state_dir.resolve()
    state = read_state(state_dir)
    running = _running(state)
    for name, entry in state.get("services", {}).items():
        _say(f"{name}: pid {entry['pid']} {'running' if name in running else 'NOT running'}")
    sys.stdout.write(_exports({"services": running}, state_dir) if running else "")
    return 0 if running else 1


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m murmur_test_servers", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="command", required=True)
    state_help = f"where pids, logs and the kafka control socket live (default: ${STATE_ENV} or {default_state_dir()})"

    up = sub.add_parser("up", help="start servers in the background and print export lines")
    up.add_argument("--mongo", action="store_true", help="nx-27017 (MongoDB wire protocol)")
    up.add_argument("--kafka", action="store_true", help="librdkafka mock cluster (Kafka protocol)")
    up.add_argument("--dynamodb", action="store_true", help="moto DynamoDB")
    up.add_argument(
        "--topic", action="append", type=_parse_topic, default=[], metavar="NAME:PARTITIONS", help="implies --kafka"
    )
    up.set_defaults(func=cmd_up)

    down = sub.add_parser("down", help="stop what `up` started")
    down.set_defaults(func=cmd_down)

    topic = sub.add_parser("topic", help="create a topic on the running kafka holder")
    topic.add_argument("name")
    topic.add_argument("partitions", type=int)
    topic.set_defaults(func=cmd_topic)

    status = sub.add_parser("status", help="show what runs; print the export lines again")
    status.set_defaults(func=cmd_status)

    for p in (up, down, topic, status):
        p.add_argument("--state-dir", type=Path, default=None, help=state_help)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.state_dir is None:
        args.state_dir = default_state_dir()
    result: int = args.func(args)
    return result
