"""``piu admin``: facilitators' API keys (``key create NAME``, ``key revoke``, ``key list``)."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from api.security import create_key, list_keys, revoke_key
from core.config import Settings, get_settings
from core.db import Database

app = typer.Typer(help="Administration: facilitators' API keys.", no_args_is_help=True)
key_app = typer.Typer(help="Create, revoke and list admin API keys.", no_args_is_help=True)
app.add_typer(key_app, name="key")


def _settings(ctx: typer.Context) -> Settings:
    """Settings given by the caller (``ctx.obj`` or ``ctx.obj['settings']``), else the env."""
    for context in (ctx, *_parents(ctx)):
        obj = context.obj
        if isinstance(obj, Settings):
            return obj
        if isinstance(obj, dict) and isinstance(obj.get("settings"), Settings):
            return obj["settings"]
    return get_settings()


def _parents(ctx: typer.Context) -> list[Any]:
    out: list[Any] = []
    parent = ctx.parent
    while parent is not None:
        out.append(parent)
        parent = parent.parent
    return out


def _db(ctx: typer.Context) -> Database:
    return Database(_settings(ctx).db_url)


@key_app.command("create")
def create(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="who the key is for, e.g. 'incubateur-lyon'")],
) -> None:
    """Create a key; it is printed once and only its hash is stored."""
    db = _db(ctx)
    try:
        with db.session() as session:
            row, key = create_key(session, name=name)
            prefix = row.prefix
    except ValueError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    finally:
        db.dispose()
    typer.echo(key)
    typer.echo(
        f"key {name!r} created (prefix {prefix}); store it now, it cannot be shown again.",
        err=True,
    )


@key_app.command("revoke")
def revoke(
    ctx: typer.Context,
    name_or_prefix: Annotated[str, typer.Argument(help="the key's name or its prefix")],
) -> None:
    """Revoke every active key with this name or prefix."""
    db = _db(ctx)
    try:
        with db.session() as session:
            rows = revoke_key(session, name_or_prefix=name_or_prefix)
            revoked = [(r.name, r.prefix) for r in rows]
    except LookupError as exc:
        typer.echo(f"error: {exc.args[0]}", err=True)
        raise typer.Exit(1) from None
    finally:
        db.dispose()
    for name, prefix in revoked:
        typer.echo(f"revoked {name} ({prefix})")


@key_app.command("list")
def list_(ctx: typer.Context) -> None:
    """Every key: name, prefix, created, revoked."""
    db = _db(ctx)
    try:
        with db.session() as session:
            rows = [(r.name, r.prefix, r.created_at, r.revoked_at) for r in list_keys(session)]
    finally:
        db.dispose()
    if not rows:
        typer.echo("no keys")
        return
    for name, prefix, created, revoked in rows:
        state = f"revoked {revoked:%Y-%m-%d}" if revoked else "active"
        typer.echo(f"{name}\t{prefix}\tcreated {created:%Y-%m-%d}\t{state}")
