//! Rows → CSV. Any `Serialize` row whose fields are numbers, strings, options or flattened
//! structs becomes one CSV line, in field order; the header is the field names. `train.csv`,
//! `epochs.csv` and the sweep tables are written by this one function, so a library user
//! writes the same files.

use serde::Serialize;
use serde_json::Value;

/// A flat row: (column, value) in field order.
fn flatten(prefix: &str, v: &Value, out: &mut Vec<(String, String)>) {
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                let name = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                flatten(&name, x, out);
            }
        }
        Value::Null => out.push((prefix.to_string(), String::new())),
        Value::Bool(b) => out.push((prefix.to_string(), b.to_string())),
        Value::Number(n) => out.push((
            prefix.to_string(),
            match (n.as_u64(), n.as_i64(), n.as_f64()) {
                (Some(u), _, _) => u.to_string(),
                (_, Some(i), _) => i.to_string(),
                (_, _, Some(f)) => format!("{f:.9e}"),
                _ => n.to_string(),
            },
        )),
        Value::String(s) => out.push((prefix.to_string(), quote(s))),
        Value::Array(a) => out.push((
            prefix.to_string(),
            quote(&serde_json::to_string(a).unwrap_or_default()),
        )),
    }
}

fn quote(s: &str) -> String {
    if s.contains([',', '"', '\n']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// The CSV text of `rows` (header line, then one line per row). Missing values (`None`, NaN)
/// are empty fields. Errors only if a row cannot be serialised.
pub fn csv_text<T: Serialize>(rows: &[T]) -> Result<String, serde_json::Error> {
    let mut text = String::new();
    for (i, r) in rows.iter().enumerate() {
        let mut cols = Vec::new();
        flatten("", &serde_json::to_value(r)?, &mut cols);
        if i == 0 {
            let names: Vec<&str> = cols.iter().map(|c| c.0.as_str()).collect();
            text.push_str(&names.join(","));
            text.push('\n');
        }
        let vals: Vec<&str> = cols.iter().map(|c| c.1.as_str()).collect();
        text.push_str(&vals.join(","));
        text.push('\n');
    }
    Ok(text)
}

/// The CSV text of rows whose columns may differ (e.g. failed sweep points lack the metric
/// columns): the header is the union of the columns in order of first appearance among the
/// rows taken by increasing `rank` (stable; missing ranks count as 0), a row's missing
/// columns are empty fields. Rows are written in their given order.
pub fn csv_text_union<T: Serialize>(
    rows: &[T],
    rank: &[usize],
) -> Result<String, serde_json::Error> {
    let mut flat = Vec::with_capacity(rows.len());
    for r in rows {
        let mut cols = Vec::new();
        flatten("", &serde_json::to_value(r)?, &mut cols);
        flat.push(cols);
    }
    let mut order: Vec<usize> = (0..rows.len()).collect();
    order.sort_by_key(|&i| rank.get(i).copied().unwrap_or(0));
    let mut names: Vec<String> = Vec::new();
    let mut seen = std::collections::HashMap::new();
    for &i in &order {
        for (name, _) in &flat[i] {
            if !seen.contains_key(name) {
                seen.insert(name.clone(), names.len());
                names.push(name.clone());
            }
        }
    }
    let mut text = String::new();
    if rows.is_empty() {
        return Ok(text);
    }
    text.push_str(&names.iter().map(|n| quote(n)).collect::<Vec<_>>().join(","));
    text.push('\n');
    for cols in flat {
        let mut vals = vec![String::new(); names.len()];
        for (name, v) in cols {
            if let Some(&i) = seen.get(&name) {
                vals[i] = v;
            }
        }
        text.push_str(&vals.join(","));
        text.push('\n');
    }
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Serialize)]
    struct Inner {
        b: f64,
        c: Option<f64>,
    }
    #[derive(Serialize)]
    struct Row {
        a: usize,
        #[serde(flatten)]
        inner: Inner,
        name: String,
    }

    #[test]
    fn rows_keep_field_order_and_flatten() {
        let t = csv_text(&[Row {
            a: 3,
            inner: Inner { b: 0.5, c: None },
            name: "x,y".into(),
        }])
        .unwrap();
        assert_eq!(t, "a,b,c,name\n3,5.000000000e-1,,\"x,y\"\n");
    }

    #[test]
    fn union_of_columns() {
        let rows = vec![
            serde_json::json!({"a": 1, "b": {"c": 0.5}}),
            serde_json::json!({"a": 2, "d": "x"}),
        ];
        let t = csv_text_union(&rows, &[]).unwrap();
        assert_eq!(t, "a,b.c,d\n1,5.000000000e-1,\n2,,x\n");
        let t = csv_text_union(&rows, &[1, 0]).unwrap();
        assert_eq!(t, "a,d,b.c\n1,,5.000000000e-1\n2,x,\n");
    }
}
