//! Duplicate keys in one JSON object. A JSON parser keeps the last of two equal keys without a
//! word (`"beta_max": -5, "beta_max": 2` reads as 2); physlearn refuses them, naming each with
//! its JSON path, for every family.

use super::Fault;
use serde::de::{DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use std::collections::HashSet;
use std::fmt;

struct Walk<'a> {
    path: String,
    out: &'a mut Vec<Fault>,
}

impl Walk<'_> {
    fn child(&mut self, path: String) -> Walk<'_> {
        Walk {
            path,
            out: &mut *self.out,
        }
    }
}

impl<'de> DeserializeSeed<'de> for Walk<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Walk<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_bool<E>(self, _: bool) -> Result<(), E> {
        Ok(())
    }
    fn visit_i64<E>(self, _: i64) -> Result<(), E> {
        Ok(())
    }
    fn visit_u64<E>(self, _: u64) -> Result<(), E> {
        Ok(())
    }
    fn visit_f64<E>(self, _: f64) -> Result<(), E> {
        Ok(())
    }
    fn visit_str<E>(self, _: &str) -> Result<(), E> {
        Ok(())
    }
    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }
    fn visit_seq<A: SeqAccess<'de>>(mut self, mut seq: A) -> Result<(), A::Error> {
        let mut i = 0usize;
        loop {
            let p = format!("{}[{i}]", self.path);
            if seq.next_element_seed(self.child(p))?.is_none() {
                return Ok(());
            }
            i += 1;
        }
    }
    fn visit_map<A: MapAccess<'de>>(mut self, mut map: A) -> Result<(), A::Error> {
        let mut seen = HashSet::new();
        while let Some(k) = map.next_key::<String>()? {
            let p = if self.path.is_empty() {
                k.clone()
            } else {
                format!("{}.{k}", self.path)
            };
            if !seen.insert(k) {
                self.out.push(Fault {
                    path: p.clone(),
                    message: "duplicate key: JSON keeps only the last value; write it once".into(),
                });
            }
            map.next_value_seed(self.child(p))?;
        }
        Ok(())
    }
}

/// The duplicate keys of a JSON text, each with its path (syntax errors are left to the
/// parser, which reports them with their line and column).
pub fn duplicate_keys(bytes: &[u8]) -> Vec<Fault> {
    let mut out = Vec::new();
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let _ = Walk {
        path: String::new(),
        out: &mut out,
    }
    .deserialize(&mut de);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_every_duplicate_with_its_path() {
        let f = duplicate_keys(br#"{"a": 1, "b": [{"c": 1, "c": 2}], "a": 3}"#);
        let paths: Vec<&str> = f.iter().map(|f| f.path.as_str()).collect();
        assert_eq!(paths, ["b[0].c", "a"]);
        assert!(duplicate_keys(br#"{"a": {"a": 1}}"#).is_empty());
    }
}
