"""The cupy backend: the array-namespace kernel on a GPU (skipped without cupy and a device).

Its logic is the ``xp`` kernel, which the CPU suite runs with ``xp = numpy``
(tests/ridge/test_model.py::test_kernels_agree_on_every_batching).
"""
import numpy as np
import pytest

from lazyact.ridge import RidgeModel, projection
from lazyact.ridge.backends import cupy_available, resolve_backend

gpu = pytest.mark.skipif(not cupy_available(), reason="needs cupy and a CUDA device")


def test_auto_backend_without_gpu_is_numpy():
    if not cupy_available():
        assert resolve_backend("auto") == "numpy"
        with pytest.raises(ValueError, match="cupy"):
            resolve_backend("cupy")


@gpu
@pytest.mark.gpu
def test_cupy_equals_numpy():
    rng = np.random.default_rng(0)
    X, Y = rng.standard_normal((300, 12)), rng.standard_normal((300, 9))
    P = projection(X, 5.0)
    ref = RidgeModel(P, n_rand=200, backend="numpy").compute(np.arange(12), Y)
    out = RidgeModel(P, n_rand=200, backend="cupy").compute(np.arange(12), Y)
    for k in ("beta", "se", "zscore"):
        np.testing.assert_allclose(out[k], ref[k], rtol=0, atol=1e-10)
    np.testing.assert_array_equal(out["pvalue"], ref["pvalue"])
