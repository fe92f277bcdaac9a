#!/usr/bin/env python3
"""Writes the ```cpp blocks of a Markdown file, in order, to a source file.

Usage: extract_doc_code.py DOC.md OUT.cu
The build compiles OUT so that the code a doc shows is the code that works.
Writes only when the content changes, so builds stay incremental.
"""
import re
import sys


def main():
    doc, out = sys.argv[1], sys.argv[2]
    text = open(doc, encoding="utf-8").read()
    blocks = re.findall(r"^```cpp\n(.*?)^```", text, flags=re.S | re.M)
    if not blocks:
        sys.exit(f"{doc}: no ```cpp blocks found")
    code = f"// Generated from {doc} by tools/extract_doc_code.py; edit the doc, not this file.\n"
    code += "\n".join(blocks)
    try:
        if open(out, encoding="utf-8").read() == code:
            return
    except FileNotFoundError:
        pass
    with open(out, "w", encoding="utf-8") as f:
        f.write(code)


if __name__ == "__main__":
    main()
