"""The ``piu`` console script: one Typer app whose sub-commands are thin wrappers."""

from __future__ import annotations

import logging
import os

import typer

from cli import index_cmd, init_cmd, search
from devtools import bench

# Weights are never fetched from a hub at run time; a deployment that wants a hub
# model sets HF_HUB_OFFLINE=0 explicitly.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

app = typer.Typer(
    name="piu",
    help="PIU — Place de l'Innovation Urbaine: matchmaking between collectivités and innovators.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)


@app.callback()
def _main(verbose: bool = typer.Option(False, "--verbose", "-v")) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    for noisy in ("httpx", "sentence_transformers", "faiss", "bm25s", "alembic"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


app.command()(init_cmd.init)
app.command()(search.search)
app.command()(search.rank)
app.add_typer(index_cmd.app, name="index")
app.add_typer(bench.app, name="bench")


def _register_optional() -> None:
    """Sub-commands owned by the other packages (model, ingest, chat, bot, serve, ...)."""
    from cli import admin, bot, chat, digest, followups, ingest, model, privacy, serve

    app.add_typer(model.app, name="model")
    app.add_typer(ingest.app, name="ingest")
    app.add_typer(admin.app, name="admin")
    app.add_typer(digest.app, name="digest")
    app.add_typer(followups.app, name="followups")
    app.add_typer(chat.app, name="chat")
    app.add_typer(bot.app, name="bot")
    app.add_typer(privacy.app, name="privacy")
    app.command(name="serve")(serve.serve)


_register_optional()

if __name__ == "__main__":
    app()
