#!/usr/bin/python3
"""Checks that sluice's sources include one way (docs/architecture.md, "Layers").

Every target sees all of src/ through one include root, so a wrong include
compiles; this check is what makes it fail (ctest: CheckLayers.*, label unit).

  tools/check_layers.py [ROOT]     check ROOT (default: this checkout); exit 1
                                   and one line per violation when any
  tools/check_layers.py --self-test  run the check on small trees built here

Each C++ file under src/, broker/, client/ and tools/ belongs to one layer:
src/<dir>/ is layer <dir>, except src/core/, split like its CMake targets
(sluice_core_types, sluice_core_base, sluice_core; membership read from
src/core/CMakeLists.txt, a header going with its .cc; header-only files in
HEADER_ONLY below, anything else is the engine). Its quoted includes
("core/task.h", or "render.h" beside it) and <sluice/wire/...> (the generated
schema) must name a layer in ALLOWED[its layer]. Its third-party includes must
not start with a prefix in FORBIDDEN_EXTERNAL[its layer].
"""

import os
import re
import sys
import tempfile

SOURCE_DIRS = ("src", "broker", "client", "tools")
SOURCE_EXT = (".h", ".hpp", ".cc", ".cpp")
SRC_LAYERS = ("common", "auth", "core", "store", "wire", "tls", "net")

# Layer -> the layers its files may include (itself included). Mirrors the
# target_link_libraries of each CMake library; docs/architecture.md has the
# same table in words.
ALLOWED = {
    "common": {"common"},
    # Credentials: roles, scopes, token hashing; a leaf over common.
    "auth": {"common", "auth"},
    "core_types": {"common", "core_types"},
    "core_base": {"common", "core_types", "core_base"},
    "core": {"common", "core_types", "core_base", "core"},
    # The store implements core/store.h over RocksDB: the task model and the
    # Store interface, never the engine (sluice_store links sluice_core_types).
    "store": {"common", "core_types", "store"},
    "wire": {"common", "wire"},
    # TLS over Asio sockets (OpenSSL), for the sessions and the client alike.
    "tls": {"common", "tls"},
    # Dragonfly's facade/: the network layer never sees the engine.
    "net": {"common", "wire", "tls", "net"},
    "client": {"common", "wire", "tls", "client"},
    # broker/ wires every layer of the broker; it is no client.
    "broker": {"common", "auth", "core_types", "core_base", "core", "store", "wire", "tls",
               "net",
               "broker"},
    # sluicectl: network commands through the client library; the offline
    # --data-dir mode reads a stopped broker's store and decodes the settings
    # format (core_base); auth hash and new-token hash tokens (auth). Never
    # the engine, the network layer or broker/.
    "sluicectl": {"common", "auth", "wire", "client", "core_types", "core_base", "store",
                  "sluicectl"},
    # sluice-bench (tools/sluice_bench.cc): a client like any other.
    "tools": {"common", "wire", "client", "tools"},
}

# Layer -> third-party include prefixes its files may not use. "The engine
# never links RocksDB and the network layer never includes the engine": RocksDB
# belongs to the store, Asio to the network side (net, client, broker).
# OpenSSL and Asio's SSL part belong to tls alone: the sessions' and the
# client's hot paths compile without them (src/tls/CMakeLists.txt). The one
# exception is auth, which hashes tokens with libcrypto's digests.
_NO_IO = ("rocksdb/", "boost/asio")
_NO_SSL = ("openssl/", "boost/asio/ssl")
FORBIDDEN_EXTERNAL = {
    "common": _NO_IO + _NO_SSL,
    # auth hashes tokens with libcrypto (openssl/evp.h): no sockets, no TLS.
    "auth": _NO_IO,
    "core_types": _NO_IO + _NO_SSL,
    "core_base": _NO_IO + _NO_SSL,
    "core": _NO_IO + _NO_SSL,
    "store": ("boost/asio",) + _NO_SSL,
    "wire": _NO_IO + _NO_SSL,
    "tls": ("rocksdb/",),
    "net": ("rocksdb/",) + _NO_SSL,
    "client": ("rocksdb/",) + _NO_SSL,
    "broker": _NO_SSL,
    "sluicectl": _NO_SSL,
    "tools": _NO_SSL,
}

# src/core headers without a .cc of their own: the target they belong to.
HEADER_ONLY = {
    "core/store.h": "core_types",
    "core/lease_token.h": "core_types",  # defined in task.cc
    "core/task_enums.h": "core_types",  # the enum lists task.h builds on
    "core/drr_park_wheel.h": "core_base",  # scheduler.cc's
    "core/drr_ring_buffer.h": "core_base",
    "core/token_bucket.h": "core_base",
}

# Includes that break a rule on purpose: (file, included) -> reason. Empty:
# the tree follows every rule. Add one only with the reason it cannot be fixed.
EXCEPTIONS = {}

CORE_TARGETS = {"sluice_core_types": "core_types", "sluice_core_base": "core_base",
                "sluice_core": "core"}

INCLUDE_RE = re.compile(r'^\s*#\s*include\s*([<"])([^>"]+)[>"]')


def core_membership(root):
    """src/core/<stem> -> layer, from src/core/CMakeLists.txt's add_library lists."""
    path = os.path.join(root, "src", "core", "CMakeLists.txt")
    members = {}
    try:
        text = open(path, encoding="utf-8").read()
    except OSError:
        return members
    text = re.sub(r"#[^\n]*", "", text)
    for target, body in re.findall(r"add_library\(\s*(\w+)([^)]*)\)", text):
        layer = CORE_TARGETS.get(target)
        if layer is None:
            continue
        for word in body.split():
            if word.endswith(SOURCE_EXT):
                members["core/" + os.path.splitext(word)[0]] = layer
    return members


def layer_of(rel, members):
    """The layer of `rel` (a path relative to the root, '/'-separated), or None."""
    parts = rel.split("/")
    if parts[0] == "src" and len(parts) > 2 and parts[1] in SRC_LAYERS:
        if parts[1] != "core":
            return parts[1]
        name = "/".join(parts[1:])
        if name in HEADER_ONLY:
            return HEADER_ONLY[name]
        return members.get(os.path.splitext(name)[0], "core")
    if parts[0] in ("broker", "client"):
        return parts[0]
    if parts[0] == "tools":
        return "sluicectl" if len(parts) > 2 and parts[1] == "sluicectl" else "tools"
    return None


def resolve(root, rel, included):
    """The file `included` (quoted) names, relative to root, or None if none exists."""
    here = os.path.dirname(rel)
    candidates = [os.path.join(here, included)]
    top = included.split("/")[0]
    if top in SRC_LAYERS:
        candidates.append(os.path.join("src", included))
    candidates.append(included)  # broker/..., client/... from the project root
    candidates.append(os.path.join(rel.split("/")[0], included))  # tools/: "bench/run.h"
    for cand in candidates:
        cand = os.path.normpath(cand)
        if os.path.isfile(os.path.join(root, cand)):
            return cand.replace(os.sep, "/")
    return None


def sources(root):
    for top in SOURCE_DIRS:
        for dirpath, dirnames, filenames in os.walk(os.path.join(root, top)):
            dirnames.sort()
            for name in sorted(filenames):
                if name.endswith(SOURCE_EXT):
                    yield os.path.relpath(os.path.join(dirpath, name), root).replace(os.sep, "/")


def check(root):
    """One message per violation under `root`."""
    members = core_membership(root)
    problems = []
    for rel in sources(root):
        layer = layer_of(rel, members)
        if layer is None:
            continue
        with open(os.path.join(root, rel), encoding="utf-8", errors="replace") as f:
            lines = f.read().splitlines()
        for lineno, line in enumerate(lines, 1):
            m = INCLUDE_RE.match(line)
            if not m:
                continue
            quote, included = m.groups()
            where = f"{rel}:{lineno}"
            if quote == "<":
                if included.startswith("sluice/wire/"):
                    target_layer = "wire"  # the generated schema header
                else:
                    for prefix in FORBIDDEN_EXTERNAL.get(layer, ()):
                        if included.startswith(prefix):
                            problems.append(
                                f"{where}: includes <{included}>, but layer '{layer}' may not "
                                f"use {prefix}* (rule: FORBIDDEN_EXTERNAL['{layer}'])")
                    continue
            else:
                target = resolve(root, rel, included)
                if target is None:
                    problems.append(f'{where}: includes "{included}", which names no file '
                                    f"under {', '.join(SOURCE_DIRS)} (quoted includes are ours)")
                    continue
                target_layer = layer_of(target, members)
                if target_layer is None:
                    problems.append(f'{where}: includes "{included}" ({target}), which is in '
                                    f"no layer")
                    continue
            if target_layer in ALLOWED[layer] or (rel, included) in EXCEPTIONS:
                continue
            allowed = ", ".join(sorted(ALLOWED[layer]))
            problems.append(f'{where}: layer \'{layer}\' includes "{included}" of layer '
                            f"'{target_layer}'; rule: '{layer}' may include only {allowed}")
    return problems


def self_test():
    """The check passes a clean tree and names file, line and rule on a dirty one."""
    def tree(files):
        root = tempfile.mkdtemp(prefix="check_layers.")
        for rel, text in files.items():
            os.makedirs(os.path.join(root, os.path.dirname(rel)), exist_ok=True)
            with open(os.path.join(root, rel), "w", encoding="utf-8") as f:
                f.write(text)
        return root

    base = {
        "src/core/CMakeLists.txt": "add_library(sluice_core_types STATIC task.cc)\n"
                                   "add_library(sluice_core STATIC engine.cc)\n",
        "src/common/status.h": "#pragma once\n",
        "src/core/task.h": '#include "common/status.h"\n',
        "src/core/task.cc": '#include "core/task.h"\n',
        "src/core/store.h": '#include "core/task.h"\n',
        "src/core/engine.h": '#include "core/store.h"\n',
        "src/core/engine.cc": '#include "core/engine.h"\n#include <vector>\n',
        "src/store/rocks_store.h": '#include "core/store.h"\n#include <rocksdb/db.h>\n',
        "tools/sluicectl/main.cc": '#include "table.h"\n',
        "tools/sluicectl/table.h": "#pragma once\n",
    }
    failures = []
    clean = check(tree(base))
    if clean:
        failures.append(f"clean tree reported: {clean}")
    cases = {
        # store -> engine: the rule this check exists for.
        "src/store/rocks_store.cc": ('#include "store/rocks_store.h"\n#include "core/engine.h"\n',
                                     "src/store/rocks_store.cc:2: layer 'store' includes "
                                     "\"core/engine.h\" of layer 'core'"),
        # core_types -> engine, through the split read from CMakeLists.txt.
        "src/core/task.cc": ('#include "core/task.h"\n#include "core/engine.h"\n',
                             "src/core/task.cc:2: layer 'core_types' includes"),
        "src/core/engine.cc": ("#include <rocksdb/db.h>\n",
                               "src/core/engine.cc:1: includes <rocksdb/db.h>, but layer 'core'"),
        "src/wire/codec.cc": ('#include "wire/missing.h"\n',
                              'src/wire/codec.cc:1: includes "wire/missing.h", which names no'),
        "tools/sluicectl/table.cc": ('  #  include "broker/config.h"\n',
                                     "tools/sluicectl/table.cc:1: layer 'sluicectl' includes"),
        # OpenSSL outside src/tls: the hot paths stay free of it.
        "src/net/session.cc": ("#include <boost/asio/ssl/stream.hpp>\n",
                               "src/net/session.cc:1: includes <boost/asio/ssl/stream.hpp>, but "
                               "layer 'net'"),
    }
    for rel, (text, expected) in cases.items():
        files = dict(base)
        files[rel] = text
        files.setdefault("broker/config.h", "#pragma once\n")
        got = check(tree(files))
        if len(got) != 1 or not got[0].startswith(expected):
            failures.append(f"{rel}: expected one problem starting {expected!r}, got {got}")
    for failure in failures:
        print(f"check_layers self-test: {failure}", file=sys.stderr)
    print(f"check_layers self-test: {1 + len(cases) - len(failures)} of {1 + len(cases)} cases "
          f"pass")
    return 1 if failures else 0


def main(argv):
    if argv[1:] == ["--self-test"]:
        return self_test()
    if len(argv) > 2:
        print(__doc__, file=sys.stderr)
        return 2
    root = argv[1] if len(argv) == 2 else os.path.dirname(os.path.dirname(os.path.abspath(
        __file__)))
    problems = check(root)
    for problem in problems:
        print(f"check_layers: {problem}", file=sys.stderr)
    if problems:
        print(f"check_layers: {len(problems)} include(s) against the layers of "
              f"docs/architecture.md; fix the include, or move the code to the layer it "
              f"belongs to", file=sys.stderr)
        return 1
    print(f"check_layers: {sum(1 for _ in sources(root))} files follow the layers")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
