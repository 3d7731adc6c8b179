//! Sparse SPD solves with a fixed pattern: the symbolic Cholesky analysis (fill-reducing ordering,
//! elimination tree, column structure) is done once per topology and shared (`Arc`) by every
//! solver on that pattern; every right-hand-side evaluation only refactors the numerical values
//! in preallocated buffers.
//!
//! Orderings: faer's approximate minimum degree (AMD) or METIS nested dissection (vendored
//! `metis-sys` build). [`OrderingChoice::Auto`] keeps AMD below [`ND_MIN_DOFS`] free DOFs and
//! above it takes whichever of the two gives the factor with fewer entries (the triangular solves
//! that dominate a run stream the factor once per solve), from the exact column counts of both
//! (no numerical work, no timing: the choice is deterministic). The factor is simplicial
//! (column by column) or supernodal (dense blocks) by [`FactorChoice`] (simplicial unless asked
//! otherwise: see [`FactorChoice::Auto`]).

use faer::dyn_stack::{MemBuffer, MemStack, StackReq};
use faer::linalg::cholesky::llt::factor::LltError;
use faer::perm::PermRef;
use faer::sparse::linalg::cholesky::{
    factorize_symbolic_cholesky, simplicial, CholeskySymbolicParams, LltRef, SymbolicCholesky,
    SymbolicCholeskyRaw, SymmetricOrdering,
};
use faer::sparse::linalg::SupernodalThreshold;
use faer::sparse::{SparseColMatRef, SymbolicSparseColMatRef};
use faer::{Conj, MatMut, Par, Side};
use serde::Serialize;
use std::sync::atomic::{AtomicU8, Ordering as AtomicOrdering};
use std::sync::{Arc, Mutex};

/// Failure of the linear solve.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum LinSolveError {
    /// The matrix is not numerically positive definite; `dof` is the (unpermuted) index of the
    /// degree of freedom whose pivot failed.
    #[error("matrix not positive definite (pivot of free DOF {dof} failed)")]
    NotPositiveDefinite { dof: usize },
    #[error("symbolic analysis failed: {0}")]
    Symbolic(String),
}

/// Fill-reducing ordering of the symbolic analysis.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum OrderingChoice {
    /// AMD below [`ND_MIN_DOFS`]; above, the ordering with the smaller factor.
    #[default]
    Auto,
    /// Approximate minimum degree (faer).
    Amd,
    /// Nested dissection (METIS `METIS_NodeND`, fixed seed).
    NestedDissection,
}

/// Storage of the Cholesky factor.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FactorChoice {
    /// Simplicial: measured the faster for the single-vector solves that dominate every run
    /// (`physlearn bench lattice-solver`: on lattice-64…512, under AMD or nested dissection,
    /// the simplicial solve pair takes about half the time of the own supernodal one and a
    /// quarter to a third of faer's supernodal solve; the supernodal factorisation is 3–5×
    /// faster, which pays only below ~100 solves per factorisation, while the dynamics reuse
    /// one factor for hundreds).
    #[default]
    Auto,
    /// Column by column (sparse columns; one pass over `L` per triangular solve).
    Simplicial,
    /// Supernodes of columns sharing a pattern, stored as dense blocks.
    Supernodal,
}

/// Options of the symbolic analysis.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct SpdOptions {
    pub ordering: OrderingChoice,
    pub factor: FactorChoice,
}

/// Below this many unknowns the ordering is AMD (nested dissection only pays on large meshes,
/// and small networks keep the factor they always had).
pub const ND_MIN_DOFS: usize = 4096;

/// Process-wide options used by [`SpdSolver::new`] (benchmarks compare orderings through it).
static DEFAULT_OPTIONS: AtomicU8 = AtomicU8::new(0);

impl SpdOptions {
    fn encode(self) -> u8 {
        let o = match self.ordering {
            OrderingChoice::Auto => 0,
            OrderingChoice::Amd => 1,
            OrderingChoice::NestedDissection => 2,
        };
        let f = match self.factor {
            FactorChoice::Auto => 0,
            FactorChoice::Simplicial => 1,
            FactorChoice::Supernodal => 2,
        };
        o | (f << 2)
    }
    fn decode(b: u8) -> Self {
        SpdOptions {
            ordering: match b & 3 {
                1 => OrderingChoice::Amd,
                2 => OrderingChoice::NestedDissection,
                _ => OrderingChoice::Auto,
            },
            factor: match (b >> 2) & 3 {
                1 => FactorChoice::Simplicial,
                2 => FactorChoice::Supernodal,
                _ => FactorChoice::Auto,
            },
        }
    }
}

/// Set the options of every later symbolic analysis in this process (default: both `Auto`).
/// Meant for benchmarks and experiments; results depend on them only through round-off.
pub fn set_default_options(o: SpdOptions) {
    DEFAULT_OPTIONS.store(o.encode(), AtomicOrdering::Relaxed);
}

/// The options [`SpdSolver::new`] uses.
pub fn default_options() -> SpdOptions {
    SpdOptions::decode(DEFAULT_OPTIONS.load(AtomicOrdering::Relaxed))
}

/// What the symbolic analysis chose and what the factor costs (bench.json `factor`).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct FactorInfo {
    /// Unknowns.
    pub n: usize,
    /// Entries of the lower triangle of `A` (its pattern).
    pub nnz_a: usize,
    /// The ordering used (`amd` or `nested_dissection`).
    pub ordering: OrderingChoice,
    /// The factor storage used (`simplicial` or `supernodal`).
    pub factor: FactorChoice,
    /// Structural entries of `L` under the ordering used (the simplicial count).
    pub nnz_l: usize,
    /// Entries of `L` under AMD and under nested dissection, when evaluated.
    pub nnz_l_amd: Option<usize>,
    pub nnz_l_nd: Option<usize>,
    /// Multiply-adds of one numerical factorisation, `Σ_j c_j²` (c_j: entries of column j).
    pub factor_flops: f64,
    /// Supernodes of the supernodal structure (when supernodal).
    pub supernodes: Option<usize>,
    /// Stored values of `L` (supernodal blocks store their upper triangles too).
    pub l_values: usize,
    /// Bytes of the shared symbolic structure (pattern of `A`, structure of `L`, permutation).
    pub symbolic_bytes: usize,
    /// Bytes of the numerical state of one solver (values of `A` and `L`, workspaces).
    pub numeric_bytes: usize,
    /// Wall time of the ordering and symbolic analysis (seconds; not deterministic).
    pub analysis_seconds: f64,
}

/// The symbolic analysis of one pattern, shared (`Arc`) by every [`SpdSolver`] on it.
pub struct SpdAnalysis {
    n: usize,
    /// The options asked for (the choices made are in `info`).
    opts: SpdOptions,
    col_ptr: Vec<u32>,
    row_idx: Vec<u32>,
    symbolic: SymbolicCholesky<u32>,
    info: FactorInfo,
    factor_cost: f64,
    fact_req: StackReq,
    solve_req: StackReq,
}

impl std::fmt::Debug for SpdAnalysis {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SpdAnalysis")
            .field("info", &self.info)
            .finish()
    }
}

fn sym_err(e: impl std::fmt::Debug) -> LinSolveError {
    LinSolveError::Symbolic(format!("{e:?}"))
}

/// Column counts of `L` (diagonal included) for the symmetric permutation `(fwd, inv)` of the
/// lower-triangular pattern `a`: exact, from the elimination tree, in O(nnz(A)) memory.
fn column_counts(
    a: SymbolicSparseColMatRef<'_, u32>,
    fwd: &[u32],
    inv: &[u32],
) -> Result<Vec<u32>, LinSolveError> {
    let n = a.nrows();
    let nnz = a.row_idx().len();
    let dummy = vec![0.0f64; nnz];
    let mut vals = vec![0.0f64; nnz];
    let mut cp = vec![0u32; n + 1];
    let mut ri = vec![0u32; nnz];
    let mut mem = MemBuffer::try_new(StackReq::any_of(&[
        faer::sparse::utils::permute_self_adjoint_scratch::<u32>(n),
        simplicial::prefactorize_symbolic_cholesky_scratch::<u32>(n, nnz),
    ]))
    .map_err(sym_err)?;
    let perm = PermRef::new_checked(fwd, inv, n);
    let upper = faer::sparse::utils::permute_self_adjoint_to_unsorted(
        &mut vals,
        &mut cp,
        &mut ri,
        SparseColMatRef::new(a, &dummy),
        perm,
        Side::Lower,
        Side::Upper,
        MemStack::new(&mut mem),
    );
    let mut etree = vec![0i32; n];
    let mut counts = vec![0u32; n];
    simplicial::prefactorize_symbolic_cholesky::<u32>(
        &mut etree,
        &mut counts,
        upper.symbolic(),
        MemStack::new(&mut mem),
    );
    Ok(counts)
}

/// faer's AMD permutation of the pattern (the ordering faer's own `SymmetricOrdering::Amd`
/// computes, with its default control).
fn amd_perm(a: SymbolicSparseColMatRef<'_, u32>) -> Result<(Vec<u32>, Vec<u32>), LinSolveError> {
    use faer::sparse::linalg::amd;
    let n = a.nrows();
    let mut fwd = vec![0u32; n];
    let mut inv = vec![0u32; n];
    let mut mem = MemBuffer::try_new(amd::order_maybe_unsorted_scratch::<u32>(
        n,
        a.row_idx().len(),
    ))
    .map_err(sym_err)?;
    amd::order_maybe_unsorted(
        &mut fwd,
        &mut inv,
        a,
        amd::Control::default(),
        MemStack::new(&mut mem),
    )
    .map_err(sym_err)?;
    Ok((fwd, inv))
}

/// METIS nested-dissection permutation of the pattern's graph (`METIS_NodeND`, default options,
/// fixed seed: deterministic).
fn nd_perm(a: SymbolicSparseColMatRef<'_, u32>) -> Result<(Vec<u32>, Vec<u32>), LinSolveError> {
    use metis_sys as m;
    let n = a.nrows();
    let (cp, ri) = (a.col_ptr(), a.row_idx());
    // Adjacency of the graph of A (both directions, no self loops).
    let mut deg = vec![0usize; n];
    for c in 0..n {
        for &r in &ri[cp[c] as usize..cp[c + 1] as usize] {
            let r = r as usize;
            if r != c {
                deg[r] += 1;
                deg[c] += 1;
            }
        }
    }
    let total: usize = deg.iter().sum();
    let too_big = || LinSolveError::Symbolic("graph too large for METIS (32-bit indices)".into());
    let mut xadj: Vec<m::idx_t> = Vec::with_capacity(n + 1);
    xadj.push(0);
    let mut acc = 0usize;
    for &d in &deg {
        acc += d;
        xadj.push(m::idx_t::try_from(acc).map_err(|_| too_big())?);
    }
    let mut adj: Vec<m::idx_t> = vec![0; total];
    let mut fill: Vec<usize> = xadj[..n].iter().map(|&x| x as usize).collect();
    for c in 0..n {
        for &r in &ri[cp[c] as usize..cp[c + 1] as usize] {
            let r = r as usize;
            if r != c {
                adj[fill[r]] = c as m::idx_t;
                fill[r] += 1;
                adj[fill[c]] = r as m::idx_t;
                fill[c] += 1;
            }
        }
    }
    let mut nv = m::idx_t::try_from(n).map_err(|_| too_big())?;
    let mut opts = [0 as m::idx_t; m::METIS_NOPTIONS as usize];
    let mut perm = vec![0 as m::idx_t; n];
    let mut iperm = vec![0 as m::idx_t; n];
    // SAFETY: METIS reads `xadj` (n + 1 entries) and `adj` (xadj[n] entries) and writes n
    // entries of `perm` and `iperm`; every buffer has those sizes and outlives the calls.
    let status = unsafe {
        m::METIS_SetDefaultOptions(opts.as_mut_ptr());
        opts[m::moptions_et_METIS_OPTION_NUMBERING as usize] = 0;
        opts[m::moptions_et_METIS_OPTION_SEED as usize] = 1;
        m::METIS_NodeND(
            &mut nv,
            xadj.as_mut_ptr(),
            adj.as_mut_ptr(),
            std::ptr::null_mut(),
            opts.as_mut_ptr(),
            perm.as_mut_ptr(),
            iperm.as_mut_ptr(),
        )
    };
    if status != m::rstatus_et_METIS_OK {
        return Err(LinSolveError::Symbolic(format!(
            "METIS_NodeND failed (status {status})"
        )));
    }
    // METIS: row i of the permuted matrix is row perm[i] of A (faer's forward permutation).
    Ok((
        perm.iter().map(|&p| p as u32).collect(),
        iperm.iter().map(|&p| p as u32).collect(),
    ))
}

impl SpdAnalysis {
    /// Analyse the lower-triangular pattern (`col_ptr`, sorted `row_idx`, diagonal included).
    pub fn new(
        n: usize,
        col_ptr: Vec<u32>,
        row_idx: Vec<u32>,
        opts: SpdOptions,
    ) -> Result<Self, LinSolveError> {
        let t0 = std::time::Instant::now();
        let a = SymbolicSparseColMatRef::new_checked(n, n, &col_ptr, None, &row_idx);
        let (fwd_a, inv_a) = amd_perm(a)?;
        let want_nd = match opts.ordering {
            OrderingChoice::Amd => false,
            OrderingChoice::NestedDissection => n > 0,
            OrderingChoice::Auto => n >= ND_MIN_DOFS,
        };
        let counts_a = column_counts(a, &fwd_a, &inv_a)?;
        let nnz = |c: &[u32]| c.iter().map(|&x| x as usize).sum::<usize>();
        let nnz_amd = nnz(&counts_a);
        let (ordering, fwd, inv, counts, nnz_nd) = if want_nd {
            let (fwd_n, inv_n) = nd_perm(a)?;
            let counts_n = column_counts(a, &fwd_n, &inv_n)?;
            let nnz_nd = nnz(&counts_n);
            if opts.ordering == OrderingChoice::NestedDissection || nnz_nd < nnz_amd {
                (
                    OrderingChoice::NestedDissection,
                    fwd_n,
                    inv_n,
                    counts_n,
                    Some(nnz_nd),
                )
            } else {
                (OrderingChoice::Amd, fwd_a, inv_a, counts_a, Some(nnz_nd))
            }
        } else {
            (OrderingChoice::Amd, fwd_a, inv_a, counts_a, None)
        };
        let factor = match opts.factor {
            FactorChoice::Auto => FactorChoice::Simplicial,
            f => f,
        };
        let threshold = match factor {
            FactorChoice::Supernodal => SupernodalThreshold::FORCE_SUPERNODAL,
            _ => SupernodalThreshold::FORCE_SIMPLICIAL,
        };
        let symbolic = factorize_symbolic_cholesky(
            a,
            Side::Lower,
            SymmetricOrdering::Custom(PermRef::new_checked(&fwd, &inv, n)),
            CholeskySymbolicParams {
                supernodal_flop_ratio_threshold: threshold,
                ..Default::default()
            },
        )
        .map_err(sym_err)?;
        drop((fwd, inv));
        let (s1, s2) = counts.iter().fold((0.0f64, 0.0f64), |(a, b), &c| {
            let c = c as f64;
            (a + c, b + c * c)
        });
        // Cost of one numerical factorisation in units of one solve pair (see
        // `factor_cost_in_solves`), from the column counts whatever the storage.
        let factor_cost = s2 / (4.0 * s1.max(1.0));
        let (supernodes, struct_len) = match symbolic.raw() {
            SymbolicCholeskyRaw::Simplicial(s) => (None, s.col_ptr().len() + s.row_idx().len()),
            SymbolicCholeskyRaw::Supernodal(s) => (
                Some(s.n_supernodes()),
                2 * s.n_supernodes()
                    + s.col_ptr_for_row_idx().len()
                    + s.col_ptr_for_val().len()
                    + s.row_idx().len(),
            ),
        };
        let fact_req = symbolic.factorize_numeric_llt_scratch::<f64>(Par::Seq, Default::default());
        let solve_req = symbolic.solve_in_place_scratch::<f64>(1, Par::Seq);
        let l_values = symbolic.len_val();
        let nnz_a = row_idx.len();
        let info = FactorInfo {
            n,
            nnz_a,
            ordering,
            factor,
            nnz_l: nnz(&counts),
            nnz_l_amd: Some(nnz_amd),
            nnz_l_nd: nnz_nd,
            factor_flops: s2,
            supernodes,
            l_values,
            symbolic_bytes: 4 * (col_ptr.len() + nnz_a + struct_len + 2 * n),
            numeric_bytes: 8 * (nnz_a + l_values)
                + fact_req.unaligned_bytes_required()
                + solve_req.unaligned_bytes_required(),
            analysis_seconds: t0.elapsed().as_secs_f64(),
        };
        Ok(SpdAnalysis {
            n,
            opts,
            col_ptr,
            row_idx,
            symbolic,
            info,
            factor_cost,
            fact_req,
            solve_req,
        })
    }

    /// As [`Self::from_entries`], returning the analysis of the most recent call when the
    /// pattern and options are the same (one analysis is remembered per process): the static
    /// and dynamic equilibria of one network built one after the other (load-time diagnostics,
    /// runner, references) share one ordering and symbolic factorisation. The analysis is a
    /// deterministic function of the pattern, so sharing it changes no result.
    pub fn shared(
        n: usize,
        entries: impl IntoIterator<Item = (usize, usize)>,
        opts: SpdOptions,
    ) -> Result<Arc<Self>, LinSolveError> {
        static LAST: Mutex<Option<Arc<SpdAnalysis>>> = Mutex::new(None);
        let (col_ptr, row_idx) = lower_pattern(n, entries)?;
        let mut last = LAST.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(an) = last.as_ref() {
            if an.n == n && an.opts == opts && an.col_ptr == col_ptr && an.row_idx == row_idx {
                return Ok(an.clone());
            }
        }
        // Free the previous analysis before the new one is built (peak memory).
        *last = None;
        let an = Arc::new(Self::new(n, col_ptr, row_idx, opts)?);
        *last = Some(an.clone());
        Ok(an)
    }

    /// Analyse the pattern of the (row, col) pairs that may be non-zero (either triangle; the
    /// diagonal is always included).
    pub fn from_entries(
        n: usize,
        entries: impl IntoIterator<Item = (usize, usize)>,
        opts: SpdOptions,
    ) -> Result<Self, LinSolveError> {
        let (col_ptr, row_idx) = lower_pattern(n, entries)?;
        Self::new(n, col_ptr, row_idx, opts)
    }

    pub fn info(&self) -> &FactorInfo {
        &self.info
    }

    pub fn dim(&self) -> usize {
        self.n
    }
}

/// The sorted lower-triangular CSC pattern (diagonal included) of the (row, col) pairs.
fn lower_pattern(
    n: usize,
    entries: impl IntoIterator<Item = (usize, usize)>,
) -> Result<(Vec<u32>, Vec<u32>), LinSolveError> {
    let too_big = || LinSolveError::Symbolic("pattern too large for 32-bit indices".into());
    u32::try_from(n).map_err(|_| too_big())?;
    // (column, row) keys in one flat vector (no allocation per column), sorted and deduplicated.
    let mut keys: Vec<u64> = (0..n as u64).map(|j| (j << 32) | j).collect();
    for (i, j) in entries {
        let (r, c) = if i >= j { (i, j) } else { (j, i) };
        if r < n {
            keys.push(((c as u64) << 32) | r as u64);
        }
    }
    keys.sort_unstable();
    keys.dedup();
    let mut col_ptr = vec![0u32; n + 1];
    let mut row_idx = Vec::with_capacity(keys.len());
    u32::try_from(keys.len()).map_err(|_| too_big())?;
    for &k in &keys {
        col_ptr[(k >> 32) as usize + 1] += 1;
        row_idx.push(k as u32);
    }
    for c in 0..n {
        col_ptr[c + 1] += col_ptr[c];
    }
    Ok((col_ptr, row_idx))
}

/// A symmetric matrix with a fixed lower-triangular CSC pattern (shared analysis) plus its
/// Cholesky factor.
pub struct SpdSolver {
    an: Arc<SpdAnalysis>,
    values: Vec<f64>,
    /// Values of `L` (allocated at the first factorisation, freed by [`Self::release_factor`]).
    l_values: Vec<f64>,
    fact_buf: Option<MemBuffer>,
    solve_buf: Option<MemBuffer>,
    /// Scratch of the supernodal solve: the permuted right-hand side, one supernode's rows.
    perm_rhs: Vec<f64>,
    tmp: Vec<f64>,
    factored: bool,
    /// Number of numerical factorisations performed.
    pub n_factor: u64,
    /// Number of solves performed.
    pub n_solve: u64,
}

impl std::fmt::Debug for SpdSolver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SpdSolver")
            .field("n", &self.an.n)
            .field("nnz", &self.an.row_idx.len())
            .finish()
    }
}

impl Clone for SpdSolver {
    /// The same pattern and matrix values, sharing the symbolic analysis; the clone is not
    /// factored.
    fn clone(&self) -> Self {
        let mut s = SpdSolver::with_analysis(self.an.clone());
        s.values.copy_from_slice(&self.values);
        s
    }
}

/// `y ← L⁻¹ y`, then `y ← L⁻ᵀ y`, for faer's supernodal factor in the permuted numbering, one
/// supernode at a time: the diagonal block by columns, the rows below it through a dense buffer
/// (`tmp`: one contiguous multiply-add per entry of `L`, then one scatter or gather per row of
/// the supernode's pattern instead of one per entry). Fixed operation order: deterministic.
fn supernodal_solve(
    s: &faer::sparse::linalg::cholesky::supernodal::SymbolicSupernodalCholesky<u32>,
    lv: &[f64],
    y: &mut [f64],
    tmp: &mut Vec<f64>,
) {
    let (begin, end) = (s.supernode_begin(), s.supernode_end());
    let (rp, vp, ri) = (s.col_ptr_for_row_idx(), s.col_ptr_for_val(), s.row_idx());
    let ns = s.n_supernodes();
    let block = |k: usize| {
        let (f, l) = (begin[k] as usize, end[k] as usize);
        let rows = &ri[rp[k] as usize..rp[k + 1] as usize];
        let vals = &lv[vp[k] as usize..vp[k + 1] as usize];
        (f, l - f, rows, vals)
    };
    for k in 0..ns {
        let (f, w, rows, vals) = block(k);
        let ld = w + rows.len();
        debug_assert_eq!(vals.len(), ld * w);
        tmp.clear();
        tmp.resize(rows.len(), 0.0);
        let x = &mut y[f..f + w];
        for (c, col) in vals.chunks_exact(ld).enumerate() {
            let xc = x[c] * col[c].recip();
            x[c] = xc;
            for (xi, &l) in x[c + 1..].iter_mut().zip(&col[c + 1..w]) {
                *xi -= l * xc;
            }
            for (ti, &l) in tmp.iter_mut().zip(&col[w..]) {
                *ti += l * xc;
            }
        }
        for (&r, &t) in rows.iter().zip(tmp.iter()) {
            y[r as usize] -= t;
        }
    }
    for k in (0..ns).rev() {
        let (f, w, rows, vals) = block(k);
        let ld = w + rows.len();
        tmp.clear();
        tmp.extend(rows.iter().map(|&r| y[r as usize]));
        let x = &mut y[f..f + w];
        for (c, col) in vals.chunks_exact(ld).enumerate().rev() {
            let acc = dot(&col[w..], tmp) + dot(&col[c + 1..w], &x[c + 1..]);
            x[c] = (x[c] - acc) * col[c].recip();
        }
    }
}

/// `Σ a_i b_i` in four fixed partial sums (vectorisable; deterministic).
#[inline]
fn dot(a: &[f64], b: &[f64]) -> f64 {
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let mut s = [0.0f64; 4];
    let (ac, bc) = (a.chunks_exact(4), b.chunks_exact(4));
    let (ar, br) = (ac.remainder(), bc.remainder());
    for (x, y) in ac.zip(bc) {
        for q in 0..4 {
            s[q] += x[q] * y[q];
        }
    }
    let mut r = 0.0;
    for (x, y) in ar.iter().zip(br) {
        r += x * y;
    }
    ((s[0] + s[1]) + (s[2] + s[3])) + r
}

/// `y ← L⁻¹ y`, then `y ← L⁻ᵀ y`, for a simplicial factor (`col_ptr`, `row_idx`: column j holds
/// the diagonal, then its rows below in increasing order) in the permuted numbering. Forward:
/// faer's operations in faer's order. Backward: each column's dot product in four fixed
/// partial sums (one chain of additions is bound by their latency when `L` sits in cache).
///
/// # Safety
/// `col_ptr` (n + 1 entries, non-decreasing, `col_ptr[n] = lv.len() = row_idx.len()`) and
/// `row_idx` (rows < n, the diagonal first in every column) must describe a valid factor of
/// dimension `n = y.len()`: faer's simplicial symbolic factor guarantees it.
unsafe fn simplicial_solve(col_ptr: &[u32], row_idx: &[u32], lv: &[f64], y: &mut [f64]) {
    let n = y.len();
    let yp = y.as_mut_ptr();
    let (cp, ri, v) = (col_ptr.as_ptr(), row_idx.as_ptr(), lv.as_ptr());
    for j in 0..n {
        let (a, b) = (*cp.add(j) as usize, *cp.add(j + 1) as usize);
        let xj = *yp.add(j) * (*v.add(a)).recip();
        *yp.add(j) = xj;
        for k in a + 1..b {
            *yp.add(*ri.add(k) as usize) -= *v.add(k) * xj;
        }
    }
    for j in (0..n).rev() {
        let (a, b) = (*cp.add(j) as usize, *cp.add(j + 1) as usize);
        // Descending addresses, like the column order: `L` is streamed backwards in one
        // monotone sweep (a sweep in steps back and forth defeats the prefetcher on large
        // factors).
        let (mut s0, mut s1, mut s2, mut s3) = (0.0f64, 0.0f64, 0.0f64, 0.0f64);
        let mut k = b;
        while k >= a + 5 {
            s0 += *v.add(k - 1) * *yp.add(*ri.add(k - 1) as usize);
            s1 += *v.add(k - 2) * *yp.add(*ri.add(k - 2) as usize);
            s2 += *v.add(k - 3) * *yp.add(*ri.add(k - 3) as usize);
            s3 += *v.add(k - 4) * *yp.add(*ri.add(k - 4) as usize);
            k -= 4;
        }
        while k > a + 1 {
            k -= 1;
            s0 += *v.add(k) * *yp.add(*ri.add(k) as usize);
        }
        let acc = (s0 + s1) + (s2 + s3);
        *yp.add(j) = (*yp.add(j) - acc) * (*v.add(a)).recip();
    }
}

impl SpdSolver {
    /// Build the pattern from the (row, col) pairs that may be non-zero (either triangle; the
    /// diagonal is always included) and analyse it with the process options
    /// ([`default_options`]).
    pub fn new(
        n: usize,
        entries: impl IntoIterator<Item = (usize, usize)>,
    ) -> Result<Self, LinSolveError> {
        Self::with_options(n, entries, default_options())
    }

    /// As [`Self::new`] with explicit analysis options.
    pub fn with_options(
        n: usize,
        entries: impl IntoIterator<Item = (usize, usize)>,
        opts: SpdOptions,
    ) -> Result<Self, LinSolveError> {
        Ok(Self::with_analysis(SpdAnalysis::shared(n, entries, opts)?))
    }

    /// A solver on an existing analysis (no symbolic work), values zero, not factored.
    pub fn with_analysis(an: Arc<SpdAnalysis>) -> Self {
        SpdSolver {
            values: vec![0.0; an.row_idx.len()],
            an,
            l_values: Vec::new(),
            fact_buf: None,
            solve_buf: None,
            perm_rhs: Vec::new(),
            tmp: Vec::new(),
            factored: false,
            n_factor: 0,
            n_solve: 0,
        }
    }

    /// The shared symbolic analysis.
    pub fn analysis(&self) -> &Arc<SpdAnalysis> {
        &self.an
    }

    /// Ordering, factor storage, sizes.
    pub fn info(&self) -> &FactorInfo {
        &self.an.info
    }

    pub fn dim(&self) -> usize {
        self.an.n
    }

    /// Cost of one numerical factorisation in units of one solve pair, from the factor's
    /// structure: `Σ_j c_j² / (4 nnz(L))` with `c_j` the entries of column j of `L` (the
    /// factorisation's multiply-adds over those of the forward + backward substitution).
    /// Deterministic (no timing), so decisions based on it keep runs reproducible.
    pub fn factor_cost_in_solves(&self) -> f64 {
        self.an.factor_cost
    }

    pub fn nnz(&self) -> usize {
        self.an.row_idx.len()
    }

    /// Index into [`Self::values_mut`] of entry (i, j) (either triangle), if in the pattern.
    pub fn slot(&self, i: usize, j: usize) -> Option<usize> {
        let (r, c) = if i >= j { (i, j) } else { (j, i) };
        if c >= self.an.n {
            return None;
        }
        let (lo, hi) = (self.an.col_ptr[c] as usize, self.an.col_ptr[c + 1] as usize);
        self.an.row_idx[lo..hi]
            .binary_search(&(r as u32))
            .ok()
            .map(|k| lo + k)
    }

    /// The values of the lower triangle, in pattern order. Writing them invalidates the factor.
    pub fn values_mut(&mut self) -> &mut [f64] {
        self.factored = false;
        &mut self.values
    }

    pub fn values(&self) -> &[f64] {
        &self.values
    }

    /// y = A x for the current values (full symmetric product).
    pub fn mul(&self, x: &[f64], y: &mut [f64]) {
        self.mul_with(&self.values, x, y)
    }

    /// y = A x for other values on the same pattern.
    pub fn mul_with(&self, values: &[f64], x: &[f64], y: &mut [f64]) {
        y.iter_mut().for_each(|v| *v = 0.0);
        let (cp, ri) = (&self.an.col_ptr, &self.an.row_idx);
        for c in 0..self.an.n {
            let col = cp[c] as usize..cp[c + 1] as usize;
            for (&r, &v) in ri[col.clone()].iter().zip(&values[col]) {
                let r = r as usize;
                y[r] += v * x[c];
                if r != c {
                    y[c] += v * x[r];
                }
            }
        }
    }

    /// Numerical Cholesky factorisation of the current values.
    pub fn factor(&mut self) -> Result<(), LinSolveError> {
        let an = &*self.an;
        if self.l_values.len() != an.symbolic.len_val() {
            self.l_values = vec![0.0; an.symbolic.len_val()];
        }
        let fact_buf = self
            .fact_buf
            .get_or_insert_with(|| MemBuffer::new(an.fact_req));
        let a = SparseColMatRef::new(
            SymbolicSparseColMatRef::new_checked(an.n, an.n, &an.col_ptr, None, &an.row_idx),
            &self.values,
        );
        let res = an.symbolic.factorize_numeric_llt(
            &mut self.l_values,
            a,
            Side::Lower,
            Default::default(),
            Par::Seq,
            MemStack::new(fact_buf),
            Default::default(),
        );
        self.n_factor += 1;
        match res {
            Ok(_) => {
                self.factored = true;
                Ok(())
            }
            Err(e) => {
                self.factored = false;
                let LltError::NonPositivePivot { index: permuted } = e;
                let dof = match an.symbolic.perm() {
                    Some(p) => p
                        .arrays()
                        .0
                        .get(permuted)
                        .map(|&d| d as usize)
                        .unwrap_or(permuted),
                    None => permuted,
                };
                Err(LinSolveError::NotPositiveDefinite { dof })
            }
        }
    }

    /// Solve A x = rhs in place with the current factor (call [`Self::factor`] first).
    pub fn solve_in_place(&mut self, rhs: &mut [f64]) {
        debug_assert!(self.factored, "solve without a valid factor");
        let an = &*self.an;
        if let (SymbolicCholeskyRaw::Simplicial(sym), Some(perm)) =
            (an.symbolic.raw(), an.symbolic.perm())
        {
            let fwd = perm.arrays().0;
            let mut y = std::mem::take(&mut self.perm_rhs);
            y.clear();
            y.extend(fwd.iter().map(|&p| rhs[p as usize]));
            assert!(sym.col_ptr().len() == an.n + 1 && self.l_values.len() == sym.len_val());
            // SAFETY: faer's simplicial symbolic factor of dimension n (checked above) with its
            // values.
            unsafe { simplicial_solve(sym.col_ptr(), sym.row_idx(), &self.l_values, &mut y) };
            for (&p, &v) in fwd.iter().zip(&y) {
                rhs[p as usize] = v;
            }
            self.perm_rhs = y;
            self.n_solve += 1;
            return;
        }
        if let (SymbolicCholeskyRaw::Supernodal(sym), Some(perm)) =
            (an.symbolic.raw(), an.symbolic.perm())
        {
            let fwd = perm.arrays().0;
            let mut y = std::mem::take(&mut self.perm_rhs);
            y.clear();
            y.extend(fwd.iter().map(|&p| rhs[p as usize]));
            supernodal_solve(sym, &self.l_values, &mut y, &mut self.tmp);
            for (&p, &v) in fwd.iter().zip(&y) {
                rhs[p as usize] = v;
            }
            self.perm_rhs = y;
            self.n_solve += 1;
            return;
        }
        let solve_buf = self
            .solve_buf
            .get_or_insert_with(|| MemBuffer::new(an.solve_req));
        let llt = LltRef::<'_, u32, f64>::new(&an.symbolic, &self.l_values);
        let mat = MatMut::from_column_major_slice_mut(rhs, an.n, 1);
        llt.solve_in_place_with_conj(Conj::No, mat, Par::Seq, MemStack::new(solve_buf));
        self.n_solve += 1;
    }

    pub fn is_factored(&self) -> bool {
        self.factored
    }

    /// Free the numerical factor and the workspaces (the next [`Self::factor`] reallocates
    /// them): for solvers used only now and then next to a larger working set.
    pub fn release_factor(&mut self) {
        self.l_values = Vec::new();
        self.perm_rhs = Vec::new();
        self.tmp = Vec::new();
        self.fact_buf = None;
        self.solve_buf = None;
        self.factored = false;
    }

    /// Bytes held by this solver's numerical state now (matrix values, factor, workspaces).
    pub fn numeric_bytes(&self) -> usize {
        8 * (self.values.len() + self.l_values.len() + self.perm_rhs.len() + self.tmp.len())
            + self
                .fact_buf
                .as_ref()
                .map_or(0, |_| self.an.fact_req.unaligned_bytes_required())
            + self
                .solve_buf
                .as_ref()
                .map_or(0, |_| self.an.solve_req.unaligned_bytes_required())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    /// Random sparse SPD matrices (graph Laplacian + positive diagonal), under every ordering and
    /// factor storage: the solve reproduces the right-hand side to ~n·eps relative.
    #[test]
    fn random_spd_solves() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
        for n in [1usize, 2, 5, 30, 200] {
            let mut edges = Vec::new();
            for i in 1..n {
                edges.push((i, rng.random_range(0..i)));
            }
            for _ in 0..n {
                let i = rng.random_range(0..n);
                let j = rng.random_range(0..n);
                if i != j {
                    edges.push((i, j));
                }
            }
            for opts in [
                (OrderingChoice::Amd, FactorChoice::Simplicial),
                (OrderingChoice::NestedDissection, FactorChoice::Simplicial),
                (OrderingChoice::Amd, FactorChoice::Supernodal),
                (OrderingChoice::NestedDissection, FactorChoice::Supernodal),
            ]
            .into_iter()
            .map(|(ordering, factor)| SpdOptions { ordering, factor })
            {
                let mut s = SpdSolver::with_options(n, edges.iter().copied(), opts).unwrap();
                assert_eq!(
                    (s.info().ordering, s.info().factor),
                    (opts.ordering, opts.factor)
                );
                s.values_mut().iter_mut().for_each(|v| *v = 0.0);
                for &(i, j) in &edges {
                    let w: f64 = rng.random_range(0.1..2.0);
                    let (sii, sjj, sij) = (
                        s.slot(i, i).unwrap(),
                        s.slot(j, j).unwrap(),
                        s.slot(i, j).unwrap(),
                    );
                    let v = s.values_mut();
                    v[sii] += w;
                    v[sjj] += w;
                    v[sij] -= w;
                }
                let d = s.slot(0, 0).unwrap();
                s.values_mut()[d] += 1.0;
                s.factor().unwrap();
                let b: Vec<f64> = (0..n).map(|_| rng.random_range(-1.0..1.0)).collect();
                let mut x = b.clone();
                s.solve_in_place(&mut x);
                let mut ax = vec![0.0; n];
                s.mul(&x, &mut ax);
                let err = ax
                    .iter()
                    .zip(&b)
                    .map(|(a, b)| (a - b).abs())
                    .fold(0.0, f64::max);
                assert!(err < 1e-10 * n as f64, "n={n} {opts:?} err={err}");
                // A clone shares the analysis and is not factored.
                let c = s.clone();
                assert!(Arc::ptr_eq(c.analysis(), s.analysis()) && !c.is_factored());
            }
        }
    }

    #[test]
    fn singular_matrix_is_reported() {
        // Pure Laplacian of a path: singular (constant null vector).
        let mut s = SpdSolver::new(3, [(0, 1), (1, 2)]).unwrap();
        for (i, j) in [(0, 1), (1, 2)] {
            let (a, b, c) = (
                s.slot(i, i).unwrap(),
                s.slot(j, j).unwrap(),
                s.slot(i, j).unwrap(),
            );
            let v = s.values_mut();
            v[a] += 1.0;
            v[b] += 1.0;
            v[c] -= 1.0;
        }
        assert!(matches!(
            s.factor(),
            Err(LinSolveError::NotPositiveDefinite { .. })
        ));
    }
}
