"""The NumPy / SciPy oracle of tests/pymodule: one layer's FID with outliers='none' (SPEC: α from the
text rows' mean norm, both modalities scaled by it; the Fréchet distance with scipy's sqrtm), in float64."""
import numpy as np


def fid_none(v, t):
    """FID of vision rows v [n, d] and text rows t [m, d] (float64 arrays) under outliers='none'."""
    from scipy import linalg
    alpha = 1.0 / np.linalg.norm(t, axis=1).mean()
    v, t = v * alpha, t * alpha
    cv, ct = np.cov(v, rowvar=False), np.cov(t, rowvar=False)
    s = linalg.sqrtm(cv @ ct).real
    return ((v.mean(0) - t.mean(0)) ** 2).sum() + np.trace(cv) + np.trace(ct) - 2 * np.trace(s)
