#!/usr/bin/env python3
"""Keeps every sample of program output in README.md what the program prints today.

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


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tapegrad", required=True, help="the tapegrad program just built")
    parser.add_argument("--readme", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "README.md"))
    parser.add_argument("--write", action="store_true", help="rewrite the samples instead of checking them")
    args = parser.parse_args()
    source = os.path.dirname(os.path.abspath(args.readme))
    text = open(args.readme).read()
    drifted = []
    pieces, last = [], 0
    for m in MARK.finditer(text):
        command, volatile, body = m.group(1), m.group(2), m.group(3)
        new_body = render(body, run(command, args.tapegrad, source))
        want, got = body.splitlines(), new_body.splitlines()
        if len(want) != len(got) or not all(lines_equal(w, g, volatile) for w, g in zip(want, got)):
            drifted.append((command, want, got))
        pieces.append(text[last:m.start(3)] + new_body)
        last = m.end(3)
    pieces.append(text[last:])
    if args.write:
        open(args.readme, "w").write("".join(pieces))
        print("readme_outputs: wrote {} samples".format(len(list(MARK.finditer(text)))))
        return 0
    for command, want, got in drifted:
        print("README.md: the output of `{}` has drifted:".format(command))
        sys.stdout.writelines(line + "\n" for line in difflib.unified_diff(want, got, "README.md", "today", lineterm=""))
    if drifted:
        print("{} of {} samples drifted; regenerate them with: scripts/readme_outputs.py --tapegrad {} --write".format(
            len(drifted), len(list(MARK.finditer(text))), args.tapegrad))
        return 1
    print("readme_outputs: all {} samples are what the program prints today".format(len(list(MARK.finditer(text)))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
