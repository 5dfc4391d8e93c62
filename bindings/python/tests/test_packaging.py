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


# ---- pip: the two routes of doc/python.md ("Installing") ---------------------------

def _pyproject(path):
    tomllib = __import__("pytest").importorskip("tomllib")
    return tomllib.loads(path.read_text())


def test_both_pyprojects_describe_one_distribution():
    """`pip install .` from the root (meson-python, the library built in) and
    from bindings/python (the pure package) install the same distribution."""
    root = _pyproject(source_root() / "pyproject.toml")
    pure = _pyproject(source_root() / "bindings" / "python" / "pyproject.toml")
    assert root["build-system"]["build-backend"] == "mesonpy"
    assert pure["build-system"]["build-backend"] == "setuptools.build_meta"
    for key in ("name", "dependencies", "requires-python", "optional-dependencies"):
        assert root["project"][key] == pure["project"][key], key
    assert root["project"]["dynamic"] == pure["project"]["dynamic"] == ["version"]
    assert pure["tool"]["setuptools"]["dynamic"]["version"]["attr"] == \
        "vbpr._lib.PACKAGE_VERSION"
    setup = root["tool"]["meson-python"]["args"]["setup"]
    assert "-Dwheel=true" in setup and "-Dtests=false" in setup
    options = (source_root() / "meson_options.txt").read_text()
    assert "option('wheel'" in options


def test_pure_package_wheel_builds_offline(tmp_path):
    """The pure route's wheel, built as pip builds it offline, holds every
    module of the package and nothing else (no tests, no library)."""
    import shutil
    import subprocess
    import sys
    import zipfile
    import pytest

    import importlib.util
    for mod in ("pip", "setuptools", "wheel"):      # looked up, not imported here
        if importlib.util.find_spec(mod) is None:
            pytest.skip(f"no {mod} for this interpreter")
    src = tmp_path / "src"
    shutil.copytree(source_root() / "bindings" / "python", src,
                    ignore=shutil.ignore_patterns("__pycache__", "build", "*.egg-info",
                                                  "tests", "*.so*"))
    out = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-build-isolation",
                          "--no-index", "--no-deps", "-w", str(tmp_path / "dist"), str(src)],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stdout + out.stderr
    wheel, = (tmp_path / "dist").glob("vbpr-*.whl")
    assert wheel.name.startswith(f"vbpr-{vbpr.__version__}-py3-none-any")
    names = zipfile.ZipFile(wheel).namelist()
    modules = {n.split("/", 1)[1] for n in names if n.startswith("vbpr/")}
    assert modules == {p.name for p in PKG.glob("*.py")}
