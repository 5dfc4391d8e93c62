"""Shared fixtures of the Python test suite."""
import os
import pathlib

import numpy as np
import pytest

import vbpr

HERE = pathlib.Path(__file__).resolve().parent


def source_root():
    """The project root: $VBPR_SOURCE_ROOT, else three levels above this file."""
    env = os.environ.get("VBPR_SOURCE_ROOT")
    return pathlib.Path(env) if env else HERE.parents[2]


def data_dir(name):
    """A real data set under $VBPR_DATA_DIR (or ../shared/data beside the
    project): skipped when absent, a failure when CI=true."""
    base = os.environ.get("VBPR_DATA_DIR") or str(source_root().parent / "shared" / "data")
    path = pathlib.Path(base) / name
    if not path.is_dir():
        msg = f"data set {name} not found under {base} (set VBPR_DATA_DIR)"
        if os.environ.get("CI") == "true":
            pytest.fail(msg)
        pytest.skip(msg)
    return path


needs_mf = pytest.mark.skipif(not vbpr.has_module(vbpr.Module.MF),
                              reason="library built without the mf module")
needs_lightgcn = pytest.mark.skipif(not vbpr.has_module(vbpr.Module.LIGHTGCN),
                                    reason="library built without the lightgcn module")


@pytest.fixture
def rng():
    return np.random.default_rng(12345)


@pytest.fixture(scope="session")
def small_data():
    """A small synthetic (train, test) pair."""
    return vbpr.synthetic(num_users=60, num_items=90, mean_preferences=12, seed=5)


@pytest.fixture(autouse=True)
def _threads():
    """Tests start from the default thread setting and leave it there."""
    yield
    vbpr.set_num_threads(0)
