//! Small dense helpers: the matrix exponential by scaling and squaring of a Taylor series.

use super::{Result, SynapseError};
use nalgebra::DMatrix;

/// `exp(A)` for a small square matrix.
///
/// The matrix is scaled by `2^-s` so that its 1-norm is ≤ 1/2, the Taylor series is summed to
/// order 20 (truncation error < 0.5^21/21! ≈ 1e-26 relative), and the result is squared `s`
/// times. Non-finite input or output is a [`SynapseError::Numerical`].
pub(crate) fn expm(a: &DMatrix<f64>) -> Result<DMatrix<f64>> {
    let n = a.nrows();
    if n != a.ncols() {
        return Err(SynapseError::InvalidInput(format!(
            "matrix exponential of a non-square {}x{} matrix",
            n,
            a.ncols()
        )));
    }
    let norm1 = (0..n)
        .map(|j| a.column(j).iter().map(|v| v.abs()).sum::<f64>())
        .fold(0.0_f64, f64::max);
    if !norm1.is_finite() {
        return Err(SynapseError::Numerical(
            "matrix exponential of a matrix with non-finite entries".into(),
        ));
    }
    let mut s = 0_i32;
    if norm1 > 0.5 {
        s = (norm1 / 0.5).log2().ceil() as i32;
    }
    let b = a / 2f64.powi(s);
    let mut term = DMatrix::<f64>::identity(n, n);
    let mut sum = term.clone();
    for k in 1..=20 {
        term = &term * &b / k as f64;
        sum += &term;
    }
    for _ in 0..s {
        sum = &sum * &sum;
    }
    if sum.iter().all(|v| v.is_finite()) {
        Ok(sum)
    } else {
        Err(SynapseError::Numerical(format!(
            "matrix exponential overflowed (1-norm {norm1:.3e})"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expm_of_rotation_generator() {
        let w = 3.7;
        let a = DMatrix::from_row_slice(2, 2, &[0.0, -w, w, 0.0]);
        let e = expm(&a).unwrap();
        assert!((e[(0, 0)] - w.cos()).abs() < 1e-13);
        assert!((e[(1, 0)] - w.sin()).abs() < 1e-13);
    }

    #[test]
    fn expm_of_diagonal() {
        let a = DMatrix::from_diagonal(&nalgebra::DVector::from_vec(vec![-40.0, 0.3, 2.0]));
        let e = expm(&a).unwrap();
        for (i, v) in [-40.0f64, 0.3, 2.0].iter().enumerate() {
            assert!((e[(i, i)] / v.exp() - 1.0).abs() < 1e-12);
        }
    }
}
