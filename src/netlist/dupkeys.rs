//! Duplicate keys in one JSON object. A JSON parser keeps the last of two equal keys without a
//! word (`"beta_max": -5, "beta_max": 2` reads as 2); physlearn refuses them, naming each with
//! its JSON path, for every family.

use super::Fault;
use serde::de::{DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use std::collections::HashSet;
use std::fmt;

/// One step of the path to the current value.
enum Seg {
    Key(String),
    Index(usize),
}

/// The walk keeps the path as a stack of steps and formats it only for a duplicate (a
/// 130 560-element netlist has millions of values and, as a rule, no duplicate).
struct Walk<'a> {
    path: &'a mut Vec<Seg>,
    out: &'a mut Vec<Fault>,
}

impl Walk<'_> {
    fn child(&mut self) -> Walk<'_> {
        Walk {
            path: &mut *self.path,
            out: &mut *self.out,
        }
    }

    fn path_text(&self) -> String {
        let mut p = String::new();
        for s in self.path.iter() {
            match s {
                Seg::Key(k) if p.is_empty() => p.push_str(k),
                Seg::Key(k) => {
                    p.push('.');
                    p.push_str(k);
                }
                Seg::Index(i) => p.push_str(&format!("[{i}]")),
            }
        }
        p
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
            self.path.push(Seg::Index(i));
            let more = seq.next_element_seed(self.child())?.is_some();
            self.path.pop();
            if !more {
                return Ok(());
            }
            i += 1;
        }
    }
    fn visit_map<A: MapAccess<'de>>(mut self, mut map: A) -> Result<(), A::Error> {
        // Small objects (the rule) are checked by a linear scan, large ones by a hash set.
        let mut seen: Vec<String> = Vec::new();
        let mut seen_set: HashSet<String> = HashSet::new();
        while let Some(k) = map.next_key::<String>()? {
            let dup = if seen_set.is_empty() && seen.len() < 32 {
                let d = seen.contains(&k);
                if !d {
                    seen.push(k.clone());
                }
                d
            } else {
                if seen_set.is_empty() {
                    seen_set.extend(seen.drain(..));
                }
                !seen_set.insert(k.clone())
            };
            self.path.push(Seg::Key(k));
            if dup {
                let p = self.path_text();
                self.out.push(Fault {
                    path: p,
                    message: "duplicate key: JSON keeps only the last value; write it once".into(),
                });
            }
            map.next_value_seed(self.child())?;
            self.path.pop();
        }
        Ok(())
    }
}

/// The duplicate keys of a JSON text, each with its path (syntax errors are left to the
/// parser, which reports them with their line and column).
pub fn duplicate_keys(bytes: &[u8]) -> Vec<Fault> {
    let mut out = Vec::new();
    let mut path = Vec::new();
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let _ = Walk {
        path: &mut path,
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
