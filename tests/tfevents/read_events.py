#!/usr/bin/env python3
"""Reads a TensorBoard event file with Google's protobuf runtime and prints its events as
JSON, one object per record: {"wall_time", "step", "file_version" or "values": {tag:
value}}. Independent of the service's encoder: the messages are parsed by classes that
protoc generated from event.proto beside this file (TensorBoard's field numbers) into the
directory given as the first argument.

usage: read_events.py GENERATED_DIR EVENT_FILE
"""
import json
import struct
import sys

sys.path.insert(0, sys.argv[1])
import event_pb2  # noqa: E402

data = open(sys.argv[2], "rb").read()
out, at = [], 0
while at < len(data):
    if at + 12 > len(data):
        sys.exit(f"a record header is cut at byte {at}")
    (n,) = struct.unpack_from("<Q", data, at)
    body = data[at + 12:at + 12 + n]
    if len(body) != n or at + 16 + n > len(data):
        sys.exit(f"the record at byte {at} is cut")
    at += 16 + n
    e = event_pb2.Event()
    e.ParseFromString(body)
    if e.SerializeToString() != body:    # the bytes are canonical: nothing out of order
        sys.exit(f"record {len(out)} does not serialize back to its bytes")
    if e.UnknownFields() or any(v.UnknownFields() for v in e.summary.value):
        sys.exit(f"record {len(out)} holds fields that TensorBoard does not define here")
    ev = {"wall_time": e.wall_time, "step": e.step}
    kind = e.WhichOneof("what")
    if kind == "file_version":
        ev["file_version"] = e.file_version
    elif kind == "summary":
        ev["values"] = {}
        for v in e.summary.value:
            if v.WhichOneof("value") != "simple_value":
                sys.exit(f"record {len(out)}: tag {v.tag} holds no simple_value")
            ev["values"][v.tag] = v.simple_value
    else:
        sys.exit(f"record {len(out)} holds {kind}")
    out.append(ev)
json.dump(out, sys.stdout)
