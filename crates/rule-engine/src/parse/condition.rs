//! Parses a condition: the tree form, the `equals` shorthand, and every leaf
//! checked by the leaf compiler so value, regex and time problems are found
//! at save time.

use serde_json::{Map, Value};

use super::normalise::equals_path;
use super::reader::{array, object, refuse_unknown, required, string};
use crate::compile;
use crate::condition::{Condition, Leaf, Operator, ReadAs};
use crate::limits::{MAX_CONDITION_DEPTH, MAX_LEAVES};
use crate::problem::{Problems, child, item};

const FORMS: [&str; 4] = ["all", "any", "not", "equals"];
const LEAF_FIELDS: [&str; 4] = ["path", "op", "value", "as"];

pub(super) fn parse_root(value: &Value, pointer: &str, problems: &mut Problems) -> Option<Condition> {
    let mut leaves = 0;
    let parsed = parse(value, pointer, 1, &mut leaves, problems);
    if leaves > MAX_LEAVES {
        problems.push(pointer, format!("has {leaves} leaves; at most {MAX_LEAVES} are allowed"));
        return None;
    }
    parsed
}

fn parse(value: &Value, pointer: &str, depth: usize, leaves: &mut usize, problems: &mut Problems) -> Option<Condition> {
    if depth > MAX_CONDITION_DEPTH {
        problems.push(pointer, format!("conditions are nested deeper than {MAX_CONDITION_DEPTH} levels"));
        return None;
    }
    let map = object(value, pointer, problems)?;
    let forms: Vec<&str> = FORMS.into_iter().filter(|f| map.contains_key(*f)).collect();
    match forms.as_slice() {
        [] => leaf(map, pointer, leaves, problems).map(Condition::Leaf),
        [form] => {
            refuse_unknown(map, pointer, &[form], problems);
            let inner = &map[*form];
            let inner_pointer = child(pointer, form);
            match *form {
                "all" => children(inner, &inner_pointer, depth, leaves, problems).map(Condition::All),
                "any" => children(inner, &inner_pointer, depth, leaves, problems).map(Condition::Any),
                "not" => parse(inner, &inner_pointer, depth + 1, leaves, problems).map(|c| Condition::Not(Box::new(c))),
                _ => equals(inner, &inner_pointer, depth, leaves, problems),
            }
        }
        _ => {
            problems.push(pointer, "a condition has exactly one of `all`, `any`, `not`, `equals`, or is a leaf (`path`, `op`, `value`)");
            None
        }
    }
}

fn children(value: &Value, pointer: &str, depth: usize, leaves: &mut usize, problems: &mut Problems) -> Option<Vec<Condition>> {
    let items = array(value, pointer, problems)?;
    if items.is_empty() {
        problems.push(pointer, "needs at least one condition");
        return None;
    }
    let parsed: Vec<Option<Condition>> =
        items.iter().enumerate().map(|(i, c)| parse(c, &item(pointer, i), depth + 1, leaves, problems)).collect();
    parsed.into_iter().collect()
}

fn equals(value: &Value, pointer: &str, depth: usize, leaves: &mut usize, problems: &mut Problems) -> Option<Condition> {
    let fields = object(value, pointer, problems)?;
    if fields.is_empty() {
        problems.push(pointer, "needs at least one field");
        return None;
    }
    if fields.len() > 1 && depth + 1 > MAX_CONDITION_DEPTH {
        problems.push(pointer, format!("conditions are nested deeper than {MAX_CONDITION_DEPTH} levels"));
        return None;
    }
    let mut out = Vec::with_capacity(fields.len());
    for (key, expected) in fields {
        *leaves += 1;
        let leaf = Leaf { path: equals_path(key), op: Operator::Eq, value: Some(expected.clone()), read_as: None };
        if check(&leaf, &child(pointer, key), problems) {
            out.push(Condition::Leaf(leaf));
        }
    }
    if out.len() != fields.len() {
        return None;
    }
    if out.len() == 1 { out.pop() } else { Some(Condition::All(out)) }
}

fn leaf(map: &Map<String, Value>, pointer: &str, leaves: &mut usize, problems: &mut Problems) -> Option<Leaf> {
    *leaves += 1;
    let before = problems.len();
    refuse_unknown(map, pointer, &LEAF_FIELDS, problems);
    let path = required(map, pointer, "path", problems).and_then(|v| string(v, &child(pointer, "path"), problems));
    let op = required(map, pointer, "op", problems).and_then(|v| operator(v, &child(pointer, "op"), problems));
    let read_as = match map.get("as") {
        None => None,
        Some(Value::String(s)) if s == "time" => Some(ReadAs::Time),
        Some(_) => {
            problems.push(&child(pointer, "as"), "unknown `as`: the only reading is \"time\"");
            None
        }
    };
    let value = map.get("value").cloned();
    if let Some(op) = op {
        match (&value, op.takes_value()) {
            (None, true) => problems.push(pointer, format!("missing required field `value` (`{op}` compares with a value)")),
            (Some(_), false) => problems.push(&child(pointer, "value"), format!("`{op}` takes no value")),
            _ => {}
        }
    }
    if problems.len() != before {
        return None;
    }
    let leaf = Leaf { path: path?.to_owned(), op: op?, value, read_as };
    check(&leaf, pointer, problems).then_some(leaf)
}

fn operator(value: &Value, pointer: &str, problems: &mut Problems) -> Option<Operator> {
    let name = string(value, pointer, problems)?;
    let op = name.parse::<Operator>().ok();
    if op.is_none() {
        let known: Vec<&str> = Operator::ALL.iter().map(|op| op.name()).collect();
        problems.push(pointer, format!("unknown operator {name:?} (expected one of: {})", known.join(", ")));
    }
    op
}

/// Runs the leaf compiler for its problems; true when there were none.
fn check(leaf: &Leaf, pointer: &str, problems: &mut Problems) -> bool {
    match compile::leaf(leaf) {
        Ok(_) => true,
        Err(found) => {
            for p in found {
                problems.push(&format!("{pointer}{}", p.at), p.message);
            }
            false
        }
    }
}
