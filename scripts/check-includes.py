#!/usr/bin/env python3
"""Checks the include rules of docs/architecture.md: every `#include "..."` of the product's
sources points at its own layer or a layer below it, never up.

  scripts/check-includes.py [--root DIR]     exit 0 when every include is allowed, 1 (listing
                                            each wrong arrow) when one is not
  scripts/check-includes.py --self-test      proves that a wrong arrow is caught: builds a small
                                            tree with one, checks that it fails, and that the
                                            same tree without it passes

Three kinds of rule, all in the tables below:
  - libraries: scanner includes only scanner; k8s includes scanner and k8s; the agent all three;
  - the agent's folders (agent/src/<folder>/ and agent/include/podnetstat/agent/<folder>/):
    a file includes "podnetstat/agent/<folder>/..." only for the folders its own may use;
  - the scanner's private folders (scanner/src/<folder>/): a quoted include of a private header
    is resolved against the including file's folder and scanner/src, and must land in a folder
    the including one may use.
Run by ctest (include_rules) in every build."""
import argparse
import os
import re
import sys
import tempfile

# Library -> the libraries its sources may include ("podnetstat/<library>/...").
LIBRARIES = {
    "scanner": {"scanner"},
    "k8s": {"scanner", "k8s"},
    "agent": {"scanner", "k8s", "agent"},
}

# Agent folder -> the agent folders it may include. Top to bottom: cli, api, state, render,
# model; http beside them, used by cli and api only; json under render and http.
AGENT_LAYERS = {
    "cli": {"cli", "api", "http", "state", "render", "model", "json"},
    # The kubectl plugin, a program of its own beside the commands: the list command's netstat
    # flags, the serve command's duration syntax, the tables of the render layer.
    "plugin": {"plugin", "cli", "api", "http", "state", "render", "model", "json"},
    "api": {"api", "http", "state", "render", "model", "json"},
    "http": {"http", "json"},
    "state": {"state", "render", "model"},
    "render": {"render", "model", "json"},
    "model": {"model"},
    "json": {"json"},
}

# Scanner private folder ("" = scanner/src itself) -> the private folders it may include.
SCANNER_LAYERS = {
    "": {"", "steps", "tables", "sys"},
    "steps": {"steps", "tables", "sys"},
    "tables": {"tables", "sys"},
    "sys": {"sys"},
}

INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"')
SOURCE = re.compile(r"\.(h|hpp|cc|cpp)$")


def sources(root, top):
    for directory, _, files in os.walk(os.path.join(root, top)):
        for name in sorted(files):
            if SOURCE.search(name):
                yield os.path.join(directory, name)


def includes(path):
    with open(path, encoding="utf-8", errors="replace") as f:
        for number, line in enumerate(f, 1):
            m = INCLUDE.match(line)
            if m:
                yield number, m.group(1)


def agent_folder(root, path):
    """The agent folder of a file under agent/src/<folder>/ or agent/include/podnetstat/agent/
    <folder>/; None for a file outside every folder."""
    rel = os.path.relpath(path, os.path.join(root, "agent"))
    parts = rel.split(os.sep)
    if parts[0] == "src" and len(parts) > 2:
        return parts[1]
    if parts[:3] == ["include", "podnetstat", "agent"] and len(parts) > 4:
        return parts[3]
    return None


def scanner_folder(root, path):
    rel = os.path.relpath(os.path.dirname(path), os.path.join(root, "scanner", "src"))
    return "" if rel == "." else rel.split(os.sep)[0]


def check(root):
    wrong = []

    def report(path, number, target, why):
        wrong.append("%s:%d: #include \"%s\": %s" % (os.path.relpath(path, root), number, target,
                                                     why))

    for library, allowed in LIBRARIES.items():
        for path in sources(root, library):
            for number, target in includes(path):
                m = re.match(r"podnetstat/([a-z0-9_]+)/", target)
                if m and m.group(1) not in allowed:
                    report(path, number, target, "%s may not include %s" % (library, m.group(1)))

    for path in sources(root, "agent"):
        folder = agent_folder(root, path)
        for number, target in includes(path):
            m = re.match(r"podnetstat/agent/([a-z0-9_]+)/", target)
            if target.startswith("podnetstat/agent/") and not m:
                report(path, number, target, "agent headers live in a layer folder")
            elif m and folder is None:
                report(path, number, target, "the file is in no layer folder")
            elif m and folder not in AGENT_LAYERS:
                report(path, number, target, "unknown agent folder '%s'" % folder)
            elif m and m.group(1) not in AGENT_LAYERS[folder]:
                report(path, number, target, "%s/ may not include %s/ (allowed: %s)" %
                       (folder, m.group(1), ", ".join(sorted(AGENT_LAYERS[folder]))))

    src = os.path.join(root, "scanner", "src")
    for path in sources(root, os.path.join("scanner", "src")):
        folder = scanner_folder(root, path)
        if folder not in SCANNER_LAYERS:
            report(path, 0, "", "unknown scanner folder '%s'" % folder)
            continue
        for number, target in includes(path):
            if target.startswith("podnetstat/"):
                continue
            here = os.path.join(os.path.dirname(path), target)
            found = here if os.path.exists(here) else os.path.join(src, target)
            if not os.path.exists(found):
                report(path, number, target, "no such private header")
                continue
            to = scanner_folder(root, found)
            if to not in SCANNER_LAYERS[folder]:
                report(path, number, target, "scanner/src/%s may not include scanner/src/%s" %
                       (folder or ".", to or "."))
    return wrong


def self_test():
    """A tree with one wrong arrow per kind of rule must fail; without them it must pass."""
    files = {
        "agent/src/render/page.cpp": '#include "podnetstat/agent/model/snapshot.h"\n',
        "agent/include/podnetstat/agent/model/snapshot.h": '#include "podnetstat/k8s/pods.h"\n',
        "scanner/src/steps/step.cpp": '#include "tables/reader.h"\n',
        "scanner/src/tables/reader.h": '#include "podnetstat/scanner/model.h"\n',
        "k8s/src/pods.cpp": '#include "podnetstat/scanner/model.h"\n',
    }
    wrong_arrows = {
        "agent/src/model/snapshot.cpp": '#include "podnetstat/agent/render/page.h"\n',
        "scanner/src/tables/bad.cpp": '#include "steps/step.h"\n',
        "scanner/src/model.cpp": '#include "podnetstat/k8s/pods.h"\n',
        "k8s/src/bad.cpp": '#include "podnetstat/agent/model/snapshot.h"\n',
    }
    ok = True
    for with_wrong in (False, True):
        with tempfile.TemporaryDirectory(prefix="check-includes-") as root:
            tree = dict(files)
            if with_wrong:
                tree.update(wrong_arrows)
            tree["scanner/src/steps/step.h"] = ""
            for rel, text in tree.items():
                path = os.path.join(root, rel)
                os.makedirs(os.path.dirname(path), exist_ok=True)
                with open(path, "w") as f:
                    f.write(text)
            found = check(root)
            if with_wrong and len(found) != len(wrong_arrows):
                print("self-test: expected %d wrong arrows, found %d:" % (len(wrong_arrows),
                                                                         len(found)))
                ok = False
            elif not with_wrong and found:
                print("self-test: a tree with right arrows was refused:")
                ok = False
            for line in found:
                print("  " + line)
    print("self-test: %s" % ("ok" if ok else "FAILED"))
    return 0 if ok else 1


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--root", default=os.path.join(os.path.dirname(__file__), ".."))
    parser.add_argument("--self-test", action="store_true")
    args = parser.parse_args()
    if args.self_test:
        return self_test()
    wrong = check(os.path.abspath(args.root))
    for line in wrong:
        print(line)
    if wrong:
        print("%d include(s) point the wrong way (rules: docs/architecture.md)" % len(wrong))
        return 1
    print("include rules: ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
