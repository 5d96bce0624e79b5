//! Deployment bindings: who plays each pool and lane, what each service task
//! calls, which chain event each message event waits for (docs/workflows.md).

use crate::{
    error::{ErrorKind, Problem},
    expr::Type,
};
use serde_json::Value;
use std::collections::BTreeMap;

/// Modules a service task may call. `identity` (membership) and `workflow`
/// itself (no re-entrance) are excluded.
pub const SERVICE_MODULES: &[&str] = &["notary", "device", "access", "telemetry"];
/// Longest actor specification.
pub const MAX_ACTOR_LEN: usize = 300;

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ServiceBinding {
    pub module: String,
    pub method: String,
    /// Argument name → expression over process variables.
    pub args: Vec<(String, String)>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EventBinding {
    pub module: String,
    pub kind: String,
    pub attribute: String,
    /// Catch events and receive tasks: the attribute must equal this
    /// instance variable (correlation).
    pub variable: Option<String>,
    /// Message start events: the attribute must equal this constant; each
    /// matching event starts a new instance.
    pub value: Option<String>,
    /// Message start events: process variables set from event attributes
    /// (variable, attribute).
    pub vars: Vec<(String, String)>,
}

/// A business rule task's decision table (`bindings.decisions`): the hit
/// policy's name and the rules (condition; output variable → expression).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DecisionBinding {
    pub hit: String,
    pub rules: Vec<(String, Vec<(String, String)>)>,
}

/// What a call activity starts (`bindings.calls`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CallBinding {
    /// A deployed definition's name.
    pub definition: String,
    /// Its version; the latest at the time of the call when absent.
    pub version: Option<u32>,
    /// Called variable → expression over the caller's variables.
    pub inputs: Vec<(String, String)>,
    /// Caller's variable → the called process's variable it takes.
    pub outputs: Vec<(String, String)>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Bindings {
    pub name: Option<String>,
    pub roles: BTreeMap<String, Vec<String>>,
    pub participants: BTreeMap<String, String>,
    pub lanes: BTreeMap<String, String>,
    pub start: Option<String>,
    pub cancel: Option<String>,
    pub variables: BTreeMap<String, Type>,
    pub outputs: BTreeMap<String, Vec<String>>,
    pub services: BTreeMap<String, ServiceBinding>,
    pub messages: BTreeMap<String, EventBinding>,
    pub calls: BTreeMap<String, CallBinding>,
    pub decisions: BTreeMap<String, DecisionBinding>,
    /// The zone of `timeDate`s written without one, in seconds east of UTC
    /// (`"timezone": "+08:00"`).
    pub timezone: Option<i64>,
}

fn bad(message: impl Into<String>) -> Problem {
    Problem::new(ErrorKind::Bindings, "", "", message)
}

fn string_map(v: &Value, key: &str) -> Result<BTreeMap<String, String>, Problem> {
    match v.get(key) {
        None | Some(Value::Null) => Ok(BTreeMap::new()),
        Some(Value::Object(m)) => m
            .iter()
            .map(|(k, v)| match v {
                Value::String(s) => Ok((k.clone(), s.clone())),
                _ => Err(bad(format!("`{key}.{k}` must be a string"))),
            })
            .collect(),
        Some(_) => Err(bad(format!("`{key}` must be an object"))),
    }
}

fn string_list(v: &Value, what: &str) -> Result<Vec<String>, Problem> {
    match v {
        Value::String(s) => Ok(vec![s.clone()]),
        Value::Array(items) => items
            .iter()
            .map(|i| {
                i.as_str()
                    .map(str::to_string)
                    .ok_or_else(|| bad(format!("`{what}` must list strings")))
            })
            .collect(),
        _ => Err(bad(format!(
            "`{what}` must be a string or a list of strings"
        ))),
    }
}

fn object<'a>(
    v: &'a Value,
    key: &str,
) -> Result<Option<&'a serde_json::Map<String, Value>>, Problem> {
    match v.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(m)) => Ok(Some(m)),
        Some(_) => Err(bad(format!("`{key}` must be an object"))),
    }
}

fn split_call(call: &str, what: &str) -> Result<(String, String), Problem> {
    call.split_once('.')
        .filter(|(m, k)| !m.is_empty() && !k.is_empty())
        .map(|(m, k)| (m.to_string(), k.to_string()))
        .ok_or_else(|| bad(format!("{what} `{call}` must be `module.name`")))
}

impl Bindings {
    pub fn from_json(v: &Value) -> Result<Self, Problem> {
        if !v.is_object() {
            return Err(bad("bindings must be a JSON object"));
        }
        let known = [
            "name",
            "roles",
            "participants",
            "lanes",
            "start",
            "cancel",
            "variables",
            "outputs",
            "services",
            "messages",
            "calls",
            "timezone",
            "decisions",
        ];
        if let Some(k) = v
            .as_object()
            .into_iter()
            .flat_map(|m| m.keys())
            .find(|k| !known.contains(&k.as_str()))
        {
            return Err(bad(format!("unknown key `{k}`")));
        }
        let opt_str = |key: &str| -> Result<Option<String>, Problem> {
            match v.get(key) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(s)) => Ok(Some(s.clone())),
                Some(_) => Err(bad(format!("`{key}` must be a string"))),
            }
        };
        let mut b = Bindings {
            name: opt_str("name")?,
            start: opt_str("start")?,
            cancel: opt_str("cancel")?,
            timezone: match opt_str("timezone")? {
                None => None,
                Some(tz) => Some(crate::timer::offset_s(&tz).ok_or_else(|| {
                    bad(format!(
                        "timezone `{tz}`: an ISO 8601 offset such as +08:00, -05:00 or Z (a named zone's rules change; an offset does not)"
                    ))
                })?),
            },
            participants: string_map(v, "participants")?,
            lanes: string_map(v, "lanes")?,
            ..Default::default()
        };
        for (role, actors) in object(v, "roles")?.into_iter().flatten() {
            b.roles
                .insert(role.clone(), string_list(actors, &format!("roles.{role}"))?);
        }
        for (name, ty) in string_map(v, "variables")? {
            let t = Type::parse(&ty)
                .ok_or_else(|| bad(format!("variable `{name}`: unknown type `{ty}`")))?;
            b.variables.insert(name, t);
        }
        for (task, outs) in object(v, "outputs")?.into_iter().flatten() {
            b.outputs
                .insert(task.clone(), string_list(outs, &format!("outputs.{task}"))?);
        }
        for (task, s) in object(v, "services")?.into_iter().flatten() {
            let call = s
                .get("call")
                .and_then(Value::as_str)
                .ok_or_else(|| bad(format!("services.{task}: missing string `call`")))?;
            let (module, method) = split_call(call, "call")?;
            let args = match s.get("args") {
                None | Some(Value::Null) => Vec::new(),
                Some(Value::Object(m)) => m
                    .iter()
                    .map(|(k, e)| {
                        e.as_str()
                            .map(|e| (k.clone(), e.to_string()))
                            .ok_or_else(|| {
                                bad(format!(
                                    "services.{task}.args.{k} must be an expression string"
                                ))
                            })
                    })
                    .collect::<Result<_, _>>()?,
                Some(_) => return Err(bad(format!("services.{task}.args must be an object"))),
            };
            b.services.insert(
                task.clone(),
                ServiceBinding {
                    module,
                    method,
                    args,
                },
            );
        }
        for (node, m) in object(v, "messages")?.into_iter().flatten() {
            let field = |k: &str| {
                m.get(k)
                    .and_then(Value::as_str)
                    .map(str::to_string)
                    .ok_or_else(|| bad(format!("messages.{node}: missing string `{k}`")))
            };
            let (module, kind) = split_call(&field("event")?, "event")?;
            let optional = |k: &str| m.get(k).and_then(Value::as_str).map(str::to_string);
            let (variable, value) = (optional("variable"), optional("value"));
            if variable.is_some() == value.is_some() {
                return Err(bad(format!(
                    "messages.{node}: give `variable` (a waiting event, correlated with the instance) or `value` (a start event)"
                )));
            }
            let vars = match m.get("vars") {
                None | Some(Value::Null) => Vec::new(),
                Some(Value::Object(o)) => o
                    .iter()
                    .map(|(var, attr)| {
                        attr.as_str()
                            .map(|a| (var.clone(), a.to_string()))
                            .ok_or_else(|| {
                                bad(format!(
                                    "messages.{node}.vars.{var} must name an event attribute"
                                ))
                            })
                    })
                    .collect::<Result<_, _>>()?,
                Some(_) => return Err(bad(format!("messages.{node}.vars must be an object"))),
            };
            b.messages.insert(
                node.clone(),
                EventBinding {
                    module,
                    kind,
                    attribute: field("attribute")?,
                    variable,
                    value,
                    vars,
                },
            );
        }
        for (node, d) in object(v, "decisions")?.into_iter().flatten() {
            let hit = d
                .get("hit")
                .and_then(Value::as_str)
                .unwrap_or("first")
                .to_string();
            let rules = match d.get("rules") {
                Some(Value::Array(rules)) => rules
                    .iter()
                    .enumerate()
                    .map(|(i, r)| {
                        let when = r.get("when").and_then(Value::as_str).unwrap_or("true");
                        let then = match r.get("then") {
                            Some(Value::Object(o)) => o
                                .iter()
                                .map(|(var, e)| {
                                    e.as_str().map(|e| (var.clone(), e.to_string())).ok_or_else(|| {
                                        bad(format!("decisions.{node}.rules[{i}].then.{var} must be an expression string"))
                                    })
                                })
                                .collect::<Result<Vec<_>, _>>()?,
                            _ => return Err(bad(format!("decisions.{node}.rules[{i}].then must be an object"))),
                        };
                        Ok((when.to_string(), then))
                    })
                    .collect::<Result<Vec<_>, Problem>>()?,
                _ => return Err(bad(format!("decisions.{node}.rules must be a list"))),
            };
            b.decisions
                .insert(node.clone(), DecisionBinding { hit, rules });
        }
        for (node, c) in object(v, "calls")?.into_iter().flatten() {
            let definition = c
                .get("definition")
                .and_then(Value::as_str)
                .ok_or_else(|| bad(format!("calls.{node}: missing string `definition`")))?
                .to_string();
            let version = match c.get("version") {
                None | Some(Value::Null) => None,
                Some(v) => Some(
                    v.as_u64()
                        .and_then(|v| u32::try_from(v).ok())
                        .filter(|v| *v > 0)
                        .ok_or_else(|| {
                            bad(format!("calls.{node}.version must be a version number"))
                        })?,
                ),
            };
            let pairs = |key: &str| -> Result<Vec<(String, String)>, Problem> {
                match c.get(key) {
                    None | Some(Value::Null) => Ok(Vec::new()),
                    Some(Value::Object(o)) => o
                        .iter()
                        .map(|(k, e)| {
                            e.as_str()
                                .map(|e| (k.clone(), e.to_string()))
                                .ok_or_else(|| {
                                    bad(format!("calls.{node}.{key}.{k} must be a string"))
                                })
                        })
                        .collect(),
                    Some(_) => Err(bad(format!("calls.{node}.{key} must be an object"))),
                }
            };
            b.calls.insert(
                node.clone(),
                CallBinding {
                    definition,
                    version,
                    inputs: pairs("inputs")?,
                    outputs: pairs("outputs")?,
                },
            );
        }
        Ok(b)
    }

    /// Expand an actor specification (resolving `role:` through the roles
    /// table) into concrete ones, each checked for syntax.
    pub fn resolve(&self, spec: &str) -> Result<Vec<String>, String> {
        if let Some(role) = spec.strip_prefix("role:") {
            let members = self
                .roles
                .get(role)
                .ok_or_else(|| format!("role `{role}` is not in `roles`"))?;
            if members.is_empty() {
                return Err(format!("role `{role}` lists no actors"));
            }
            let mut out = Vec::new();
            for m in members {
                if m.starts_with("role:") {
                    return Err(format!("role `{role}` refers to another role `{m}`"));
                }
                check_actor(m)?;
                out.push(m.clone());
            }
            return Ok(out);
        }
        check_actor(spec)?;
        Ok(vec![spec.to_string()])
    }
}

/// Syntax of one concrete actor specification.
pub fn check_actor(spec: &str) -> Result<(), String> {
    if spec.len() > MAX_ACTOR_LEN {
        return Err(format!("actor `{spec}` is too long"));
    }
    match spec {
        "starter" | "any" => Ok(()),
        _ if spec.starts_with("org:") => {
            let rest = &spec[4..];
            let org = rest.split_once('/').map_or(rest, |(o, _)| o);
            if org.is_empty() {
                Err(format!("actor `{spec}` names no organisation"))
            } else {
                Ok(())
            }
        }
        _ if spec.starts_with("member:") => hex::decode(&spec[7..])
            .ok()
            .filter(|b| b.len() == 32)
            .map(|_| ())
            .ok_or_else(|| format!("actor `{spec}`: expected a 64-hex certificate hash")),
        _ => Err(format!(
            "actor `{spec}`: expected org:<Org>, org:<Org>/<role>, member:<hash>, role:<name>, starter or any"
        )),
    }
}

/// Who is acting: the certificate's organisation and role, and the holder's
/// member id (`ingot_crypto::member_id`: a renewed certificate keeps it).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Actor {
    pub org: String,
    pub role: String,
    pub member: [u8; 32],
}

impl Actor {
    pub fn describe(&self) -> String {
        format!(
            "{}/{} ({})",
            self.org,
            self.role,
            &hex::encode(self.member)[..16]
        )
    }
}

/// Does `who` match one of the concrete `allowed` specifications?
pub fn allows(allowed: &[String], who: &Actor, starter: &[u8; 32]) -> bool {
    allowed.iter().any(|spec| match spec.as_str() {
        "any" => true,
        "starter" => &who.member == starter,
        s => {
            if let Some(rest) = s.strip_prefix("org:") {
                match rest.split_once('/') {
                    Some((org, role)) => who.org == org && who.role == role,
                    None => who.org == rest,
                }
            } else if let Some(h) = s.strip_prefix("member:") {
                hex::encode(who.member) == h.to_ascii_lowercase()
            } else {
                false
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn parses_the_documented_example() {
        let b = Bindings::from_json(&json!({
            "name": "purchase",
            "roles": {"carrier": ["org:RailCo", "org:TruckCo"]},
            "participants": {"P": "org:BuyerCo"},
            "lanes": {"L": "role:carrier"},
            "start": "org:BuyerCo",
            "variables": {"amount": "decimal"},
            "outputs": {"T": ["accepted"]},
            "services": {"S": {"call": "notary.record", "args": {"document_hash": "h"}}},
            "messages": {"E": {"event": "telemetry.fired", "attribute": "device_id", "variable": "d"}}
        }))
        .unwrap();
        assert_eq!(b.resolve("role:carrier").unwrap().len(), 2);
        assert_eq!(b.services["S"].module, "notary");
        assert_eq!(b.messages["E"].kind, "fired");
        assert_eq!(b.variables["amount"], Type::Decimal);
    }

    #[test]
    fn refuses_bad_bindings_with_the_key() {
        for (v, needle) in [
            (json!({"lane": {}}), "unknown key `lane`"),
            (json!({"variables": {"x": "float"}}), "unknown type `float`"),
            (
                json!({"services": {"S": {"call": "notary"}}}),
                "module.name",
            ),
            (json!([]), "JSON object"),
        ] {
            let e = Bindings::from_json(&v).unwrap_err();
            assert!(e.message.contains(needle), "{e}");
        }
        let b = Bindings::from_json(&json!({})).unwrap();
        assert!(b.resolve("role:x").is_err());
        assert!(b.resolve("boss").is_err());
        assert!(b.resolve("member:12").is_err());
    }

    #[test]
    fn actor_matching() {
        let who = Actor {
            org: "BankCo".into(),
            role: "admin".into(),
            member: [7; 32],
        };
        assert!(allows(&["org:BankCo".into()], &who, &[0; 32]));
        assert!(allows(&["org:BankCo/admin".into()], &who, &[0; 32]));
        assert!(!allows(&["org:BankCo/member".into()], &who, &[0; 32]));
        assert!(!allows(&["org:Bank".into()], &who, &[0; 32]));
        assert!(allows(&["starter".into()], &who, &[7; 32]));
        assert!(!allows(&["starter".into()], &who, &[8; 32]));
        assert!(allows(
            &[format!("member:{}", hex::encode([7u8; 32]))],
            &who,
            &[0; 32]
        ));
        assert!(allows(&["any".into()], &who, &[0; 32]));
    }
}
