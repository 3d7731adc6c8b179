//! One entry point for every family: [`load`] reads a netlist of any family, validates it,
//! resolves every "auto" setting and runs the load-time diagnostics, and returns a [`Model`]
//! in which no unresolved value exists.

use crate::chem::system::ChemSystem;
use crate::error::Error;
use crate::learning::session::{one_cycle, OneCycle};
use crate::learning::system::{Family, LearningSystem};
use crate::learning::SimError;
use crate::netlist::{self, NetlistError, RecordSpec};
use crate::physics::diagnostics::Diagnostic;
use crate::physics::system::NetworkSystem;
use crate::physics::PhysicsError;
use serde::Serialize;
use serde_json::Value;
use std::path::Path;
use std::sync::{Arc, OnceLock};

/// The physics of a model, one variant per family.
// One model per run: the variants' sizes do not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug)]
pub enum System {
    /// Flow or elastic2d network.
    Network(NetworkSystem),
    /// Chemical reaction network.
    Chemical(ChemSystem),
}

/// Run `$body` with `$s` bound to the model's [`LearningSystem`], whatever its family.
#[macro_export]
macro_rules! with_system {
    ($sys:expr, |$s:ident| $body:expr) => {
        match $sys {
            $crate::model::System::Network($s) => $body,
            $crate::model::System::Chemical($s) => $body,
        }
    };
}

/// A validated, resolved model of any family.
#[derive(Clone, Debug)]
pub struct Model {
    system: System,
    /// The netlist as written: its JSON tree, built on first use from the text when the model
    /// was read from text (a large netlist is validated without a tree of its elements).
    tree: OnceLock<Value>,
    text: Option<Arc<[u8]>>,
    /// `meta` of the netlist.
    meta: Value,
    /// The `record` section (network families).
    record: Option<RecordSpec>,
    /// SHA-256 of the netlist bytes (files) or of its compact JSON text.
    sha256: String,
    /// Where it was read from (`None`: built in memory).
    path: Option<String>,
}

/// Read, validate and resolve a netlist file of any family.
pub fn load(path: impl AsRef<Path>) -> Result<Model, Error> {
    let path = path.as_ref();
    let bytes = std::fs::read(path).map_err(|e| NetlistError::Read {
        path: path.display().to_string(),
        cause: e,
    })?;
    let mut m = Model::from_slice(&bytes)?;
    m.path = Some(path.display().to_string());
    Ok(m)
}

fn syntax(e: serde_json::Error) -> NetlistError {
    NetlistError::Syntax {
        line: e.line(),
        column: e.column(),
        message: e.to_string(),
    }
}

/// Load-time failures of the network preparation: a singular network is the user's netlist.
fn prepare_error(e: PhysicsError) -> SimError {
    match e {
        PhysicsError::Singular { .. } => SimError::BadInput(e.to_string()),
        e => SimError::Physics(e),
    }
}

impl Model {
    /// Validate and resolve netlist JSON text.
    pub fn from_json(text: &str) -> Result<Model, Error> {
        Self::from_slice(text.as_bytes())
    }

    fn from_slice(bytes: &[u8]) -> Result<Model, Error> {
        if bytes.starts_with(b"\xEF\xBB\xBF") {
            return Err(NetlistError::Syntax {
                line: 1,
                column: 1,
                message: "the file starts with a UTF-8 byte-order mark (BOM); save it without one"
                    .into(),
            }
            .into());
        }
        let doc = netlist::Doc::from_slice(bytes)?;
        let dups = netlist::dupkeys::duplicate_keys(bytes);
        let built = if doc.is_chemical() {
            drop(doc);
            let v: Value = serde_json::from_slice(bytes).map_err(syntax)?;
            Self::from_value(v)
        } else {
            Self::from_doc(&doc, bytes)
        };
        let mut m = match (built, dups.is_empty()) {
            (r, true) => r?,
            (Err(Error::Netlist(NetlistError::Invalid(mut f))), false) => {
                f.splice(0..0, dups);
                return Err(NetlistError::Invalid(f).into());
            }
            (_, false) => return Err(NetlistError::Invalid(dups).into()),
        };
        m.sha256 = crate::io::output::sha256_hex(bytes);
        Ok(m)
    }

    /// A network netlist read as a [`netlist::Doc`]; the text is kept for [`Model::netlist`].
    fn from_doc(doc: &netlist::Doc<'_>, bytes: &[u8]) -> Result<Model, Error> {
        let nl = netlist::from_doc(doc)?;
        let prep = crate::sim::prepare(&nl).map_err(prepare_error)?;
        Ok(Model {
            system: System::Network(NetworkSystem::new(prep)),
            tree: OnceLock::new(),
            text: Some(Arc::from(bytes)),
            meta: nl.meta,
            record: Some(nl.record),
            // Set by the caller (`from_slice`).
            sha256: String::new(),
            path: None,
        })
    }

    /// Validate and resolve a netlist JSON tree.
    pub fn from_value(v: Value) -> Result<Model, Error> {
        let (system, meta, record) = if netlist::chem::is_chemical(&v) {
            let nl = netlist::chem::from_value(&v)?;
            let meta = v.get("meta").cloned().unwrap_or(Value::Null);
            (System::Chemical(ChemSystem::new(nl.model)?), meta, None)
        } else {
            let nl = netlist::from_value(&v)?;
            let prep = crate::sim::prepare(&nl).map_err(prepare_error)?;
            (
                System::Network(NetworkSystem::new(prep)),
                nl.meta,
                Some(nl.record),
            )
        };
        let text = serde_json::to_string(&v).unwrap_or_default();
        Ok(Model {
            system,
            sha256: crate::io::output::sha256_hex(text.as_bytes()),
            tree: OnceLock::from(v),
            text: None,
            meta,
            record,
            path: None,
        })
    }

    pub fn system(&self) -> &System {
        &self.system
    }

    pub fn family(&self) -> Family {
        with_system!(&self.system, |s| s.meta().family)
    }

    /// Ids of the learnable parameters θ (the order of every θ vector).
    pub fn learnables(&self) -> &[String] {
        with_system!(&self.system, |s| &s.meta().learnables)
    }

    /// Load-time diagnostics.
    pub fn diagnostics(&self) -> &[Diagnostic] {
        with_system!(&self.system, |s| s.diagnostics())
    }

    /// θ at the start.
    pub fn theta0(&self) -> Vec<f64> {
        with_system!(&self.system, |s| s.theta0())
    }

    /// The netlist as written.
    pub fn netlist(&self) -> &Value {
        self.tree.get_or_init(|| {
            // The text was parsed once already: it is valid JSON.
            self.text
                .as_deref()
                .and_then(|t| serde_json::from_slice(t).ok())
                .unwrap_or(Value::Null)
        })
    }

    /// Free-form `meta` of the netlist (generator, seeds).
    pub fn meta(&self) -> &Value {
        &self.meta
    }

    /// The `record` section of a network netlist (time-series columns of `run`).
    pub fn record(&self) -> Option<RecordSpec> {
        self.record.clone()
    }

    pub fn sha256(&self) -> &str {
        &self.sha256
    }

    pub fn path(&self) -> Option<&str> {
        self.path.as_deref()
    }

    /// One cycle of example 0 at the initial θ against the ideal rule and the gradient
    /// (`physlearn compare`); refused when the diagnostics report errors unless `force`.
    pub fn compare(&self, force: bool) -> Result<Compare, Error> {
        with_system!(&self.system, |s| {
            let one = one_cycle(s, force)?;
            let extras = s.compare_extras(&one.delta)?;
            Ok(Compare::from_one(one, extras))
        })
    }
}

/// `compare --json`: the common keys of every family, then the family's own (chemical:
/// `cos_grad_i`, the reduced-model cross-check, …) as a JSON map.
pub type Compare = OneCycle<serde_json::Map<String, Value>>;

impl Compare {
    fn from_one<E: Serialize>(one: OneCycle<E>, more: serde_json::Map<String, Value>) -> Self {
        let mut extras = match serde_json::to_value(&one.extras) {
            Ok(Value::Object(m)) => m,
            _ => serde_json::Map::new(),
        };
        extras.extend(more);
        OneCycle {
            family: one.family,
            learnables: one.learnables,
            delta: one.delta,
            ideal: one.ideal,
            grad: one.grad,
            cmp: one.cmp,
            cost: one.cost,
            loop_gain: one.loop_gain,
            stats: one.stats,
            tail: one.tail,
            energy: one.energy,
            wall_seconds: one.wall_seconds,
            extras,
        }
    }
}
