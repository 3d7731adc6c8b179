//! Generic elementary mass-action reaction network (no TCL semantics, no I/O).
//!
//! Species `x_s ≥ 0`, reactions `r: Σ reactants → Σ products` of order ≤ 2 with mass-action
//! rate `v_r = k_r · m_{g(r)}(t) · Π_{s ∈ reactants(r)} x_s`, where `m_g(t) ≥ 0` is the
//! multiplier of the reaction's drive group (1 without a drive), set only by the protocol.
//! The ODE is `ẋ = N v` with the stoichiometry matrix `N_sr = products − reactants`.
//!
//! Stage states of an implicit integrator can be slightly negative. The rates stay total and
//! sign-safe there: a bimolecular rate is 0 when both reactants are negative (so two negative
//! species never consume each other further), and `2A` uses `x_A · max(x_A, 0)`; otherwise the
//! plain product is kept, so that a slightly negative species is *restored* to 0 by its own
//! consumption. (Clamping every factor at 0, `Π max(x_s, 0)`, freezes a negative species —
//! its consumption vanishes — and the BDF extrapolation then lets it drift further below 0,
//! e.g. the anti-linker M after the write gate closes.) The Jacobian `∂(Nv)/∂x` is analytic
//! and consistent with these rates; its pattern is fixed by the reaction list
//! (`∂v_r/∂x_s ≠ 0` iff `s` is a reactant of `r`).

use nalgebra::DMatrix;
use serde::Serialize;
use std::collections::BTreeMap;

/// Index of a species in [`Network::species`].
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct SpeciesId(pub usize);
/// Index of a reaction in [`Network::reactions`].
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct ReactionId(pub usize);
/// Index of a drive group in [`Network::drives`].
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct DriveId(pub usize);

/// A chemical species.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Species {
    pub name: String,
    /// Elements (for the balance check), e.g. `{A1: 1, A2: 1}` for a dimer.
    pub composition: BTreeMap<String, f64>,
    /// Initial concentration (units c_u) (≥ 0).
    pub init: f64,
    /// Typical level (units c_u): the absolute tolerance is `atol_rel · scale`.
    pub scale: f64,
}

/// An elementary reaction (order ≤ 2). Repeated entries are stoichiometry.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Reaction {
    pub name: String,
    pub reactants: Vec<SpeciesId>,
    pub products: Vec<SpeciesId>,
    /// Rate constant (> 0) [1/τ_k for order 1, 1/(c_u τ_k) for order 2, c_u/τ_k for order 0].
    pub k: f64,
    /// Matter enters or leaves: exempt from the mass-balance check.
    pub open: bool,
    pub drive: Option<DriveId>,
}

/// What sets a drive group's multiplier (only the protocol does).
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum DriveKind {
    /// The valve: `β(t)/β_max`.
    ProtocolSawtooth,
    /// The write enable (1 during cycles, 0 during switches and settling).
    WriteGate,
    /// An input monomer's total `a_i(t)` (reaction `∅ → A_i` with `k = γ`).
    ExampleInput { species: SpeciesId },
    /// Exchange inflow from the reservoir: `(β(t)/β_max) · T_k` (reaction `∅ → A_k` with
    /// `k = β_max`).
    Reservoir { species: SpeciesId },
}

/// A drive group.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Drive {
    pub name: String,
    pub kind: DriveKind,
}

/// The explicit network.
#[derive(Clone, Debug)]
pub struct Network {
    pub species: Vec<Species>,
    pub reactions: Vec<Reaction>,
    pub drives: Vec<Drive>,
    /// Net stoichiometry per reaction: `(species, ν)` with `ν ≠ 0`.
    net: Vec<Vec<(usize, f64)>>,
}

impl Network {
    pub fn new(species: Vec<Species>, reactions: Vec<Reaction>, drives: Vec<Drive>) -> Self {
        let net = reactions
            .iter()
            .map(|r| {
                let mut m: BTreeMap<usize, f64> = BTreeMap::new();
                for s in &r.reactants {
                    *m.entry(s.0).or_default() -= 1.0;
                }
                for s in &r.products {
                    *m.entry(s.0).or_default() += 1.0;
                }
                m.into_iter().filter(|(_, v)| *v != 0.0).collect()
            })
            .collect();
        Network {
            species,
            reactions,
            drives,
            net,
        }
    }

    pub fn n_species(&self) -> usize {
        self.species.len()
    }

    pub fn species_id(&self, name: &str) -> Option<SpeciesId> {
        self.species
            .iter()
            .position(|s| s.name == name)
            .map(SpeciesId)
    }

    pub fn drive_id(&self, name: &str) -> Option<DriveId> {
        self.drives.iter().position(|d| d.name == name).map(DriveId)
    }

    /// Net stoichiometry of reaction `r`.
    pub fn net_change(&self, r: ReactionId) -> &[(usize, f64)] {
        &self.net[r.0]
    }

    /// Initial state from the species' `init`.
    pub fn initial_state(&self) -> Vec<f64> {
        self.species.iter().map(|s| s.init).collect()
    }

    fn multiplier(&self, r: &Reaction, mult: &[f64]) -> f64 {
        r.drive.map_or(1.0, |d| mult[d.0])
    }

    /// The concentration part of a rate, `Π x_s` made sign-safe (module docs).
    fn mass_action(re: &[SpeciesId], x: &[f64]) -> f64 {
        match re {
            [] => 1.0,
            [a] => x[a.0],
            [a, b] if a == b => x[a.0] * x[a.0].max(0.0),
            [a, b] => {
                let (xa, xb) = (x[a.0], x[b.0]);
                if xa < 0.0 && xb < 0.0 {
                    0.0
                } else {
                    xa * xb
                }
            }
            more => more.iter().map(|s| x[s.0].max(0.0)).product(),
        }
    }

    /// `∂(Π x_s)/∂x_{re[p]}` consistent with [`Network::mass_action`].
    fn mass_action_derivative(re: &[SpeciesId], p: usize, x: &[f64]) -> f64 {
        match re {
            [_] => 1.0,
            [a, b] if a == b => {
                if p == 0 {
                    2.0 * x[a.0].max(0.0)
                } else {
                    0.0
                }
            }
            [a, b] => {
                let (xa, xb) = (x[a.0], x[b.0]);
                if xa < 0.0 && xb < 0.0 {
                    0.0
                } else if p == 0 {
                    xb
                } else {
                    xa
                }
            }
            more => more
                .iter()
                .enumerate()
                .filter(|(q, _)| *q != p)
                .map(|(_, s)| x[s.0].max(0.0))
                .product(),
        }
    }

    /// Reaction rates `v_r`.
    pub fn rates(&self, x: &[f64], mult: &[f64], v: &mut [f64]) {
        for (r, out) in self.reactions.iter().zip(v.iter_mut()) {
            *out = r.k * self.multiplier(r, mult) * Self::mass_action(&r.reactants, x);
        }
    }

    /// `f = N v(x)`.
    pub fn rhs(&self, x: &[f64], mult: &[f64], f: &mut [f64]) {
        f.iter_mut().for_each(|v| *v = 0.0);
        for (ri, r) in self.reactions.iter().enumerate() {
            let rate = r.k * self.multiplier(r, mult) * Self::mass_action(&r.reactants, x);
            if rate != 0.0 {
                for &(s, nu) in &self.net[ri] {
                    f[s] += nu * rate;
                }
            }
        }
    }

    /// Reversible pairs `(forward, backward)` — reaction `b` turns the products of `f` back
    /// into its reactants (as multisets) — and the reactions without such a partner
    /// (irreversible: their entropy production is infinite and is not counted).
    pub fn reversible_pairs(&self) -> (Vec<(usize, usize)>, Vec<usize>) {
        let sorted = |v: &[SpeciesId]| {
            let mut s: Vec<usize> = v.iter().map(|x| x.0).collect();
            s.sort_unstable();
            s
        };
        let n = self.reactions.len();
        let mut used = vec![false; n];
        let mut pairs = Vec::new();
        for f in 0..n {
            if used[f] {
                continue;
            }
            let (rf, pf) = (
                sorted(&self.reactions[f].reactants),
                sorted(&self.reactions[f].products),
            );
            if let Some(b) = (f + 1..n).find(|&b| {
                !used[b]
                    && sorted(&self.reactions[b].reactants) == pf
                    && sorted(&self.reactions[b].products) == rf
            }) {
                used[f] = true;
                used[b] = true;
                pairs.push((f, b));
            }
        }
        let irreversible = (0..n).filter(|&r| !used[r]).collect();
        (pairs, irreversible)
    }

    /// Entropy production rate of the reversible pairs, `Σ (J₊ − J₋) ln(J₊/J₋)` [k_B T per
    /// time unit] (≥ 0 term by term); a pair with a vanishing or negative flux contributes 0.
    pub fn entropy_production_rate(
        &self,
        x: &[f64],
        mult: &[f64],
        pairs: &[(usize, usize)],
    ) -> f64 {
        let rate = |r: usize| {
            let re = &self.reactions[r];
            re.k * self.multiplier(re, mult) * Self::mass_action(&re.reactants, x)
        };
        pairs
            .iter()
            .map(|&(f, b)| {
                let (jf, jb) = (rate(f), rate(b));
                if jf > 0.0 && jb > 0.0 {
                    (jf - jb) * (jf / jb).ln()
                } else {
                    0.0
                }
            })
            .sum()
    }

    /// Add the analytic Jacobian `∂(N v)/∂x` into `jac` (which the caller zeroes).
    pub fn jacobian(&self, x: &[f64], mult: &[f64], jac: &mut DMatrix<f64>) {
        for (ri, r) in self.reactions.iter().enumerate() {
            let km = r.k * self.multiplier(r, mult);
            if km == 0.0 {
                continue;
            }
            for (p, sp) in r.reactants.iter().enumerate() {
                let d = km * Self::mass_action_derivative(&r.reactants, p, x);
                if d != 0.0 {
                    for &(s, nu) in &self.net[ri] {
                        jac[(s, sp.0)] += nu * d;
                    }
                }
            }
        }
    }

    /// Structural nonzeros of the Jacobian, `(row, column)` sorted by column then row.
    pub fn jacobian_pattern(&self) -> Vec<(usize, usize)> {
        let mut set = std::collections::BTreeSet::new();
        for (ri, r) in self.reactions.iter().enumerate() {
            for sp in &r.reactants {
                for &(s, _) in &self.net[ri] {
                    set.insert((sp.0, s));
                }
            }
        }
        set.into_iter().map(|(c, r)| (r, c)).collect()
    }

    /// Stoichiometry matrix `N` (species × reactions); `closed_only` keeps the columns of the
    /// reactions not flagged `open`.
    pub fn stoichiometry(&self, closed_only: bool) -> DMatrix<f64> {
        let cols: Vec<usize> = (0..self.reactions.len())
            .filter(|&r| !closed_only || !self.reactions[r].open)
            .collect();
        let mut n = DMatrix::zeros(self.species.len(), cols.len());
        for (c, &r) in cols.iter().enumerate() {
            for &(s, nu) in &self.net[r] {
                n[(s, c)] = nu;
            }
        }
        n
    }

    /// Element-by-element imbalance of every non-open reaction that does not conserve
    /// composition: `(reaction, [(element, products − reactants)])`.
    pub fn imbalances(&self) -> Vec<(ReactionId, Vec<(String, f64)>)> {
        let mut out = Vec::new();
        for (ri, r) in self.reactions.iter().enumerate() {
            if r.open {
                continue;
            }
            let mut m: BTreeMap<String, f64> = BTreeMap::new();
            for s in &r.reactants {
                for (el, c) in &self.species[s.0].composition {
                    *m.entry(el.clone()).or_default() -= c;
                }
            }
            for s in &r.products {
                for (el, c) in &self.species[s.0].composition {
                    *m.entry(el.clone()).or_default() += c;
                }
            }
            let bad: Vec<(String, f64)> = m.into_iter().filter(|(_, v)| v.abs() > 1e-12).collect();
            if !bad.is_empty() {
                out.push((ReactionId(ri), bad));
            }
        }
        out
    }

    /// Conservation laws: a basis of the left null space of `N` (`wᵀN = 0`), in reduced row
    /// echelon form (so that laws read like `Y12 + VhY12`).
    pub fn conservation_laws(&self, closed_only: bool) -> Vec<ConservationLaw> {
        let n = self.stoichiometry(closed_only);
        left_null_space(&n)
            .into_iter()
            .map(|w| ConservationLaw {
                terms: w
                    .iter()
                    .enumerate()
                    .filter(|(_, c)| c.abs() > 1e-10)
                    .map(|(s, c)| (SpeciesId(s), *c))
                    .collect(),
            })
            .collect()
    }
}

/// A linear conservation law `Σ c_s x_s = const`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ConservationLaw {
    pub terms: Vec<(SpeciesId, f64)>,
}

impl ConservationLaw {
    pub fn value(&self, x: &[f64]) -> f64 {
        self.terms.iter().map(|(s, c)| c * x[s.0]).sum()
    }
    /// Human-readable form, e.g. `Y12 + VhY12`.
    pub fn describe(&self, net: &Network) -> String {
        let mut s = String::new();
        for (i, (sp, c)) in self.terms.iter().enumerate() {
            let name = &net.species[sp.0].name;
            let sign = if *c < 0.0 {
                " - "
            } else if i > 0 {
                " + "
            } else {
                ""
            };
            let a = c.abs();
            if (a - 1.0).abs() < 1e-12 {
                s.push_str(&format!("{sign}{name}"));
            } else {
                s.push_str(&format!("{sign}{a}·{name}"));
            }
        }
        s
    }
}

/// Basis of `{w : wᵀ N = 0}` in reduced row echelon form.
fn left_null_space(n: &DMatrix<f64>) -> Vec<Vec<f64>> {
    let rows = n.nrows();
    if rows == 0 {
        return Vec::new();
    }
    // Null space of Nᵀ: Gaussian elimination of Nᵀ (cols = species) with partial pivoting.
    let mut a = n.transpose();
    let (m, k) = (a.nrows(), a.ncols());
    let scale = a.amax().max(1.0);
    let tol = 1e-10 * scale;
    let mut pivots = Vec::new();
    let mut row = 0;
    for col in 0..k {
        if row >= m {
            break;
        }
        let (mut best, mut bv) = (row, 0.0);
        for r in row..m {
            if a[(r, col)].abs() > bv {
                bv = a[(r, col)].abs();
                best = r;
            }
        }
        if bv <= tol {
            continue;
        }
        a.swap_rows(row, best);
        let p = a[(row, col)];
        for c in 0..k {
            a[(row, c)] /= p;
        }
        for r in 0..m {
            if r != row {
                let f = a[(r, col)];
                if f != 0.0 {
                    for c in 0..k {
                        let v = a[(row, c)];
                        a[(r, c)] -= f * v;
                    }
                }
            }
        }
        pivots.push(col);
        row += 1;
    }
    let free: Vec<usize> = (0..k).filter(|c| !pivots.contains(c)).collect();
    let mut basis: Vec<Vec<f64>> = free
        .iter()
        .map(|&f| {
            let mut w = vec![0.0; k];
            w[f] = 1.0;
            for (r, &pc) in pivots.iter().enumerate() {
                w[pc] = -a[(r, f)];
            }
            w
        })
        .collect();
    // Present each law with its first nonzero coefficient positive.
    for w in &mut basis {
        for v in w.iter_mut() {
            if v.abs() < 1e-12 {
                *v = 0.0;
            }
        }
        if let Some(first) = w.iter().find(|v| **v != 0.0).copied() {
            if first < 0.0 {
                w.iter_mut().for_each(|v| *v = -*v);
            }
        }
    }
    basis
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sp(name: &str, comp: &[(&str, f64)]) -> Species {
        Species {
            name: name.into(),
            composition: comp.iter().map(|(a, b)| (a.to_string(), *b)).collect(),
            init: 0.0,
            scale: 1.0,
        }
    }

    #[test]
    fn jacobian_matches_finite_differences() {
        let species = vec![
            sp("A", &[("A", 1.0)]),
            sp("B", &[("B", 1.0)]),
            sp("AB", &[("A", 1.0), ("B", 1.0)]),
        ];
        let r = |re: &[usize], pr: &[usize], k: f64| Reaction {
            name: String::new(),
            reactants: re.iter().map(|&i| SpeciesId(i)).collect(),
            products: pr.iter().map(|&i| SpeciesId(i)).collect(),
            k,
            open: false,
            drive: None,
        };
        let net = Network::new(
            species,
            vec![
                r(&[0, 1], &[2], 3.0),
                r(&[2], &[0, 1], 0.7),
                r(&[0, 0], &[0], 0.5),
                r(&[], &[1], 2.0),
            ],
            vec![],
        );
        let x = [0.3, 1.7, 0.2];
        let mut j = DMatrix::zeros(3, 3);
        net.jacobian(&x, &[], &mut j);
        let mut f0 = [0.0; 3];
        net.rhs(&x, &[], &mut f0);
        for c in 0..3 {
            let mut xp = x;
            let h = 1e-7;
            xp[c] += h;
            let mut fp = [0.0; 3];
            net.rhs(&xp, &[], &mut fp);
            for r in 0..3 {
                assert!(((fp[r] - f0[r]) / h - j[(r, c)]).abs() < 1e-5);
            }
        }
        // The unbalanced 2A → A and ∅ → B are found; without them A + B ⇌ AB conserves
        // A + AB and B + AB.
        let bad: Vec<usize> = net.imbalances().iter().map(|(r, _)| r.0).collect();
        assert_eq!(bad, vec![2, 3]);
        assert!(net.conservation_laws(false).is_empty());
        let binding = Network::new(net.species.clone(), net.reactions[..2].to_vec(), vec![]);
        let laws = binding.conservation_laws(false);
        assert_eq!(laws.len(), 2);
        let text: Vec<String> = laws.iter().map(|l| l.describe(&binding)).collect();
        assert!(text.contains(&"A + AB".to_string()), "{text:?}");
        for l in &laws {
            let w: Vec<f64> = (0..3)
                .map(|s| l.terms.iter().find(|t| t.0 .0 == s).map_or(0.0, |t| t.1))
                .collect();
            assert!((w[0] + w[1] - w[2]).abs() < 1e-12, "{text:?}");
        }
    }
}
