"""Decodes one AWS Glue Schema Registry frame with fastavro, an Avro
implementation independent of ours, and prints the header and the record as
JSON. Exits non-zero if the frame is not header version 3, uncompressed.

usage: fastavro_decode.py FRAME_FILE SCHEMA_JSON_FILE
"""
import io
import json
import sys
import uuid

import fastavro


def main(frame_path, schema_path):
    frame = open(frame_path, "rb").read()
    if frame[0] != 3 or frame[1] != 0:
        sys.exit(f"unexpected header bytes {frame[0]} {frame[1]}")
    version_id = uuid.UUID(bytes=frame[2:18])
    schema = fastavro.parse_schema(json.load(open(schema_path)))
    datum = io.BytesIO(frame[18:])
    record = fastavro.schemaless_reader(datum, schema)
    if datum.read():
        sys.exit("bytes left over after the record")
    # timestamp-millis decodes to a datetime: print it as epoch milliseconds.
    for key, value in list(record.items()):
        if hasattr(value, "timestamp"):
            record[key] = int(round(value.timestamp() * 1000))
    print(json.dumps({"schema_version_id": str(version_id), "record": record}))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
