"""Reading ctdump's JSON event stream (docs/json-events.md) in tests.

`--output-format json` writes one JSON object per line; every command but
backup ends with a `result` event whose "data" is its answer (the document
list, df, status, ... printed before the stream was versioned), or with an
`error` event."""
import json
import os

SCHEMA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "docs",
                      "json-events.schema.json")


def events(stdout):
    """Every line of `stdout` (str or bytes) as an event; a line that is not
    a JSON object fails."""
    if isinstance(stdout, bytes):
        stdout = stdout.decode("utf-8")
    out = []
    for line in stdout.splitlines():
        e = json.loads(line)
        if not isinstance(e, dict) or "event" not in e:
            raise AssertionError("not an event: %r" % line)
        out.append(e)
    return out


def last(stdout):
    """The terminal event: the last line."""
    evs = events(stdout)
    if not evs:
        raise AssertionError("no events on stdout")
    return evs[-1]


def result(stdout):
    """The "data" of the result event that ends `stdout`."""
    e = last(stdout)
    if e["event"] != "result":
        raise AssertionError("the last event is not a result: %r" % e)
    return e["data"]


def validator():
    """A jsonschema validator of docs/json-events.schema.json (Debian's
    python3-jsonschema: run under /usr/bin/python3)."""
    import jsonschema
    with open(SCHEMA) as f:
        schema = json.load(f)
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)
