"""The shop API: GET /health, GET /items, POST /items?name=...&price_cents=... (stdlib HTTP
server + PyMySQL). The database comes from DATABASE_URL (mysql://user:pass@host:port/db)."""

from __future__ import annotations

import json
import os
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlsplit

import pymysql


def connect() -> pymysql.connections.Connection:
    url = urlsplit(os.environ["DATABASE_URL"])
    return pymysql.connect(
        host=url.hostname,
        port=url.port or 3306,
        user=unquote(url.username or ""),
        password=unquote(url.password or ""),
        database=unquote(url.path.lstrip("/")),
        autocommit=True,
    )


class Handler(BaseHTTPRequestHandler):
    def _send(self, status: int, body: object) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        path = urlsplit(self.path).path
        if path == "/health":
            with connect() as conn, conn.cursor() as cur:
                cur.execute("SELECT 1")
            self._send(200, {"status": "ok"})
        elif path == "/items":
            with connect() as conn, conn.cursor() as cur:
                cur.execute("SELECT id, name, price_cents FROM items ORDER BY id")
                rows = [{"id": i, "name": n, "price_cents": p} for i, n, p in cur.fetchall()]
            self._send(200, rows)
        else:
            self._send(404, {"error": "not found"})

    def do_POST(self) -> None:  # noqa: N802
        url = urlsplit(self.path)
        if url.path != "/items":
            self._send(404, {"error": "not found"})
            return
        query = parse_qs(url.query)
        name, price = query.get("name", [""])[0], int(query.get("price_cents", ["0"])[0])
        with connect() as conn, conn.cursor() as cur:
            cur.execute("INSERT INTO items (name, price_cents) VALUES (%s, %s)", (name, price))
            self._send(201, {"id": cur.lastrowid, "name": name, "price_cents": price})

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        print(format % args, flush=True)


if __name__ == "__main__":
    ThreadingHTTPServer(("0.0.0.0", 80), Handler).serve_forever()
