//! Data sets: the embedded 8×8 digits (CSV), other CSV files of the same layout, MNIST IDX files
//! that a user already has, and a seeded train/test split.
//!
//! Inputs are scaled to `[0, 1]`: CSV features are divided by the largest feature value of the file
//! (16 for the digits), IDX pixels by 255.

use super::EpError;
use nalgebra::DMatrix;
use rand::seq::SliceRandom;
use std::path::{Path, PathBuf};

/// Random stream used by [`Dataset::split`].
const SPLIT_STREAM: u64 = 0x5917;

/// The 8×8 digits set shipped in `data/digits8x8.csv` (1797 images; see `data/README.md`).
pub const DIGITS_CSV: &str = include_str!("../../data/digits8x8.csv");

/// A labelled data set; `inputs` is `n_features × n_examples` (one column per example).
#[derive(Debug, Clone, PartialEq)]
pub struct Dataset {
    pub inputs: DMatrix<f64>,
    pub labels: Vec<usize>,
    /// Number of classes (the output layer size): one more than the largest label.
    pub n_classes: usize,
}

impl Dataset {
    /// Build a data set, checking that the shapes agree and the inputs lie in `[0, 1]`.
    pub fn new(inputs: DMatrix<f64>, labels: Vec<usize>) -> Result<Self, EpError> {
        if inputs.ncols() != labels.len() {
            return Err(EpError::Data(format!(
                "{} input columns but {} labels",
                inputs.ncols(),
                labels.len()
            )));
        }
        if labels.is_empty() || inputs.nrows() == 0 {
            return Err(EpError::Data("empty data set".into()));
        }
        if let Some(v) = inputs.iter().find(|v| !(0.0..=1.0).contains(*v)) {
            return Err(EpError::Data(format!("input value {v} outside [0, 1]")));
        }
        let n_classes = labels.iter().copied().max().unwrap_or(0) + 1;
        Ok(Dataset {
            inputs,
            labels,
            n_classes,
        })
    }

    pub fn len(&self) -> usize {
        self.labels.len()
    }

    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    pub fn n_features(&self) -> usize {
        self.inputs.nrows()
    }

    /// The examples `idx`, in that order (the class count is kept).
    pub fn subset(&self, idx: &[usize]) -> Dataset {
        Dataset {
            inputs: self.inputs.select_columns(idx),
            labels: idx.iter().map(|&i| self.labels[i]).collect(),
            n_classes: self.n_classes,
        }
    }

    /// The first `n` examples (all if `n ≥ len`).
    pub fn truncated(&self, n: usize) -> Dataset {
        let idx: Vec<usize> = (0..n.min(self.len())).collect();
        self.subset(&idx)
    }

    /// One-hot targets (`n_classes × |idx|`) of the examples `idx`.
    pub fn one_hot(&self, idx: &[usize], n_classes: usize) -> DMatrix<f64> {
        let mut d = DMatrix::zeros(n_classes, idx.len());
        for (j, &i) in idx.iter().enumerate() {
            if self.labels[i] < n_classes {
                d[(self.labels[i], j)] = 1.0;
            }
        }
        d
    }

    /// A seeded random split into `(train, test)` with `round(test_fraction · n)` test examples
    /// (at least one of each).
    pub fn split(&self, test_fraction: f64, seed: u64) -> Result<(Dataset, Dataset), EpError> {
        if !(test_fraction > 0.0 && test_fraction < 1.0) {
            return Err(EpError::option(
                "test fraction",
                test_fraction,
                "must lie strictly between 0 and 1",
            ));
        }
        let n = self.len();
        let n_test = ((test_fraction * n as f64).round() as usize).clamp(1, n.saturating_sub(1));
        if n < 2 || n_test == 0 {
            return Err(EpError::Data(format!("cannot split {n} examples")));
        }
        let mut idx: Vec<usize> = (0..n).collect();
        idx.shuffle(&mut super::task_rng(seed, SPLIT_STREAM));
        let (test, train) = idx.split_at(n_test);
        let mut train = train.to_vec();
        let mut test = test.to_vec();
        train.sort_unstable();
        test.sort_unstable();
        Ok((self.subset(&train), self.subset(&test)))
    }
}

/// The embedded 8×8 digits set.
pub fn digits() -> Result<Dataset, EpError> {
    parse_csv(DIGITS_CSV, Path::new("<embedded data/digits8x8.csv>"))
}

/// Read a CSV file: an optional header line, then `label, f_1, …, f_n` per row (label a
/// non-negative integer, features finite and non-negative).
pub fn load_csv(path: &Path) -> Result<Dataset, EpError> {
    let text = std::fs::read_to_string(path).map_err(|error| EpError::Io {
        path: path.to_path_buf(),
        error,
    })?;
    parse_csv(&text, path)
}

/// Parse CSV text (see [`load_csv`]); `path` names the source in errors.
pub fn parse_csv(text: &str, path: &Path) -> Result<Dataset, EpError> {
    let err = |line: usize, message: String| EpError::Csv {
        path: path.to_path_buf(),
        line: line as u64,
        message,
    };
    let mut labels = Vec::new();
    let mut values: Vec<f64> = Vec::new();
    let mut width: Option<usize> = None;
    for (i, raw) in text.lines().enumerate() {
        let line_no = i + 1;
        let line = raw.trim();
        if line.is_empty() {
            continue;
        }
        let fields: Vec<&str> = line.split(',').map(str::trim).collect();
        // A first line whose label field is not a number is a header.
        if i == 0 && fields[0].parse::<f64>().is_err() {
            continue;
        }
        if fields.len() < 2 {
            return Err(err(line_no, "need a label and at least one feature".into()));
        }
        match width {
            None => width = Some(fields.len()),
            Some(w) if w != fields.len() => {
                return Err(err(
                    line_no,
                    format!("{} fields, expected {w} as on the first row", fields.len()),
                ))
            }
            _ => {}
        }
        let label: usize = fields[0].parse().map_err(|_| {
            err(
                line_no,
                format!("label {:?} is not a non-negative integer", fields[0]),
            )
        })?;
        labels.push(label);
        for (c, f) in fields[1..].iter().enumerate() {
            let v: f64 = f.parse().map_err(|_| {
                err(
                    line_no,
                    format!("feature {} = {f:?} is not a number", c + 1),
                )
            })?;
            if !v.is_finite() || v < 0.0 {
                return Err(err(
                    line_no,
                    format!("feature {} = {v} must be finite and non-negative", c + 1),
                ));
            }
            values.push(v);
        }
    }
    let Some(width) = width else {
        return Err(err(1, "no data rows".into()));
    };
    let n_features = width - 1;
    let max = values.iter().copied().fold(0.0f64, f64::max);
    let scale = if max > 0.0 { 1.0 / max } else { 1.0 };
    let inputs = DMatrix::from_iterator(n_features, labels.len(), values.iter().map(|v| v * scale));
    Dataset::new(inputs, labels)
}

fn idx_err(path: &Path, offset: u64, message: impl Into<String>) -> EpError {
    EpError::Idx {
        path: path.to_path_buf(),
        offset,
        message: message.into(),
    }
}

fn read_bytes(path: &Path) -> Result<Vec<u8>, EpError> {
    std::fs::read(path).map_err(|error| EpError::Io {
        path: path.to_path_buf(),
        error,
    })
}

/// Parse an IDX file of unsigned bytes (`0x00 0x00 0x08 ndim`, then `ndim` big-endian u32 sizes,
/// then the data). Returns the sizes and the data.
pub fn parse_idx_u8(bytes: &[u8], path: &Path) -> Result<(Vec<usize>, Vec<u8>), EpError> {
    if bytes.len() < 4 {
        return Err(idx_err(
            path,
            0,
            "file shorter than the 4-byte magic number",
        ));
    }
    if bytes[0] != 0 || bytes[1] != 0 {
        return Err(idx_err(
            path,
            0,
            "magic number must start with two zero bytes",
        ));
    }
    if bytes[2] != 0x08 {
        return Err(idx_err(
            path,
            2,
            format!(
                "data type 0x{:02x} not supported (only 0x08, unsigned byte)",
                bytes[2]
            ),
        ));
    }
    let ndim = bytes[3] as usize;
    if ndim == 0 {
        return Err(idx_err(path, 3, "zero dimensions"));
    }
    let header = 4 + 4 * ndim;
    if bytes.len() < header {
        return Err(idx_err(
            path,
            bytes.len() as u64,
            format!("header of {ndim} dimensions truncated"),
        ));
    }
    let mut dims = Vec::with_capacity(ndim);
    let mut total: usize = 1;
    for d in 0..ndim {
        let o = 4 + 4 * d;
        let v = u32::from_be_bytes([bytes[o], bytes[o + 1], bytes[o + 2], bytes[o + 3]]) as usize;
        total = total
            .checked_mul(v)
            .ok_or_else(|| idx_err(path, o as u64, "sizes overflow"))?;
        dims.push(v);
    }
    if bytes.len() != header + total {
        return Err(idx_err(
            path,
            bytes.len().min(header + total) as u64,
            format!(
                "expected {} data bytes for sizes {dims:?}, found {}",
                total,
                bytes.len() - header
            ),
        ));
    }
    Ok((dims, bytes[header..].to_vec()))
}

/// Load an IDX image file (`n × rows × cols` or `n × features`) and its IDX label file; pixels
/// are scaled by 1/255.
pub fn load_idx(images: &Path, labels: &Path) -> Result<Dataset, EpError> {
    let (dims, pixels) = parse_idx_u8(&read_bytes(images)?, images)?;
    let (ldims, lab) = parse_idx_u8(&read_bytes(labels)?, labels)?;
    if dims.len() < 2 {
        return Err(idx_err(
            images,
            3,
            "an image file needs at least 2 dimensions",
        ));
    }
    if ldims.len() != 1 {
        return Err(idx_err(labels, 3, "a label file has exactly 1 dimension"));
    }
    let n = dims[0];
    if ldims[0] != n {
        return Err(EpError::Data(format!(
            "{} holds {n} images but {} holds {} labels",
            images.display(),
            labels.display(),
            ldims[0]
        )));
    }
    let feat: usize = dims[1..].iter().product();
    let inputs = DMatrix::from_iterator(feat, n, pixels.iter().map(|&p| p as f64 / 255.0));
    Dataset::new(inputs, lab.iter().map(|&l| l as usize).collect())
}

/// The MNIST file names looked up in a directory (uncompressed IDX).
pub const MNIST_FILES: [&str; 4] = [
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
];

/// Load MNIST from a directory holding the uncompressed IDX files (also accepted with the dot
/// spelling `train-images.idx3-ubyte`). Returns the training set and, if present, the test set.
pub fn load_mnist_dir(dir: &Path) -> Result<(Dataset, Option<Dataset>), EpError> {
    let find = |name: &str| -> Option<PathBuf> {
        let dotted = name.replacen("-idx", ".idx", 1);
        [name.to_string(), dotted]
            .iter()
            .map(|n| dir.join(n))
            .find(|p| p.is_file())
    };
    let missing = |name: &str| EpError::Io {
        path: dir.join(name),
        error: std::io::Error::new(std::io::ErrorKind::NotFound, "MNIST IDX file not found"),
    };
    let ti = find(MNIST_FILES[0]).ok_or_else(|| missing(MNIST_FILES[0]))?;
    let tl = find(MNIST_FILES[1]).ok_or_else(|| missing(MNIST_FILES[1]))?;
    let train = load_idx(&ti, &tl)?;
    let test = match (find(MNIST_FILES[2]), find(MNIST_FILES[3])) {
        (Some(a), Some(b)) => Some(load_idx(&a, &b)?),
        _ => None,
    };
    Ok((train, test))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digits_load_with_expected_shape() {
        let d = digits().unwrap();
        assert_eq!(d.len(), 1797);
        assert_eq!(d.n_features(), 64);
        assert_eq!(d.n_classes, 10);
        assert_eq!(d.inputs.max(), 1.0);
        assert_eq!(d.labels[..3], [0, 1, 2]);
    }

    #[test]
    fn split_is_seeded_and_disjoint() {
        let d = digits().unwrap();
        let (a, b) = d.split(0.2, 7).unwrap();
        let (a2, _) = d.split(0.2, 7).unwrap();
        let (a3, _) = d.split(0.2, 8).unwrap();
        assert_eq!(a.len() + b.len(), 1797);
        assert_eq!(b.len(), 359);
        assert_eq!(a, a2);
        assert_ne!(a, a3);
    }

    #[test]
    fn csv_errors_name_the_line() {
        let e = parse_csv("label,a,b\n1,2,3\n2,x,4\n", Path::new("f.csv")).unwrap_err();
        assert!(e.to_string().starts_with("f.csv:3:"), "{e}");
        let e = parse_csv("1,2,3\n2,4\n", Path::new("g.csv")).unwrap_err();
        assert!(e.to_string().starts_with("g.csv:2:"), "{e}");
        let e = parse_csv("1,2,3\n-2,4,5\n", Path::new("g.csv")).unwrap_err();
        assert!(e.to_string().contains("label"), "{e}");
    }

    #[test]
    fn idx_truncated_names_offset() {
        let bytes = [0u8, 0, 8, 1, 0, 0, 0, 5, 1, 2];
        let e = parse_idx_u8(&bytes, Path::new("l.idx")).unwrap_err();
        assert!(e.to_string().contains("byte offset"), "{e}");
    }
}
