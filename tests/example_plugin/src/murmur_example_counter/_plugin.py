"""Registers the ``counter`` source and the ``murmur counter`` command, like any third-party plugin."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import typer
from murmur import AdapterContext, AdapterSpec, Option, hookimpl


def _factory(options: Mapping[str, Any], context: AdapterContext) -> Any:
    from murmur_example_counter.source import CounterSource

    return CounterSource(options["n"], options["keys"])


@hookimpl
def murmur_register(register: Callable[[AdapterSpec], None]) -> None:
    register(
        AdapterSpec(
            "counter",
            "source",
            "n synthetic records {i, key} (an example plugin)",
            _factory,
            options=(
                Option("n", "int", 100, "how many records"),
                Option("keys", "int", 3, "how many distinct keys (k0, k1, ...)"),
                Option(
                    "api_token", "str", None, "a secret nobody needs (shows masking)", env="COUNTER_TOKEN", secret=True
                ),
            ),
            guarantees=("resumable", "splittable"),
        )
    )
    register(
        AdapterSpec(
            "counter",
            "live",
            "endless synthetic records {i, key} (an example plugin; --live picks it)",
            _live_factory,
            options=(
                Option("keys", "int", 3, "how many distinct keys"),
                Option("per_poll", "int", 50, "records per poll"),
            ),
            guarantees=("resumable",),
        )
    )


def _live_factory(options: Mapping[str, Any], context: AdapterContext) -> Any:
    from murmur_example_counter.source import TickerSource

    return TickerSource(options["keys"], options["per_poll"])


@hookimpl
def murmur_cli(app: typer.Typer) -> None:
    counter = typer.Typer(help="The example counter plugin's own commands.", no_args_is_help=True)

    @counter.command("describe")
    def describe(n: int = 10, keys: int = 3) -> None:
        """Print what `--source counter -S n=N -S keys=K` would count per key."""
        for k in range(keys):
            typer.echo(f"k{k}\t{len(range(k, n, keys))}")

    app.add_typer(counter, name="counter")
