"""``python -m bench [--quick] [--json PATH] [--only NAME]``: run, print the table, write JSON."""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from pathlib import Path

from . import (
    at_rest,
    build_latency,
    devloop,
    import_file,
    migrator,
    migrator_mariadb,
    ready,
    scale,
    snapshot,
    swarm,
    swarm_lab,
)
from ._proc import REPO, BenchError, compile_bytecode, run
from ._report import Row, markdown, table, write_json
from ._settings import Settings

BENCHMARKS: dict[str, Callable[[Settings], list[Row]]] = {
    "build": build_latency.run_benchmark,
    "scale": scale.run_benchmark,
    "ready": ready.run_benchmark,
    "migrator": migrator.run_benchmark,
    "migrator-mariadb": migrator_mariadb.run_benchmark,
    "swarm": swarm.run_benchmark,
    "swarm-lab": swarm_lab.run_benchmark,
    "import": import_file.run_benchmark,
    "devloop": devloop.run_benchmark,
    "snapshot": snapshot.run_benchmark,
    "at-rest": at_rest.run_benchmark,
}
#: Too long for CI (minutes of 80 containers): run with --only, or in a full run.
NOT_QUICK = frozenset({"at-rest"})


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="few repetitions, small sizes (CI)")
    parser.add_argument("--json", type=Path, default=REPO / "bench" / "results" / "latest.json", help="where to write")
    parser.add_argument("--only", action="append", choices=sorted(BENCHMARKS), help="run only this (repeatable)")
    parser.add_argument("--markdown", action="store_true", help="also print the table as Markdown")
    args = parser.parse_args(argv)

    chosen = args.only or [name for name in BENCHMARKS if not (args.quick and name in NOT_QUICK)]
    started = time.perf_counter()
    rows: list[Row] = []
    errors: list[str] = []
    with tempfile.TemporaryDirectory(prefix="clockwork-bench-") as scratch:
        settings = Settings(quick=args.quick, scratch=Path(scratch))
        settings.extra["bytecode"] = compile_bytecode()  # every benchmark times clockwork as installed
        for name in chosen:
            print(f"== {name}", file=sys.stderr, flush=True)
            t0 = time.perf_counter()
            try:
                rows += BENCHMARKS[name](settings)
            except BenchError as exc:
                errors.append(f"{name}: {exc}")
                rows.append(Row(name, "error", None, note=str(exc).splitlines()[0]))
            except Exception:  # a bug in a benchmark is a real error too: report it, go on
                errors.append(f"{name}: {traceback.format_exc()}")
                rows.append(Row(name, "error", None, note="crashed: see stderr"))
            print(f"   {name} took {time.perf_counter() - t0:.1f} s", file=sys.stderr, flush=True)
    elapsed = time.perf_counter() - started

    meta = {
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "mode": "quick" if args.quick else "full",
        "command": "python -m bench" + (" --quick" if args.quick else ""),
        "duration_s": round(elapsed, 1),
        "machine": _machine(),
        "errors": errors,
        **settings.extra,
    }
    write_json(args.json, rows, meta)
    print(table(rows))
    if args.markdown:
        print()
        print(markdown(rows))
    print(f"\n{meta['mode']} run took {elapsed:.1f} s on {meta['machine']['summary']}; JSON: {args.json}")
    for error in errors:
        print(f"\nERROR {error}", file=sys.stderr)
    return 1 if errors else 0


def _machine() -> dict[str, str]:
    versions = {}
    for key, argv in {
        "docker_engine": ["docker", "version", "--format", "{{.Server.Version}}"],
        "compose": ["docker", "compose", "version", "--short"],
    }.items():
        try:
            probe = run(argv, check=False, timeout=20)
            versions[key] = probe.stdout.strip() if probe.returncode == 0 else "unavailable"
        except OSError:
            versions[key] = "unavailable"
    cpus = os.cpu_count() or 0
    system = f"{platform.system()} {platform.release()}"
    summary = f"{cpus} cores, {system}, Python {platform.python_version()}"
    return {"summary": summary, "cpus": str(cpus), "system": system, "python": platform.python_version(), **versions}


if __name__ == "__main__":
    sys.exit(main())
