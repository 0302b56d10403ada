//! Query parameters of a list or a get (RFC 7644 §3.4.2): `filter`, `startIndex` and
//! `count` (1-based paging), `attributes` and `excludedAttributes` (§3.9), and the
//! ListResponse they produce.

use serde_json::{json, Map, Value};

use super::filter::{AttrPath, Filter};
use super::json::{is_core, key_ci};
use super::{ScimError, LIST_SCHEMA};

/// `count` is clamped to this (advertised in ServiceProviderConfig as filter.maxResults).
pub const MAX_COUNT: usize = 1000;

#[derive(Debug, Default, Clone)]
pub struct Query {
    pub filter: Option<Filter>,
    pub start_index: usize,
    pub count: usize,
    pub attributes: Vec<AttrPath>,
    pub excluded: Vec<AttrPath>,
}

fn paths(s: Option<&str>) -> Result<Vec<AttrPath>, ScimError> {
    let Some(s) = s.filter(|s| !s.trim().is_empty()) else {
        return Ok(Vec::new());
    };
    if s.len() > super::filter::MAX_LEN {
        return Err(ScimError::invalid_value("the attribute list is too long"));
    }
    s.split(',')
        .map(|p| AttrPath::parse(p.trim()).map_err(|e| ScimError::invalid_value(e.detail)))
        .collect()
}

impl Query {
    /// From the query string's pairs; a malformed number or filter is 400.
    pub fn from_pairs(pairs: &[(String, String)]) -> Result<Query, ScimError> {
        let get = |k: &str| {
            pairs
                .iter()
                .find(|(key, _)| key.eq_ignore_ascii_case(k))
                .map(|(_, v)| v.as_str())
        };
        let number = |k: &str, default: usize| -> Result<usize, ScimError> {
            match get(k) {
                None | Some("") => Ok(default),
                // §3.4.2.4: values below 1 are read as 1 (startIndex) and 0 (count).
                Some(v) => v
                    .trim()
                    .parse::<i64>()
                    .map(|n| n.max(0) as usize)
                    .map_err(|_| ScimError::invalid_value(format!("{k} must be an integer"))),
            }
        };
        Ok(Query {
            filter: match get("filter") {
                Some(f) => Some(Filter::parse(f)?),
                None => None,
            },
            start_index: number("startIndex", 1)?.max(1),
            count: number("count", 100)?.min(MAX_COUNT),
            attributes: paths(get("attributes"))?,
            excluded: paths(get("excludedAttributes"))?,
        })
    }

    /// The ListResponse of `resources` (already in a stable order): filtered, paged,
    /// projected.
    pub fn list(&self, resources: Vec<Value>) -> Value {
        let matching: Vec<Value> = resources
            .into_iter()
            .filter(|r| self.filter.as_ref().is_none_or(|f| f.matches(r)))
            .collect();
        let total = matching.len();
        let page: Vec<Value> = matching
            .into_iter()
            .skip(self.start_index - 1)
            .take(self.count)
            .map(|r| self.project(r))
            .collect();
        json!({
            "schemas": [LIST_SCHEMA],
            "totalResults": total,
            "startIndex": self.start_index,
            "itemsPerPage": page.len(),
            "Resources": page,
        })
    }

    /// §3.9: only `attributes` (with `id` and `schemas`, always returned), or all but
    /// `excludedAttributes`.
    pub fn project(&self, mut r: Value) -> Value {
        let Some(obj) = r.as_object_mut() else {
            return r;
        };
        if !self.attributes.is_empty() {
            let mut out = Map::new();
            for keep in ["schemas", "id"] {
                if let Some(v) = obj.get(keep) {
                    out.insert(keep.to_string(), v.clone());
                }
            }
            for p in &self.attributes {
                copy(obj, &mut out, p);
            }
            return Value::Object(out);
        }
        for p in &self.excluded {
            if p.uri.is_none() && (p.attr == "id" || p.attr == "schemas") {
                continue;
            }
            remove(obj, p);
        }
        r
    }
}

fn scope_key(obj: &Map<String, Value>, p: &AttrPath) -> Option<Option<String>> {
    match &p.uri {
        Some(uri) if !is_core(uri) => key_ci(obj, uri).map(Some),
        _ => Some(None),
    }
}

fn copy(from: &Map<String, Value>, to: &mut Map<String, Value>, p: &AttrPath) {
    let Some(scope) = scope_key(from, p) else {
        return;
    };
    let src = match &scope {
        Some(k) => match from.get(k).and_then(Value::as_object) {
            Some(m) => m,
            None => return,
        },
        None => from,
    };
    let Some(key) = key_ci(src, &p.attr) else {
        return;
    };
    let value = match (&p.sub, &src[&key]) {
        (None, v) => v.clone(),
        (Some(sub), Value::Object(m)) => match key_ci(m, sub) {
            Some(sk) => json!({ sk.clone(): m[&sk].clone() }),
            None => return,
        },
        (Some(sub), Value::Array(items)) => Value::Array(
            items
                .iter()
                .filter_map(|e| {
                    let m = e.as_object()?;
                    let sk = key_ci(m, sub)?;
                    Some(json!({ sk.clone(): m[&sk].clone() }))
                })
                .collect(),
        ),
        (Some(_), _) => return,
    };
    let dest = match scope {
        Some(k) => to
            .entry(k)
            .or_insert_with(|| Value::Object(Map::new()))
            .as_object_mut(),
        None => Some(to),
    };
    if let Some(dest) = dest {
        match (dest.get_mut(&key), value) {
            (Some(Value::Object(have)), Value::Object(more)) => have.extend(more),
            (_, v) => {
                dest.insert(key, v);
            }
        }
    }
}

fn remove(obj: &mut Map<String, Value>, p: &AttrPath) {
    let Some(scope) = scope_key(obj, p) else {
        return;
    };
    let target = match scope {
        Some(k) => match obj.get_mut(&k).and_then(Value::as_object_mut) {
            Some(m) => m,
            None => return,
        },
        None => obj,
    };
    let Some(key) = key_ci(target, &p.attr) else {
        return;
    };
    match &p.sub {
        None => {
            target.remove(&key);
        }
        Some(sub) => match target.get_mut(&key) {
            Some(Value::Object(m)) => {
                if let Some(sk) = key_ci(m, sub) {
                    m.remove(&sk);
                }
            }
            Some(Value::Array(items)) => {
                for e in items.iter_mut().filter_map(Value::as_object_mut) {
                    if let Some(sk) = key_ci(e, sub) {
                        e.remove(&sk);
                    }
                }
            }
            _ => {}
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(pairs: &[(&str, &str)]) -> Query {
        let pairs: Vec<(String, String)> = pairs
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect();
        Query::from_pairs(&pairs).unwrap()
    }

    #[test]
    fn paging_and_projection() {
        let rs: Vec<Value> = (1..=5)
            .map(|i| json!({"schemas": ["s"], "id": i.to_string(), "userName": format!("u{i}"), "name": {"givenName": "g", "familyName": "f"}}))
            .collect();
        let l = q(&[("startIndex", "2"), ("count", "2")]).list(rs.clone());
        assert_eq!(l["totalResults"], 5);
        assert_eq!(l["Resources"][0]["id"], "2");
        assert_eq!(l["itemsPerPage"], 2);
        let l = q(&[("attributes", "name.givenName")]).list(rs.clone());
        assert_eq!(
            l["Resources"][0],
            json!({"schemas": ["s"], "id": "1", "name": {"givenName": "g"}})
        );
        let l = q(&[("excludedAttributes", "name,id")]).list(rs.clone());
        assert!(l["Resources"][0].get("name").is_none());
        assert!(l["Resources"][0].get("id").is_some());
        let l = q(&[("count", "100000")]);
        assert_eq!(l.count, MAX_COUNT);
        assert!(Query::from_pairs(&[("count".into(), "x".into())]).is_err());
    }
}
