#!/usr/bin/env python3
"""Health probes for scripts/stack that need more than curl: each sends a real
protocol request and exits 0 only on a valid answer.

  stack_probe.py kafka HOST PORT   Kafka ApiVersions (v0) round trip
  stack_probe.py glue URL          Glue ListRegistries through boto3
"""
import socket
import struct
import sys


def kafka(host, port):
    client_id = b"stack-probe"
    correlation_id = 7
    body = struct.pack(">hhih", 18, 0, correlation_id, len(client_id)) + client_id
    with socket.create_connection((host, int(port)), timeout=3) as sock:
        sock.sendall(struct.pack(">i", len(body)) + body)
        header = _read(sock, 4)
        (size,) = struct.unpack(">i", header)
        response = _read(sock, size)
    got_correlation, error_code, count = struct.unpack_from(">ihi", response)
    if got_correlation != correlation_id or error_code != 0 or count <= 0:
        raise SystemExit(f"bad ApiVersions answer: correlation={got_correlation} error={error_code} apis={count}")
    print(f"kafka: ApiVersions lists {count} APIs")


def _read(sock, n):
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise SystemExit("connection closed")
        data += chunk
    return data


def glue(url):
    import boto3

    client = boto3.client("glue", endpoint_url=url, region_name="us-east-1",
                          aws_access_key_id="local-stack", aws_secret_access_key="local-stack")
    registries = client.list_registries()["Registries"]
    print(f"glue: {len(registries)} registries")


if __name__ == "__main__":
    {"kafka": kafka, "glue": glue}[sys.argv[1]](*sys.argv[2:])
