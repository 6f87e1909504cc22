#!/usr/bin/python3
"""What the rest of sluice derives from schema/sluice.fbs, the one place a
request is declared.

A request is a table with the attribute `request: "ReplyTable"` that is a member
of `union Body`. From the schema this script writes:

  requests  SCHEMA OUT.h
      An X-macro header (included as <sluice/wire/sluice_requests.h>):
        SLUICE_BROKER_REQUESTS(X)  X(Request, Reply) per request the broker's
                                   dispatcher handles (broker/handler_table.cc
                                   declares HandleRequest for each);
        SLUICE_NOT_HANDLED(X)      X(Body) per other union member (replies,
                                   the session's handshake), so the handler
                                   table's switch lists every member.
      Run by the build (src/wire/CMakeLists.txt) whenever the schema changes.

  protocol-doc SCHEMA DOC [--check]
      Rewrites the request table of DOC (docs/protocol.md) between the markers
      below, one row per request from its `///` comment; with --check, exits 1
      when DOC is not what it would write (a ctest runs this).

The schema is checked on the way: every union member must be a request, the
reply of one, or a table marked `(reply)` (a reply to any request: Error);
every reply named must be a union member; a request table must be in the
union. A violation fails with the table's name and line.

Standard library only; runs with any Python 3.8+.
"""
import re
import sys
from dataclasses import dataclass, field

BEGIN = "<!-- BEGIN generated from schema/sluice.fbs by tools/gen_docs.sh: requests -->"
END = "<!-- END generated: requests -->"


@dataclass
class Table:
    name: str
    line: int
    attrs: dict
    doc: list = field(default_factory=list)
    fields: list = field(default_factory=list)  # names, in order, not deprecated


class SchemaError(Exception):
    pass


def parse_attrs(text):
    attrs = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        key, _, value = part.partition(":")
        attrs[key.strip()] = value.strip().strip('"') if value else True
    return attrs


TABLE_RE = re.compile(r"^table\s+(\w+)\s*(?:\(([^)]*)\))?\s*\{")
FIELD_RE = re.compile(r"^(\w+)\s*:\s*[^;(]+?\s*(?:\(([^)]*)\))?\s*;")


def parse(path):
    """Tables (with their /// doc and field names) and union Body's members."""
    tables, union, doc = {}, None, []
    current = None
    in_union = False

    def union_members(text, number):
        nonlocal in_union
        if "}" in text:
            text, in_union = text.split("}", 1)[0], False
        for name in text.split("//")[0].split(","):
            if name.strip():
                union.append((name.strip(), number))

    def table_fields(text):
        for part in text.split(";"):
            m = FIELD_RE.match(part.strip() + ";")
            if m and "deprecated" not in parse_attrs(m.group(2) or ""):
                current.fields.append(m.group(1))

    with open(path, encoding="utf-8") as f:
        lines = f.read().splitlines()
    for number, raw in enumerate(lines, 1):
        line = raw.strip()
        if line.startswith("///"):
            doc.append(line[3:].strip())
            continue
        if in_union:
            union_members(line, number)
        elif current is not None:
            body = line.split("//")[0]
            table_fields(body.split("}")[0])
            if "}" in body:
                current = None
        elif m := TABLE_RE.match(line):
            current = Table(m.group(1), number, parse_attrs(m.group(2) or ""), doc)
            tables[current.name] = current
            rest = line[m.end():].split("//")[0]
            table_fields(rest.split("}")[0])
            if "}" in rest:
                current = None
        elif m := re.match(r"^union\s+Body\s*\{", line):
            union, in_union = [], True
            union_members(line[m.end():], number)
        doc = []
    if union is None:
        raise SchemaError(f"{path}: no `union Body`")
    return tables, union


def requests_of(path):
    """[(request Table, reply name)] in union order, and the other members."""
    tables, union = parse(path)
    members = [name for name, _ in union]
    requests, replies = [], set()
    for name, number in union:
        table = tables.get(name)
        if table is None:
            raise SchemaError(f"{path}:{number}: union member {name} is not a table")
        reply = table.attrs.get("request")
        if reply is not None:
            if reply is True or reply not in members:
                raise SchemaError(f'{path}:{table.line}: table {name} (request: "{reply}"): '
                                  "the reply must be a table in union Body")
            requests.append((table, reply))
            replies.add(reply)
    for name, number in union:
        if name in replies or "reply" in tables[name].attrs or "request" in tables[name].attrs:
            continue
        raise SchemaError(f"{path}:{tables[name].line}: union member {name} is neither a request "
                          '(request: "Reply"), the reply of one, nor marked (reply)')
    for name, table in tables.items():
        if "request" in table.attrs and name not in members:
            raise SchemaError(f"{path}:{table.line}: request table {name} is not in union Body")
    others = [name for name in members if not any(t.name == name for t, _ in requests)
              or "session" in tables[name].attrs]
    return tables, requests, others


def write_if_changed(path, text):
    try:
        with open(path, encoding="utf-8") as f:
            if f.read() == text:
                return
    except FileNotFoundError:
        pass
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)


def gen_requests(schema, out):
    _, requests, others = requests_of(schema)
    handled = [(t.name, reply) for t, reply in requests if "session" not in t.attrs]
    lines = [
        "// Generated by tools/schema_codegen.py from schema/sluice.fbs: do not edit.",
        "// X(Request, Reply) for each request the broker's dispatcher handles.",
        "#pragma once",
        "",
        "#define SLUICE_BROKER_REQUESTS(X) \\",
    ]
    lines += [f"  X({name}, {reply}) \\" for name, reply in handled]
    lines += ["", "// X(Body) for every other member of union Body (replies, the handshake).",
              "#define SLUICE_NOT_HANDLED(X) \\"]
    lines += [f"  X({name}) \\" for name in others]
    lines += ["", ""]
    write_if_changed(out, "\n".join(lines))


def signature(table, max_fields=None):
    """`Name{field, ...}`; just `Name` past max_fields (the schema has them)."""
    if max_fields is not None and len(table.fields) > max_fields:
        return table.name
    return f"{table.name}{{{', '.join(table.fields)}}}"


def cell(text):
    return text.replace("|", "\\|")


def protocol_rows(schema):
    tables, requests, _ = requests_of(schema)
    rows = ["| Request | Response | Notes |", "| --- | --- | --- |"]
    for table, reply in requests:
        if not table.doc:
            raise SchemaError(f"{schema}:{table.line}: request {table.name} has no /// comment "
                              "(it is the request's entry in docs/protocol.md)")
        rows.append(f"| `{signature(table)}` | `{signature(tables[reply], max_fields=6)}` | "
                    f"{cell(' '.join(table.doc))} |")
    for name, table in tables.items():
        if "reply" in table.attrs:
            rows.append(f"| any | `{signature(table)}` | {cell(' '.join(table.doc))} |")
    return rows


def gen_protocol_doc(schema, doc, check):
    with open(doc, encoding="utf-8") as f:
        text = f.read()
    if BEGIN not in text or END not in text:
        raise SchemaError(f"{doc}: the markers of the generated request table are missing:\n"
                          f"  {BEGIN}\n  {END}")
    head, rest = text.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    new = head + BEGIN + "\n" + "\n".join(protocol_rows(schema)) + "\n" + END + tail
    if check:
        if new != text:
            print(f"{doc} is stale against {schema}: run tools/gen_docs.sh", file=sys.stderr)
            return 1
        return 0
    write_if_changed(doc, new)
    return 0


SELF_TEST_CASES = [
    # (schema body, the error it must give, or None for a valid schema)
    ('/// Doc.\ntable A (request: "AR") { x:int; }\ntable AR { }\ntable E (reply) { }\n'
     "union Body { A, AR, E }", None),
    ('/// Doc.\ntable A (request: "AR") { x:int; }\ntable AR { }\ntable Stray { }\n'
     "union Body { A, AR, Stray }", "union member Stray is neither a request"),
    ('/// Doc.\ntable A (request: "Missing") { }\ntable Missing { }\nunion Body { A }',
     'table A (request: "Missing"): the reply must be a table in union Body'),
    ('/// Doc.\ntable A (request: "AR") { }\ntable AR { }\n/// Doc.\n'
     'table B (request: "AR") { }\nunion Body { A, AR }', "request table B is not in union Body"),
    ('table A (request: "AR") { }\ntable AR { }\nunion Body { A, AR }', "request A has no ///"),
]


def self_test():
    """Each rule above rejects what it must and names it; a valid schema passes."""
    import os
    import tempfile
    failures = 0
    with tempfile.TemporaryDirectory() as d:
        schema, doc, header = (os.path.join(d, n) for n in ("s.fbs", "d.md", "r.h"))
        for body, want in SELF_TEST_CASES:
            with open(schema, "w", encoding="utf-8") as f:
                f.write(body + "\n")
            with open(doc, "w", encoding="utf-8") as f:
                f.write(f"x\n{BEGIN}\n{END}\ny\n")
            try:
                gen_requests(schema, header)
                gen_protocol_doc(schema, doc, check=False)
                got = None
            except SchemaError as e:
                got = str(e)
            ok = (want is None and got is None) or (want is not None and got and want in got)
            if not ok:
                failures += 1
                print(f"FAIL: schema {body!r}: want {want!r}, got {got!r}", file=sys.stderr)
        # The valid schema's outputs: the request with its reply; the doc row; --check.
        with open(schema, "w", encoding="utf-8") as f:
            f.write(SELF_TEST_CASES[0][0] + "\n")
        gen_requests(schema, header)
        gen_protocol_doc(schema, doc, check=False)
        with open(header, encoding="utf-8") as f:
            text = f.read()
        if "X(A, AR)" not in text or "X(AR)" not in text or "X(E)" not in text:
            failures += 1
            print(f"FAIL: generated header:\n{text}", file=sys.stderr)
        with open(doc, encoding="utf-8") as f:
            text = f.read()
        if "| `A{x}` | `AR{}` | Doc. |" not in text or gen_protocol_doc(schema, doc, True) != 0:
            failures += 1
            print(f"FAIL: generated doc:\n{text}", file=sys.stderr)
        with open(doc, "a", encoding="utf-8") as f:
            f.write("edited\n")
        with open(doc, encoding="utf-8") as f:
            text = f.read()
        with open(doc, "w", encoding="utf-8") as f:
            f.write(text.replace("Doc.", "Stale."))
        if gen_protocol_doc(schema, doc, check=True) != 1:
            failures += 1
            print("FAIL: --check accepted a stale doc", file=sys.stderr)
    print("schema_codegen self-test:", "FAILED" if failures else "ok")
    return 1 if failures else 0


def main(argv):
    if argv[1:] == ["--self-test"]:
        return self_test()
    try:
        if len(argv) == 4 and argv[1] == "requests":
            gen_requests(argv[2], argv[3])
            return 0
        if len(argv) in (4, 5) and argv[1] == "protocol-doc":
            return gen_protocol_doc(argv[2], argv[3], argv[4:] == ["--check"])
    except SchemaError as e:
        print(f"schema_codegen: {e}", file=sys.stderr)
        return 1
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
