//! The module interface (DESIGN.md decision 10, ARCHITECTURE.md "Adding a
//! module").
//!
//! A module is a crate under `crates/modules/` that implements [`Module`]
//! once: its name, the state key prefixes it owns with their read rules, its
//! failure codes, its calls (canonical codec, with their JSON forms), what a
//! device may call with its own key, end-of-block work, and who reads its
//! calls and events. The executor (`ingot-execution`) holds the registry of
//! modules and is the only [`Host`]; modules reach each other only through
//! the small services they publish (e.g. `ingot_module_device::find`) or
//! through the host's dispatch, never through each other's keys.
//!
//! Everything a module does while executing is deterministic: it sees the
//! block, the transaction and the state, never the wall clock.

pub mod call;
pub mod consortium;
pub mod context;
pub mod derived;
pub mod failure;
pub mod store;
pub mod visibility;

pub use call::{corrupt, decode, decode_args, event, reject, unknown_method, CallError};
pub use consortium::{
    ChainParams, Consortium, ObserverSeat, OrgEntry, OrgInfo, TrustedCa, ValidatorSeat,
};
pub use context::{block_receipt_id, BlockContext, TxContext};
pub use failure::Code;
pub use store::{StateRead, Store};
pub use visibility::{Audience, IdAt, KeyDecl, Parties, Reader, Rule};

use bytes::Bytes;
use ingot_crypto::Identity;
use ingot_state::StateError;
use ingot_types::{Call, Event, Failure};
use serde_json::Value;
use std::{future::Future, pin::Pin};

/// A boxed future, so [`Module`] and [`Store`] can be used as trait objects.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// The result of a call or of block-level work: its events, or why not.
pub type CallResult = Result<Vec<Event>, CallError>;

/// What the executor offers a module beyond its own state: calls into other
/// modules (a workflow's service tasks), the JSON forms of other modules'
/// calls, and the stable names of any module's failures.
pub trait Host: Sync {
    /// Dispatch `call` as a nested call at `depth` (checks included: device
    /// senders, modules that may not be nested, event hooks).
    fn dispatch<'a>(
        &'a self,
        ctx: &'a TxContext<'a>,
        state: &'a mut dyn Store,
        call: &'a Call,
        depth: u8,
    ) -> BoxFuture<'a, CallResult>;

    /// Canonical arguments of any module's call from their JSON form.
    fn args_from_json(&self, module: &str, method: &str, v: &Value) -> Result<Bytes, String>;

    /// The stable name of any module's failure (`module.name`): recorded in
    /// events, so it is consensus data.
    fn failure_name(&self, f: &Failure) -> String;

    /// The message people read for any module's failure (never hashed).
    fn render(&self, f: &Failure) -> String;
}

/// What a module declares about itself, as data (one `const` per module).
#[derive(Clone, Copy, Debug)]
pub struct ModuleInfo {
    /// The module's name: calls address it, its keys start with `name/`.
    pub name: &'static str,
    /// The state key prefixes the module owns, each with its read rule.
    pub keys: &'static [KeyDecl],
    /// Every failure the module reports (see [`failures!`]).
    pub failures: &'static [Code],
    /// Methods a device may call with its own key (everything else needs a
    /// person).
    pub device_methods: &'static [&'static str],
    /// Whether another module (a workflow's service task) may call this one.
    pub nestable: bool,
    /// Every kind of event the module emits, with its attributes.
    pub events: &'static [EventDecl],
    /// Every method it serves, with who may call it and example arguments
    /// (`GET /v1/modules`: what a client in any language starts from).
    pub methods: &'static [MethodDecl],
}

/// One method a module serves. Tests check every example against the
/// module's `args_from_json`, so the catalogue cannot drift from the code.
#[derive(Clone, Copy, Debug)]
pub struct MethodDecl {
    pub name: &'static str,
    /// Who may call it, in words (the module's checks decide).
    pub who: &'static str,
    /// Its JSON arguments, as an example a client can start from (the
    /// node and `ingot tx send --args` encode them canonically). The shape
    /// is exact, the values are placeholders (an example certificate is a
    /// CA's, which the chain would refuse as a signer's). Empty for
    /// a method whose arguments are binary only (its doc says where they
    /// are specified).
    pub example_args: &'static str,
    /// What it does.
    pub doc: &'static str,
}

/// One kind of event a module emits: what its receipts carry, what clients
/// and workflows subscribe to. The registry checks, in every debug build
/// (tests, simulations), that each emitted event is declared.
#[derive(Clone, Copy, Debug)]
pub struct EventDecl {
    pub kind: &'static str,
    /// The attributes it may carry (an event carries a subset of them).
    pub attributes: &'static [&'static str],
    /// It also carries the detail fields of a failure (a refusal event).
    pub failure_detail: bool,
    /// What it means.
    pub doc: &'static str,
}

impl EventDecl {
    pub const fn new(
        kind: &'static str,
        attributes: &'static [&'static str],
        doc: &'static str,
    ) -> Self {
        Self {
            kind,
            attributes,
            failure_detail: false,
            doc,
        }
    }

    /// An event that also carries a failure's detail fields.
    pub const fn with_failure_detail(self) -> Self {
        Self {
            failure_detail: true,
            ..self
        }
    }
}

impl ModuleInfo {
    /// Why `event` is not one this module declares, if it is not.
    pub fn undeclared(&self, event: &Event) -> Option<String> {
        let Some(decl) = self.events.iter().find(|d| d.kind == event.kind) else {
            return Some(format!(
                "{}.{} is not a declared event",
                self.name, event.kind
            ));
        };
        if decl.failure_detail {
            return None;
        }
        event
            .attributes
            .iter()
            .find(|(k, _)| !decl.attributes.contains(&k.as_str()))
            .map(|(k, _)| {
                format!(
                    "{}.{} carries undeclared attribute `{k}`",
                    self.name, event.kind
                )
            })
    }
}

/// One Ingot module. Implemented by a unit struct in the module's crate and
/// listed once in the executor's registry.
pub trait Module: Send + Sync + 'static {
    /// The module's declarations.
    fn info(&self) -> &'static ModuleInfo;

    fn name(&self) -> &'static str {
        self.info().name
    }

    fn keys(&self) -> &'static [KeyDecl] {
        self.info().keys
    }

    fn failures(&self) -> &'static [Code] {
        self.info().failures
    }

    fn device_methods(&self) -> &'static [&'static str] {
        self.info().device_methods
    }

    fn nestable(&self) -> bool {
        self.info().nestable
    }

    /// Execute one call addressed to this module.
    fn call<'a>(
        &'a self,
        ctx: &'a TxContext<'a>,
        state: &'a mut dyn Store,
        host: &'a dyn Host,
        call: &'a Call,
    ) -> BoxFuture<'a, CallResult>;

    /// React to the events another module's call emitted (at nesting
    /// `depth`); the events returned join that call's receipt.
    fn on_events<'a>(
        &'a self,
        _ctx: &'a TxContext<'a>,
        _state: &'a mut dyn Store,
        _host: &'a dyn Host,
        _events: &'a [Event],
        _depth: u8,
    ) -> BoxFuture<'a, CallResult> {
        Box::pin(async { Ok(Vec::new()) })
    }

    /// Work at the end of every block, after its transactions (timers by
    /// block time). The events join the block's trailing receipt.
    fn end_block<'a>(
        &'a self,
        _block: BlockContext,
        _trust: &'a Consortium,
        _state: &'a mut dyn Store,
        _host: &'a dyn Host,
    ) -> BoxFuture<'a, CallResult> {
        Box::pin(async { Ok(Vec::new()) })
    }

    /// Canonical arguments of `method` from their JSON form.
    fn args_from_json(&self, method: &str, v: &Value) -> Result<Bytes, String>;

    /// The JSON form of canonical arguments (explorers, the CLI).
    fn args_to_json(&self, method: &str, args: &Bytes) -> Result<Value, String>;

    /// Who reads the keys under `decl` (only the module's own rules reach
    /// here: [`Rule::Public`], [`Rule::Members`] and
    /// [`Rule::RegulatorsOnly`] are decided by the registry). `rest` is the
    /// key after the prefix.
    fn key_audience<'a>(
        &'a self,
        _state: &'a dyn StateRead,
        _decl: &'a KeyDecl,
        _rest: &'a str,
    ) -> BoxFuture<'a, Result<Audience, StateError>> {
        Box::pin(async { Ok(Audience::regulators_only()) })
    }

    /// Who reads a call's content (arguments, events, keys it touched).
    /// By default: the sender's organisation, the owners its events name,
    /// and regulators.
    fn call_audience<'a>(
        &'a self,
        _state: &'a dyn StateRead,
        _call: &'a Call,
        sender: &'a Identity,
        events: &'a [Event],
    ) -> BoxFuture<'a, Result<Audience, StateError>> {
        let parties = visibility::sender_and_owners(sender, events);
        Box::pin(async move { Ok(Audience::Parties(parties)) })
    }

    /// Who reads one of the module's events. By default: the organisation
    /// its `owner` attribute names, and regulators.
    fn event_audience<'a>(
        &'a self,
        _state: &'a dyn StateRead,
        event: &'a Event,
    ) -> BoxFuture<'a, Result<Audience, StateError>> {
        let audience = match visibility::attribute(event, "owner") {
            Some(owner) => Audience::Parties(Parties::org_and_regulators(owner)),
            None => Audience::regulators_only(),
        };
        Box::pin(async move { Ok(audience) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EVENTS: &[EventDecl] = &[
        EventDecl::new("done", &["id", "owner"], "finished"),
        EventDecl::new("refused", &["id", "reason"], "refused").with_failure_detail(),
    ];
    const INFO: ModuleInfo = ModuleInfo {
        name: "m",
        keys: &[],
        failures: &[],
        device_methods: &[],
        nestable: true,
        events: EVENTS,
        methods: &[],
    };

    fn ev(kind: &str, attrs: &[&str]) -> Event {
        call::event(
            "m",
            kind,
            &attrs
                .iter()
                .map(|a| (*a, String::new()))
                .collect::<Vec<_>>(),
        )
    }

    #[test]
    fn only_declared_kinds_and_attributes_pass() {
        assert_eq!(INFO.undeclared(&ev("done", &["id"])), None);
        assert_eq!(INFO.undeclared(&ev("done", &["id", "owner"])), None);
        assert!(INFO
            .undeclared(&ev("finished", &["id"]))
            .unwrap()
            .contains("not a declared event"));
        assert!(INFO
            .undeclared(&ev("done", &["id", "price"]))
            .unwrap()
            .contains("undeclared attribute `price`"));
        // A refusal may carry its failure's detail fields.
        assert_eq!(
            INFO.undeclared(&ev("refused", &["id", "reason", "max"])),
            None
        );
    }
}
