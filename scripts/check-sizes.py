#!/usr/bin/env python3
"""Reports source files and functions over the project's size limits (no file over 600 lines, no function
over ~100 lines). Exit status 1 when something is over.

  scripts/check-sizes.py workloads engine                # the limits' offenders under these folders
  scripts/check-sizes.py --all workloads/data/preagg.cpp # every function with its length
  scripts/check-sizes.py --max-function 60 workloads     # the next candidates

A brace-counting heuristic, not a parser: comments, string and character literals and preprocessor lines
are blanked, then every `{` at namespace or class scope whose preceding text ends like a function signature
opens a function, counted from the signature's first line to its closing `}` (lambdas and local classes count
toward the function around them). Checked against clang's AST (FunctionDecl source ranges) on workloads/: the
same lengths, except that a template's `template <...>` line is counted.
"""
import argparse
import os
import re
import sys

SOURCE_EXTENSIONS = ('.h', '.hpp', '.cpp', '.cc', '.cu', '.cuh')
KEYWORDS = ('if', 'for', 'while', 'switch', 'catch', 'do', 'else', 'try', 'return')
# `) const noexcept override -> T` and friends at the end of a function head.
SIGNATURE_END = re.compile(r'\)\s*(const|noexcept|override|final|mutable|volatile|&|&&|\s)*(->\s*[\w:<>,\s\*&]+)?\s*$')
# `) : member_(...), other_{...}` (a constructor's initializer list; the last initializer's braces were blanked).
CTOR_INIT = re.compile(r'\)\s*:\s*[\w:]+\s*[\({]', re.S)
SCOPE_HEAD = re.compile(r'\b(namespace|class|struct|union|enum)\b[^()]*$')


def blank(text):
    return re.sub(r'[^\n]', ' ', text)


def strip_code(src):
    """Comments, literals and preprocessor lines replaced by spaces (line numbers kept)."""
    out, i, n = [], 0, len(src)
    while i < n:
        c = src[i]
        if src.startswith('//', i):
            j = src.find('\n', i)
            j = n if j < 0 else j
        elif src.startswith('/*', i):
            j = src.find('*/', i + 2)
            j = n if j < 0 else j + 2
        elif c == 'R' and src.startswith('R"', i) and (m := re.match(r'R"([^()\\\s]{0,16})\(', src[i:])):
            j = src.find(')' + m.group(1) + '"', i + m.end())
            j = n if j < 0 else j + len(m.group(1)) + 2
        elif c == '"' or (c == "'" and not re.search(r"\b[0-9][0-9a-fA-FxXbB']*$", src[max(0, i - 32):i])):
            j = i + 1
            while j < n and src[j] != c and src[j] != '\n':
                j += 2 if src[j] == '\\' else 1
            j = min(j + 1, n)
        else:
            out.append(c)
            i += 1
            continue
        out.append(blank(src[i:j]))
        i = j
    lines, continued = ''.join(out).split('\n'), False
    for k, line in enumerate(lines):
        if continued or line.lstrip().startswith('#'):
            continued = line.rstrip().endswith('\\')
            lines[k] = ' ' * len(line)
    return '\n'.join(lines)


def functions(code):
    """(first line, last line, name) of every function body in the stripped code."""
    found, stack, head_start, in_function = [], [], 0, False
    for i, c in enumerate(code):
        if c == '{':
            head = code[head_start:i]
            h = head.strip()
            kind = 'block'
            if not in_function:
                first_word = re.match(r'[A-Za-z_]\w*', h)
                if SCOPE_HEAD.search(h) or h.startswith('extern'):
                    kind = 'scope'
                elif (h and not (first_word and first_word.group(0) in KEYWORDS) and not h.endswith('=')
                      and (SIGNATURE_END.search(h) or CTOR_INIT.search(h))):
                    kind = 'function'
                    in_function = True
                    start = head_start + len(head) - len(head.lstrip())
                    name = re.sub(r'\s+', ' ', h.split('(')[0]).split(' ')[-1]
                    stack.append(('function', code.count('\n', 0, start) + 1, name))
                    head_start = i + 1
                    continue
            stack.append((kind, 0, ''))
            head_start = i + 1
        elif c == '}':
            if stack:
                kind, first, name = stack.pop()
                if kind == 'function':
                    found.append((first, code.count('\n', 0, i) + 1, name))
                    in_function = False
            head_start = i + 1
        elif c == ';':
            head_start = i + 1
    return found


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('paths', nargs='+', help='files or folders')
    ap.add_argument('--max-file', type=int, default=600, help='lines per file (default 600)')
    ap.add_argument('--max-function', type=int, default=100, help='lines per function (default 100)')
    ap.add_argument('--exclude', action='append', default=[], help='path prefix to skip (repeatable)')
    ap.add_argument('--all', action='store_true', help='list every function with its length')
    a = ap.parse_args()
    files = []
    for p in a.paths:
        if os.path.isdir(p):
            for root, dirs, names in os.walk(p):
                dirs[:] = sorted(d for d in dirs if not d.startswith(('.', 'build')))
                files += [os.path.join(root, f) for f in sorted(names) if f.endswith(SOURCE_EXTENSIONS)]
        else:
            files.append(p)
    excluded = [os.path.normpath(e) for e in a.exclude]
    over = 0
    for f in files:
        if any(os.path.normpath(f).startswith(e) for e in excluded):
            continue
        with open(f, encoding='utf-8', errors='replace') as fh:
            src = fh.read()
        n_lines = src.count('\n') + (0 if src.endswith('\n') or not src else 1)
        if n_lines > a.max_file:
            print(f'{f}: {n_lines} lines (limit {a.max_file})')
            over += 1
        for first, last, name in functions(strip_code(src)):
            length = last - first + 1
            if length > a.max_function:
                over += 1
            if a.all or length > a.max_function:
                print(f'{f}:{first}: {name} {length} lines')
    return 1 if over else 0


if __name__ == '__main__':
    sys.exit(main())
