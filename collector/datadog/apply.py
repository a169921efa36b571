#!/usr/bin/env python3
"""Create or update the llm-drift-otel Datadog monitors (monitors.json beside this file).

Query monitors are created first; then every `${monitor_id:KEY}` in a composite monitor's query is
replaced by the id of the monitor whose `key` is KEY. Monitors are matched to existing ones by the
tag `llm-drift-key:KEY`, so running it again updates instead of duplicating.

    DD_API_KEY=... DD_APP_KEY=... [DD_SITE=datadoghq.eu] python3 apply.py
    python3 apply.py --dry-run        # print the payloads, ids faked, no network

Standard library only.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
PLACEHOLDER = re.compile(r"\$\{monitor_id:([A-Za-z0-9_]+)\}")


def load(path: Path = HERE / "monitors.json") -> list[dict]:
    return json.loads(path.read_text())["monitors"]


def creation_order(monitors: list[dict]) -> list[dict]:
    """Monitors whose query has no placeholder first, then composites once their parts exist."""
    done: set[str] = set()
    ordered: list[dict] = []
    pending = list(monitors)
    while pending:
        ready = [m for m in pending if set(PLACEHOLDER.findall(m["query"])) <= done]
        if not ready:
            missing = {k for m in pending for k in PLACEHOLDER.findall(m["query"])} - done
            raise ValueError(f"composite monitors reference unknown keys: {sorted(missing)}")
        for monitor in ready:
            ordered.append(monitor)
            done.add(monitor["key"])
            pending.remove(monitor)
    return ordered


def payload(monitor: dict, ids: dict[str, int]) -> dict:
    body = {k: v for k, v in monitor.items() if k != "key"}
    body["query"] = PLACEHOLDER.sub(lambda m: str(ids[m.group(1)]), monitor["query"])
    return body


class Client:
    def __init__(self, site: str, api_key: str, app_key: str) -> None:
        self.base = f"https://api.{site}/api/v1/monitor"
        self.headers = {"DD-API-KEY": api_key, "DD-APPLICATION-KEY": app_key, "Content-Type": "application/json"}

    def _call(self, method: str, url: str, body: dict | None = None):
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(url, data=data, method=method, headers=self.headers)
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 - fixed https URL
            return json.loads(response.read() or b"null")

    def existing(self) -> dict[str, int]:
        found = self._call("GET", f"{self.base}?monitor_tags=managed-by:llm-drift-otel&page_size=1000")
        out = {}
        for monitor in found or []:
            for tag in monitor.get("tags", []):
                if tag.startswith("llm-drift-key:"):
                    out[tag.split(":", 1)[1]] = monitor["id"]
        return out

    def upsert(self, body: dict, monitor_id: int | None) -> int:
        if monitor_id is None:
            return self._call("POST", self.base, body)["id"]
        self._call("PUT", f"{self.base}/{monitor_id}", body)
        return monitor_id


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dry-run", action="store_true", help="print the payloads, no network")
    parser.add_argument("--file", type=Path, default=HERE / "monitors.json")
    args = parser.parse_args(argv)
    monitors = creation_order(load(args.file))
    ids: dict[str, int] = {}
    if args.dry_run:
        bodies = []
        for n, monitor in enumerate(monitors, start=1000):
            bodies.append(payload(monitor, ids))
            ids[monitor["key"]] = n
        json.dump(bodies, sys.stdout, indent=2)
        print()
        return 0
    try:
        client = Client(os.environ.get("DD_SITE", "datadoghq.com"), os.environ["DD_API_KEY"], os.environ["DD_APP_KEY"])
    except KeyError as exc:
        print(f"set {exc.args[0]} (or use --dry-run)", file=sys.stderr)
        return 2
    existing = client.existing()
    for monitor in monitors:
        ids[monitor["key"]] = client.upsert(payload(monitor, ids), existing.get(monitor["key"]))
        print(f"{monitor['key']}: {ids[monitor['key']]}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
