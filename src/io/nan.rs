//! JSON has no NaN or ±∞: serde_json writes a non-finite `f64` as `null`, which loses ±∞ and
//! cannot be read back into an `f64`. Fields that may hold such values use these helpers, so every
//! file physlearn writes (checkpoints, row journals, `compare --json`, `summary.json`) reads back
//! exactly:
//!
//! * NaN is written as `null` (what every JSON reader, pandas included, takes as missing);
//! * +∞ and −∞ are written as the strings `"inf"` and `"-inf"` (CSV cells `inf`, `-inf`);
//! * reading accepts a number, `null` (NaN), and the strings `"inf"`, `"+inf"`, `"-inf"`,
//!   `"nan"` (any case, also `"Infinity"`).

use serde::de::{self, Deserializer, Visitor};
use serde::Serializer;
use std::fmt;

/// `null` → NaN, a number → itself, `"inf"`/`"-inf"` → ±∞ (read side of [`f64_lossless`]).
pub fn f64_or_nan<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    d.deserialize_any(LossyF64)
}

fn special(v: f64) -> Option<&'static str> {
    if v == f64::INFINITY {
        Some("inf")
    } else if v == f64::NEG_INFINITY {
        Some("-inf")
    } else {
        None
    }
}

fn parse_special(s: &str) -> Option<f64> {
    match s.to_ascii_lowercase().as_str() {
        "inf" | "+inf" | "infinity" | "+infinity" => Some(f64::INFINITY),
        "-inf" | "-infinity" => Some(f64::NEG_INFINITY),
        "nan" => Some(f64::NAN),
        _ => None,
    }
}

struct LossyF64;

impl<'de> Visitor<'de> for LossyF64 {
    type Value = f64;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a number, null (NaN) or \"inf\"/\"-inf\"")
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<f64, E> {
        Ok(v)
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<f64, E> {
        Ok(v as f64)
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<f64, E> {
        Ok(v as f64)
    }
    fn visit_unit<E: de::Error>(self) -> Result<f64, E> {
        Ok(f64::NAN)
    }
    fn visit_none<E: de::Error>(self) -> Result<f64, E> {
        Ok(f64::NAN)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<f64, D::Error> {
        d.deserialize_any(LossyF64)
    }
    fn visit_str<E: de::Error>(self, s: &str) -> Result<f64, E> {
        parse_special(s).ok_or_else(|| E::invalid_value(de::Unexpected::Str(s), &self))
    }
}

/// `#[serde(with = "crate::io::nan::f64_lossless")]`: an `f64` that may be NaN or ±∞.
pub mod f64_lossless {
    use super::*;

    pub fn serialize<S: Serializer>(v: &f64, s: S) -> Result<S::Ok, S::Error> {
        match special(*v) {
            Some(t) => s.serialize_str(t),
            None => s.serialize_f64(*v),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
        f64_or_nan(d)
    }
}

/// `#[serde(default, with = "crate::io::nan::opt_f64_lossless")]`: an `Option<f64>` whose value
/// may be ±∞ (`None` is `null`; a NaN inside `Some` reads back as `None`).
pub mod opt_f64_lossless {
    use super::*;

    pub fn serialize<S: Serializer>(v: &Option<f64>, s: S) -> Result<S::Ok, S::Error> {
        match v {
            None => s.serialize_none(),
            Some(x) => super::f64_lossless::serialize(x, s),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<f64>, D::Error> {
        let v = f64_or_nan(d)?;
        Ok((!v.is_nan()).then_some(v))
    }
}

#[cfg(test)]
mod tests {
    use serde::{Deserialize, Serialize};

    #[derive(Serialize, Deserialize, Debug)]
    struct Row {
        #[serde(with = "super::f64_lossless")]
        a: f64,
        #[serde(default, with = "super::opt_f64_lossless")]
        b: Option<f64>,
    }

    #[test]
    fn every_value_round_trips() {
        for a in [
            0.0,
            -0.0,
            1.5e-300,
            f64::MAX,
            f64::INFINITY,
            f64::NEG_INFINITY,
            f64::NAN,
        ] {
            for b in [
                None,
                Some(2.0),
                Some(f64::INFINITY),
                Some(f64::NEG_INFINITY),
            ] {
                let text = serde_json::to_string(&Row { a, b }).unwrap();
                let r: Row = serde_json::from_str(&text).unwrap();
                assert!(
                    r.a.to_bits() == a.to_bits() || (a.is_nan() && r.a.is_nan()),
                    "{text}"
                );
                assert_eq!(r.b, b, "{text}");
            }
        }
        let r: Row = serde_json::from_str(r#"{"a": "-Infinity"}"#).unwrap();
        assert_eq!((r.a, r.b), (f64::NEG_INFINITY, None));
        assert!(serde_json::from_str::<Row>(r#"{"a": "x"}"#).is_err());
        assert!(serde_json::to_string(&Row {
            a: f64::NAN,
            b: None
        })
        .unwrap()
        .contains(r#""a":null"#));
    }
}
