#!/usr/bin/env python3
"""Keeps every sample of program output in README.md and docs/*.md what the program prints today,
and the README's Layout true to the tree.

A sample sits between two markers:
    <!-- output: SHELL COMMAND [; volatile: REGEX] -->
    ...what the command prints (a fenced block, or Markdown such as a table)...
    <!-- end output -->
The command runs in a fresh temporary folder with tapegrad's build folder first on PATH (so
`tapegrad` is the program just built) and TAPEGRAD_SOURCE set to the source tree.
    readme_outputs.py --tapegrad BUILD/tapegrad            checks (exit 1 and a diff on drift)
    readme_outputs.py --tapegrad BUILD/tapegrad --write    rewrites the samples
In a check, numbers are equal within printing precision (1e-3 relative, or both below 1e-12 in
magnitude: rounding that moves with the CPU's instructions); on lines matching the volatile regex
(timings), any numbers are accepted. All other text must match exactly.
"""
import argparse
import difflib
import glob
import os
import re
import subprocess
import sys
import tempfile

MARK = re.compile(r"<!-- output: (.*?)(?:; volatile: (.*?))? -->\n(.*?)<!-- end output -->\n", re.S)
NUMBER = re.compile(r"[-+]?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][-+]?\d+)?")


def run(command, tapegrad, source):
    env = dict(os.environ)
    env["PATH"] = os.path.dirname(os.path.abspath(tapegrad)) + os.pathsep + env.get("PATH", "")
    env["TAPEGRAD_SOURCE"] = source
    with tempfile.TemporaryDirectory() as tmp:
        done = subprocess.run(["bash", "-c", command], cwd=tmp, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True)
    if done.returncode not in (0, 1):  # tapegrad check exits 1 when it finds a wrong gradient
        sys.exit("readme_outputs: `{}` failed ({}): {}".format(command, done.returncode, done.stderr.strip()))
    return done.stdout


def render(old_body, output):
    """The new body: the output, in a fence if the old body had one."""
    fence = re.match(r"(```\w*)\n", old_body)
    if fence:
        return "{}\n{}```\n".format(fence.group(1), output)
    return output


def numbers_equal(a, b):
    x, y = float(a), float(b)
    if abs(x) < 1e-12 and abs(y) < 1e-12:
        return True
    return abs(x - y) <= 1e-3 * max(abs(x), abs(y))


def lines_equal(want, got, volatile):
    if NUMBER.sub("#", want) != NUMBER.sub("#", got):
        return False
    if volatile and re.search(volatile, want):
        return True
    return all(numbers_equal(a, b) for a, b in zip(NUMBER.findall(want), NUMBER.findall(got)))


def update(path, tapegrad, source, write):
    """Checks (or rewrites) the samples of one file; returns (samples, drifted)."""
    text = open(path).read()
    name = os.path.relpath(path, source)
    drifted = []
    pieces, last = [], 0
    marks = list(MARK.finditer(text))
    for m in marks:
        command, volatile, body = m.group(1), m.group(2), m.group(3)
        new_body = render(body, run(command, tapegrad, source))
        want, got = body.splitlines(), new_body.splitlines()
        if len(want) != len(got) or not all(lines_equal(w, g, volatile) for w, g in zip(want, got)):
            drifted.append(command)
        if command in drifted and not write:
            print("{}: the output of `{}` has drifted:".format(name, command))
            sys.stdout.writelines(line + "\n" for line in difflib.unified_diff(want, got, name, "today", lineterm=""))
        pieces.append(text[last:m.start(3)] + new_body)
        last = m.end(3)
    pieces.append(text[last:])
    if write:
        open(path, "w").write("".join(pieces))
    return len(marks), drifted


def layout_errors(source):
    """What the README's Layout block gets wrong about the tree: a top folder it does not name, a
    folder it names that is not there, a file it names that is nowhere in the tree."""
    text = open(os.path.join(source, "README.md")).read()
    block = text[text.index("## Layout"):]
    block = block[block.index("```") + 4:]
    block = block[:block.index("```")]
    folders, files, errors = [], set(), []
    for line in block.splitlines():
        top = re.match(r"^(\S+/)\s", line)
        sub = re.match(r"^  (\S+/)\s", line)
        if top:
            folders.append(top.group(1))
        elif sub:
            folders.append(folders[-1].split("/")[0] + "/" + sub.group(1))
        files.update(re.findall(r"[\w\-]+\.(?:cpp|hpp|py|sh|md|js|css)\b", line))
    tree = set()
    for root, dirs, names in os.walk(source):
        dirs[:] = [d for d in dirs if not d.startswith(".") and d != "build"]
        tree.update(names)
    for folder in folders:
        if not os.path.isdir(os.path.join(source, folder)):
            errors.append("the Layout names {}, which is not in the tree".format(folder))
    for entry in sorted(os.listdir(source)):
        if os.path.isdir(os.path.join(source, entry)) and not entry.startswith(".") and entry != "build" \
                and entry + "/" not in folders:
            errors.append("the Layout does not name the folder {}/".format(entry))
    for name in sorted(files - tree):
        errors.append("the Layout names {}, which is nowhere in the tree".format(name))
    return errors


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tapegrad", required=True, help="the tapegrad program just built")
    parser.add_argument("--source", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."),
                        help="the source tree: its README.md and docs/*.md are checked")
    parser.add_argument("--write", action="store_true", help="rewrite the samples instead of checking them")
    args = parser.parse_args()
    source = os.path.abspath(args.source)
    paths = [os.path.join(source, "README.md")] + sorted(glob.glob(os.path.join(source, "docs", "*.md")))
    samples, drifted = 0, 0
    for path in paths:
        n, d = update(path, args.tapegrad, source, args.write)
        samples += n
        drifted += len(d)
    if args.write:
        print("readme_outputs: wrote {} samples".format(samples))
        return 0
    layout = layout_errors(source)
    for error in layout:
        print("README.md: " + error)
    if layout and not drifted:
        return 1
    if drifted:
        print("{} of {} samples drifted; regenerate them with: scripts/readme_outputs.py --tapegrad {} --write".format(
            drifted, samples, args.tapegrad))
        return 1
    print("readme_outputs: all {} samples are what the program prints today, and the Layout matches the tree".format(
        samples))
    return 0


if __name__ == "__main__":
    sys.exit(main())
