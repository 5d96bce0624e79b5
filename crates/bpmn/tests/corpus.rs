//! Real modelers' files (tests/corpus, sources and licenses in SOURCES.md):
//! every file, with the skeleton bindings `ingot workflow bindings` makes,
//! either compiles and *runs* — driven by a person completing each task,
//! timers firing, messages arriving and called processes returning, until
//! it ends, or is refused
//! precisely: every problem has a kind, a message, and names its element
//! (only a whole-document problem — malformed XML, size, bindings — may name
//! none). A valid file never gets stuck: at every point it has ended or
//! something named can still happen.
//!
//! Each file's outcome is pinned in tests/corpus/OUTCOMES.txt, so a file that
//! ran and is now refused (or is refused for another reason) fails the test.
//! After an intended change: `INGOT_CORPUS_BLESS=1 cargo test -p ingot-bpmn
//! --test corpus` and review the diff.

use ingot_bpmn::{
    engine,
    expr::Type,
    machine::{state, Instance, Machine},
    Actor, ErrorKind,
};
use serde_json::{json, Map, Value};
use std::{collections::BTreeMap, path::Path};

/// Moves a driven instance may take before it counts as looping forever.
const MAX_MOVES: usize = 300;

fn corpus_dir() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus")
}

fn files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            files(&p, out);
        } else if p.extension().is_some_and(|e| e == "bpmn" || e == "xml") {
            out.push(p);
        }
    }
}

/// Who a spec in a compiled `allowed` list is, as an actor.
fn actor(spec: Option<&String>, starter: &Actor) -> Actor {
    let spec = spec.map(String::as_str).unwrap_or("any");
    if let Some(rest) = spec.strip_prefix("org:") {
        let (org, role) = rest.split_once('/').unwrap_or((rest, "member"));
        return Actor {
            org: org.into(),
            role: role.into(),
            member: [2; 32],
        };
    }
    if let Some(hash) = spec.strip_prefix("member:") {
        let mut member = [0; 32];
        member.copy_from_slice(&hex::decode(hash).unwrap());
        return Actor {
            member,
            ..starter.clone()
        };
    }
    starter.clone()
}

/// Output values for `vars`: the zero of each type, or (`pick` 1) a
/// non-zero one, so a gateway refusing one may accept the other.
fn values(m: &Machine, vars: &[u16], pick: usize) -> Value {
    let mut out = Map::new();
    for &v in vars {
        let var = &m.variables[v as usize];
        let value = match (Type::from_code(var.ty).expect("stored type"), pick) {
            (Type::Int, 0) => json!(0),
            (Type::Int, _) => json!(1),
            (Type::Decimal, 0) => json!("0"),
            (Type::Decimal, _) => json!("1.5"),
            (Type::Text, 0) => json!(""),
            (Type::Text, _) => json!("a"),
            (Type::Bool, 0) => json!(false),
            (Type::Bool, _) => json!(true),
            (Type::List, 0) => json!(["a"]),
            (Type::List, _) => json!(["a", "b"]),
        };
        out.insert(var.name.clone(), value);
    }
    Value::Object(out)
}

/// Drive a compiled process from start to end; its outcome as one line.
fn run(m: &Machine) -> Result<String, String> {
    if m.starts.is_empty() {
        return Ok("valid: starts on chain events".into());
    }
    let starter = actor(
        m.start_allowed.first(),
        &actor(
            None,
            &Actor {
                org: "Org1".into(),
                role: "member".into(),
                member: [1; 32],
            },
        ),
    );
    let mut now = 1_000_000u64;
    let mut started = None;
    for pick in 0..2 {
        match engine::start(
            m,
            1,
            "corpus-1".into(),
            &starter,
            &values(m, &m.start_outputs, pick),
            now,
            1,
        ) {
            Ok((inst, _)) => {
                started = Some(inst);
                break;
            }
            Err(e) if pick == 1 => return Ok(format!("valid: start refused: {e}")),
            Err(_) => {}
        }
    }
    let mut inst: Instance = started.expect("started or returned");
    for moves in 0..MAX_MOVES {
        if inst.state != state::RUNNING {
            return Ok(format!(
                "ran: {} after {moves} moves",
                state::name(inst.state)
            ));
        }
        now += 1_000;
        // The first active task a person can complete now (a task waiting
        // for its message cannot), with zero values or else non-zero ones.
        let mut people: Vec<usize> = inst
            .active
            .iter()
            .map(|&a| a as usize)
            .filter(|&a| m.waits_for_person(a))
            .collect();
        people.sort_unstable();
        people.dedup();
        let mut first_refusal = None;
        let mut moved = false;
        'tasks: for &task in &people {
            let n = &m.nodes[task];
            let who = actor(n.allowed.first(), &starter);
            for pick in 0..2 {
                let mut attempt = inst.clone();
                let vars = values(m, &n.outputs, pick);
                match engine::complete(m, &mut attempt, &n.id, &who, &vars, now) {
                    Ok(_) => {
                        inst = attempt;
                        moved = true;
                        break 'tasks;
                    }
                    Err(e) => {
                        first_refusal
                            .get_or_insert_with(|| format!("completing `{}` refused: {e}", n.id));
                    }
                }
            }
        }
        if moved {
            continue;
        }
        if let Some(due) = engine::timers(&inst)
            .iter()
            .min_by_key(|d| (d.at_ms, d.node))
            .cloned()
        {
            now = now.max(due.at_ms);
            engine::fire_timer(m, &mut inst, due.node as usize, now)
                .map_err(|e| format!("timer `{}` refused: {e}", m.nodes[due.node as usize].id))?;
            continue;
        }
        if let Some(&node) = engine::armed(m, &inst).first() {
            engine::deliver(m, &mut inst, node, "corpus".into(), now)
                .map_err(|e| format!("message to `{}` refused: {e}", m.nodes[node].id))?;
            continue;
        }
        // A called process (outside the file) returns, setting nothing.
        let call = engine::active_nodes(&inst)
            .into_iter()
            .map(|a| a as usize)
            .find(|&a| m.nodes[a].kind == ingot_bpmn::machine::kind::CALL);
        if let Some(node) = call {
            let counter = engine::live_instances(m, &inst, node)[0];
            engine::child_completed(m, &mut inst, node, counter, &[], "corpus".into(), now)
                .map_err(|e| format!("returning to `{}` refused: {e}", m.nodes[node].id))?;
            continue;
        }
        if let Some(refusal) = first_refusal {
            return Ok(format!("ran: {refusal}"));
        }
        return Err(format!(
            "stuck: running, waiting at {:?}, with nothing to complete, fire or deliver",
            engine::waiting(m, &inst)
        ));
    }
    Ok(format!(
        "ran: still running after {MAX_MOVES} moves (a loop)"
    ))
}

/// A problem that names no element is precise only if it is about the
/// whole document.
fn precise(p: &ingot_bpmn::Problem) -> bool {
    !p.message.is_empty()
        && (!p.element.is_empty()
            || matches!(
                p.kind,
                ErrorKind::MalformedXml | ErrorKind::Limit | ErrorKind::Bindings
            ))
}

fn outcome(xml: &[u8]) -> Result<String, String> {
    let Ok(xml) = std::str::from_utf8(xml) else {
        return Ok("refused: not UTF-8".into());
    };
    let bindings = ingot_bpmn::skeleton::skeleton_xml(xml).unwrap_or_else(|_| json!({}));
    match ingot_bpmn::validate_xml(xml, &bindings) {
        Ok(m) => run(&m),
        Err(problems) => {
            if std::env::var_os("INGOT_CORPUS_PROBLEMS").is_some() {
                for p in &problems.0 {
                    println!("PROBLEM {}: {}", p.kind.as_str(), p.message);
                }
            }
            if let Some(vague) = problems.0.iter().find(|p| !precise(p)) {
                return Err(format!("vague refusal: {vague}"));
            }
            let first = &problems.0[0];
            let message: String = first
                .message
                .chars()
                .map(|c| if c.is_control() { ' ' } else { c })
                .take(160)
                .collect();
            Ok(format!(
                "refused: {} problem(s), first: {} at `{}`: {message}",
                problems.0.len(),
                first.kind.as_str(),
                first.element
            ))
        }
    }
}

#[test]
fn real_modeler_files_run_or_are_refused_precisely() {
    let dir = corpus_dir();
    let mut paths = Vec::new();
    files(&dir, &mut paths);
    assert!(paths.len() >= 100, "the corpus has {} files", paths.len());
    let mut outcomes = BTreeMap::new();
    let mut failures = Vec::new();
    for p in &paths {
        let name = p.strip_prefix(&dir).unwrap().display().to_string();
        let bytes = std::fs::read(p).unwrap();
        match outcome(&bytes) {
            Ok(o) => {
                outcomes.insert(name, o);
            }
            Err(e) => failures.push(format!("{name}: {e}")),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));

    let mut summary: BTreeMap<String, usize> = BTreeMap::new();
    for o in outcomes.values() {
        let class = match o.split_once(", first: ") {
            Some((_, first)) => format!("refused, first: {}", first.split(" at ").next().unwrap()),
            None => o.split(" after ").next().unwrap().to_string(),
        };
        *summary.entry(class).or_default() += 1;
    }
    println!("{} files:", outcomes.len());
    for (class, n) in &summary {
        println!("{n:5}  {class}");
    }

    let text: String = outcomes
        .iter()
        .map(|(name, o)| format!("{name}\t{o}\n"))
        .collect();
    let pinned = dir.join("OUTCOMES.txt");
    if std::env::var_os("INGOT_CORPUS_BLESS").is_some() {
        std::fs::write(&pinned, &text).unwrap();
        return;
    }
    let want = std::fs::read_to_string(&pinned).unwrap_or_default();
    let changed: Vec<String> = want
        .lines()
        .zip(text.lines())
        .filter(|(a, b)| a != b)
        .map(|(a, b)| format!("pinned: {a}\n   now: {b}"))
        .take(20)
        .collect();
    assert!(
        want == text,
        "outcomes differ from tests/corpus/OUTCOMES.txt ({} vs {} files):\n{}\n(after an intended change: INGOT_CORPUS_BLESS=1)",
        want.lines().count(),
        text.lines().count(),
        changed.join("\n")
    );
}
