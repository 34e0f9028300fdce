"""``piu bench``: benchmarks that print figures (quality, speed). Nothing here is a test."""

from __future__ import annotations

import typer

from devtools.bench import digest, extraction, load, peers, retrieval

app = typer.Typer(help="Benchmarks: retrieval quality, speed, peers, digest.", no_args_is_help=True)
app.command()(retrieval.retrieval)
app.command()(retrieval.tune)
app.command()(retrieval.gap)
app.command()(retrieval.speed)
app.command()(extraction.extraction)
app.command(name="peers")(peers.bench_peers)
app.command(name="digest")(digest.bench_digest)
app.command(name="digest-threshold")(digest.bench_digest_threshold)
app.command(name="load")(load.bench_load)
