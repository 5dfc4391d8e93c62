"""The vbpr-train command of a pip installation: runs the program that a
wheel built from the source root (`pip install .`) carries inside the
package, beside the library it loads.

    vbpr-train --train train.tsv --test test.tsv ...   (see vbpr-train --help)
"""
import os
import sys

__all__ = ["main", "program"]


def program():
    """The path of the vbpr-train carried by this installation, or None."""
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "vbpr-train")
    return path if os.access(path, os.X_OK) else None


def main(argv=None):
    exe = program()
    if exe is None:
        sys.exit("vbpr-train: this installation of the vbpr package has no vbpr-train "
                 "(the pure package of bindings/python); install libvbpr with "
                 "`meson install`, or install the package with `pip install .` from the "
                 "libvbpr source root, which builds it in")
    here = os.path.dirname(exe)
    env = dict(os.environ)
    # the library beside it, before any other libvbpr
    env["LD_LIBRARY_PATH"] = os.pathsep.join(
        p for p in (here, env.get("LD_LIBRARY_PATH", "")) if p)
    args = sys.argv[1:] if argv is None else list(argv)
    os.execve(exe, [exe] + args, env)


if __name__ == "__main__":
    main()
