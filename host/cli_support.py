"""Plumbing shared by the ``router`` subcommands: loading and saving, errors, help examples."""

import os

import click

from .config_store import LoadedConfig, load_config, save_document
from .credentials import has_loose_permissions
from .paths import credentials_path
from .reload_notice import notify_running_proxies

__all__ = ["NotFound", "example", "load", "save", "tell_running_proxies"]


class NotFound(click.ClickException):
    """The named backend, alias or route does not exist (or cannot go: still in use). Exit 1."""

    exit_code = 1


def example(*lines: str) -> str:
    """A help epilog with examples, printed verbatim (``\\b`` stops click from rewrapping it)."""
    return "\b\nExample:\n" + "\n".join(f"  {line}" for line in lines)


def load() -> LoadedConfig:
    """The validated configuration; warns when the credentials file is open to others."""
    loaded = load_config(os.environ)
    path = credentials_path()
    if has_loose_permissions(path):
        click.echo(f"warning: {path} is readable by others; run: chmod 600 '{path}'", err=True)
    return loaded


def save(loaded: LoadedConfig) -> None:
    """Write back ``loaded.document`` after the edits a command made (validated, atomic)."""
    save_document(loaded.path, loaded.document, os.environ)


def tell_running_proxies() -> None:
    """After an edit's own line: whether running proxies picked the change up (they follow the files)."""
    try:
        answers = notify_running_proxies()
    except OSError as exc:  # the edit is done; only the news about proxies is missing
        click.echo(f"cannot tell whether a proxy is running: {exc.strerror or exc}", err=True)
        return
    if answers is None:
        click.echo("no proxy is running; the next `router proxy` or `router shim` uses this configuration")
        return
    for answer in answers:
        click.echo(answer.line())
