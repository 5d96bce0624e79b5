//! BPMN workflows end to end with real processes: `ingot up` (four
//! validators), then every move through the `ingot workflow` CLI over HTTP —
//! validate, deploy, start, complete, cancel, show — playing the
//! purchase-order and maintenance-order scenarios of `examples/workflows`
//! (organisations mapped onto the ones `ingot up` creates), plus the HTTP
//! views: validation, definitions, the stored XML with its diagram, instance
//! lists filtered by state.

mod common;

use common::*;
use serde_json::{json, Value};
use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
    process::Command,
};

const API: u16 = 18_780;
const P2P: u16 = 31_780;

fn examples() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../examples/workflows")
}

/// Run `ingot <args> --json`; (success, stdout JSON or text, stderr).
fn ingot(args: &[&str]) -> (bool, Value, String) {
    let out = Command::new(BIN).args(args).arg("--json").output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    let v = stdout
        .lines()
        .last()
        .and_then(|l| serde_json::from_str(l).ok())
        .unwrap_or(Value::String(stdout.clone()));
    (
        out.status.success(),
        v,
        String::from_utf8_lossy(&out.stderr).to_string(),
    )
}

struct Actor {
    key: PathBuf,
    cert: PathBuf,
}

/// The example's file with its diagram interchange grown past the 40 KiB
/// process limit, as a real modeler's file with a large layout.
fn with_large_diagram(xml: &str) -> String {
    let shapes: String = (0..400)
        .map(|i| format!(r#"<bpmndi:BPMNShape id="Pad_{i}" bpmnElement="Lane_customer"><dc:Bounds x="{i}" y="900" width="100" height="80" /></bpmndi:BPMNShape>"#))
        .collect();
    let plane = xml.find("</bpmndi:BPMNPlane>").expect("a diagram plane");
    let grown = format!("{}{shapes}{}", &xml[..plane], &xml[plane..]);
    assert!(grown.len() > 40 * 1024);
    grown
}

/// Play one example through the CLI, its organisations renamed by `orgs`;
/// with `large`, its diagram grown past the process limit.
fn play(net: &Net, name: &str, orgs: &[(&str, &str)], large: bool) {
    let dir = examples().join(name);
    let rename = |text: String| orgs.iter().fold(text, |t, (from, to)| t.replace(from, to));
    let bindings = rename(std::fs::read_to_string(dir.join("bindings.json")).unwrap());
    let scenario: Value = serde_json::from_str(&rename(
        std::fs::read_to_string(dir.join("scenario.json")).unwrap(),
    ))
    .unwrap();
    let work = net.data.join(format!("wf-{name}"));
    std::fs::create_dir_all(&work).unwrap();
    let bpmn = work.join("process.bpmn");
    let xml = std::fs::read_to_string(dir.join("process.bpmn")).unwrap();
    let xml = if large { with_large_diagram(&xml) } else { xml };
    std::fs::write(&bpmn, xml).unwrap();
    std::fs::write(work.join("bindings.json"), &bindings).unwrap();

    let mut actors = BTreeMap::new();
    for (a, spec) in scenario["actors"].as_object().unwrap() {
        let org = spec["org"].as_str().unwrap();
        let role = if spec["role"] == "admin" {
            "admin"
        } else {
            "member"
        };
        let d = net.data.join("orgs").join(org);
        actors.insert(
            a.clone(),
            Actor {
                key: d.join(format!("{role}.key")),
                cert: d.join(format!("{role}.pem")),
            },
        );
    }
    let signer = |a: &str| -> Vec<String> {
        let act = actors.get(a).unwrap_or_else(|| panic!("actor {a}"));
        vec![
            "--node".into(),
            net.api.clone(),
            "--key".into(),
            act.key.display().to_string(),
            "--cert".into(),
            act.cert.display().to_string(),
        ]
    };
    let path = |p: &Path| p.display().to_string();

    let (ok, v, err) = ingot(&["workflow", "validate", &path(&bpmn)]);
    assert!(ok, "validate: {v} {err}");
    let first = scenario["actors"]
        .as_object()
        .unwrap()
        .keys()
        .next()
        .unwrap()
        .clone();
    let mut args = vec!["workflow".to_string(), "deploy".into(), path(&bpmn)];
    args.extend(signer(&first));
    let (ok, v, err) = ingot(&args.iter().map(String::as_str).collect::<Vec<_>>());
    assert!(ok, "deploy: {v} {err}");

    let definition = serde_json::from_str::<Value>(&bindings).unwrap()["name"]
        .as_str()
        .unwrap()
        .to_string();
    let mut instances: Vec<String> = Vec::new();
    for (i, step) in scenario["steps"].as_array().unwrap().iter().enumerate() {
        let target = match step.get("instance").and_then(Value::as_u64) {
            Some(n) => instances[n as usize - 1].clone(),
            None => instances.last().cloned().unwrap_or_default(),
        };
        let who = step["as"].as_str().unwrap_or("");
        let mut args: Vec<String> = vec!["workflow".into()];
        if let Some(start) = step.get("start") {
            args.extend([
                "start".into(),
                definition.clone(),
                "--vars".into(),
                start["vars"].to_string(),
            ]);
        } else if let Some(task) = step.get("complete").and_then(Value::as_str) {
            let vars = step.get("vars").cloned().unwrap_or(json!({}));
            args.extend([
                "complete".into(),
                target.clone(),
                task.into(),
                "--vars".into(),
                vars.to_string(),
            ]);
        } else if step.get("cancel").is_some() {
            args.extend(["cancel".into(), target.clone()]);
        } else if let Some(call) = step.get("call") {
            args = vec![
                "tx".into(),
                "send".into(),
                "--module".into(),
                call["module"].as_str().unwrap().into(),
                "--method".into(),
                call["method"].as_str().unwrap().into(),
                "--args".into(),
                call["args"].to_string(),
                "--wait".into(),
            ];
        } else if step.get("wait_ms").is_some() {
            // Deadlines of hours and days cannot pass on a live network in
            // a test: the rest of the scenario (which depends on block time
            // having passed) runs in the executor's scenario tests.
            break;
        } else if let Some(check) = step.get("check") {
            let orgs = net.data.join("orgs/regulator");
            let (key, cert) = (orgs.join("member.key"), orgs.join("member.pem"));
            let (ok, v, err) = ingot(&[
                "workflow",
                "show",
                &target,
                "--node",
                &net.api,
                "--key",
                &key.display().to_string(),
                "--cert",
                &cert.display().to_string(),
            ]);
            assert!(ok, "{name} step {i}: show: {err}");
            if let Some(s) = check.get("state") {
                assert_eq!(&v["state"], s, "{name} step {i}: {v}");
            }
            if let Some(active) = check.get("active").and_then(Value::as_array) {
                let mut want: Vec<&str> = active.iter().filter_map(Value::as_str).collect();
                want.sort();
                let got: Vec<&str> = v["active"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .filter_map(Value::as_str)
                    .collect();
                assert_eq!(got, want, "{name} step {i}: active elements");
            }
            // Every move left at least one step in the history.
            assert!(
                v["history"].as_array().unwrap().len() as u64
                    >= v["history_entries"].as_u64().unwrap()
            );
            continue;
        } else {
            panic!("{name} step {i}: not playable over the CLI: {step}");
        }
        args.extend(signer(who));
        let (ok, v, err) = ingot(&args.iter().map(String::as_str).collect::<Vec<_>>());
        match step.get("expect") {
            None => {
                assert!(ok, "{name} step {i} failed: {err} {v}");
                if args[0] == "tx" {
                    assert_eq!(v["status"], "success", "{name} step {i}: {v}");
                }
            }
            Some(e) => {
                let needle = e["refused"].as_str().unwrap();
                assert!(!ok, "{name} step {i} should be refused ({needle})");
                assert!(
                    err.contains(needle),
                    "{name} step {i}: `{err}` lacks `{needle}`"
                );
            }
        }
        if step.get("start").is_some() && ok {
            let id = v["events"]
                .as_array()
                .unwrap()
                .iter()
                .find_map(|e| e["attributes"]["instance"].as_str())
                .unwrap()
                .to_string();
            instances.push(id);
        }
    }
    // The README's `workflow show <definition> --state ...`, as the first
    // actor (an outsider's trial found it refused: the node's 403 for an
    // instance id that is not there stopped the CLI before it asked for the
    // definition).
    let mut args = vec![
        "workflow".to_string(),
        "show".into(),
        definition.clone(),
        "--state".into(),
        "completed".into(),
    ];
    args.extend(signer(&first));
    let (ok, v, err) = ingot(&args.iter().map(String::as_str).collect::<Vec<_>>());
    assert!(ok, "{name}: show {definition}: {err}");
    assert_eq!(v["name"], definition.as_str(), "{v}");
    assert!(v["instances"].is_array(), "{v}");
}

#[test]
fn workflows_over_the_cli_and_http() {
    let net = start_net("workflow", 4, API, P2P);
    play(
        &net,
        "purchase-order",
        &[
            ("BuyerCo", "manufacturer"),
            ("SellerCo", "supplier"),
            ("LogiCo", "logistics"),
            ("OtherCo", "regulator"),
        ],
        false,
    );
    play(
        &net,
        "maintenance-order",
        &[
            ("CustomerCo", "manufacturer"),
            ("ServiceCo", "supplier"),
            ("OtherCo", "regulator"),
        ],
        true,
    );

    // An organisation that is no party to an instance tries to move it: it
    // learns its failure's stable code, never the detail (which may quote
    // the instance). An outsider's trial could not learn even the code.
    let logistics = net.data.join("orgs/logistics");
    let (ok, _, err) = ingot(&[
        "workflow",
        "complete",
        "maintenance-order-1",
        "Task_repair",
        "--vars",
        "{}",
        "--node",
        &net.api,
        "--key",
        &logistics.join("member.key").display().to_string(),
        "--cert",
        &logistics.join("member.pem").display().to_string(),
    ]);
    assert!(!ok, "refused");
    assert!(
        err.contains("refused (workflow.") && err.contains("the detail is shown only"),
        "{err}"
    );

    // Definitions, the XML as deployed (diagram kept), instances by state.
    // Read as the regulator, who may read every instance; an organisation the
    // definition does not name sees none of its instances.
    let regulator = load(&net.data.join("orgs/regulator"), "member");
    let outsider = load(&net.data.join("orgs/logistics"), "member");
    let get = |path: &str| signed_get(&net.api, Some(&regulator), path);
    let (s, defs) = get("/v1/workflow/definitions");
    assert_eq!(s, 200);
    let names: Vec<&str> = defs["definitions"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|d| d["name"].as_str())
        .collect();
    assert_eq!(names, ["purchase-order", "maintenance-order"]);
    let (_, xml) = get("/v1/workflow/definitions/purchase-order/xml");
    let xml = xml.as_str().unwrap().to_string();
    assert_eq!(
        xml,
        std::fs::read_to_string(examples().join("purchase-order/process.bpmn")).unwrap()
    );
    assert!(xml.contains("BPMNDiagram"));
    // A file too large whole: deployed without its layout, the layout
    // attached after it, and the designer's file read back byte for byte.
    let (_, xml) = get("/v1/workflow/definitions/maintenance-order/xml");
    let designed = with_large_diagram(
        &std::fs::read_to_string(examples().join("maintenance-order/process.bpmn")).unwrap(),
    );
    assert_eq!(xml.as_str().unwrap(), designed);
    let (_, def) = get("/v1/workflow/definitions/maintenance-order");
    assert_eq!(def["diagram"]["attached"], true, "{def}");
    assert_eq!(def["diagram"]["chunks"], 2, "{def}");
    let (_, done) = get("/v1/workflow/definitions/purchase-order/instances?state=completed");
    let (_, ended) = get("/v1/workflow/definitions/purchase-order/instances?state=terminated");
    assert_eq!(done["instances"].as_array().unwrap().len(), 1, "{done}");
    assert_eq!(ended["instances"].as_array().unwrap().len(), 1, "{ended}");
    // maintenance-order names the manufacturer, the supplier and the
    // regulator, not the logistics firm.
    let all = "/v1/workflow/definitions/maintenance-order/instances";
    let (_, seen) = get(all);
    let (_, hidden) = signed_get(&net.api, Some(&outsider), all);
    assert!(!seen["instances"].as_array().unwrap().is_empty(), "{seen}");
    assert_eq!(hidden["instances"], json!([]), "{hidden}");
    let (s, _) = get("/v1/workflow/definitions/purchase-order/instances?state=bogus");
    assert_eq!(s, 400);
    let (s, _) = get("/v1/workflow/instances/nope-1");
    assert_eq!(s, 404);

    // Validation over HTTP and the CLI lists every problem with its element.
    let bad = std::fs::read_to_string(
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../bpmn/tests/invalid/route_nowhere.bpmn"),
    )
    .unwrap();
    let body = json!({"xml": bad, "bindings": {"lanes": {"Lane_1": "org:AcmeCo"}}}).to_string();
    let (s, v) = signed_call(
        "POST",
        &net.api,
        "/v1/workflow/validate",
        Some(&body),
        Some(&regulator),
    );
    assert_eq!(s, 200);
    assert_eq!(v["valid"], false);
    assert_eq!(v["problems"][0]["element"], "Gateway_check", "{v}");
    assert!(v["warnings"].is_array(), "{v}");
    // A DMN document with the process: its decision table binds the
    // business rule task, and the completed bindings come back to deploy.
    let dmn_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../bpmn/tests/dmn");
    let read = |f: &str| std::fs::read_to_string(dmn_dir.join(f)).unwrap();
    let body = json!({
        "xml": read("supplier-rating.bpmn"),
        "bindings": {"participants": {"SupplierRating": "org:AcmeCo"}, "start": "any"},
        "dmn": [read("supplier-grade.dmn")],
    })
    .to_string();
    let (s, v) = signed_call(
        "POST",
        &net.api,
        "/v1/workflow/validate",
        Some(&body),
        Some(&regulator),
    );
    assert_eq!(s, 200);
    assert_eq!(v["valid"], true, "{v}");
    assert_eq!(v["bindings"]["decisions"]["Rate"]["hit"], "first", "{v}");
    let body = json!({"xml": read("supplier-rating.bpmn"), "dmn": ["<definitions/>"]}).to_string();
    let (s, v) = signed_call(
        "POST",
        &net.api,
        "/v1/workflow/validate",
        Some(&body),
        Some(&regulator),
    );
    assert_eq!(s, 200);
    assert_eq!(v["valid"], false, "{v}");
    assert!(
        v["problems"][0]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("not a DMN document"),
        "{v}"
    );
    let bad_file = net.data.join("bad.bpmn");
    std::fs::write(&bad_file, bad).unwrap();
    let (ok, v, _) = ingot(&["workflow", "validate", &bad_file.display().to_string()]);
    assert!(!ok);
    assert!(v.to_string().contains("can route nowhere"), "{v}");
}

/// Legal but suspicious models get warnings (with a stable code) beside a
/// successful validation: here every flow out of an exclusive split lacks a
/// condition, so the first always wins.
#[test]
fn warnings_are_shown_and_do_not_block() {
    let file = std::env::temp_dir().join(format!("ingot-shadow-{}.bpmn", std::process::id()));
    std::fs::write(
        &file,
        r#"<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" id="D">
  <bpmn:process id="P" name="Shadowed" isExecutable="true">
    <bpmn:startEvent id="S" />
    <bpmn:exclusiveGateway id="G" />
    <bpmn:endEvent id="A" /><bpmn:endEvent id="B" />
    <bpmn:sequenceFlow id="F0" sourceRef="S" targetRef="G" />
    <bpmn:sequenceFlow id="FA" sourceRef="G" targetRef="A" />
    <bpmn:sequenceFlow id="FB" sourceRef="G" targetRef="B" />
  </bpmn:process>
</bpmn:definitions>"#,
    )
    .unwrap();
    let bindings = file.with_extension("bindings.json");
    std::fs::write(&bindings, r#"{"start": "any"}"#).unwrap();
    let (ok, v, _) = ingot(&["workflow", "validate", &file.display().to_string()]);
    let _ = std::fs::remove_file(&file);
    let _ = std::fs::remove_file(&bindings);
    assert!(ok, "{v}");
    assert_eq!(v["valid"], true, "{v}");
    assert_eq!(
        v["warnings"][0]["code"], "unconditional_flow_shadows",
        "{v}"
    );
    assert_eq!(v["warnings"][0]["element"], "G", "{v}");
}

/// `ingot workflow bindings` gives a real modeler's file (Camunda Modeler,
/// with JUEL conditions on variables nothing declares) bindings under which
/// it validates: pools bound, the variables typed and supplied by the task
/// before the choice.
#[test]
fn a_bindings_skeleton_makes_a_modeler_file_deployable() {
    let corpus = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../bpmn/tests/corpus/camunda");
    let file = corpus.join(
        "spring-boot-starter__example-twitter__src__main__resources__TwitterDemoProcess.bpmn",
    );
    let path = file.display().to_string();
    let (ok, v, _) = ingot(&["workflow", "validate", &path]);
    assert!(!ok, "without bindings nobody may act: {v}");
    let (ok, skeleton, err) = ingot(&["workflow", "bindings", &path]);
    assert!(ok, "{skeleton} {err}");
    assert!(skeleton["participants"].is_object(), "{skeleton}");
    assert_eq!(skeleton["variables"]["approved"], "boolean", "{skeleton}");
    let bindings = std::env::temp_dir().join(format!("ingot-skeleton-{}.json", std::process::id()));
    std::fs::write(&bindings, skeleton.to_string()).unwrap();
    let (ok, v, _) = ingot(&[
        "workflow",
        "validate",
        &path,
        "--bindings",
        &bindings.display().to_string(),
    ]);
    let _ = std::fs::remove_file(&bindings);
    assert!(ok, "{v}");
    assert_eq!(v["valid"], true, "{v}");
}

/// A file that is not UTF-8 is a validation problem, reported as JSON with
/// `--json` like any other (it used to print no JSON at all).
#[test]
fn a_file_that_is_not_utf8_is_a_problem_in_json() {
    let file = std::env::temp_dir().join(format!("ingot-not-utf8-{}.bpmn", std::process::id()));
    std::fs::write(
        &file,
        b"<?xml version=\"1.0\"?><definitions>\xff\xfe</definitions>",
    )
    .unwrap();
    let (ok, v, _) = ingot(&["workflow", "validate", &file.display().to_string()]);
    let _ = std::fs::remove_file(&file);
    assert!(!ok);
    assert_eq!(v["valid"], false, "{v}");
    assert!(
        v["problems"][0]["message"]
            .as_str()
            .is_some_and(|m| m.contains("not UTF-8")),
        "{v}"
    );
}

/// Output piped into a reader that has gone (`ingot ... | head`): the
/// command ends quietly, not with a panic and a backtrace (an outsider's
/// trial saw `ingot block ... --json | head -c 600` panic).
#[test]
fn a_closed_output_pipe_ends_the_command_quietly() {
    let bpmn = examples().join("purchase-order/process.bpmn");
    // The reader is gone before the command starts: its first write fails.
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let out = Command::new(BIN)
        .args(["--json", "workflow", "validate"])
        .arg(&bpmn)
        .stdout(writer)
        .stderr(std::process::Stdio::piped())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(out.status.code(), Some(141), "{stderr}");
}

/// A Camunda business rule task and its DMN file (issue 20): `--dmn`
/// converts the decision table it refers to (`camunda:decisionRef`) into
/// the compact form of `bindings.decisions`, and the process validates.
#[test]
fn a_dmn_file_binds_the_business_rule_task_referring_to_it() {
    let fixtures = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../bpmn/tests/dmn");
    let bpmn = fixtures.join("supplier-rating.bpmn").display().to_string();
    let dmn = fixtures.join("supplier-grade.dmn").display().to_string();
    let (ok, skeleton, err) = ingot(&["workflow", "bindings", &bpmn, "--dmn", &dmn]);
    assert!(ok, "{skeleton} {err}");
    assert_eq!(skeleton["decisions"]["Rate"]["hit"], "first", "{skeleton}");
    assert_eq!(
        skeleton["decisions"]["Rate"]["rules"][1]["when"],
        "(amount >= 10000 and amount < 100000) and not (region == 'sanctioned')",
        "{skeleton}"
    );
    assert_eq!(
        skeleton["variables"]["grade"], "string",
        "from the output's typeRef"
    );
    assert!(
        skeleton["decisions"]["Rate"].get("types").is_none(),
        "{skeleton}"
    );
    let file = std::env::temp_dir().join(format!("ingot-dmn-{}.json", std::process::id()));
    std::fs::write(&file, skeleton.to_string()).unwrap();
    let (ok, v, err) = ingot(&[
        "workflow",
        "validate",
        &bpmn,
        "--bindings",
        &file.display().to_string(),
    ]);
    let _ = std::fs::remove_file(&file);
    assert!(ok, "{v} {err}");
    assert_eq!(v["valid"], true, "{v}");
    // A DMN file no task refers to is an error, not silently ignored.
    let other = std::env::temp_dir().join(format!("ingot-dmn-other-{}.dmn", std::process::id()));
    std::fs::write(
        &other,
        std::fs::read_to_string(&dmn)
            .unwrap()
            .replace(r#"id="Grade""#, r#"id="Other""#),
    )
    .unwrap();
    let (ok, _, err) = ingot(&[
        "workflow",
        "bindings",
        &bpmn,
        "--dmn",
        &other.display().to_string(),
    ]);
    let _ = std::fs::remove_file(&other);
    assert!(!ok);
    assert!(err.contains("no business rule task refers"), "{err}");
}
