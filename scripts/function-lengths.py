#!/usr/bin/env python3
"""Lists the longest functions of the C++ sources under the given folders (default: src tools).

    scripts/function-lengths.py [--max N] [--top K] [FOLDER...]

A function is a brace block whose opening line looks like a definition (a name and a parameter
list, not a control statement or a type). Lambdas count as part of their enclosing function.
With --max N, exits 1 when a function is longer than N lines and the comment just above it does
not say why (a line containing "long:" in the comment block before the definition).
"""
import argparse
import os
import re
import sys

CONTROL = re.compile(r"^\s*(if|for|while|switch|else|do|catch|try|return)\b")
TYPE = re.compile(r"^\s*(template\s*<[^>]*>\s*)?(class|struct|union|enum|namespace)\b")
DEF = re.compile(r"([~\w:<>]+)\s*\([^;]*\)\s*(const)?\s*(noexcept)?\s*(->[^{]*)?(:[^{]*)?\{?\s*$")


def strip(line, state):
    """Removes comments, strings and character literals; state tracks /* */ across lines."""
    out, i = [], 0
    while i < len(line):
        if state["block"]:
            end = line.find("*/", i)
            if end < 0:
                return "".join(out)
            state["block"], i = False, end + 2
            continue
        c = line[i]
        if line.startswith("//", i):
            break
        if line.startswith("/*", i):
            state["block"], i = True, i + 2
            continue
        if c in "\"'":
            j = i + 1
            while j < len(line) and line[j] != c:
                j += 2 if line[j] == "\\" else 1
            out.append(c + c)
            i = j + 1
            continue
        out.append(c)
        i += 1
    return "".join(out)


def functions(path):
    with open(path, encoding="utf-8", errors="replace") as f:
        raw = f.read().split("\n")
    state = {"block": False}
    code = [strip(l, state) for l in raw]
    found, depth, i = [], 0, 0
    stack = []  # (depth at open, start line, name) of open function bodies
    for n, line in enumerate(code):
        for k, ch in enumerate(line):
            if ch == "{":
                if not stack:
                    # the definition's head: this line up to the brace, with the lines above it
                    # back to the last ; { or } (a signature may span lines)
                    head = line[:k]
                    m = n - 1
                    while m >= 0 and code[m].strip() and not code[m].lstrip().startswith("#") \
                            and not re.search(r"[;{}]\s*$", code[m]) and n - m < 8:
                        head = code[m] + " " + head
                        m -= 1
                    h = head.strip()
                    if h and not CONTROL.match(h) and not TYPE.match(h) and "=" not in h.split("(")[0] \
                            and re.search(r"[\w>]\s*\([^()]*(\([^()]*\)[^()]*)*\)\s*(const)?\s*(noexcept)?\s*(override)?\s*(->\s*[\w:<>]+)?\s*(:.*)?$", h):
                        name = re.findall(r"([~\w:]+)\s*\(", h)
                        stack.append((depth, m + 2, name[0] if name else "?"))
                depth += 1
            elif ch == "}":
                depth -= 1
                if stack and stack[-1][0] == depth:
                    d, start, name = stack.pop()
                    found.append((n + 1 - start + 1, name, start, n + 1, raw))
    return found


def has_reason(raw, start):
    """Whether the comment block just above line `start` (1-based) says why the function is long."""
    i = start - 2
    while i >= 0 and raw[i].strip().startswith(("//", "template", "///")):
        if "long:" in raw[i]:
            return True
        i -= 1
    return False


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--max", type=int, default=0)
    ap.add_argument("--top", type=int, default=10)
    ap.add_argument("folders", nargs="*", default=["src", "tools"])
    a = ap.parse_args()
    rows = []
    for folder in a.folders:
        for root, _, files in os.walk(folder):
            for name in files:
                if name.endswith((".cpp", ".h", ".cc", ".hpp")):
                    p = os.path.join(root, name)
                    rows += [(length, fn, p, s, e, raw) for length, fn, s, e, raw in functions(p)]
    rows.sort(key=lambda r: -r[0])
    for length, fn, p, s, e, _ in rows[: a.top]:
        print(f"{length:5d}  {p}:{s}-{e}  {fn}")
    if a.max:
        bad = [r for r in rows if r[0] > a.max and not has_reason(r[5], r[3])]
        for length, fn, p, s, e, _ in bad:
            print(f"function-lengths: {p}:{s}: {fn} is {length} lines (over {a.max}, and no 'long:' comment says why)",
                  file=sys.stderr)
        return 1 if bad else 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
