"""``murmur dynamodb ...``: the typer sub-app this plugin adds to the CLI."""

from __future__ import annotations

import typer
from murmur import ConfigError, MurmurError

HELP = """DynamoDB tools for Murmur.

Credentials and region come from boto3's standard chain (environment, ~/.aws, instance role)."""

CREATE_HELP = """Create the state table (and the dedup table with --dedup), or check the ones there.

Tables are PAY_PER_REQUEST with TTL on the `ttl` attribute; the command waits until they are
ACTIVE. Safe to run again: tables with the right key schema are left as they are. A table that
exists with another key schema is an error (exit code 2) naming the table and the difference.

Example: murmur dynamodb create-tables --state murmur_state --dedup murmur_dedup --region eu-west-1"""


def _say(message: str) -> None:
    typer.echo(message, err=True)


def make_app() -> typer.Typer:
    app = typer.Typer(name="dynamodb", help=HELP, no_args_is_help=True, add_completion=False)

    @app.command("create-tables", help=CREATE_HELP)
    def create_tables(
        state: str = typer.Option("murmur_state", "--state", help="state table (the store's `table` option)"),
        dedup: str | None = typer.Option(None, "--dedup", help="also this dedup table (the deduper's `table` option)"),
        endpoint_url: str | None = typer.Option(
            None, "--endpoint-url", help="endpoint URL (DynamoDB Local, a test server); default: AWS"
        ),
        region: str | None = typer.Option(
            None, "--region", help="AWS region; default: $AWS_DEFAULT_REGION, ~/.aws/config, $AWS_REGION"
        ),
        wait_timeout: float = typer.Option(300.0, "--wait-timeout", help="seconds to wait for a table to be ACTIVE"),
    ) -> None:
        from murmur_dynamodb._tables import ensure_tables

        try:
            for result in ensure_tables(
                state, dedup, endpoint_url=endpoint_url, region=region, timeout=wait_timeout, progress=_say
            ):
                name = f"{result.role} table {result.table!r}"
                if result.created:
                    typer.echo(f"{name}: created (PAY_PER_REQUEST, TTL on 'ttl')")
                else:
                    ttl_note = "; TTL switched on" if result.ttl_enabled_now else ""
                    typer.echo(f"{name}: already there with the right key schema{ttl_note}")
        except ConfigError as exc:  # the same one-line form as every murmur error
            _say(f"murmur: error: {exc}")
            raise typer.Exit(2) from None
        except MurmurError as exc:
            _say(f"murmur: error: {exc}")
            raise typer.Exit(1) from None

    return app
