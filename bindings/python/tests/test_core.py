import threading

import pytest

import vbpr


def test_version_matches_package():
    assert vbpr.version() == vbpr.__version__
    major, minor, patch = (int(x) for x in vbpr.version().split("."))
    assert vbpr.version_number() == major * 10000 + minor * 100 + patch


def test_threads_round_trip_and_error():
    vbpr.set_num_threads(2)
    assert vbpr.get_num_threads() == 2 and type(vbpr.get_num_threads()) is int
    with pytest.raises(vbpr.InvalidArgumentError, match=str(vbpr.MAX_THREADS)):
        vbpr.set_num_threads(vbpr.MAX_THREADS + 1)
    with pytest.raises(vbpr.InvalidArgumentError):
        vbpr.set_num_threads(1 << 40)     # beyond a C int: refused, not truncated
    with pytest.raises(vbpr.InvalidArgumentError) as info:
        vbpr.set_num_threads(-5)
    assert info.value.status == -1
    assert "vbpr_set_num_threads" in str(info.value) and "-5" in str(info.value)
    assert isinstance(info.value, vbpr.Error) and isinstance(info.value, ValueError)
    vbpr.set_num_threads(0)
    assert vbpr.get_num_threads() >= 1


def test_error_classes_are_distinct():
    classes = [vbpr.InvalidArgumentError, vbpr.OutOfMemoryError, vbpr.IOError,
               vbpr.ParseError, vbpr.OutOfRangeError, vbpr.StateError,
               vbpr.UnsupportedError, vbpr.NumericError, vbpr.InterruptedError]
    statuses = [c.status for c in classes]
    assert statuses == list(range(-1, -10, -1))
    assert all(issubclass(c, vbpr.Error) for c in classes)


def test_modules_are_reported():
    assert vbpr.has_module(vbpr.MODULE_MF) in (True, False)
    assert vbpr.has_module(99) is False


def test_errors_are_per_thread():
    seen = {}

    def worker(bad):
        try:
            vbpr.set_num_threads(bad)
        except vbpr.Error as exc:
            seen[bad] = str(exc)

    threads = [threading.Thread(target=worker, args=(v,)) for v in (-7, 99999)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert "-7" in seen[-7] and "99999" in seen[99999]


# ---- finding the library and checking its version ---------------------------

import os  # noqa: E402
import shutil  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402

PKG_DIR = os.path.dirname(os.path.abspath(vbpr.__file__))


def run_import(pkg_parent, env_updates, code="import vbpr; print(vbpr.lib_path)"):
    env = {k: v for k, v in os.environ.items() if k not in ("VBPR_LIBRARY", "PYTHONPATH")}
    env.update(PYTHONPATH=str(pkg_parent), **env_updates)
    return subprocess.run([sys.executable, "-W", "always", "-c", code], cwd=str(pkg_parent),
                          capture_output=True, text=True, env=env, timeout=60)


def copy_package(tmp_path, version=None):
    dst = tmp_path / "vbpr"
    # the modules only: a wheel's package also holds the library and vbpr-train
    shutil.copytree(PKG_DIR, dst, ignore=shutil.ignore_patterns("__pycache__", "libvbpr.so*",
                                                                "vbpr-train"))
    if version:
        lib_py = dst / "_lib.py"
        lib_py.write_text(lib_py.read_text().replace(
            f'PACKAGE_VERSION = "{vbpr.__version__}"', f'PACKAGE_VERSION = "{version}"'))
    return dst


def test_library_path_is_reported():
    assert os.path.isabs(vbpr.lib_path) and os.path.exists(vbpr.lib_path)
    assert os.path.basename(vbpr.lib_path).startswith("libvbpr.so")


def test_vbpr_library_is_used_alone(tmp_path):
    out = run_import(os.path.dirname(PKG_DIR), {"VBPR_LIBRARY": str(tmp_path / "nope.so")})
    assert out.returncode != 0
    assert "cannot load libvbpr" in out.stderr and "nope.so (absent)" in out.stderr


def test_library_next_to_the_package_is_found(tmp_path):
    pkg = copy_package(tmp_path)
    shutil.copy(vbpr.lib_path, pkg / "libvbpr.so.0")
    out = run_import(tmp_path, {"PKG_CONFIG_PATH": str(tmp_path)})
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == str((pkg / "libvbpr.so.0").resolve())


def test_major_version_mismatch_is_refused(tmp_path):
    copy_package(tmp_path, version="7.0.0")
    out = run_import(tmp_path, {"VBPR_LIBRARY": vbpr.lib_path})
    assert out.returncode != 0
    assert "ImportError" in out.stderr and vbpr.lib_path in out.stderr
    assert "ABIs differ" in out.stderr


def test_before_1_0_a_minor_difference_is_refused(tmp_path):
    """0.x releases break the ABI under the same soname (0.1 -> 0.2 did): a
    0.1 library with the 0.2 package crashed instead of failing to import."""
    major, minor, _ = vbpr.__version__.split(".")
    if major != "0":
        pytest.skip("only before 1.0")
    copy_package(tmp_path, version=f"0.{int(minor) + 1}.0")
    out = run_import(tmp_path, {"VBPR_LIBRARY": vbpr.lib_path})
    assert out.returncode != 0
    assert "ImportError" in out.stderr and "ABIs differ" in out.stderr
    assert f"libvbpr 0.{int(minor) + 1}.x" in out.stderr


def test_patch_difference_warns_with_the_file(tmp_path):
    major, minor, _ = vbpr.__version__.split(".")
    copy_package(tmp_path, version=f"{major}.{minor}.99")
    out = run_import(tmp_path, {"VBPR_LIBRARY": vbpr.lib_path})
    assert out.returncode == 0, out.stderr
    assert "RuntimeWarning" in out.stderr and vbpr.lib_path in out.stderr
    assert f"{major}.{minor}.99" in out.stderr


def test_library_found_through_pkg_config(tmp_path):
    """The pure package finds an installed library through pkg-config's
    libdir of vbpr (the route of `pip install bindings/python`)."""
    if not shutil.which("pkg-config"):
        pytest.skip("no pkg-config")
    libdir = tmp_path / "lib"
    libdir.mkdir()
    shutil.copy(vbpr.lib_path, libdir / "libvbpr.so.0")
    pcdir = tmp_path / "pkgconfig"
    pcdir.mkdir()
    (pcdir / "vbpr.pc").write_text(
        f"libdir={libdir}\nName: libvbpr\nDescription: test\nVersion: "
        f"{vbpr.__version__}\nLibs: -L${{libdir}} -lvbpr\n")
    pkg = tmp_path / "site"
    pkg.mkdir()
    copy_package(pkg)
    out = run_import(pkg, {"PKG_CONFIG_PATH": str(pcdir), "PKG_CONFIG_LIBDIR": str(pcdir)})
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == str((libdir / "libvbpr.so.0").resolve())


def test_missing_library_says_what_to_do(tmp_path):
    pkg = tmp_path / "site"
    pkg.mkdir()
    copy_package(pkg)
    out = run_import(pkg, {"PKG_CONFIG_LIBDIR": str(tmp_path), "PKG_CONFIG_PATH": "",
                           "LD_LIBRARY_PATH": str(tmp_path)},
                     code="import ctypes.util; ctypes.util.find_library = lambda n: None; "
                          "import vbpr")
    if out.returncode == 0:
        pytest.skip("a libvbpr is installed system-wide")
    assert "cannot load libvbpr" in out.stderr
    assert "pip install ." in out.stderr and "VBPR_LIBRARY" in out.stderr
