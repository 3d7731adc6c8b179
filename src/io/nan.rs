//! JSON has no NaN: serde_json writes a non-finite `f64` as `null`. These helpers read such a
//! `null` back as NaN, so a file physlearn wrote (a checkpoint with a NaN metric) always reads
//! back.

use serde::{Deserialize, Deserializer};

/// `null` → NaN, a number → itself.
pub fn f64_or_nan<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    Ok(Option::<f64>::deserialize(d)?.unwrap_or(f64::NAN))
}
