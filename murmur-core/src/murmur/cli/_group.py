"""The root ``murmur`` command group: plugins' commands loaded on use, every error on one line.

- A plugin declares its sub-commands (``murmur-plugin.json``); ``murmur --help`` lists them from
  the declaration and the plugin is imported only when one of them runs (or its help is asked).
- Usage errors (an unknown option, a missing value, a bad integer...) print one line,
  ``murmur: error: murmur run: no such option: --frobnicate``, and exit 2, instead of click's
  usage block; errors of ours exit as ``_output.exit_code`` says. Never a traceback, unless
  ``MURMUR_DEBUG=1``.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any

import typer
from typer.core import TyperCommand, TyperGroup

from murmur._errors import ConfigError, MurmurError
from murmur.cli._output import USAGE, report
from murmur.plugins import Registry

__all__ = ["RootGroup", "one_line"]


class RootGroup(TyperGroup):
    """``murmur``: the built-in commands plus the plugins' (declared ones loaded on first use)."""

    _listing = False

    def _registry(self, ctx: Any) -> Registry | None:
        root = ctx.find_root() if ctx is not None else None
        obj = getattr(root, "obj", None)
        return obj if isinstance(obj, Registry) else None

    def _lazy(self, ctx: Any) -> dict[str, tuple[str, str]]:
        registry = self._registry(ctx)
        if registry is None:
            return {}
        return {n: c for n, c in registry.commands().items() if n not in self.commands}

    def list_commands(self, ctx: Any) -> list[str]:
        return [*super().list_commands(ctx), *sorted(self._lazy(ctx))]

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        command = super().get_command(ctx, cmd_name)
        if command is not None:
            return command
        lazy = self._lazy(ctx)
        if cmd_name not in lazy:
            return None
        help_text, plugin = lazy[cmd_name]
        if self._listing:  # `murmur --help`: the declared help line is enough
            return TyperCommand(cmd_name, help=help_text)
        registry = self._registry(ctx)
        assert registry is not None
        scratch = typer.Typer()
        registry.add_cli(scratch, only=plugin)
        info = registry.info(plugin)
        if info is not None and info.status == "error":
            raise ConfigError(
                f"murmur {cmd_name}: plugin {plugin!r} ({info.distribution}) failed to load: {info.error}",
                option=cmd_name,
            )
        command = typer.main.get_group(scratch).get_command(ctx, cmd_name)
        if command is None:
            raise ConfigError(
                f"murmur {cmd_name}: plugin {plugin!r} declares this command but does not add it", option=cmd_name
            )
        self.commands[cmd_name] = command
        return command

    def format_commands(self, ctx: Any, formatter: Any) -> None:
        self._listing = True
        try:
            super().format_commands(ctx, formatter)
        finally:
            self._listing = False

    def main(
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        windows_expand_args: bool = True,
        **extra: Any,
    ) -> Any:
        try:
            result = super().main(
                args=args,
                prog_name=prog_name,
                complete_var=complete_var,
                standalone_mode=False,
                windows_expand_args=windows_expand_args,
                **extra,
            )
            code = result if isinstance(result, int) and not isinstance(result, bool) else 0
        except typer.Abort:
            code = report(KeyboardInterrupt())
        except (MurmurError, KeyboardInterrupt) as exc:
            code = report(exc)
        except Exception as exc:  # click's usage errors; else a plugin's command failed outside our handlers
            code = _usage(exc) if _is_click_error(exc) else report(exc)
        if standalone_mode:
            sys.exit(code)
        return code


def _is_click_error(exc: BaseException) -> bool:
    return hasattr(exc, "format_message") and isinstance(getattr(exc, "exit_code", None), int)


def one_line(exc: Exception) -> str:
    """A click usage error as one line: the command, then the message without click's capitals."""
    text = " ".join(str(exc.format_message()).split())  # type: ignore[attr-defined]
    ctx = getattr(exc, "ctx", None)
    where = getattr(ctx, "command_path", "") if ctx is not None else ""
    if text[:1].isupper() and not text[:2].isupper():
        text = text[0].lower() + text[1:]
    text = text.rstrip(".")
    hint = f" (see `{where} --help`)" if where else ""
    return f"{where}: {text}{hint}" if where else text


def _usage(exc: Exception) -> int:
    code = int(getattr(exc, "exit_code", USAGE))
    ctx = getattr(exc, "ctx", None)
    if type(exc).__name__ == "NoArgsIsHelpError" and ctx is not None:  # `murmur` alone: the help
        typer.echo(ctx.get_help())
        return code
    typer.echo(f"murmur: error: {one_line(exc)}", err=True)
    return USAGE if code == USAGE else code
