"""The install list in meson.build names every module of the package, and
the package version is the project's."""
import pathlib
import re

import vbpr

from conftest import source_root

PKG = pathlib.Path(vbpr.__file__).resolve().parent
MESON = source_root() / "bindings" / "python" / "meson.build"


def test_meson_installs_every_module():
    listed = set(re.findall(r"'vbpr/(\w+\.py)'", MESON.read_text()))
    present = {p.name for p in PKG.glob("*.py")}
    assert listed == present, (f"missing from meson.build: {sorted(present - listed)}; "
                               f"listed but absent: {sorted(listed - present)}")


def test_package_version_is_the_project_version():
    top = (source_root() / "meson.build").read_text()
    version = re.search(r"version:\s*'([\d.]+)'", top).group(1)
    assert vbpr.__version__ == version


def test_torch_is_not_imported_by_the_package():
    import subprocess
    import sys
    code = "import sys, vbpr; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "False"


def test_install_puts_the_package_where_python3_finds_it(tmp_path):
    """meson install (into a DESTDIR): the package lands in a directory the
    interpreter reads for that prefix, and imports with the installed
    library."""
    import json
    import os
    import shutil
    import subprocess
    import sys
    import pytest

    build = os.environ.get("VBPR_BUILD_ROOT")
    if not build or not shutil.which("meson"):
        pytest.skip("needs VBPR_BUILD_ROOT (set by meson test) and meson")
    dest = tmp_path / "dest"
    subprocess.run(["meson", "install", "-C", build, "--no-rebuild", "--quiet",
                    "--destdir", str(dest)], check=True, capture_output=True, timeout=300)
    inits = list(dest.rglob("vbpr/__init__.py"))
    assert len(inits) == 1, inits
    pkg_dir = inits[0].parent.parent
    installed = {p.name for p in inits[0].parent.glob("*.py")}
    assert installed == {p.name for p in PKG.glob("*.py")}
    libs = list(dest.rglob("libvbpr.so.0"))
    assert libs
    opts = json.loads(subprocess.run(["meson", "introspect", build, "--buildoptions"],
                                     capture_output=True, text=True, check=True).stdout)
    prefix = next(o["value"] for o in opts if o["name"] == "prefix")
    real_dir = "/" + str(pkg_dir.relative_to(dest))
    if prefix in ("/usr", "/usr/local"):
        path = subprocess.run([sys.executable, "-c", "import sys; print('\\n'.join(sys.path))"],
                              capture_output=True, text=True, check=True).stdout.split()
        assert real_dir in path, f"{real_dir} is not on {sys.executable}'s path {path}"
    env = {k: v for k, v in os.environ.items() if k not in ("VBPR_LIBRARY", "PYTHONPATH")}
    # No pkg-config look-up: a libvbpr installed system-wide must not be
    # found before the one just installed into dest.
    env.update(PYTHONPATH=str(pkg_dir), LD_LIBRARY_PATH=str(libs[0].parent),
               PKG_CONFIG_LIBDIR=str(tmp_path / "no-pkgconfig"), PKG_CONFIG_PATH="")
    out = subprocess.run([sys.executable, "-c", "import vbpr; print(vbpr.version()); "
                          "print(vbpr.lib_path)"],
                         capture_output=True, text=True, env=env, cwd=tmp_path, timeout=60)
    assert out.returncode == 0, out.stderr
    version, path = out.stdout.split()
    assert version == vbpr.__version__ and path.startswith(str(dest))
