#!/usr/bin/env python3
"""Fails on an #include under src/ that the layer table of docs/architecture.md does not
allow, and on any include of test code (tests/, support/) from production code.
Usage: layering_test.py SOURCE_DIR"""
import pathlib
import re
import sys

root = pathlib.Path(sys.argv[1])
table = (root / "docs/architecture.md").read_text()
allowed = {}
for line in table.splitlines():
    m = re.match(r"\|\s*`(\w+)`\s*\|(.*)\|\s*$", line)
    if m:
        allowed[m.group(1)] = set(re.findall(r"`(\w+)`", m.group(2)))
if not allowed:
    sys.exit("layering_test: no layer table found in docs/architecture.md")

include = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)
bad = []
files = 0
for path in sorted((root / "src").rglob("*")):
    if path.suffix not in {".h", ".cc", ".cu", ".cuh"}:
        continue
    files += 1
    rel = path.relative_to(root / "src")
    layer = rel.parts[0]
    if layer not in allowed:
        bad.append(f"src/{rel}: folder '{layer}' is not in the layer table")
        continue
    for target in include.findall(path.read_text(errors="replace")):
        parts = pathlib.PurePosixPath(target).parts
        if parts[0] in {"tests", "support"}:
            bad.append(f"src/{rel}: includes test code \"{target}\"")
        elif len(parts) == 1:
            continue  # same-folder include by bare name
        elif parts[0] not in allowed:
            bad.append(f"src/{rel}: includes \"{target}\", outside every layer")
        elif parts[0] not in allowed[layer]:
            bad.append(f"src/{rel}: includes \"{target}\": '{layer}' may include only "
                       f"{', '.join(sorted(allowed[layer]))} (docs/architecture.md)")
for b in bad:
    print(b)
if bad:
    sys.exit(f"layering_test: {len(bad)} include(s) against the layer table")
print(f"layering_test: {files} files, every include within the layer table")
