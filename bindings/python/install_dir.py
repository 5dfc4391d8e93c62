"""Prints where to install the pure-Python package so that this interpreter
finds it: Meson's default when it is on sys.path (e.g. /usr/lib/python3/
dist-packages for prefix /usr), else the interpreter's own packages
directory under the prefix (Debian's python3 reads /usr/local/lib/
python3.X/dist-packages, not Meson's /usr/local/lib/python3/dist-packages),
else Meson's default.

usage: python3 install_dir.py PREFIX MESON_DEFAULT
"""
import os
import sys


def norm(p):
    return os.path.normpath(p)


def main(prefix, default):
    prefix, default = norm(prefix), norm(default)
    paths = [norm(p) for p in sys.path if p]
    if default in paths:
        return default
    for p in paths:
        rel = os.path.relpath(p, prefix)
        if (not rel.startswith("..") and rel.startswith("lib")
                and os.path.basename(p) in ("dist-packages", "site-packages")):
            return p
    return default


if __name__ == "__main__":
    print(main(sys.argv[1], sys.argv[2]))
