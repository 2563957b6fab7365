"""The ridge projection ``T = (X'X + lambda I)^-1 X'`` of a signature matrix."""
from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np
from scipy import linalg

from .kernels.fixed import single_threaded_blas

__all__ = ["Projection", "projection", "DEFAULT_LAMBDA"]

DEFAULT_LAMBDA = 5e5


@dataclass(frozen=True, eq=False)
class Projection:
    """A signature's ridge projection and what the t-test path needs of it.

    Attributes
    ----------
    T : numpy.ndarray
        ``(n_proteins, n_genes)`` projection, C-contiguous float64: ``beta = T @ Y``.
    X : numpy.ndarray
        The ``(n_genes, n_proteins)`` signature it was made from (for residuals).
    xtx_inv_diag : numpy.ndarray
        Diagonal of ``(X'X + lambda I)^-1`` (variance factors of the t-test).
    lambda_ : float
        The ridge penalty.
    """

    T: np.ndarray
    X: np.ndarray = field(repr=False)
    xtx_inv_diag: np.ndarray = field(repr=False)
    lambda_: float

    @property
    def n_proteins(self) -> int:
        return self.T.shape[0]

    @property
    def n_genes(self) -> int:
        return self.T.shape[1]


def _check_lambda(lambda_: float) -> float:
    try:
        lam = float(lambda_)
    except (TypeError, ValueError):
        raise ValueError(f"lambda_ must be a number, got {lambda_!r}") from None
    if not np.isfinite(lam) or lam < 0:
        raise ValueError(f"lambda_ must be a finite number >= 0, got {lambda_!r}")
    return lam


def projection(X: np.ndarray, lambda_: float = DEFAULT_LAMBDA) -> Projection:
    """Ridge projection of a genes x proteins signature, as SecAct computes it.

    ``T = (X'X + lambda I)^-1 X'``, with the inverse taken by Cholesky
    factorisation (``scipy.linalg.cholesky`` then ``cho_solve`` on the
    identity); if the regularised Gram matrix is not positive definite (e.g.
    ``lambda_ = 0`` with collinear proteins) it falls back to
    ``scipy.linalg.pinv`` with a warning, like SecActPy.

    Parameters
    ----------
    X : array_like
        ``(n_genes, n_proteins)`` signature, finite float values.
    lambda_ : float, default 5e5
        Ridge penalty, ``>= 0``.

    Returns
    -------
    Projection

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> X = rng.standard_normal((50, 3))
    >>> P = projection(X, lambda_=1.0)
    >>> P.T.shape
    (3, 50)
    >>> bool(np.allclose(P.T, np.linalg.solve(X.T @ X + np.eye(3), X.T)))
    True
    """
    lam = _check_lambda(lambda_)
    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 2:
        raise ValueError(f"signature X must be 2-D (genes x proteins), got shape {X.shape}")
    if X.shape[0] < 1 or X.shape[1] < 1:
        raise ValueError(f"signature X is empty: shape {X.shape}")
    if not np.isfinite(X).all():
        bad = np.argwhere(~np.isfinite(X))[0]
        raise ValueError(
            f"signature X has non-finite values (first at gene row {bad[0]}, protein column {bad[1]}); "
            "replace NaN/inf before computing activity"
        )
    p = X.shape[1]
    with single_threaded_blas():  # the same bits whatever the BLAS threads of the process
        gram = X.T @ X + lam * np.eye(p, dtype=np.float64)
        try:
            L = linalg.cholesky(gram, lower=True)
            inv = linalg.cho_solve((L, True), np.eye(p, dtype=np.float64))
        except linalg.LinAlgError:
            warnings.warn(
                "Cholesky factorisation of X'X + lambda I failed (not positive definite); "
                "using the pseudo-inverse instead",
                RuntimeWarning,
                stacklevel=2,
            )
            inv = linalg.pinv(gram)
        T = np.ascontiguousarray(inv @ X.T)
    return Projection(T=T, X=X, xtx_inv_diag=np.diag(inv).copy(), lambda_=lam)
