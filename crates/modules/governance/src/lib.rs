//! `governance`: the consortium changes itself by weighted vote of its
//! organisations' admins (白皮书 一.3 许可链: joining and leaving need the
//! consortium's permission; 七.1).
//!
//! An admin proposes an [`Action`] (admit or remove an organisation, rotate
//! its CA, change a weight, the thresholds, or who may deploy workflows); the
//! proposal counts as its organisation's approval. Admins of the other
//! organisations vote once each. [`tally`] decides by participation and
//! approval thresholds over vote weight, early when no later vote could
//! change the outcome, else at the proposal's last voting height. An
//! approved change is applied at the end of the block before the height it
//! holds from (the next block by default), checked again against the
//! consortium as it then is. Every step is an event.
//!
//! State: `governance/meta/orgs` + `governance/org/<name>` (the
//! organisations, written in full at the first change — genesis holds until
//! then), `governance/meta/rules`, `governance/deployers/<module>`,
//! `governance/meta/observers` (observer nodes admitted by vote),
//! `governance/meta/count`, `governance/prop/<id>`,
//! `governance/vote/<id>/<org>`, `governance/meta/agenda` (what the block
//! end looks at: open proposals' deadlines and approved changes' heights). The whole consortium reads all of it: governance is
//! the members' shared business.

pub mod action;
pub mod api;
mod apply;
mod module;
pub mod records;
pub mod tally;

pub use action::Action;
pub use module::GovernanceModule;

use commonware_codec::{Decode, Encode};
use ingot_module::visibility::{KeyDecl, Rule};
use ingot_module::{
    call::corrupt, decode_args, event, reject, unknown_method, BoxFuture, CallError, Consortium,
    OrgEntry, StateRead, Store, TxContext,
};
use ingot_state::StateError;
use ingot_types::{record, Call, Event, Governance};
use records::*;
use tally::{Outcome, Tally};

pub const NAME: &str = "governance";

pub const ORGS_KEY: &[u8] = b"governance/meta/orgs";
pub const RULES_KEY: &[u8] = b"governance/meta/rules";
pub const COUNT_KEY: &[u8] = b"governance/meta/count";
pub const AGENDA_KEY: &[u8] = b"governance/meta/agenda";
pub const PARAMS_KEY: &[u8] = b"governance/meta/params";
pub const OBSERVERS_KEY: &[u8] = b"governance/meta/observers";
pub const VALIDATORS_KEY: &[u8] = b"governance/meta/validators";

pub fn org_key(name: &str) -> Vec<u8> {
    format!("governance/org/{name}").into_bytes()
}

pub fn deployers_key(module: &str) -> Vec<u8> {
    format!("governance/deployers/{module}").into_bytes()
}

pub fn proposal_key(id: u64) -> Vec<u8> {
    format!("governance/prop/{id:016}").into_bytes()
}

pub fn vote_key(id: u64, org: &str) -> Vec<u8> {
    format!("governance/vote/{id:016}/{org}").into_bytes()
}

record! {
    /// governance.propose
    pub struct ProposeArg {
        /// The canonical [`Action`].
        pub action: bytes::Bytes = MAX_ACTION_BYTES,
        /// First height the change must hold (0: as soon as approved).
        pub effective_at: u64 = (),
    }
}

record! {
    /// governance.vote
    pub struct VoteArg {
        pub proposal: u64 = (),
        pub approve: bool = (),
    }
}

/// Why a governance call fails (see [`ingot_module::failure`]).
pub mod failures {
    ingot_module::failures! { super::NAME;
        NOT_ADMIN = 1, "not_admin", "only an organisation admin may propose or vote";
        MALFORMED_ACTION = 2, "malformed_action", "the proposed action does not decode";
        ACTION_REFUSED = 3, "action_refused", "{reason}";
        AGENDA_FULL = 4, "agenda_full", "{max} proposals are open or waiting; decide some first";
        NO_PROPOSAL = 5, "no_proposal", "proposal {proposal} does not exist";
        NOT_OPEN = 6, "not_open", "proposal {proposal} is {status}, no longer open for votes";
        ALREADY_VOTED = 7, "already_voted", "{org} has voted on proposal {proposal}";
        BAD_EFFECTIVE_HEIGHT = 8, "bad_effective_height", "effective_at {effective_at} must be after height {height} and at most {max} blocks ahead";
        TOO_MANY_OPEN = 9, "too_many_open", "{org} has {max} proposals open; let them be decided first";
    }
}

/// Farthest ahead a change may be scheduled, in blocks.
pub const MAX_SCHEDULE_AHEAD: u64 = ingot_types::genesis::MAX_PROPOSAL_TTL_BLOCKS;

/// Reading state, in a transaction (a [`Store`]) or committed (a
/// [`StateRead`]): the consortium is loaded from both.
trait Source: Send {
    fn read<'a>(&'a mut self, key: &'a [u8]) -> BoxFuture<'a, Result<Option<Vec<u8>>, StateError>>;
}

impl Source for &mut dyn Store {
    fn read<'a>(&'a mut self, key: &'a [u8]) -> BoxFuture<'a, Result<Option<Vec<u8>>, StateError>> {
        self.get(key)
    }
}

struct Committed<'s>(&'s dyn StateRead);

impl Source for Committed<'_> {
    fn read<'a>(&'a mut self, key: &'a [u8]) -> BoxFuture<'a, Result<Option<Vec<u8>>, StateError>> {
        self.0.get(key)
    }
}

/// What governance has stored of the consortium: its organisations (if any
/// change was ever applied) and its rules (if ever changed).
pub struct Stored {
    pub entries: Option<Vec<OrgEntry>>,
    pub rules: Option<Governance>,
    pub params: Option<ingot_module::ChainParams>,
    /// The admitted observer nodes (absent: none was ever admitted).
    pub observers: Option<std::collections::BTreeMap<[u8; 32], ingot_module::ObserverSeat>>,
    /// The validator registry (absent: genesis's validators, unchanged).
    pub validators: Option<ValidatorList>,
}

/// A stored record that does not decode: damage, not a transaction's fault.
#[derive(Debug)]
pub struct Damaged(pub &'static str);

async fn load(mut src: impl Source) -> Result<Result<Stored, Damaged>, StateError> {
    let rules = match src.read(RULES_KEY).await? {
        Some(raw) => match RulesRecord::decode_cfg(raw, &()) {
            Ok(r) => Some(r.to_rules()),
            Err(_) => return Ok(Err(Damaged("governance rules"))),
        },
        None => None,
    };
    let params = match src.read(PARAMS_KEY).await? {
        Some(raw) => match ParamsRecord::decode_cfg(raw, &()) {
            Ok(p) => Some(p.to_params()),
            Err(_) => return Ok(Err(Damaged("governance chain parameters"))),
        },
        None => None,
    };
    let observers = match src.read(OBSERVERS_KEY).await? {
        Some(raw) => match ObserverList::decode_cfg(raw, &()) {
            Ok(list) => Some(list.to_seats()),
            Err(_) => return Ok(Err(Damaged("governance observer list"))),
        },
        None => None,
    };
    let validators = match src.read(VALIDATORS_KEY).await? {
        Some(raw) => match ValidatorList::decode_cfg(raw, &()) {
            Ok(list) => Some(list),
            Err(_) => return Ok(Err(Damaged("governance validator registry"))),
        },
        None => None,
    };
    let Some(raw) = src.read(ORGS_KEY).await? else {
        return Ok(Ok(Stored {
            entries: None,
            rules,
            params,
            observers,
            validators,
        }));
    };
    let Ok(list) = OrgList::decode_cfg(raw, &()) else {
        return Ok(Err(Damaged("governance organisation list")));
    };
    let mut entries = Vec::with_capacity(list.names.len());
    for name in &list.names {
        let entry = src
            .read(&org_key(name))
            .await?
            .and_then(|raw| OrgRecord::decode_cfg(raw, &()).ok())
            .and_then(|r| r.to_entry());
        match entry {
            Some(e) => entries.push(e),
            None => return Ok(Err(Damaged("governance organisation record"))),
        }
    }
    Ok(Ok(Stored {
        entries: Some(entries),
        rules,
        params,
        observers,
        validators,
    }))
}

/// The stored consortium, as a transaction sees it.
pub async fn stored(state: &mut dyn Store) -> Result<Result<Stored, Damaged>, StateError> {
    load(state).await
}

/// The stored consortium on committed state (a node opening).
pub async fn stored_committed(
    state: &dyn StateRead,
) -> Result<Result<Stored, Damaged>, StateError> {
    load(Committed(state)).await
}

/// The consortium at `height` from what is stored, over `base` (genesis's,
/// or the previous block's view) for what is not.
pub fn consortium_at(
    base: &Consortium,
    stored: Stored,
    height: u64,
) -> Result<Consortium, ingot_crypto::PkiError> {
    let entries = stored.entries.unwrap_or_else(|| base.entries().to_vec());
    let rules = stored.rules.unwrap_or_else(|| base.rules().clone());
    let params = stored.params.unwrap_or(*base.params());
    let observers = stored.observers.unwrap_or_else(|| base.observers().clone());
    let view = base
        .rebuild(entries, rules, height)?
        .with_params(params)
        .with_observers(observers);
    Ok(match stored.validators {
        Some(list) => {
            let seats = list.to_seats(&base.validator_registry());
            view.with_validator_registry(seats)
        }
        None => view,
    })
}

/// Whether members of `org` may deploy to `module` (no list: every
/// organisation; a list emptied by removals: none): the published service
/// the workflow module asks before a deployment.
pub async fn may_deploy(state: &mut dyn Store, module: &str, org: &str) -> Result<bool, CallError> {
    match state.get(&deployers_key(module)).await? {
        None => Ok(true),
        Some(raw) => {
            let d = Deployers::decode_cfg(raw, &()).map_err(corrupt("deployers"))?;
            Ok(d.orgs.iter().any(|o| o == org))
        }
    }
}

/// The events whose application changed the consortium: the executor
/// rebuilds its view after a block that has one.
pub fn changes_consortium(e: &Event) -> bool {
    e.module == NAME
        && e.kind == "applied"
        && e.attributes
            .iter()
            .any(|(k, v)| k == "consortium" && v == "changed")
}

async fn get_record<T: Decode<Cfg = ()>>(
    state: &mut dyn Store,
    key: &[u8],
    what: &'static str,
) -> Result<Option<T>, CallError> {
    match state.get(key).await? {
        None => Ok(None),
        Some(raw) => T::decode_cfg(raw, &()).map(Some).map_err(corrupt(what)),
    }
}

pub(crate) async fn agenda(state: &mut dyn Store) -> Result<Agenda, CallError> {
    Ok(get_record(state, AGENDA_KEY, "governance agenda")
        .await?
        .unwrap_or(Agenda {
            open: Vec::new(),
            scheduled: Vec::new(),
        }))
}

pub(crate) async fn proposal(
    state: &mut dyn Store,
    id: u64,
) -> Result<Option<Proposal>, CallError> {
    get_record(state, &proposal_key(id), "governance proposal").await
}

fn status_of(p: &Proposal) -> Status {
    Status::from_byte(p.status).unwrap_or(Status::Failed)
}

/// Count `p`'s votes as the consortium stands: each current organisation's
/// vote at its current weight. A removed organisation's vote no longer
/// counts and a changed weight counts as it now is, so `yes + no` never
/// exceeds the total the thresholds are taken of.
pub(crate) async fn recount(
    state: &mut dyn Store,
    p: &mut Proposal,
    consortium: &Consortium,
) -> Result<(), CallError> {
    let (mut yes, mut no) = (0u64, 0u64);
    for (org, info) in consortium.orgs() {
        if let Some(v) = get_record::<Vote>(state, &vote_key(p.id, org), "governance vote").await? {
            if v.approve {
                yes += u64::from(info.weight);
            } else {
                no += u64::from(info.weight);
            }
        }
    }
    p.yes = yes;
    p.no = no;
    Ok(())
}

pub(crate) fn tally(p: &Proposal, consortium: &Consortium, rules: &Governance) -> Tally {
    Tally {
        yes: p.yes,
        no: p.no,
        total: consortium.total_weight(),
        participation_pct: rules.participation_pct,
        approval_pct: rules.approval_pct,
    }
}

pub async fn call(
    ctx: &TxContext<'_>,
    state: &mut dyn Store,
    call: &Call,
) -> Result<Vec<Event>, CallError> {
    if ctx.sender.role != "admin" || ctx.sender.device.is_some() {
        return reject(failures::NOT_ADMIN.bare());
    }
    match call.method.as_str() {
        "propose" => propose(ctx, state, decode_args(call)?).await,
        "vote" => vote(ctx, state, decode_args(call)?).await,
        _ => unknown_method(call),
    }
}

async fn propose(
    ctx: &TxContext<'_>,
    state: &mut dyn Store,
    arg: ProposeArg,
) -> Result<Vec<Event>, CallError> {
    let height = ctx.block.height;
    let Ok(action) = Action::decode_cfg(arg.action.clone(), &()) else {
        return reject(failures::MALFORMED_ACTION.bare());
    };
    if let Err(action::Refusal(reason)) = action::check(&action, ctx.trust, height, true) {
        return reject(failures::ACTION_REFUSED.with(&[("reason", reason)]));
    }
    // An organisation runs its own observer node: no other may propose one
    // in its name (it could not then leave until the node was withdrawn).
    if let Action::AddObserver { org, .. } = &action {
        if org != &ctx.sender.org {
            return reject(failures::ACTION_REFUSED.with(&[(
                "reason",
                format!("only an admin of {org} may propose an observer node of {org}"),
            )]));
        }
    }
    // Likewise its validators: any organisation may propose removing one
    // (a validator that misbehaves), only its own may add or replace one.
    let operator = match &action {
        Action::AddValidator { org, .. } => Some(org.clone()),
        Action::ReplaceValidator { old_public_key, .. } => {
            ctx.trust.validator(old_public_key).map(|v| v.org.clone())
        }
        _ => None,
    };
    if let Some(org) = operator.filter(|org| org != &ctx.sender.org) {
        return reject(failures::ACTION_REFUSED.with(&[(
            "reason",
            format!("only an admin of {org} may propose a validator of {org}"),
        )]));
    }
    if arg.effective_at != 0
        && (arg.effective_at <= height || arg.effective_at - height > MAX_SCHEDULE_AHEAD)
    {
        return reject(failures::BAD_EFFECTIVE_HEIGHT.with(&[
            ("effective_at", arg.effective_at.to_string()),
            ("height", height.to_string()),
            ("max", MAX_SCHEDULE_AHEAD.to_string()),
        ]));
    }
    let mut agenda = agenda(state).await?;
    if agenda.open.len() + agenda.scheduled.len() >= MAX_AGENDA {
        return reject(failures::AGENDA_FULL.with(&[("max", MAX_AGENDA.to_string())]));
    }
    if agenda
        .open
        .iter()
        .filter(|d| d.org == ctx.sender.org)
        .count()
        >= MAX_OPEN_PER_ORG
    {
        return reject(failures::TOO_MANY_OPEN.with(&[
            ("org", ctx.sender.org.clone()),
            ("max", MAX_OPEN_PER_ORG.to_string()),
        ]));
    }
    let rules = ctx.trust.rules().clone();
    let id = get_record::<u64>(state, COUNT_KEY, "governance count")
        .await?
        .unwrap_or(0)
        + 1;
    state.put(COUNT_KEY.to_vec(), id.encode().to_vec());
    let org = ctx.sender.org.clone();
    let weight = ctx.trust.org(&org).map_or(0, |o| u64::from(o.weight));
    let mut p = Proposal {
        id,
        proposer_org: org.clone(),
        proposer: ctx.sender.id,
        action: arg.action,
        created: height,
        expires: height.saturating_add(rules.proposal_ttl_blocks),
        effective_at: arg.effective_at,
        status: Status::Open as u8,
        yes: weight,
        no: 0,
        decided_at: 0,
        applied_at: 0,
        note: String::new(),
    };
    state.put(
        vote_key(id, &org),
        Vote {
            approve: true,
            by: ctx.sender.id,
            height,
        }
        .encode()
        .to_vec(),
    );
    let mut events = vec![event(
        NAME,
        "proposed",
        &[
            ("proposal", id.to_string()),
            ("action", action.kind().to_string()),
            ("subject", action.subject()),
            ("proposer", org.clone()),
            ("expires", p.expires.to_string()),
        ],
    )];
    agenda.open.push(Due {
        at: p.expires,
        id,
        org: org.clone(),
    });
    let outcome = tally(&p, ctx.trust, &rules).early();
    decide(
        ctx.trust,
        &mut p,
        &mut agenda,
        height,
        outcome,
        false,
        &mut events,
    );
    state.put(proposal_key(id), p.encode().to_vec());
    state.put(AGENDA_KEY.to_vec(), agenda.encode().to_vec());
    Ok(events)
}

async fn vote(
    ctx: &TxContext<'_>,
    state: &mut dyn Store,
    arg: VoteArg,
) -> Result<Vec<Event>, CallError> {
    let height = ctx.block.height;
    let id = arg.proposal;
    let Some(mut p) = proposal(state, id).await? else {
        return reject(failures::NO_PROPOSAL.with(&[("proposal", id.to_string())]));
    };
    let status = status_of(&p);
    if status != Status::Open || height > p.expires {
        let shown = if status == Status::Open {
            "past its last voting height"
        } else {
            status.name()
        };
        return reject(
            failures::NOT_OPEN.with(&[("proposal", id.to_string()), ("status", shown.to_string())]),
        );
    }
    let org = ctx.sender.org.clone();
    let key = vote_key(id, &org);
    if state.exists(&key).await? {
        return reject(failures::ALREADY_VOTED.with(&[("org", org), ("proposal", id.to_string())]));
    }
    state.put(
        key,
        Vote {
            approve: arg.approve,
            by: ctx.sender.id,
            height,
        }
        .encode()
        .to_vec(),
    );
    let weight = ctx.trust.org(&org).map_or(0, |o| u64::from(o.weight));
    recount(state, &mut p, ctx.trust).await?;
    let mut events = vec![event(
        NAME,
        "voted",
        &[
            ("proposal", id.to_string()),
            ("org", org),
            ("approve", arg.approve.to_string()),
            ("weight", weight.to_string()),
        ],
    )];
    let rules = ctx.trust.rules().clone();
    let outcome = tally(&p, ctx.trust, &rules).early();
    if outcome != Outcome::Undecided {
        let mut agenda = agenda(state).await?;
        decide(
            ctx.trust,
            &mut p,
            &mut agenda,
            height,
            outcome,
            false,
            &mut events,
        );
        state.put(AGENDA_KEY.to_vec(), agenda.encode().to_vec());
    }
    state.put(proposal_key(id), p.encode().to_vec());
    Ok(events)
}

/// Record a decision: an approved change is scheduled for the height it
/// holds from, a rejected or expired proposal leaves the agenda.
pub(crate) fn decide(
    consortium: &Consortium,
    p: &mut Proposal,
    agenda: &mut Agenda,
    height: u64,
    outcome: Outcome,
    at_deadline: bool,
    events: &mut Vec<Event>,
) {
    let t = tally(p, consortium, consortium.rules());
    let (status, kind) = match outcome {
        Outcome::Undecided => return,
        Outcome::Approved => (Status::Approved, "approved"),
        Outcome::Rejected if at_deadline => (Status::Expired, "expired"),
        Outcome::Rejected => (Status::Rejected, "rejected"),
    };
    agenda.open.retain(|d| d.id != p.id);
    p.status = status as u8;
    p.decided_at = height;
    let mut attrs = vec![
        ("proposal", p.id.to_string()),
        ("yes", t.yes.to_string()),
        ("no", t.no.to_string()),
        ("total", t.total.to_string()),
    ];
    if status == Status::Approved {
        let holds_from = p.effective_at.max(height + 1);
        agenda.scheduled.push(Due {
            at: holds_from,
            id: p.id,
            org: p.proposer_org.clone(),
        });
        attrs.push(("holds_from", holds_from.to_string()));
    }
    events.push(event(NAME, kind, &attrs));
}

/// The key prefixes this module owns: all of them every member's to read —
/// the consortium's constitution, its proposals and who voted how.
pub const KEYS: &[KeyDecl] = &[
    KeyDecl::new("governance/meta/", Rule::Members),
    KeyDecl::new("governance/org/", Rule::Members),
    KeyDecl::new("governance/deployers/", Rule::Members),
    KeyDecl::new("governance/prop/", Rule::Members),
    KeyDecl::new("governance/vote/", Rule::Members),
];

async fn committed<T: Decode<Cfg = ()>>(
    state: &dyn StateRead,
    key: &[u8],
) -> Result<Option<T>, String> {
    match state.get(key).await.map_err(|e| e.to_string())? {
        None => Ok(None),
        Some(raw) => T::decode_cfg(raw, &()).map(Some).map_err(|e| e.to_string()),
    }
}

/// A proposal on committed state (the API).
pub async fn proposal_committed(
    state: &dyn StateRead,
    id: u64,
) -> Result<Option<Proposal>, String> {
    committed(state, &proposal_key(id)).await
}

/// An organisation's vote on committed state (the API).
pub async fn vote_committed(
    state: &dyn StateRead,
    id: u64,
    org: &str,
) -> Result<Option<Vote>, String> {
    committed(state, &vote_key(id, org)).await
}

/// The agenda on committed state (the API's inbox).
pub async fn agenda_committed(state: &dyn StateRead) -> Result<Agenda, String> {
    Ok(committed(state, AGENDA_KEY).await?.unwrap_or(Agenda {
        open: Vec::new(),
        scheduled: Vec::new(),
    }))
}
