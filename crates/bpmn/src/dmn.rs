//! DMN decision tables (DMN 1.1–1.5, §8) into the compact decision tables
//! of `bindings.decisions`.
//!
//! Conversion happens where bindings are written (the CLI, validation),
//! never on chain: validators see only the compact form, whose meaning is
//! the expression language's. What converts:
//!
//! - hit policies `UNIQUE`, `FIRST`, `ANY`, and `COLLECT` with `SUM`,
//!   `MIN`, `MAX` or `COUNT` (a `COLLECT` without aggregation returns a
//!   list, `PRIORITY`, `OUTPUT ORDER` and `RULE ORDER` rank outputs: refused);
//! - input expressions that are expressions of Ingot's language over
//!   process variables (usually a variable's name);
//! - input entries in the common subset of FEEL simple unary tests (DMN
//!   §9.5): `-` (any), a literal (`10`, `12.5`, `"gold"`, `true`) meaning
//!   equality, a comparison (`< 10`, `>= 2.5`, `!= "x"`), a range
//!   (`[1..10]`, `(1..10)`, `]1..10[`, `[1..10[`), several of these
//!   separated by commas (any of them), and `not(...)` of those;
//! - output entries that are literals (or expressions of Ingot's language),
//!   given to the variable the output's `name` names. An empty output entry
//!   leaves that variable out of the rule.
//!
//! Anything else (FEEL functions, dates, contexts) is refused with the rule
//! and column it is in.

use roxmltree::{Document, Node};
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;

/// Largest DMN document read.
pub const MAX_DMN_BYTES: usize = 1 << 20;

fn is_dmn(n: &Node, local: &str) -> bool {
    n.is_element()
        && n.tag_name().name() == local
        && n.tag_name()
            .namespace()
            .is_some_and(|ns| ns.contains("omg.org/spec/DMN"))
}

fn children<'a, 'i>(n: Node<'a, 'i>, local: &'static str) -> impl Iterator<Item = Node<'a, 'i>> {
    n.children().filter(move |c| is_dmn(c, local))
}

fn text_of(n: Node) -> String {
    children(n, "text")
        .next()
        .map(|t| t.text().unwrap_or_default().trim().to_string())
        .unwrap_or_default()
}

/// Every decision table of a DMN document, by decision id, in the compact
/// form of `bindings.decisions` — with `types`, the variable types its
/// outputs' `typeRef`s give (which [`fill_decisions`] declares).
pub fn decision_tables(xml: &str) -> Result<BTreeMap<String, Value>, String> {
    if xml.len() > MAX_DMN_BYTES {
        return Err(format!(
            "DMN document of {} bytes is larger than {MAX_DMN_BYTES}",
            xml.len()
        ));
    }
    let doc = Document::parse(xml).map_err(|e| format!("not XML: {e}"))?;
    let root = doc.root_element();
    if !is_dmn(&root, "definitions") {
        return Err("not a DMN document (no DMN <definitions>)".into());
    }
    let mut out = BTreeMap::new();
    for decision in children(root, "decision") {
        let id = decision.attribute("id").unwrap_or_default().to_string();
        let Some(table) = children(decision, "decisionTable").next() else {
            continue; // a literal expression or another kind of decision
        };
        let compact = table_of(table).map_err(|e| format!("decision `{id}`: {e}"))?;
        out.insert(id, compact);
    }
    if out.is_empty() {
        return Err("the DMN document has no decision table".into());
    }
    Ok(out)
}

fn table_of(table: Node) -> Result<Value, String> {
    let policy = table.attribute("hitPolicy").unwrap_or("UNIQUE");
    let aggregation = table.attribute("aggregation");
    let hit = match (policy, aggregation) {
        ("UNIQUE", _) => "unique",
        ("FIRST", _) => "first",
        ("ANY", _) => "any",
        ("COLLECT", Some("SUM")) => "collect_sum",
        ("COLLECT", Some("MIN")) => "collect_min",
        ("COLLECT", Some("MAX")) => "collect_max",
        ("COLLECT", Some("COUNT")) => "collect_count",
        ("COLLECT", _) => {
            return Err("hit policy COLLECT without an aggregation returns a list of outputs: give SUM, MIN, MAX or COUNT".into())
        }
        (other, _) => {
            return Err(format!(
                "hit policy {other} is not supported (UNIQUE, FIRST, ANY, COLLECT with an aggregation)"
            ))
        }
    };
    let inputs: Vec<String> = children(table, "input")
        .map(|i| {
            children(i, "inputExpression")
                .next()
                .map(text_of)
                .unwrap_or_default()
        })
        .collect();
    for (c, input) in inputs.iter().enumerate() {
        crate::expr::parse(input).map_err(|e| {
            format!("input {c} `{input}` is not an expression over process variables: {e}")
        })?;
    }
    let mut types = Map::new();
    let outputs: Vec<String> = children(table, "output")
        .enumerate()
        .map(|(c, o)| {
            let name = o
                .attribute("name")
                .filter(|n| !n.is_empty())
                .map(str::to_string)
                .ok_or_else(|| format!("output {c} has no name (the variable it sets)"))?;
            if let Some(t) = o.attribute("typeRef").and_then(output_type) {
                types.insert(name.clone(), Value::String(t.into()));
            }
            Ok(name)
        })
        .collect::<Result<_, String>>()?;
    let mut rules = Vec::new();
    for (r, rule) in children(table, "rule").enumerate() {
        let entries: Vec<String> = children(rule, "inputEntry").map(text_of).collect();
        if entries.len() != inputs.len() {
            return Err(format!(
                "rule {r} has {} input entries for {} inputs",
                entries.len(),
                inputs.len()
            ));
        }
        let mut tests = Vec::new();
        for (c, (entry, input)) in entries.iter().zip(&inputs).enumerate() {
            if let Some(t) = unary_tests(entry, input)
                .map_err(|e| format!("rule {r}, input {c} `{entry}`: {e}"))?
            {
                tests.push(t);
            }
        }
        let when = if tests.is_empty() {
            "true".to_string()
        } else {
            tests.join(" and ")
        };
        let mut then = Map::new();
        let values: Vec<String> = children(rule, "outputEntry").map(text_of).collect();
        if values.len() != outputs.len() {
            return Err(format!(
                "rule {r} has {} output entries for {} outputs",
                values.len(),
                outputs.len()
            ));
        }
        for (c, (value, name)) in values.iter().zip(&outputs).enumerate() {
            if value.is_empty() {
                continue;
            }
            let e = literal(value).map_err(|e| format!("rule {r}, output {c} `{value}`: {e}"))?;
            then.insert(name.clone(), Value::String(e));
        }
        rules.push(json!({"when": when, "then": then}));
    }
    Ok(json!({"hit": hit, "rules": rules, "types": types}))
}

/// The variable type of a DMN output's `typeRef` (FEEL's `number` is
/// exact, a decimal here).
fn output_type(type_ref: &str) -> Option<&'static str> {
    Some(match type_ref.trim().to_ascii_lowercase().as_str() {
        "string" => "string",
        "boolean" => "boolean",
        "integer" | "int" | "long" => "integer",
        "number" | "double" | "decimal" => "decimal",
        _ => return None,
    })
}

/// A FEEL simple unary test list over `input` as a condition of Ingot's
/// language; `None` when it holds for any value (`-`, empty).
fn unary_tests(entry: &str, input: &str) -> Result<Option<String>, String> {
    let entry = entry.trim();
    if entry.is_empty() || entry == "-" {
        return Ok(None);
    }
    let (negated, body) = match entry.strip_prefix("not(").and_then(|r| r.strip_suffix(')')) {
        Some(inner) => (true, inner.trim()),
        None => (false, entry),
    };
    let parts = split_top_level(body)?;
    let tests: Vec<String> = parts
        .iter()
        .map(|p| unary_test(p.trim(), input))
        .collect::<Result<_, _>>()?;
    let any = if tests.len() == 1 {
        tests[0].clone()
    } else {
        format!("({})", tests.join(" or "))
    };
    Ok(Some(if negated { format!("not ({any})") } else { any }))
}

/// Split on commas outside string literals and brackets.
fn split_top_level(s: &str) -> Result<Vec<String>, String> {
    let (mut parts, mut cur, mut depth, mut quoted) = (Vec::new(), String::new(), 0i32, false);
    for ch in s.chars() {
        match ch {
            '"' => quoted = !quoted,
            '[' | '(' | ']' | ')' if !quoted => {
                // `]1..2[` opens with `]`: brackets only nest as a pair.
                depth += if cur.trim().is_empty() { 1 } else { -1 };
            }
            ',' if !quoted && depth == 0 => {
                parts.push(std::mem::take(&mut cur));
                continue;
            }
            _ => {}
        }
        cur.push(ch);
    }
    if quoted {
        return Err("a string literal is not closed".into());
    }
    parts.push(cur);
    if parts.iter().any(|p| p.trim().is_empty()) {
        return Err("an empty test in a list".into());
    }
    Ok(parts)
}

fn unary_test(t: &str, input: &str) -> Result<String, String> {
    let lhs = if input.chars().all(|c| c.is_alphanumeric() || c == '_') {
        input.to_string()
    } else {
        format!("({input})")
    };
    for op in ["<=", ">=", "!=", "<", ">", "="] {
        if let Some(rest) = t.strip_prefix(op) {
            let op = if op == "=" { "==" } else { op };
            return Ok(format!("{lhs} {op} {}", literal(rest.trim())?));
        }
    }
    if let Some(range) = range(t, &lhs)? {
        return Ok(range);
    }
    Ok(format!("{lhs} == {}", literal(t)?))
}

/// `[a..b]`, `(a..b)`, `]a..b[` and mixes: inclusive with `[` opening or
/// `]` closing, exclusive otherwise.
fn range(t: &str, lhs: &str) -> Result<Option<String>, String> {
    let Some((low, high)) = t
        .get(1..t.len().saturating_sub(1))
        .and_then(|m| m.split_once(".."))
    else {
        return Ok(None);
    };
    let (open, close) = (t.chars().next(), t.chars().last());
    let low_op = match open {
        Some('[') => ">=",
        Some('(' | ']') => ">",
        _ => return Ok(None),
    };
    let high_op = match close {
        Some(']') => "<=",
        Some(')' | '[') => "<",
        _ => return Ok(None),
    };
    Ok(Some(format!(
        "({lhs} {low_op} {} and {lhs} {high_op} {})",
        literal(low.trim())?,
        literal(high.trim())?
    )))
}

/// A FEEL literal (number, string, boolean) or a name, as an expression
/// of Ingot's language; checked by its parser.
fn literal(v: &str) -> Result<String, String> {
    let v = v.trim();
    let out = match v.strip_prefix('"').and_then(|s| s.strip_suffix('"')) {
        Some(s) if !s.contains('"') => {
            format!("'{}'", s.replace('\\', "\\\\").replace('\'', "\\'"))
        }
        Some(_) => return Err("escaped quotes in a string are not supported".into()),
        None => v.to_string(),
    };
    crate::expr::parse(&out).map_err(|e| format!("not a value Ingot's expressions read: {e}"))?;
    Ok(out)
}

/// [`fill_decisions`] for a BPMN document of any size validation reads.
pub fn fill_decisions_xml(
    xml: &str,
    bindings: &mut Value,
    tables: &BTreeMap<String, Value>,
) -> Result<Vec<String>, crate::Problem> {
    if xml.len() > crate::MAX_VALIDATE_BYTES {
        return Err(crate::xml::size_problem(xml));
    }
    let model = crate::xml::parse_unbounded(xml)?;
    Ok(fill_decisions(&model, bindings, tables))
}

/// Bindings with the decision tables a document's business rule tasks
/// refer to (`decisionRef`, Camunda's `camunda:decisionRef`) filled in from
/// DMN decisions by id — where the bindings do not bind the task already.
/// Returns the tasks filled.
pub fn fill_decisions(
    model: &crate::model::Model,
    bindings: &mut Value,
    tables: &BTreeMap<String, Value>,
) -> Vec<String> {
    let mut filled = Vec::new();
    if !bindings.is_object() {
        return filled;
    }
    for n in &model.nodes {
        let crate::model::NodeKind::Task(crate::model::TaskKind::BusinessRule) = n.kind else {
            continue;
        };
        let Some(table) = n.code.as_ref().and_then(|r| tables.get(r)) else {
            continue;
        };
        let decisions = bindings
            .as_object_mut()
            .map(|b| b.entry("decisions").or_insert_with(|| json!({})));
        let mut table = table.clone();
        let types = table.as_object_mut().and_then(|t| t.remove("types"));
        if let Some(Value::Object(d)) = decisions {
            if d.contains_key(&n.id) && !d[&n.id]["rules"].as_array().is_some_and(Vec::is_empty) {
                continue; // bound by hand
            }
            d.insert(n.id.clone(), table);
            filled.push(n.id.clone());
        }
        let variables = bindings
            .as_object_mut()
            .map(|b| b.entry("variables").or_insert_with(|| json!({})));
        if let (Some(Value::Object(vars)), Some(Value::Object(types))) = (variables, types) {
            for (name, t) in types {
                vars.entry(name).or_insert(t);
            }
        }
    }
    filled
}

#[cfg(test)]
mod tests {
    use super::*;

    const DMN: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<definitions xmlns="https://www.omg.org/spec/DMN/20191111/MODEL/" id="d" name="d" namespace="x">
  <decision id="Grade" name="Grade">
    <decisionTable id="t" hitPolicy="FIRST">
      <input id="i1"><inputExpression id="e1" typeRef="number"><text>amount</text></inputExpression></input>
      <input id="i2"><inputExpression id="e2" typeRef="string"><text>region</text></inputExpression></input>
      <output id="o1" name="grade" typeRef="string"/>
      <output id="o2" name="limit" typeRef="number"/>
      <rule id="r1">
        <inputEntry id="a1"><text>&gt;= 1000</text></inputEntry>
        <inputEntry id="a2"><text>"EU","CN"</text></inputEntry>
        <outputEntry id="b1"><text>"C"</text></outputEntry>
        <outputEntry id="b2"><text>2.5</text></outputEntry>
      </rule>
      <rule id="r2">
        <inputEntry id="a3"><text>[100..1000[</text></inputEntry>
        <inputEntry id="a4"><text>not("US")</text></inputEntry>
        <outputEntry id="b3"><text>"B"</text></outputEntry>
        <outputEntry id="b4"><text></text></outputEntry>
      </rule>
      <rule id="r3">
        <inputEntry id="a5"><text>-</text></inputEntry>
        <inputEntry id="a6"><text></text></inputEntry>
        <outputEntry id="b5"><text>"A"</text></outputEntry>
        <outputEntry id="b6"><text>10</text></outputEntry>
      </rule>
    </decisionTable>
  </decision>
</definitions>"#;

    #[test]
    fn a_dmn_table_becomes_the_compact_form() {
        let tables = decision_tables(DMN).unwrap();
        assert_eq!(
            tables["Grade"],
            json!({"hit": "first", "types": {"grade": "string", "limit": "decimal"}, "rules": [
                {"when": "amount >= 1000 and (region == 'EU' or region == 'CN')", "then": {"grade": "'C'", "limit": "2.5"}},
                {"when": "(amount >= 100 and amount < 1000) and not (region == 'US')", "then": {"grade": "'B'"}},
                {"when": "true", "then": {"grade": "'A'", "limit": "10"}},
            ]})
        );
    }

    proptest::proptest! {
        /// A designer's file is read on their machine, but a bad one must
        /// still give an error, never a panic: any entry text, any cut.
        #[test]
        fn any_entry_or_cut_converts_or_is_refused(entry in "\\PC{0,24}", cut in 0usize..2000) {
            let xml = DMN.replace("[100..1000[", &entry.replace('<', "&lt;").replace('&', "&amp;"));
            let _ = decision_tables(&xml);
            let _ = decision_tables(&DMN[..cut.min(DMN.len())]);
        }
    }

    #[test]
    fn what_does_not_convert_is_refused_with_its_place() {
        let with = |from: &str, to: &str| decision_tables(&DMN.replace(from, to)).unwrap_err();
        assert!(with(r#"hitPolicy="FIRST""#, r#"hitPolicy="PRIORITY""#)
            .contains("PRIORITY is not supported"));
        assert!(with(r#"hitPolicy="FIRST""#, r#"hitPolicy="COLLECT""#)
            .contains("without an aggregation"));
        let e = with("&gt;= 1000", "date(\"2020-01-01\")");
        assert!(e.contains("decision `Grade`: rule 0, input 0"), "{e}");
        assert!(with(r#"<text>"C"</text>"#, r#"<text>"C</text>"#).contains("rule 0, output 0"));
        assert!(decision_tables("<definitions/>")
            .unwrap_err()
            .contains("not a DMN document"));
        let big = " ".repeat(MAX_DMN_BYTES + 1);
        assert!(decision_tables(&big).unwrap_err().contains("larger than"));
        assert_eq!(
            decision_tables(&DMN.replace(
                r#"hitPolicy="FIRST""#,
                r#"hitPolicy="COLLECT" aggregation="SUM""#
            ))
            .unwrap()["Grade"]["hit"],
            "collect_sum"
        );
    }
}
