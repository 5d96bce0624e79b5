//! The registry of modules: the one list that says which modules this chain
//! runs, and the host that routes calls, end-of-block work, JSON forms,
//! failure names and read rules to them.
//!
//! Adding a module is one crate under `crates/modules/` and one line in
//! [`MODULES`]. The order is consensus: end-of-block work runs in it, and
//! the list of calls a device may make (a failure detail) is built in it.

use ingot_module::{
    failure::tx, reject, BlockContext, BoxFuture, CallResult, Consortium, Host, Module, ModuleInfo,
    Store, TxContext,
};
use ingot_module_access::AccessModule;
use ingot_module_device::DeviceModule;
use ingot_module_governance::GovernanceModule;
use ingot_module_identity::IdentityModule;
use ingot_module_notary::NotaryModule;
use ingot_module_telemetry::TelemetryModule;
use ingot_module_workflow::WorkflowModule;
use ingot_types::{Call, Failure};
use serde_json::Value;
use std::sync::LazyLock;

/// Every module this chain runs, in consensus order.
pub static MODULES: &[&dyn Module] = &[
    &IdentityModule,
    &NotaryModule,
    &DeviceModule,
    &AccessModule,
    &TelemetryModule,
    &WorkflowModule,
    // Last: appended after chains were running, so their block-end order
    // is unchanged (it has block-end work only once a proposal exists).
    &GovernanceModule,
];

/// The module called `name`, if this chain runs it.
pub fn module(name: &str) -> Option<&'static dyn Module> {
    MODULES.iter().copied().find(|m| m.name() == name)
}

/// Every `(module, method)` a device may call with its own key, in registry
/// order.
static DEVICE_CALLS: LazyLock<Vec<(&'static str, &'static str)>> = LazyLock::new(|| {
    MODULES
        .iter()
        .flat_map(|m| m.device_methods().iter().map(move |f| (m.name(), *f)))
        .collect()
});

/// The executor as modules see it (see [`Host`]).
pub struct Registry;

/// The one host.
pub const REGISTRY: Registry = Registry;

impl Host for Registry {
    fn dispatch<'a>(
        &'a self,
        ctx: &'a TxContext<'a>,
        state: &'a mut dyn Store,
        call: &'a Call,
        depth: u8,
    ) -> BoxFuture<'a, CallResult> {
        dispatch(ctx, state, call, depth)
    }

    fn args_from_json(
        &self,
        module: &str,
        method: &str,
        v: &Value,
    ) -> Result<bytes::Bytes, String> {
        crate::args::from_json(module, method, v)
    }

    fn failure_name(&self, f: &Failure) -> String {
        crate::failure::name(f)
    }

    fn render(&self, f: &Failure) -> String {
        crate::failure::render(f)
    }
}

/// Route a call to its module, at nesting `depth` (0 for a transaction's
/// own call; service tasks of workflows call deeper). A device signs only
/// the few calls modules allow it (never, e.g., a transfer of itself), and
/// only with its current key while active. The events a call emits are
/// offered to every other module (workflow instances waiting for them move,
/// and may call services again, up to a bounded depth).
pub fn dispatch<'a>(
    ctx: &'a TxContext<'a>,
    state: &'a mut dyn Store,
    call: &'a Call,
    depth: u8,
) -> BoxFuture<'a, CallResult> {
    Box::pin(async move {
        if ctx.sender.device.is_some() {
            ingot_module_device::authorize_device_sender(ctx, state, call, &DEVICE_CALLS).await?;
        }
        let Some(target) = module(&call.module) else {
            return reject(tx::UNKNOWN_MODULE.with(&[("module", call.module.clone())]));
        };
        if depth > 0 && !target.nestable() {
            return reject(tx::NESTED_WORKFLOW.bare());
        }
        let result = target.call(ctx, state, &REGISTRY, call).await;
        check_method_declared(target.info(), call, &result);
        let mut events = result?;
        for other in MODULES.iter().filter(|m| m.name() != target.name()) {
            let moved = other
                .on_events(ctx, state, &REGISTRY, &events, depth)
                .await?;
            events.extend(moved);
        }
        check_declared(&events);
        Ok(events)
    })
}

/// Every method a module serves is in its catalogue (`ModuleInfo::methods`,
/// what `GET /v1/modules` shows clients): checked in debug builds, so a test
/// or simulation in which an undeclared method *succeeds* fails. Only
/// success counts: a refusal proves nothing (modules may refuse a sender
/// before they look at the method), and a sender must never be able to
/// stop a node, even a debug one, with a made-up method name.
fn check_method_declared(info: &ModuleInfo, call: &Call, result: &CallResult) {
    if !cfg!(debug_assertions) || result.is_err() {
        return;
    }
    assert!(
        info.methods.iter().any(|m| m.name == call.method),
        "{}.{} is served but not declared in the module's `methods`",
        info.name,
        call.method
    );
}

/// Every event is one its module declares (`ModuleInfo::events`): checked
/// in debug builds, so tests and simulations fail on an undeclared event
/// kind or attribute; release builds do not pay for it.
fn check_declared(events: &[ingot_types::Event]) {
    if !cfg!(debug_assertions) {
        return;
    }
    for e in events {
        let problem = match module(&e.module) {
            Some(m) => m.info().undeclared(e),
            None => Some(format!("an event of unknown module `{}`", e.module)),
        };
        assert!(problem.is_none(), "{}", problem.unwrap_or_default());
    }
}

/// Work at the end of every block, after its transactions, module by module
/// in registry order; each module's work is kept once it succeeds. Returns
/// the events of the block's trailing receipt.
pub async fn end_block(
    block: BlockContext,
    state: &mut dyn Store,
    trust: &Consortium,
) -> CallResult {
    let mut events = Vec::new();
    for m in MODULES {
        let produced = m.end_block(block, trust, state, &REGISTRY).await?;
        check_declared(&produced);
        events.extend(produced);
        state.commit_tx();
    }
    Ok(events)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Every source file of every registered module (`crates/modules/<name>/src`),
    /// for the tests that read them: a new module is read without a list.
    pub(crate) fn sources() -> Vec<(&'static str, String)> {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../modules");
        let mut out = Vec::new();
        for m in MODULES {
            let dir = root.join(m.name()).join("src");
            let mut files: Vec<_> = std::fs::read_dir(&dir)
                .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
                .map(|entry| entry.unwrap().path())
                .filter(|p| p.extension().is_some_and(|x| x == "rs"))
                .collect();
            files.sort();
            for f in files {
                out.push((m.name(), std::fs::read_to_string(&f).unwrap()));
            }
        }
        out
    }

    #[test]
    fn names_are_unique_and_every_module_lives_in_its_crate() {
        let mut names = std::collections::BTreeSet::new();
        let sources = sources();
        for m in MODULES {
            assert!(names.insert(m.name()), "{} registered twice", m.name());
            assert!(
                sources.iter().any(|(n, _)| *n == m.name()),
                "{}: no sources under crates/modules/{}/src",
                m.name(),
                m.name()
            );
        }
    }

    /// The method catalogue is whole and true: each method declared once,
    /// with who may call it and a doc, its example arguments accepted by the
    /// module's own JSON parser, and every device method among them. (That
    /// every method served is declared is checked on each call in debug
    /// builds: `check_method_declared`.)
    #[test]
    fn methods_are_declared_once_with_example_arguments_that_parse() {
        for m in MODULES {
            let info = m.info();
            assert!(!info.methods.is_empty(), "{} declares no method", info.name);
            let mut names = std::collections::BTreeSet::new();
            for d in info.methods {
                assert!(names.insert(d.name), "{}.{} twice", info.name, d.name);
                assert!(
                    !d.who.is_empty() && !d.doc.is_empty(),
                    "{}.{}",
                    info.name,
                    d.name
                );
                if d.example_args.is_empty() {
                    // Binary arguments only: the JSON parser says so.
                    assert!(m.args_from_json(d.name, &Value::Null).is_err());
                    continue;
                }
                let args: Value = serde_json::from_str(d.example_args)
                    .unwrap_or_else(|e| panic!("{}.{} example: {e}", info.name, d.name));
                if let Err(e) = m.args_from_json(d.name, &args) {
                    panic!("{}.{} example refused: {e}", info.name, d.name);
                }
            }
            for method in info.device_methods {
                assert!(
                    names.contains(method),
                    "{}.{} undeclared",
                    info.name,
                    method
                );
            }
        }
    }

    /// The debug-build check fires on a served but undeclared method, and
    /// lets every refusal through.
    #[test]
    fn a_served_method_missing_from_the_catalogue_is_caught() {
        let mut info = *NotaryModule.info();
        info.methods = &[];
        let call = Call {
            module: "notary".into(),
            method: "record".into(),
            args: Default::default(),
        };
        // Refusals, of any kind, pass: a made-up method from a non-admin
        // is refused before the module looks at the method.
        let unknown: CallResult = ingot_module::unknown_method(&call);
        check_method_declared(&info, &call, &unknown);
        let not_admin: CallResult = reject(ingot_module_identity::failures::NOT_ADMIN.bare());
        check_method_declared(&info, &call, &not_admin);
        let served = std::panic::catch_unwind(|| check_method_declared(&info, &call, &Ok(vec![])));
        assert!(served.is_err(), "an undeclared method that was served");
        let declared = *NotaryModule.info();
        check_method_declared(&declared, &call, &Ok(vec![]));
    }

    /// Event declarations are well formed: kinds unique per module, each
    /// documented, attribute names unique.
    #[test]
    fn events_are_declared_once_and_documented() {
        for m in MODULES {
            let mut kinds = std::collections::BTreeSet::new();
            for e in m.info().events {
                assert!(
                    kinds.insert(e.kind),
                    "{}.{} declared twice",
                    m.name(),
                    e.kind
                );
                assert!(!e.doc.is_empty(), "{}.{} has no doc", m.name(), e.kind);
                let attrs: std::collections::BTreeSet<_> = e.attributes.iter().collect();
                assert_eq!(attrs.len(), e.attributes.len(), "{}.{}", m.name(), e.kind);
            }
            assert!(!kinds.is_empty(), "{} declares no events", m.name());
        }
    }

    /// The list a refused device call names is consensus data (a failure
    /// detail): it must not change when modules are reorganised.
    #[test]
    fn device_calls_keep_their_order() {
        let listed: Vec<String> = DEVICE_CALLS
            .iter()
            .map(|(m, f)| format!("{m}.{f}"))
            .collect();
        assert_eq!(
            listed.join(", "),
            "device.report_state, device.request_maintenance, device.rotate_key, \
             access.request, access.redeem"
        );
    }

    /// Modules use each other through published services (`device::find`,
    /// `device::owner_org`, `identity::is_revoked`, `access::grants`, ...),
    /// never through each other's storage layout: no module calls another
    /// module's `*_key` function.
    #[test]
    fn no_module_reads_another_modules_keys() {
        for (own, src) in sources() {
            for other in MODULES.iter().map(|m| m.name()).filter(|m| *m != own) {
                for needle in [format!("{other}::"), format!("ingot_module_{other}::")] {
                    for (i, _) in src.match_indices(&needle) {
                        let ident: String = src[i + needle.len()..]
                            .chars()
                            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                            .collect();
                        assert!(
                            !ident.ends_with("_key"),
                            "{own} uses {other}::{ident}: go through a published service"
                        );
                    }
                }
            }
        }
    }
}
