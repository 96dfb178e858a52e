"""`digitlab bench serve`: the command; the measurement is digitlab.bench.serve."""

from __future__ import annotations

import typer

from digitlab.bench.serve import PAYLOADS
from digitlab.cli.bench_cmds import app
from digitlab.cli.options import Json, progress_printer
from digitlab.utils.console import out, print_json


@app.command("serve")
def bench_serve(
    concurrency: str = typer.Option("1,8,32", "--concurrency", help="Comma-separated client counts."),
    seconds: float = typer.Option(10.0, "--seconds", min=0.5, help="Measured seconds per concurrency level."),
    warmup: float = typer.Option(2.0, "--warmup", min=0.0, help="Unmeasured seconds of load before each level."),
    payload: str = typer.Option("canvas", "--payload", help=f"One of: {', '.join(PAYLOADS)}."),
    workers: int = typer.Option(1, "--workers", min=1, help="Server processes, as `digitlab serve --workers`."),
    model: str = typer.Option("default", "--model", help="The model the started server serves "
                              "(`default`: the shipped recognizer)."),
    port: int = typer.Option(0, "--port", help="Port of a server already running on 127.0.0.1; "
                             "0 starts one."),
    api_key: str = typer.Option(None, "--api-key", envvar="DIGITLAB_API_KEY", help="For a server that needs one "
                                "(default: $DIGITLAB_API_KEY, else none)."),
    server_args: str = typer.Option("", "--server-args", help="More `digitlab serve` options, e.g. "
                                    "'--runtime torch' (default: none)."),
    json: bool = Json,
) -> None:
    """Single-image POST /v1/recognize at each concurrency: req/s, p50/p99 latency, errors, server memory."""
    from digitlab.bench.serve import measure_serve, parse_levels

    doc = measure_serve(parse_levels(concurrency), seconds, warmup, payload, workers, model, port, api_key,
                        server_args, progress_printer(json))
    if json:
        print_json(doc)
        return
    out.print(f"payload: {PAYLOADS[payload]}; {workers} worker(s)")
    out.print("clients   req/s    p50 ms   p99 ms   errors  5xx  server CPU ms/req  server RSS MB")
    for r in doc["levels"]:
        rss = f"{r.get('rss_start_mb', '-')} -> {r.get('rss_end_mb', '-')}"
        out.print(f"{r['concurrency']:>7} {r['req_per_s']:>7} {r['p50_ms']!s:>9} {r['p99_ms']!s:>8} "
                  f"{r['errors']:>8} {r['status_5xx']:>4} {r.get('server_cpu_ms_per_request', '-')!s:>18}  {rss}")
