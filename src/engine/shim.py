"""Strata's processing-engine runtime: runs InfluxDB 3 plugins in this python3 process.

The server drives it over stdin/stdout with frames (4-byte big-endian length, then UTF-8 JSON). It sends `run`
messages; while a plugin runs, the shim sends `log` and `rpc` messages (queries, synchronous writes, the cache) and
reads each rpc's `reply`; at the end it sends `done` with the buffered writes and, for request plugins, the response.
Plugin output to stdout goes to stderr, so it cannot corrupt the frames.
"""

import base64
import datetime
import importlib.util
import json
import os
import pickle
import re
import struct
import sys
import traceback
import types

_frames_in = sys.stdin.buffer
_frames_out = sys.stdout.buffer
sys.stdout = sys.stderr


def _send(message):
    data = json.dumps(message, default=str).encode("utf-8")
    _frames_out.write(struct.pack(">I", len(data)) + data)
    _frames_out.flush()


def _receive():
    header = _frames_in.read(4)
    if len(header) < 4:
        return None
    (length,) = struct.unpack(">I", header)
    data = _frames_in.read(length)
    if len(data) < length:
        return None
    return json.loads(data.decode("utf-8"))


class QueryError(Exception):
    pass


class WriteError(Exception):
    pass


class InvalidLineError(ValueError):
    pass


def _rpc(op, **fields):
    _send(dict(t="rpc", op=op, **fields))
    reply = _receive()
    if reply is None:
        sys.exit(0)
    if not reply.get("ok"):
        raise (QueryError if op == "query" else WriteError if op == "write_sync" else RuntimeError)(reply.get("error"))
    return reply.get("value")


def _validate_key(key, kind):
    if not isinstance(key, str) or key == "":
        raise InvalidLineError(f"{kind} key cannot be empty")
    for ch, what in ((" ", "spaces"), (",", "commas"), ("=", "equals signs")):
        if ch in key:
            raise InvalidLineError(f"{kind} key '{key}' cannot contain {what}")
    if "\n" in key:
        raise InvalidLineError(f"{kind} key '{key}' cannot contain newlines")


def _escape_measurement(name):
    return name.replace("\\", "\\\\").replace(",", "\\,").replace(" ", "\\ ")


def _escape_tag(value):
    return value.replace("\\", "\\\\").replace(",", "\\,").replace("=", "\\=").replace(" ", "\\ ")


class LineBuilder:
    """Builds one line of line protocol, as InfluxDB 3's LineBuilder does."""

    def __init__(self, measurement):
        if not isinstance(measurement, str) or measurement == "":
            raise InvalidLineError("measurement name cannot be empty")
        if "\n" in measurement:
            raise InvalidLineError("measurement name cannot contain newlines")
        self.measurement = measurement
        self.tags = {}
        self.fields = {}
        self._timestamp_ns = None

    def tag(self, key, value):
        _validate_key(key, "tag")
        value = str(value)
        if value == "":
            raise InvalidLineError(f"tag '{key}' cannot have an empty value")
        if "\n" in value:
            raise InvalidLineError(f"tag '{key}' value cannot contain newlines")
        self.tags[key] = value
        return self

    def int64_field(self, key, value):
        _validate_key(key, "field")
        value = int(value)
        if value < -(2 ** 63) or value > 2 ** 63 - 1:
            raise InvalidLineError(f"int64 field '{key}' out of range: {value}")
        self.fields[key] = f"{value}i"
        return self

    def uint64_field(self, key, value):
        _validate_key(key, "field")
        value = int(value)
        if value < 0:
            raise InvalidLineError(f"uint64 field '{key}' cannot be negative: {value}")
        if value > 2 ** 64 - 1:
            raise InvalidLineError(f"uint64 field '{key}' out of range: {value}")
        self.fields[key] = f"{value}u"
        return self

    def float64_field(self, key, value):
        _validate_key(key, "field")
        value = float(value)
        if value != value or value in (float("inf"), float("-inf")):
            raise InvalidLineError(f"float64 field '{key}' must be finite: {value}")
        self.fields[key] = f"{int(value)}.0" if value.is_integer() else repr(value)
        return self

    def string_field(self, key, value):
        _validate_key(key, "field")
        escaped = str(value).replace("\\", "\\\\").replace('"', '\\"')
        self.fields[key] = f'"{escaped}"'
        return self

    def bool_field(self, key, value):
        _validate_key(key, "field")
        self.fields[key] = "t" if value else "f"
        return self

    def time_ns(self, timestamp_ns):
        self._timestamp_ns = int(timestamp_ns)
        return self

    def build(self):
        if not self.fields:
            raise InvalidLineError(f"at least one field is required: {self.measurement}")
        line = _escape_measurement(self.measurement)
        for k, v in self.tags.items():
            line += f",{_escape_tag(k)}={_escape_tag(v)}"
        line += " " + ",".join(f"{_escape_tag(k)}={v}" for k, v in self.fields.items())
        if self._timestamp_ns is not None:
            line += f" {self._timestamp_ns}"
        return line


def _lp(line_builder):
    if isinstance(line_builder, str):
        return line_builder
    if hasattr(line_builder, "build"):
        return line_builder.build()
    raise TypeError("expected a LineBuilder")


class _Cache:
    def put(self, key, value, ttl=None, use_global=None):
        data = base64.b64encode(pickle.dumps(value)).decode("ascii")
        _rpc("cache_put", key=str(key), value=data, ttl=None if ttl is None else float(ttl), use_global=bool(use_global))

    def get(self, key, default=None, use_global=None):
        data = _rpc("cache_get", key=str(key), use_global=bool(use_global))
        return default if data is None else pickle.loads(base64.b64decode(data))

    def delete(self, key, use_global=None):
        return bool(_rpc("cache_delete", key=str(key), use_global=bool(use_global)))


class _InfluxDB3Local:
    def __init__(self, db):
        self._db = db
        self._writes = []
        self.cache = _Cache()

    def _log(self, level, args):
        _send(dict(t="log", level=level, msg=" ".join(str(a) for a in args)))

    def info(self, *args):
        self._log("INFO", args)

    def warn(self, *args):
        self._log("WARN", args)

    def error(self, *args):
        self._log("ERROR", args)

    def query(self, query, args=None, database=None):
        params = None if args is None else {str(k): str(v) for k, v in dict(args).items()}
        text = _rpc("query", sql=str(query), args=params, db=database or self._db)
        return [_row(json.loads(line)) for line in text.splitlines() if line.strip()]

    def write(self, line_builder):
        self._writes.append((self._db, _lp(line_builder)))

    def write_to_db(self, db_name, line_builder):
        self._writes.append((str(db_name), _lp(line_builder)))

    def write_sync(self, line_builder, no_sync=False):
        _rpc("write_sync", db=self._db, lines=[_lp(line_builder)], no_sync=bool(no_sync))

    def write_sync_to_db(self, db_name, line_builder, no_sync=False):
        _rpc("write_sync", db=str(db_name), lines=[_lp(line_builder)], no_sync=bool(no_sync))


_TIMESTAMP = re.compile(r"^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?$")
_EPOCH = datetime.datetime(1970, 1, 1)


def _row(record):
    """A query answer's row with its timestamps as int ns (the JSON answer writes them as ISO text)."""
    for key, value in record.items():
        if isinstance(value, str):
            m = _TIMESTAMP.match(value)
            if m is not None:
                whole = datetime.datetime(*(int(g) for g in m.groups()[:6]))
                delta = whole - _EPOCH
                seconds = delta.days * 86400 + delta.seconds
                record[key] = seconds * 1_000_000_000 + int((m.group(7) or "0").ljust(9, "0"))
    return record


_modules = {}


def _load(path):
    """The plugin module at `path` (a .py file, or a directory with __init__.py), reloaded when its files change."""
    is_package = os.path.isdir(path)
    entry = os.path.join(path, "__init__.py") if is_package else path
    stamp = os.stat(entry).st_mtime_ns
    if is_package:
        for root, _dirs, files in os.walk(path):
            for f in files:
                if f.endswith(".py"):
                    stamp = max(stamp, os.stat(os.path.join(root, f)).st_mtime_ns)
    cached = _modules.get(path)
    if cached is not None and cached[0] == stamp:
        return cached[1]
    name = "strata_plugin_" + str(abs(hash(path)))
    for loaded in [m for m in sys.modules if m == name or m.startswith(name + ".")]:
        del sys.modules[loaded]
    spec = importlib.util.spec_from_file_location(
        name, entry, submodule_search_locations=[path] if is_package else None
    )
    module = importlib.util.module_from_spec(spec)
    module.LineBuilder = LineBuilder
    sys.modules[name] = module
    spec.loader.exec_module(module)
    _modules[path] = (stamp, module)
    return module


def _response(rv):
    """A request plugin's return value read as Flask reads a view's."""
    status, headers = 200, {}
    if isinstance(rv, tuple):
        if len(rv) == 3:
            body, status, headers = rv
        elif len(rv) == 2:
            body, second = rv
            if isinstance(second, (dict, list)):
                headers = second
            else:
                status = second
        else:
            raise TypeError("The view function did not return a valid response tuple: (body, status, headers), (body, status), or (body, headers)")
    else:
        body = rv
    headers = dict(headers) if isinstance(headers, dict) else {k: v for k, v in headers}
    if hasattr(body, "status_code") and hasattr(body, "get_data"):
        out_headers = {k: v for k, v in body.headers.items()}
        out_headers.update(headers)
        return int(body.status_code), out_headers, body.get_data()
    content_type = "text/html; charset=utf-8"
    if isinstance(body, str):
        data = body.encode("utf-8")
    elif isinstance(body, (bytes, bytearray)):
        data = bytes(body)
    elif isinstance(body, (dict, list)):
        data = (json.dumps(body) + "\n").encode("utf-8")
        content_type = "application/json"
    elif body is None:
        raise TypeError("The view function did not return a valid response: it returned None")
    elif hasattr(body, "__iter__"):
        parts = []
        for part in body:
            if isinstance(part, str):
                parts.append(part.encode("utf-8"))
            elif isinstance(part, (bytes, bytearray)):
                parts.append(bytes(part))
            else:
                raise TypeError(f"The view function returned an iterable of {type(part).__name__}, not str or bytes")
        data = b"".join(parts)
    else:
        raise TypeError(f"The view function did not return a valid response: {type(body).__name__}")
    if not any(k.lower() == "content-type" for k in headers):
        headers["Content-Type"] = content_type
    return int(status), {str(k): str(v) for k, v in headers.items()}, data


def _run(message):
    api = _InfluxDB3Local(message.get("db"))
    args = message.get("args")
    result = dict(t="done", ok=True, error=None, writes=[], response=None)
    try:
        module = _load(message["plugin"])
        kind = message["kind"]
        if kind == "wal":
            module.process_writes(api, message["batches"], args)
        elif kind == "schedule":
            call_time = datetime.datetime.utcfromtimestamp(message["call_time_ms"] / 1000.0)
            module.process_scheduled_call(api, call_time, args)
        elif kind == "request":
            body = base64.b64decode(message.get("body") or "")
            rv = module.process_request(api, message.get("params") or {}, message.get("headers") or {}, body, args)
            status, headers, data = _response(rv)
            result["response"] = dict(status=status, headers=headers, body=base64.b64encode(data).decode("ascii"))
        else:
            raise RuntimeError(f"unknown call kind {kind}")
    except SystemExit:
        raise
    except BaseException as e:  # noqa: BLE001 - every plugin failure is reported, none ends the runtime
        result["ok"] = False
        result["error"] = f"{type(e).__name__}: {e}"
        result["traceback"] = traceback.format_exc()
    result["writes"] = [dict(db=db, line=line) for db, line in api._writes]
    return result


def main():
    sys.path.insert(0, os.getcwd())
    _send(dict(t="ready"))
    while True:
        message = _receive()
        if message is None:
            return
        if message.get("t") == "run":
            _send(_run(message))


# Plugins import these by name as InfluxDB 3's runtime offers them.
_api_module = types.ModuleType("influxdb3_local")
_api_module.LineBuilder = LineBuilder
_api_module.QueryError = QueryError
sys.modules.setdefault("influxdb3_local", _api_module)
import builtins  # noqa: E402

builtins.LineBuilder = LineBuilder

if __name__ == "__main__":
    main()
