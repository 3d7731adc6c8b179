//! `physlearn._core`: the Python bindings of the physlearn library. This file converts types
//! and calls the library; every computation lives in the `physlearn` crate (one definition of
//! everything). The pure-Python package `physlearn` wraps these functions with docstrings,
//! progress bars, pandas conversion and the netlist builders.
//!
//! Rules kept here:
//! * every entry point runs inside [`guard`], so a bug that panics becomes a Python
//!   `physlearn.InternalError` instead of a `PanicException` (the library is written not to
//!   panic on any input; this is the safety net, not the error handling);
//! * long computations release the GIL ([`Python::detach`]); training re-takes it between
//!   cycles only to call the progress callback and to check for Ctrl-C;
//! * library errors map onto the exception classes of `physlearn._errors`
//!   ([`to_pyerr`]): `NetlistError(ValueError)` with `.faults`, `RefusedError(ValueError)`,
//!   `InputError(ValueError)`, `NumericalError(RuntimeError)`, `OSError` for unreadable files.

use numpy::ndarray::Array2;
use numpy::{PyArray1, PyArray2};
use physlearn::learning::checkpoint_file::CheckpointFile;
use physlearn::learning::{Session, SessionOptions, SimError};
use physlearn::netlist::NetlistError;
use physlearn::synapse::api::{self as syn, CurveSpec, KernelChoice, KernelFamily};
use physlearn::synapse::protocol::Threshold;
use physlearn::synapse::SynapseError;
use physlearn::timeseries::{self, SeriesOptions};
use physlearn::{with_system, Error, ExitClass};
use pyo3::exceptions::{
    PyFileNotFoundError, PyOSError, PyPermissionError, PyRuntimeError, PyTypeError,
};
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyDict, PyFloat, PyInt, PyList, PyString, PyTuple};
use serde_json::Value;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::PathBuf;
use std::sync::Arc;

// ---------------------------------------------------------------------------------------------
// Errors

/// Run `f`; a panic (a bug) becomes `physlearn.InternalError`.
fn guard<T>(py: Python<'_>, f: impl FnOnce() -> PyResult<T>) -> PyResult<T> {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(r) => r,
        Err(payload) => {
            let what = payload
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".into());
            Err(py_error(
                py,
                "InternalError",
                format!("internal error in physlearn (please report): {what}"),
                None,
            ))
        }
    }
}

/// An instance of `physlearn._errors.<name>(message[, faults])` as a `PyErr`.
fn py_error(
    py: Python<'_>,
    name: &str,
    message: String,
    faults: Option<Vec<(String, String)>>,
) -> PyErr {
    let made = (|| -> PyResult<PyErr> {
        let cls = py.import("physlearn._errors")?.getattr(name)?;
        let inst = match faults {
            Some(f) => cls.call1((message.clone(), f))?,
            None => cls.call1((message.clone(),))?,
        };
        Ok(PyErr::from_value(inst))
    })();
    made.unwrap_or_else(|_| PyRuntimeError::new_err(message))
}

fn io_error(path: &str, cause: &std::io::Error) -> PyErr {
    let errno = cause.raw_os_error().unwrap_or(0);
    let args = (errno, cause.to_string(), path.to_string());
    match cause.kind() {
        std::io::ErrorKind::NotFound => PyFileNotFoundError::new_err(args),
        std::io::ErrorKind::PermissionDenied => PyPermissionError::new_err(args),
        _ => PyOSError::new_err(args),
    }
}

/// A library error as the documented Python exception.
fn to_pyerr(py: Python<'_>, e: Error) -> PyErr {
    let msg = e.to_string();
    match e {
        Error::Netlist(NetlistError::Read { path, cause }) => io_error(&path, &cause),
        Error::Netlist(NetlistError::Syntax { message, .. }) => {
            py_error(py, "NetlistError", msg, Some(vec![("$".into(), message)]))
        }
        Error::Netlist(NetlistError::Invalid(faults)) => py_error(
            py,
            "NetlistError",
            msg,
            Some(faults.into_iter().map(|f| (f.path, f.message)).collect()),
        ),
        Error::Sim(SimError::Refused(_)) => py_error(py, "RefusedError", msg, None),
        Error::Io(_) => PyOSError::new_err(msg),
        e => match e.class() {
            ExitClass::BadInput => py_error(py, "InputError", msg, None),
            ExitClass::Numerical => py_error(py, "NumericalError", msg, None),
            ExitClass::Other => PyOSError::new_err(msg),
        },
    }
}

fn synapse_err(py: Python<'_>, e: SynapseError) -> PyErr {
    let msg = e.to_string();
    match e {
        SynapseError::Numerical(_) => py_error(py, "NumericalError", msg, None),
        e if e.is_bad_input() => py_error(py, "InputError", msg, None),
        _ => PyOSError::new_err(msg),
    }
}

// ---------------------------------------------------------------------------------------------
// Conversions

/// A JSON value as Python objects (dict keeps the key order; integers stay `int`).
fn json_to_py<'py>(py: Python<'py>, v: &Value) -> PyResult<Bound<'py, PyAny>> {
    Ok(match v {
        Value::Null => py.None().into_bound(py),
        Value::Bool(b) => PyBool::new(py, *b).to_owned().into_any(),
        Value::Number(n) => {
            if let Some(u) = n.as_u64() {
                u.into_pyobject(py)?.into_any()
            } else if let Some(i) = n.as_i64() {
                i.into_pyobject(py)?.into_any()
            } else {
                PyFloat::new(py, n.as_f64().unwrap_or(f64::NAN)).into_any()
            }
        }
        Value::String(s) => PyString::new(py, s).into_any(),
        Value::Array(a) => {
            let items = a
                .iter()
                .map(|x| json_to_py(py, x))
                .collect::<PyResult<Vec<_>>>()?;
            PyList::new(py, items)?.into_any()
        }
        Value::Object(m) => {
            let d = PyDict::new(py);
            for (k, x) in m {
                d.set_item(k, json_to_py(py, x)?)?;
            }
            d.into_any()
        }
    })
}

/// Deepest nesting accepted from Python (serde_json's own parser limit is 128).
const MAX_DEPTH: usize = 128;

fn fault_path(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

/// Python objects (dict, list, tuple, str, int, float, bool, None, and anything with
/// `tolist()`/`item()` such as numpy arrays and scalars) as a JSON value. Everything that is not
/// JSON is collected as a fault with its JSON path.
fn py_to_json(
    obj: &Bound<'_, PyAny>,
    path: &str,
    depth: usize,
    faults: &mut Vec<(String, String)>,
) -> Value {
    let here = || {
        if path.is_empty() {
            "$".to_string()
        } else {
            path.to_string()
        }
    };
    if depth > MAX_DEPTH {
        faults.push((here(), format!("nested deeper than {MAX_DEPTH} levels")));
        return Value::Null;
    }
    if obj.is_none() {
        return Value::Null;
    }
    if let Ok(b) = obj.cast::<PyBool>() {
        return Value::Bool(b.is_true());
    }
    if obj.is_instance_of::<PyInt>() {
        if let Ok(i) = obj.extract::<i64>() {
            return Value::from(i);
        }
        if let Ok(u) = obj.extract::<u64>() {
            return Value::from(u);
        }
        faults.push((here(), "integer out of the 64-bit range".into()));
        return Value::Null;
    }
    if obj.is_instance_of::<PyFloat>() {
        let x: f64 = obj.extract().unwrap_or(f64::NAN);
        return match serde_json::Number::from_f64(x) {
            Some(n) => Value::Number(n),
            None => {
                faults.push((here(), format!("{x} is not a JSON number")));
                Value::Null
            }
        };
    }
    if let Ok(s) = obj.cast::<PyString>() {
        return match s.to_cow() {
            Ok(s) => Value::String(s.into_owned()),
            Err(_) => {
                faults.push((here(), "string is not valid UTF-8".into()));
                Value::Null
            }
        };
    }
    if let Ok(d) = obj.cast::<PyDict>() {
        let mut m = serde_json::Map::new();
        for (k, v) in d.iter() {
            let key = match k.cast::<PyString>() {
                Ok(s) => s.to_cow().map(|s| s.into_owned()).ok(),
                Err(_) => None,
            };
            match key {
                Some(key) => {
                    let x = py_to_json(&v, &fault_path(path, &key), depth + 1, faults);
                    m.insert(key, x);
                }
                None => faults.push((
                    here(),
                    format!(
                        "object keys must be strings, got {}",
                        k.repr().map(|r| r.to_string()).unwrap_or_default()
                    ),
                )),
            }
        }
        return Value::Object(m);
    }
    if obj.is_instance_of::<PyList>() || obj.is_instance_of::<PyTuple>() {
        let mut out = Vec::new();
        if let Ok(it) = obj.try_iter() {
            for (i, x) in it.enumerate() {
                match x {
                    Ok(x) => out.push(py_to_json(&x, &format!("{}[{i}]", path), depth + 1, faults)),
                    Err(_) => faults.push((format!("{path}[{i}]"), "cannot be read".into())),
                }
            }
        }
        return Value::Array(out);
    }
    // numpy arrays and scalars: through their Python equivalents.
    for method in ["tolist", "item"] {
        if obj.hasattr(method).unwrap_or(false) {
            if let Ok(x) = obj.call_method0(method) {
                if !x.is(obj) {
                    return py_to_json(&x, path, depth + 1, faults);
                }
            }
        }
    }
    let tname = obj
        .get_type()
        .name()
        .map(|n| n.to_string())
        .unwrap_or_else(|_| "?".into());
    faults.push((here(), format!("a {tname} is not JSON")));
    Value::Null
}

fn array1<'py>(py: Python<'py>, v: &[f64]) -> Bound<'py, PyArray1<f64>> {
    PyArray1::from_slice(py, v)
}

/// Rows (equal lengths) as a 2-D array of shape (rows, cols).
fn array2<'py>(
    py: Python<'py>,
    rows: &[Vec<f64>],
    cols: usize,
) -> PyResult<Bound<'py, PyArray2<f64>>> {
    let mut flat = Vec::with_capacity(rows.len() * cols);
    for r in rows {
        if r.len() != cols {
            return Err(PyRuntimeError::new_err("ragged rows (internal error)"));
        }
        flat.extend_from_slice(r);
    }
    let a = Array2::from_shape_vec((rows.len(), cols), flat)
        .map_err(|e| PyRuntimeError::new_err(e.to_string()))?;
    Ok(PyArray2::from_owned_array(py, a))
}

fn num(v: &Value) -> f64 {
    match v {
        Value::Number(n) => n.as_f64().unwrap_or(f64::NAN),
        Value::Bool(b) => f64::from(u8::from(*b)),
        _ => f64::NAN,
    }
}

/// Serialised rows (flat objects) as ordered columns of numbers (missing → NaN).
fn columns(rows: &[Value]) -> Vec<(String, Vec<f64>)> {
    let mut cols: Vec<(String, Vec<f64>)> = Vec::new();
    if let Some(Value::Object(first)) = rows.first() {
        for k in first.keys() {
            cols.push((k.clone(), Vec::with_capacity(rows.len())));
        }
    }
    for r in rows {
        for (k, c) in cols.iter_mut() {
            c.push(r.get(k.as_str()).map_or(f64::NAN, num));
        }
    }
    cols
}

fn columns_dict<'py>(py: Python<'py>, rows: &[Value]) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    for (k, c) in columns(rows) {
        d.set_item(k, PyArray1::from_vec(py, c))?;
    }
    Ok(d)
}

fn to_value<T: serde::Serialize>(x: &T) -> PyResult<Value> {
    serde_json::to_value(x).map_err(|e| PyRuntimeError::new_err(e.to_string()))
}

// ---------------------------------------------------------------------------------------------
// Model

/// A validated, resolved model of any family (flow, elastic2d, chemical).
#[pyclass(name = "Model", module = "physlearn._core", frozen)]
struct PyModel {
    inner: Arc<physlearn::Model>,
}

fn model_result(py: Python<'_>, r: Result<physlearn::Model, Error>) -> PyResult<PyModel> {
    r.map(|m| PyModel { inner: Arc::new(m) })
        .map_err(|e| to_pyerr(py, e))
}

#[pymethods]
impl PyModel {
    /// Read, validate and resolve a netlist file.
    #[staticmethod]
    fn load(py: Python<'_>, path: PathBuf) -> PyResult<PyModel> {
        guard(py, || {
            let r = py.detach(|| physlearn::load(&path));
            model_result(py, r)
        })
    }

    /// Validate and resolve netlist JSON text.
    #[staticmethod]
    fn from_json(py: Python<'_>, text: &str) -> PyResult<PyModel> {
        guard(py, || {
            let text = text.to_string();
            let r = py.detach(|| physlearn::Model::from_json(&text));
            model_result(py, r)
        })
    }

    /// Validate and resolve a netlist given as Python objects (dicts, lists, numbers, numpy
    /// arrays and scalars).
    #[staticmethod]
    fn from_dict(py: Python<'_>, d: &Bound<'_, PyAny>) -> PyResult<PyModel> {
        guard(py, || {
            let mut faults = Vec::new();
            let v = py_to_json(d, "", 0, &mut faults);
            if !faults.is_empty() {
                let n = faults.len();
                let lines: Vec<String> =
                    faults.iter().map(|(p, m)| format!("  {p}: {m}")).collect();
                return Err(py_error(
                    py,
                    "NetlistError",
                    format!("{n} fault(s) in the netlist:\n{}", lines.join("\n")),
                    Some(faults),
                ));
            }
            let r = py.detach(|| physlearn::Model::from_value(v));
            model_result(py, r)
        })
    }

    /// `"flow"`, `"elastic2d"` or `"chemical"`.
    #[getter]
    fn family(&self) -> &'static str {
        self.inner.family().name()
    }

    /// Ids of the learnable parameters θ (the order of every θ vector).
    #[getter]
    fn learnables(&self) -> Vec<String> {
        self.inner.learnables().to_vec()
    }

    /// θ at the start (the netlist's values).
    #[getter]
    fn theta0<'py>(&self, py: Python<'py>) -> Bound<'py, PyArray1<f64>> {
        array1(py, &self.inner.theta0())
    }

    /// SHA-256 of the netlist bytes (files) or of its compact JSON text.
    #[getter]
    fn sha256(&self) -> String {
        self.inner.sha256().to_string()
    }

    /// The file it was read from (None: built in memory).
    #[getter]
    fn path(&self) -> Option<String> {
        self.inner.path().map(|s| s.to_string())
    }

    /// Load-time diagnostics: list of dicts {level, code, message}.
    fn check<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        guard(py, || {
            let v = to_value(&self.inner.diagnostics())?;
            Ok(json_to_py(py, &v)?.cast_into::<PyList>()?)
        })
    }

    /// The netlist as written, as compact JSON text.
    fn netlist_json(&self, py: Python<'_>) -> PyResult<String> {
        guard(py, || {
            serde_json::to_string(self.inner.netlist())
                .map_err(|e| PyRuntimeError::new_err(e.to_string()))
        })
    }

    /// The netlist as written, as Python objects.
    fn netlist<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        guard(py, || json_to_py(py, self.inner.netlist()))
    }

    /// One cycle of example 0 at the initial θ against the ideal rule and the gradient.
    #[pyo3(signature = (force=false))]
    fn compare(&self, py: Python<'_>, force: bool) -> PyResult<PyCompare> {
        guard(py, || {
            let m = Arc::clone(&self.inner);
            let r = py.detach(move || m.compare(force));
            r.map(|c| PyCompare { inner: c })
                .map_err(|e| to_pyerr(py, e))
        })
    }

    /// Train (physical TCL beside the ideal-CL and gradient-descent reference learners).
    /// Returns a dict with `columns` (train.csv order), `rows` (column → array), `csv` (the
    /// train.csv text), `epochs`, `thetas` (weights_final.csv rows), `theta`, `summary`.
    #[pyo3(signature = (cycles=None, force=false, reference_learners=true, cl_rate=1.0,
                        callback=None, checkpoint_every=None, checkpoint_path=None))]
    #[allow(clippy::too_many_arguments)]
    fn train<'py>(
        &self,
        py: Python<'py>,
        cycles: Option<usize>,
        force: bool,
        reference_learners: bool,
        cl_rate: f64,
        callback: Option<Bound<'py, PyAny>>,
        checkpoint_every: Option<usize>,
        checkpoint_path: Option<PathBuf>,
    ) -> PyResult<Bound<'py, PyDict>> {
        guard(py, || {
            if checkpoint_every == Some(0) {
                return Err(py_error(
                    py,
                    "InputError",
                    "checkpoint_every must be ≥ 1".into(),
                    None,
                ));
            }
            if checkpoint_every.is_some() != checkpoint_path.is_some() {
                return Err(py_error(
                    py,
                    "InputError",
                    "checkpoint_every and checkpoint_path go together".into(),
                    None,
                ));
            }
            if !cl_rate.is_finite() {
                return Err(py_error(
                    py,
                    "InputError",
                    format!("cl_rate must be finite, got {cl_rate}"),
                    None,
                ));
            }
            let opts = SessionOptions {
                cycles,
                force,
                cl_rate,
                reference_learners,
            };
            let model: &physlearn::Model = &self.inner;
            let name = model.path().unwrap_or("<memory>").to_string();
            let sha = model.sha256().to_string();
            let err = |e: SimError| to_pyerr(py, e.into());
            with_system!(model.system(), |sys| {
                let mut s = py
                    .detach(|| Session::new(sys, &opts, &name, &sha))
                    .map_err(err)?;
                let mut ck_file = match &checkpoint_path {
                    Some(p) => Some(
                        CheckpointFile::create(p).map_err(|e| PyOSError::new_err(e.to_string()))?,
                    ),
                    None => None,
                };
                let mut rows = Vec::new();
                while !s.done() {
                    let row = py
                        .detach(|| s.step().map(serde_json::to_value))
                        .map_err(err)?
                        .map_err(|e| PyRuntimeError::new_err(e.to_string()))?;
                    if let Some(cb) = &callback {
                        let d = json_to_py(py, &row)?;
                        cb.call1((d,))?;
                    }
                    rows.push(row);
                    py.check_signals()?;
                    let next = s.checkpoint().next_cycle;
                    if let (Some(k), Some(f)) = (checkpoint_every, ck_file.as_mut()) {
                        if next % k == 0 || s.done() {
                            f.save(&s).map_err(|e| PyOSError::new_err(e.to_string()))?;
                        }
                    }
                }
                let out = PyDict::new(py);
                let cols = columns(&rows);
                out.set_item(
                    "columns",
                    cols.iter().map(|c| c.0.clone()).collect::<Vec<_>>(),
                )?;
                out.set_item("rows", columns_dict(py, &rows)?)?;
                let csv = physlearn::io::tables::csv_text(s.rows())
                    .map_err(|e| PyRuntimeError::new_err(e.to_string()))?;
                out.set_item("csv", csv)?;
                let epochs: Vec<Value> =
                    s.epochs().iter().map(to_value).collect::<PyResult<_>>()?;
                out.set_item("epochs", columns_dict(py, &epochs)?)?;
                let thetas = s.final_thetas();
                let tv: Vec<Value> = thetas.iter().map(to_value).collect::<PyResult<_>>()?;
                let td = PyDict::new(py);
                td.set_item(
                    "learnable",
                    thetas
                        .iter()
                        .map(|r| r.learnable.clone())
                        .collect::<Vec<_>>(),
                )?;
                for (k, c) in columns(&tv) {
                    if k != "learnable" {
                        td.set_item(k, PyArray1::from_vec(py, c))?;
                    }
                }
                out.set_item("thetas", td)?;
                let theta: Vec<f64> = thetas.iter().map(|r| r.theta_phys).collect();
                out.set_item("theta", array1(py, &theta))?;
                out.set_item("summary", json_to_py(py, &to_value(&s.summary())?)?)?;
                out.set_item(
                    "checkpoint_format",
                    physlearn::learning::session::CHECKPOINT_FORMAT,
                )?;
                Ok(out)
            })
        })
    }

    /// Run the protocol and return its sampled time series: dict with `t`, `beta`,
    /// `outputs` (samples × outputs), `output_names`, `learnables` (samples × θ),
    /// `learnable_ids`, `theta_cycles` (cycles+1 × θ), `cycles`.
    #[pyo3(signature = (cycles=None, force=false, sample_cycles=10, samples_per_segment=None))]
    fn run<'py>(
        &self,
        py: Python<'py>,
        cycles: Option<usize>,
        force: bool,
        sample_cycles: usize,
        samples_per_segment: Option<usize>,
    ) -> PyResult<Bound<'py, PyDict>> {
        guard(py, || {
            let opts = SeriesOptions {
                cycles,
                sample_cycles,
                samples_per_segment,
                force,
            };
            let m = Arc::clone(&self.inner);
            let ts = py
                .detach(move || timeseries::run(&m, &opts))
                .map_err(|e| to_pyerr(py, e))?;
            let out = PyDict::new(py);
            out.set_item("t", array1(py, &ts.t))?;
            out.set_item("beta", array1(py, &ts.beta))?;
            out.set_item("outputs", array2(py, &ts.outputs, ts.output_names.len())?)?;
            out.set_item("output_names", ts.output_names.clone())?;
            let n = ts.learnable_ids.len();
            out.set_item("learnables", array2(py, &ts.learnables, n)?)?;
            out.set_item("learnable_ids", ts.learnable_ids.clone())?;
            out.set_item("theta_cycles", array2(py, &ts.theta_cycles, n)?)?;
            out.set_item("cycles", ts.cycles)?;
            Ok(out)
        })
    }

    fn __repr__(&self) -> String {
        format!(
            "<physlearn.Model {} ({} learnables){}>",
            self.inner.family().name(),
            self.inner.learnables().len(),
            self.inner
                .path()
                .map(|p| format!(" from {p}"))
                .unwrap_or_default()
        )
    }
}

// ---------------------------------------------------------------------------------------------
// Compare

/// One cycle against the references (`physlearn compare`): vectors over `learnables` as
/// float64 arrays, the metrics of docs/physics.md §7.5, and `to_dict()` equal to
/// `physlearn compare FILE --json`.
#[pyclass(name = "Compare", module = "physlearn", frozen)]
struct PyCompare {
    inner: physlearn::Compare,
}

#[pymethods]
impl PyCompare {
    /// Model family.
    #[getter]
    fn family(&self) -> &'static str {
        self.inner.family.name()
    }
    /// Ids of the learnables: the order of `delta`, `ideal` and `grad`.
    #[getter]
    fn learnables(&self) -> Vec<String> {
        self.inner.learnables.clone()
    }
    /// Physical Δθ of one cycle (plus the kernel tail).
    #[getter]
    fn delta<'py>(&self, py: Python<'py>) -> Bound<'py, PyArray1<f64>> {
        array1(py, &self.inner.delta)
    }
    /// Δθ of the ideal contrastive rule.
    #[getter]
    fn ideal<'py>(&self, py: Python<'py>) -> Bound<'py, PyArray1<f64>> {
        array1(py, &self.inner.ideal)
    }
    /// ∇C at θ0.
    #[getter]
    fn grad<'py>(&self, py: Python<'py>) -> Bound<'py, PyArray1<f64>> {
        array1(py, &self.inner.grad)
    }
    /// cos(Δθ, Δθ_CL).
    #[getter]
    fn cos_cl(&self) -> f64 {
        self.inner.cmp.cos_cl
    }
    /// cos(Δθ, −∇C).
    #[getter]
    fn cos_grad(&self) -> f64 {
        self.inner.cmp.cos_grad
    }
    /// Least-squares slope of Δθ ≈ slope·Δθ_CL + offset.
    #[getter]
    fn slope(&self) -> f64 {
        self.inner.cmp.slope
    }
    /// Least-squares offset of Δθ ≈ slope·Δθ_CL + offset.
    #[getter]
    fn offset(&self) -> f64 {
        self.inner.cmp.offset
    }
    /// Fraction of learnables (above the sign floor) whose update has the wrong sign.
    #[getter]
    fn wrong_sign_fraction(&self) -> f64 {
        self.inner.cmp.wrong_sign_fraction
    }
    /// Fraction of the contrast mass inside the threshold windows.
    #[getter]
    fn window_fraction(&self) -> f64 {
        self.inner.cmp.window_fraction
    }
    /// max |s^C − s^F| / (θ τ_f/τ).
    #[getter]
    fn max_contrast_over_lower_edge(&self) -> f64 {
        self.inner.cmp.max_contrast_over_lower_edge
    }
    /// Free-state cost of example 0 at θ0.
    #[getter]
    fn cost(&self) -> f64 {
        self.inner.cost
    }
    /// Loop gain G (None: not computed for this size).
    #[getter]
    fn loop_gain(&self) -> Option<f64> {
        self.inner.loop_gain
    }
    /// Right-hand-side evaluations of the cycle.
    #[getter]
    fn rhs_evals(&self) -> u64 {
        self.inner.stats.rhs_evals
    }
    /// Relaxation time appended after a fast_fall cycle.
    #[getter]
    fn tail(&self) -> f64 {
        self.inner.tail
    }
    /// Wall time of the cycle (s).
    #[getter]
    fn wall_seconds(&self) -> f64 {
        self.inner.wall_seconds
    }
    /// Energy of the cycle and its tail (docs/physics.md §12): work by the sources, the nudge
    /// and learning, dissipation by element class, stored-energy change, balance residual
    /// (netlist energy units; absent terms None), entropy production (chemical, k_B T).
    #[getter]
    fn energy<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        guard(py, || json_to_py(py, &to_value(&self.inner.energy)?))
    }
    /// Family-specific entries (chemical: cos_grad_i, the reduced-model cross-check, …).
    #[getter]
    fn extras<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        json_to_py(py, &Value::Object(self.inner.extras.clone()))
    }
    /// The `physlearn compare FILE --json` object (same keys, same numbers).
    fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        guard(py, || json_to_py(py, &to_value(&self.inner)?))
    }
    /// `physlearn compare FILE --json` text.
    fn to_json(&self, py: Python<'_>) -> PyResult<String> {
        guard(py, || {
            serde_json::to_string(&self.inner).map_err(|e| PyRuntimeError::new_err(e.to_string()))
        })
    }
    fn __repr__(&self) -> String {
        let c = &self.inner;
        format!(
            "<physlearn.Compare {}: {} learnables, cos_cl={:.4}, cos_grad={:.4}, slope={:.4}, cost={:.4e}>",
            c.family.name(),
            c.learnables.len(),
            c.cmp.cos_cl,
            c.cmp.cos_grad,
            c.cmp.slope,
            c.cost
        )
    }
}

// ---------------------------------------------------------------------------------------------
// Synapse lab

fn threshold(obj: &Bound<'_, PyAny>) -> PyResult<Threshold> {
    if let Ok(s) = obj.cast::<PyString>() {
        if s.to_cow()?.eq_ignore_ascii_case("auto") {
            return Ok(Threshold::Adaptive);
        }
        return Err(PyTypeError::new_err(
            "theta must be a number >= 0 or 'auto'",
        ));
    }
    obj.extract::<f64>()
        .map(Threshold::Fixed)
        .map_err(|_| PyTypeError::new_err("theta must be a number >= 0 or 'auto'"))
}

/// The Δw(A) curve of `physlearn synapse`, as the `--json` dict.
#[pyfunction]
#[pyo3(signature = (kernel, area, tau_fast, tau_slow, s0, theta, amplitudes,
                    tau_k=0.05, tau_u=None, gamma=0.01, f=25.0, step=200.0, dt=1e-4))]
#[allow(clippy::too_many_arguments)]
fn synapse_curve<'py>(
    py: Python<'py>,
    kernel: &str,
    area: Option<f64>,
    tau_fast: f64,
    tau_slow: f64,
    s0: f64,
    theta: &Bound<'py, PyAny>,
    amplitudes: Vec<f64>,
    tau_k: f64,
    tau_u: Option<f64>,
    gamma: f64,
    f: f64,
    step: f64,
    dt: f64,
) -> PyResult<Bound<'py, PyAny>> {
    guard(py, || {
        let family: KernelFamily = kernel.parse().map_err(|e| synapse_err(py, e))?;
        let choice = KernelChoice {
            family,
            area,
            tau_k,
            tau_u,
            gamma,
            f,
            step,
        };
        let theta = threshold(theta)?;
        let curve = py
            .detach(|| {
                let spec = CurveSpec {
                    kernel: choice.spec(dt)?,
                    tau_fast,
                    tau_slow,
                    s0,
                    theta,
                    amplitudes,
                    dt,
                };
                syn::delta_w_curve(&spec)
            })
            .map_err(|e| synapse_err(py, e))?;
        json_to_py(py, &to_value(&curve)?)
    })
}

/// The ladder kernel's summary of `physlearn ladder`, as the `--json` dict.
#[pyfunction]
#[pyo3(signature = (gamma, f=25.0, step=200.0, dt=5e-4))]
fn ladder_summary<'py>(
    py: Python<'py>,
    gamma: f64,
    f: f64,
    step: f64,
    dt: f64,
) -> PyResult<Bound<'py, PyAny>> {
    guard(py, || {
        let s = py
            .detach(|| syn::ladder_summary(gamma, f, step, dt))
            .map_err(|e| synapse_err(py, e))?;
        json_to_py(py, &to_value(&s)?)
    })
}

// ---------------------------------------------------------------------------------------------
// Sweeps (`physlearn sweep`): the grid, one point, the table. JSON text crosses the boundary so
// points can travel to any executor's workers as plain strings.

fn sweep_err(py: Python<'_>, e: physlearn::sweep::SweepError) -> PyErr {
    py_error(py, "InputError", e.to_string(), None)
}

fn sweep_of(
    py: Python<'_>,
    netlist: &str,
    spec: &str,
    label: &str,
) -> PyResult<physlearn::sweep::Sweep> {
    let base: Value = serde_json::from_str(netlist)
        .map_err(|e| py_error(py, "InputError", format!("{label}: not JSON: {e}"), None))?;
    let spec: physlearn::sweep::SweepSpec = serde_json::from_str(spec)
        .map_err(|e| py_error(py, "InputError", format!("not a sweep spec: {e}"), None))?;
    physlearn::sweep::Sweep::new(base, spec, label).map_err(|e| sweep_err(py, e))
}

/// The grid of `physlearn sweep FILE --set … [--seeds A..B]` over the netlist text: JSON text
/// `{"spec": …, "points": [{"index", "id", "values"}, …]}` (a bad key raises InputError).
#[pyfunction]
#[pyo3(signature = (netlist, sets, seeds=None, seed_key="student", mode="compare", cycles=None, force=false, label="netlist"))]
#[allow(clippy::too_many_arguments)]
fn sweep_plan(
    py: Python<'_>,
    netlist: &str,
    sets: Vec<String>,
    seeds: Option<String>,
    seed_key: &str,
    mode: &str,
    cycles: Option<usize>,
    force: bool,
    label: &str,
) -> PyResult<String> {
    guard(py, || {
        let mode = match mode {
            "compare" => physlearn::sweep::Mode::Compare,
            "train" => physlearn::sweep::Mode::Train,
            other => {
                return Err(py_error(
                    py,
                    "InputError",
                    format!("mode {other:?}: expected \"compare\" or \"train\""),
                    None,
                ))
            }
        };
        let spec = physlearn::sweep::SweepSpec::from_options(
            netlist.as_bytes(),
            &sets,
            seeds.as_deref(),
            seed_key,
            mode,
            cycles,
            force,
        )
        .map_err(|e| sweep_err(py, e))?;
        let spec_text =
            serde_json::to_string(&spec).map_err(|e| PyRuntimeError::new_err(e.to_string()))?;
        let sw = sweep_of(py, netlist, &spec_text, label)?;
        let plan = serde_json::json!({"spec": sw.spec(), "points": sw.points()});
        Ok(plan.to_string())
    })
}

/// Run point `index` of a sweep (the GIL released): the row as JSON text. A point's own
/// failure is its `status`/`message`, not an exception.
#[pyfunction]
#[pyo3(signature = (netlist, spec, index, label="netlist"))]
fn sweep_run_point(
    py: Python<'_>,
    netlist: &str,
    spec: &str,
    index: usize,
    label: &str,
) -> PyResult<String> {
    guard(py, || {
        let sw = sweep_of(py, netlist, spec, label)?;
        if index >= sw.len() {
            return Err(py_error(
                py,
                "InputError",
                format!("point {index} of a sweep of {} points", sw.len()),
                None,
            ));
        }
        let r = py.detach(|| sw.run_point(&sw.point(index)));
        serde_json::to_string(&r).map_err(|e| PyRuntimeError::new_err(e.to_string()))
    })
}

/// The text of `results.csv` for rows given as JSON texts (in the given order).
#[pyfunction]
fn sweep_results_csv(py: Python<'_>, rows: Vec<String>) -> PyResult<String> {
    guard(py, || {
        let rows = rows
            .iter()
            .map(|r| serde_json::from_str::<physlearn::sweep::PointResult>(r))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| py_error(py, "InputError", format!("not a sweep row: {e}"), None))?;
        physlearn::sweep::results_csv(&rows).map_err(|e| PyRuntimeError::new_err(e.to_string()))
    })
}

/// Raise a panic inside a guarded entry point (tests the safety net).
#[pyfunction]
fn _panic_for_test(py: Python<'_>) -> PyResult<()> {
    guard(py, || -> PyResult<()> { panic!("deliberate test panic") })
}

#[pymodule]
fn _core(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyModel>()?;
    m.add_class::<PyCompare>()?;
    m.add_function(wrap_pyfunction!(synapse_curve, m)?)?;
    m.add_function(wrap_pyfunction!(ladder_summary, m)?)?;
    m.add_function(wrap_pyfunction!(sweep_plan, m)?)?;
    m.add_function(wrap_pyfunction!(sweep_run_point, m)?)?;
    m.add_function(wrap_pyfunction!(sweep_results_csv, m)?)?;
    m.add_function(wrap_pyfunction!(_panic_for_test, m)?)?;
    m.add(
        "CHECKPOINT_FORMAT",
        physlearn::learning::session::CHECKPOINT_FORMAT,
    )?;
    Ok(())
}
