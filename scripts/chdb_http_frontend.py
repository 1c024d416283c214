#!/usr/bin/env python3
"""ClickHouse HTTP interface in front of the chDB engine -- TEST INFRASTRUCTURE ONLY.

Debian ships clickhouse-server 18.16 (no insert_deduplication_token, no KeeperMap,
no is_deleted) and Docker cannot run on the development and CI machines, so the
local stack serves the ClickHouse 26.x engine embedded in PyPI's `chdb-core`
through this small front end. Production runs a real `clickhouse-server` (or
ClickHouse Cloud); nothing in the services knows or cares that this is not one.

What it speaks (the subset of https://clickhouse.com/docs/interfaces/http that
the `clickhouse` Rust crate, curl and the tests use):

* `GET /ping` and `GET /` answer `Ok.`;
* the query in the `query` URL parameter, in the body, or both (concatenated);
* `INSERT ... FORMAT <fmt>` whose data is the (possibly chunked) body, streamed
  into the engine block by block, never buffered whole;
* `decompress=1`: the body is ClickHouse native compressed blocks (LZ4 0x82,
  ZSTD 0x90, none 0x02), each checked against its CityHash128 checksum;
* `database`, `default_format`, `session_id` (+ `session_timeout`,
  `session_check`), `query_id`; every other URL parameter is a setting applied
  to this query only (`param_*` are query parameters);
* errors as HTTP 500 with `X-ClickHouse-Exception-Code` and the engine's text;
  a failed or interrupted INSERT is cancelled, never half-committed;
* HTTP/1.1 keep-alive with TCP_NODELAY;
* with `--tls-port`, the same over HTTPS on a second port (one engine behind
  both), asking for a client certificate signed by `--tls-ca` but not
  requiring one.

Responses are never compressed (`enable_http_compression` is ignored) and
`compress=1` is refused with a clear error rather than answered wrongly.
"""

import argparse
import json
import os
import re
import signal
import socket
import ssl
import struct
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlsplit

from chdb import _chdb

# URL parameters that belong to the HTTP layer rather than to the query's settings.
HTTP_ONLY_PARAMS = {
    "query", "database", "default_format", "session_id", "session_timeout",
    "session_check", "query_id", "decompress", "compress", "user", "password",
    "quota_key", "wait_end_of_query", "buffer_size", "enable_http_compression",
    "send_progress_in_http_headers", "cancel_http_readonly_queries_on_client_close",
    "http_headers_progress_interval_ms", "http_zlib_compression_level",
    "http_native_compression_disable_checksumming_on_decompress",
    "http_wait_end_of_query", "http_response_buffer_size", "role",
}
SETTING_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# `INSERT ... FORMAT Name` followed by nothing (data in the body) or by whitespace and data.
INSERT_WITH_FORMAT = re.compile(
    r"^(?P<stmt>\s*INSERT\s+INTO\b.*?)\bFORMAT\s+(?P<fmt>[A-Za-z0-9_]+)(?:[ \t]*\r?\n|[ \t]+|$)",
    re.IGNORECASE | re.DOTALL,
)
TRAILING_FORMAT = re.compile(r"\bFORMAT\s+([A-Za-z0-9_]+)\s*;?\s*$", re.IGNORECASE)
ERROR_CODE = re.compile(r"Code:\s*(\d+)")

COMPRESSION_NONE, COMPRESSION_LZ4, COMPRESSION_ZSTD = 0x02, 0x82, 0x90
BLOCK_HEADER = 16 + 9  # checksum + method byte + compressed size + decompressed size
MAX_BLOCK = 1 << 30


class QueryError(Exception):
    """An error to report to the client as ClickHouse would (`code` None: a
    failure of the front end itself, reported as a proxy would, without one)."""

    def __init__(self, message, code=1000, status=500):
        super().__init__(message)
        self.code = code
        self.status = status


def engine_error(exc):
    text = str(exc)
    match = ERROR_CODE.search(text)
    return QueryError(text, int(match.group(1)) if match else 1000)


def sql_string(value):
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


class NativeBlockDecoder:
    """Turns a stream of ClickHouse native compressed blocks into plain bytes."""

    def __init__(self):
        import lz4.block
        import zstandard
        from clickhouse_cityhash.cityhash import CityHash128

        self._lz4 = lz4.block
        self._zstd = zstandard.ZstdDecompressor()
        self._cityhash = CityHash128
        self._pending = bytearray()

    def feed(self, chunk):
        self._pending += chunk
        out = []
        while len(self._pending) >= BLOCK_HEADER:
            method = self._pending[16]
            compressed_size, size = struct.unpack_from("<II", self._pending, 17)
            if compressed_size < 9 or compressed_size > MAX_BLOCK or size > MAX_BLOCK:
                raise QueryError(f"Code: 271. DB::Exception: invalid compressed block sizes "
                                 f"{compressed_size}/{size}", 271)
            total = 16 + compressed_size
            if len(self._pending) < total:
                break
            block = bytes(self._pending[16:total])
            # clickhouse-cityhash returns the first stored 64-bit word as the high half.
            first, second = struct.unpack_from("<QQ", self._pending, 0)
            if self._cityhash(block) != (first << 64) | second:
                raise QueryError("Code: 40. DB::Exception: checksum doesn't match: "
                                 "corrupted data in a compressed block", 40)
            payload = block[9:]
            if method == COMPRESSION_LZ4:
                out.append(self._lz4.decompress(payload, uncompressed_size=size))
            elif method == COMPRESSION_ZSTD:
                out.append(self._zstd.decompress(payload, max_output_size=size))
            elif method == COMPRESSION_NONE:
                out.append(payload)
            else:
                raise QueryError(f"Code: 271. DB::Exception: unknown compression method 0x{method:02x}", 271)
            del self._pending[:total]
        return b"".join(out)

    def finish(self):
        if self._pending:
            raise QueryError("Code: 271. DB::Exception: truncated compressed block at end of body", 271)


class Engine:
    """The embedded engine and the sessions that keep a connection between requests."""

    def __init__(self, data_dir, config_file):
        self.connection_string = f"file:{data_dir}?config-file={config_file}"
        self._root = _chdb.connect(self.connection_string)  # keeps the engine alive
        self._sessions = {}
        self._lock = threading.Lock()

    def connect(self):
        return _chdb.connect(self.connection_string)

    def session(self, session_id, timeout, check):
        """Returns (connection, lock) of a session, creating it unless `check`."""
        now = time.monotonic()
        with self._lock:
            for sid, entry in list(self._sessions.items()):
                if entry["expires"] < now and not entry["lock"].locked():
                    entry["conn"].close()
                    del self._sessions[sid]
            entry = self._sessions.get(session_id)
            if entry is None:
                if check:
                    raise QueryError(f"Code: 372. DB::Exception: Session {session_id} not found", 372)
                entry = {"conn": self.connect(), "lock": threading.Lock()}
                self._sessions[session_id] = entry
            entry["expires"] = now + timeout
            return entry["conn"], entry["lock"]


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "chdb-http-frontend"
    engine = None  # set in main()

    def setup(self):
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, fmt, *args):  # quiet by default; errors are logged explicitly
        pass

    # --- body reading -------------------------------------------------------------
    def body_chunks(self):
        """Yields the request body in chunks, de-chunking Transfer-Encoding: chunked."""
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            while True:
                line = self.rfile.readline(65537)
                if not line:
                    raise ConnectionError("client closed the connection mid-body")
                size = int(line.split(b";", 1)[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                        pass
                    return
                remaining = size
                while remaining:
                    piece = self.rfile.read(min(remaining, 1 << 20))
                    if not piece:
                        raise ConnectionError("client closed the connection mid-body")
                    remaining -= len(piece)
                    yield piece
                self.rfile.readline(3)
        else:
            remaining = int(self.headers.get("Content-Length") or 0)
            while remaining:
                piece = self.rfile.read(min(remaining, 1 << 20))
                if not piece:
                    raise ConnectionError("client closed the connection mid-body")
                remaining -= len(piece)
                yield piece

    # --- responses -------------------------------------------------------------
    def respond(self, status, body, headers=()):
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def respond_error(self, err, query_id):
        message = str(err)
        if err.code is not None and not message.startswith("Code:"):
            message = f"Code: {err.code}. DB::Exception: {message}"
        sys.stderr.write(f"[{time.strftime('%H:%M:%S')}] query {query_id} failed: {message[:500]}\n")
        self.close_connection = True
        headers = [("Content-Type", "text/plain; charset=UTF-8"), ("X-ClickHouse-Query-Id", query_id), ("Connection", "close")]
        if err.code is not None:
            headers.append(("X-ClickHouse-Exception-Code", str(err.code)))
        self.respond(err.status, (message.rstrip("\n") + "\n").encode(), headers)

    # --- HTTP verbs ---------------------------------------------------------------
    def do_GET(self):
        self.handle_request()

    def do_POST(self):
        self.handle_request()

    def handle_request(self):
        url = urlsplit(self.path)
        params = dict(parse_qsl(url.query, keep_blank_values=True))
        query_id = params.get("query_id") or str(uuid.uuid4())
        if url.path in ("/ping", "/") and "query" not in params and self.command == "GET":
            self.respond(200, b"Ok.\n", [("Content-Type", "text/plain; charset=UTF-8")])
            return
        if url.path != "/":
            self.respond_error(QueryError(f"There is no handler {url.path}", 1000, 404), query_id)
            return
        try:
            self.execute(params, query_id)
        except QueryError as err:
            self.respond_error(err, query_id)
        except ConnectionError:
            self.close_connection = True
        except Exception as exc:  # the engine raises RuntimeError("Code: N. ...")
            self.respond_error(engine_error(exc), query_id)

    # --- execution ----------------------------------------------------------------
    def execute(self, params, query_id):
        if params.get("compress") == "1":
            raise QueryError("compress=1 (compressed responses) is not supported by the chDB "
                             "test front end; use Accept-Encoding or no compression", 48)
        session_id = params.get("session_id")
        if session_id:
            conn, lock = self.engine.session(
                session_id, float(params.get("session_timeout") or 60), params.get("session_check") == "1")
            if not lock.acquire(blocking=False):
                raise QueryError(f"Code: 373. DB::Exception: Session {session_id} is locked by a "
                                 "concurrent client", 373)
            owned = False
        else:
            conn, lock, owned = self.engine.connect(), None, True
        try:
            self.prepare(conn, params)
            self.run(conn, params, query_id)
        finally:
            if lock is not None:
                lock.release()
            if owned:
                conn.close()

    def prepare(self, conn, params):
        database = params.get("database") or self.headers.get("X-ClickHouse-Database")
        if database:
            conn.query(f"USE `{database.replace('`', '``')}`", "TabSeparated")
        for name, value in params.items():
            if name in HTTP_ONLY_PARAMS:
                continue
            if not SETTING_NAME.match(name):
                raise QueryError(f"Code: 115. DB::Exception: Unknown setting '{name}'", 115)
            conn.query(f"SET {name} = {sql_string(value)}", "TabSeparated")

    def run(self, conn, params, query_id):
        url_query = params.get("query")
        body = self.body_chunks()
        if url_query is not None:
            match = INSERT_WITH_FORMAT.match(url_query)
            if match and not url_query[match.end():].strip():
                self.stream_insert(conn, match.group("stmt"), match.group("fmt"), body, params, query_id)
                return
            text = url_query + "\n" + b"".join(body).decode("utf-8")
        else:
            first = b""
            for chunk in body:  # read until the statement (and its FORMAT) is visible
                first += chunk
                if b"\n" in first or len(first) > 1 << 20:
                    break
            head = first.decode("utf-8", errors="replace")
            match = INSERT_WITH_FORMAT.match(head)
            if match:
                prefix_len = len(head[:match.end()].encode("utf-8"))
                rest = first[prefix_len:]
                chunks = _prepend(rest, body)
                self.stream_insert(conn, match.group("stmt"), match.group("fmt"), chunks, params, query_id)
                return
            text = (first + b"".join(body)).decode("utf-8")
        if not text.strip():
            raise QueryError("Code: 62. DB::Exception: Empty query", 62)
        fmt_match = TRAILING_FORMAT.search(text)
        out_format = fmt_match.group(1) if fmt_match else (
            params.get("default_format") or self.headers.get("X-ClickHouse-Format") or "TabSeparated")
        result = conn.query(text, out_format)
        payload = result.bytes() or b""
        summary = {"read_rows": str(result.rows_read()), "read_bytes": str(result.bytes_read()),
                   "written_rows": "0", "written_bytes": "0", "result_rows": "0",
                   "elapsed_ns": str(int(result.elapsed() * 1e9))}
        self.respond(200, payload, [
            ("Content-Type", "text/plain; charset=UTF-8" if out_format.startswith("Tab") else "application/octet-stream"),
            ("X-ClickHouse-Format", out_format),
            ("X-ClickHouse-Query-Id", query_id),
            ("X-ClickHouse-Summary", json.dumps(summary)),
        ])

    def stream_insert(self, conn, statement, fmt, chunks, params, query_id):
        decoder = NativeBlockDecoder() if params.get("decompress") == "1" else None
        started = int(time.time())
        inserter = conn.send_insert(statement, fmt)
        done = False
        appended = 0
        try:
            for chunk in chunks:
                data = decoder.feed(chunk) if decoder else chunk
                if data:
                    conn.insert_append(inserter, data)
                    appended += len(data)
            if decoder:
                decoder.finish()
            result = conn.insert_done(inserter)
            done = True
            if appended and result.rows_written() == 0:
                # The engine's streaming insert drops an exception raised when
                # the part is committed (TOO_MANY_PARTS, ...) and reports no
                # rows written (a deduplicated insert reports its rows): find
                # the error and answer it as clickhouse-server does.
                failure = _insert_failure(conn, started, statement)
                raise QueryError(*failure) if failure else QueryError(
                    "the engine stored none of the insert's rows and recorded no error naming its "
                    "table (chDB front end); try again", code=None, status=503)
        finally:
            if not done:
                try:
                    conn.insert_cancel(inserter)
                except Exception:
                    pass
        summary = {"read_rows": "0", "read_bytes": "0",
                   "written_rows": str(result.rows_written()),
                   "written_bytes": str(result.bytes_written()), "result_rows": "0",
                   "elapsed_ns": str(int(result.elapsed() * 1e9))}
        self.respond(200, b"", [
            ("Content-Type", "text/plain; charset=UTF-8"),
            ("X-ClickHouse-Query-Id", query_id),
            ("X-ClickHouse-Summary", json.dumps(summary)),
        ])


def _insert_failure(conn, since, statement):
    """(message, code) of the engine's latest error since `since` (seconds)
    that names the statement's table, if any. (An error not naming it may be
    another client's: with clients side by side it is never taken.)"""
    name = r"(?:`((?:[^`]|``)+)`|([A-Za-z0-9_]+))"
    match = re.match(rf"\s*INSERT\s+INTO\s+{name}(?:\s*\.\s*{name})?", statement, re.I)
    # The table is the last part of a qualified name (`db`.`table`).
    parts = [p for p in (match.groups() if match else ()) if p]
    table = parts[-1].replace("``", "`") if parts else ""
    if not table:
        return None
    rows = conn.query(
        "SELECT code, name, last_error_message FROM system.errors "
        f"WHERE last_error_time >= toDateTime({int(since)}) AND position(last_error_message, {sql_string(table)}) > 0 "
        "ORDER BY last_error_time DESC LIMIT 1",
        "TabSeparated").bytes().decode("utf-8", errors="replace").strip()
    if not rows:
        return None
    code, name, message = (rows.split("\t", 2) + ["", ""])[:3]
    return f"Code: {code}. DB::Exception: {message}. ({name})", int(code)


def _prepend(first, rest):
    if first:
        yield first
    yield from rest


class TlsHTTPServer(ThreadingHTTPServer):
    """HTTPS: the handshake happens in the connection's own thread, so a
    client that stalls or fails it never holds up the others."""

    context = None

    def finish_request(self, request, client_address):
        try:
            tls = self.context.wrap_socket(request, server_side=True)
        except (ssl.SSLError, OSError):
            return  # the client refused our certificate, or spoke plain HTTP
        try:
            super().finish_request(tls, client_address)
        finally:
            tls.close()


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8123)
    parser.add_argument("--data-dir", required=True, help="engine data directory (use a fresh one per run)")
    parser.add_argument("--config-file", required=True,
                        help="ClickHouse server config (testkeeper + keeper_map_path_prefix)")
    parser.add_argument("--tls-port", type=int, help="also serve HTTPS on this port")
    parser.add_argument("--tls-cert", help="server certificate chain (PEM), with --tls-port")
    parser.add_argument("--tls-key", help="its private key (PEM)")
    parser.add_argument("--tls-ca", help="CA of the client certificates asked for (optional for clients)")
    args = parser.parse_args()

    os.makedirs(args.data_dir, exist_ok=True)
    Handler.engine = Engine(os.path.abspath(args.data_dir), os.path.abspath(args.config_file))
    servers = [ThreadingHTTPServer((args.host, args.port), Handler)]
    urls = [f"http://{args.host}:{args.port}"]
    if args.tls_port:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(args.tls_cert, args.tls_key)
        if args.tls_ca:
            context.load_verify_locations(args.tls_ca)
            context.verify_mode = ssl.CERT_OPTIONAL
        tls_server = TlsHTTPServer((args.host, args.tls_port), Handler)
        tls_server.context = context
        servers.append(tls_server)
        urls.append(f"https://{args.host}:{args.tls_port}")
    for server in servers:
        server.daemon_threads = True
    signal.signal(signal.SIGTERM, lambda *_: [threading.Thread(target=s.shutdown).start() for s in servers])
    print(f"chdb HTTP front end (engine {_engine_version()}) on {' and '.join(urls)}", flush=True)
    for server in servers[1:]:
        threading.Thread(target=server.serve_forever, daemon=True).start()
    servers[0].serve_forever()


def _engine_version():
    conn = Handler.engine.connect()
    try:
        return conn.query("SELECT version()", "TabSeparated").bytes().decode().strip()
    finally:
        conn.close()


if __name__ == "__main__":
    main()
