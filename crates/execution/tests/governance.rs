//! The governance module executed: every action passes and fails by its
//! thresholds, refusals name their reason, changes hold from the height
//! they are applied for, and the consortium the executor trusts follows.

mod common;

use common::*;
use commonware_runtime::{deterministic, Runner as _};
use ingot_crypto::{issue_ca, PrivateKey, Role, Scheme};
use ingot_execution::LiveConsortium;
use ingot_types::{Receipt, SignedTransaction};
use serde_json::{json, Value};

struct Org {
    key: PrivateKey,
    ca: String,
    admin: Member,
    member: Member,
}

fn org(name: &str, scheme: Scheme) -> Org {
    let key = PrivateKey::generate(scheme).unwrap();
    let ca = issue_ca(&key, &spec(&format!("{name} CA"), name, Role::Ca)).unwrap();
    let admin = member(
        &key,
        &ca,
        &format!("{name} admin"),
        name,
        Role::Admin,
        Scheme::Ed25519,
    );
    let m = member(
        &key,
        &ca,
        &format!("{name} clerk"),
        name,
        Role::Member,
        Scheme::Ed25519,
    );
    Org {
        key,
        ca,
        admin,
        member: m,
    }
}

/// Four member organisations of weight 1 (one per scheme), default rules.
async fn four(ctx: &deterministic::Context) -> (Vec<Org>, Chain) {
    let orgs = vec![
        org("acme", Scheme::Ed25519),
        org("bolt", Scheme::P256),
        org("cole", Scheme::Sm2),
        org("dyna", Scheme::Ed25519),
    ];
    let names = ["acme", "bolt", "cole", "dyna"];
    let trust =
        LiveConsortium::of_members(names.iter().zip(&orgs).map(|(n, o)| (*n, o.ca.as_str())))
            .unwrap();
    let chain = Chain::open(ctx, trust, "gov").await;
    (orgs, chain)
}

fn propose(chain: &mut Chain, who: &Member, action: Value) -> SignedTransaction {
    chain.call_module(who, "governance", "propose", json!({ "action": action }))
}

fn vote(chain: &mut Chain, who: &Member, id: u64, approve: bool) -> SignedTransaction {
    chain.call_module(
        who,
        "governance",
        "vote",
        json!({ "proposal": id, "approve": approve }),
    )
}

/// acme's admin proposes `action` (proposal `id`), bolt's and cole's
/// approve: three of four.
fn carried(chain: &mut Chain, orgs: &[Org], id: u64, action: Value) -> [SignedTransaction; 3] {
    [
        propose(chain, &orgs[0].admin, action),
        vote(chain, &orgs[1].admin, id, true),
        vote(chain, &orgs[2].admin, id, true),
    ]
}

fn notarise(chain: &mut Chain, who: &Member, n: u8) -> SignedTransaction {
    chain.call_module(
        who,
        "notary",
        "record",
        json!({ "document_hash": hex::encode([n; 32]), "metadata": "" }),
    )
}

/// Every governance event of the receipts as `kind proposal`.
fn events(receipts: &[Receipt]) -> Vec<String> {
    receipts
        .iter()
        .flat_map(|r| &r.events)
        .filter(|e| e.module == "governance")
        .map(|e| {
            let id = e
                .attributes
                .iter()
                .find(|(k, _)| k == "proposal")
                .map_or("", |(_, v)| v.as_str());
            format!("{} {id}", e.kind)
        })
        .collect()
}

#[test]
fn an_organisation_is_admitted_by_vote_and_may_transact_from_the_next_block() {
    deterministic::Runner::default().start(|ctx| async move {
        let (orgs, mut chain) = four(&ctx).await;
        let newco = org("newco", Scheme::P256);
        // Not a member yet: its certificates are refused.
        let early = notarise(&mut chain, &newco.member, 1);
        assert_refused(&chain.run(vec![early]).await[0], "unknown_organisation");

        let p = propose(
            &mut chain,
            &orgs[0].admin,
            json!({"kind": "add_org", "name": "newco", "ca_pem": newco.ca, "weight": 2}),
        );
        let r = chain.execute(vec![p]).await;
        assert_eq!(events(&r), ["proposed 1"]);
        // Two of four approve (the proposer counts): undecided.
        let v = vote(&mut chain, &orgs[1].admin, 1, true);
        let r = chain.execute(vec![v]).await;
        assert_eq!(events(&r), ["voted 1"]);
        // The third approval decides; applied at the end of this block.
        let v = vote(&mut chain, &orgs[2].admin, 1, true);
        let late = notarise(&mut chain, &newco.member, 2);
        let r = chain.execute(vec![v, late]).await;
        assert_eq!(events(&r), ["voted 1", "approved 1", "applied 1"]);
        // Within the approving block the consortium had not changed yet.
        assert_refused(&status(&r[1].status), "unknown_organisation");
        let c = chain.exec.trust().current();
        assert_eq!(c.org("newco").unwrap().weight, 2);
        assert_eq!(c.total_weight(), 6);
        // From the next block on it transacts, and votes with its weight.
        let ok = notarise(&mut chain, &newco.member, 3);
        assert_eq!(chain.run(vec![ok]).await, ["ok"]);
        // A fourth organisation voting late: the proposal is decided.
        let v = vote(&mut chain, &orgs[3].admin, 1, true);
        assert_refused(
            &chain.run(vec![v]).await[0],
            "proposal 1 is applied, no longer open",
        );
    });
}

#[test]
fn refusals_name_their_reason_and_change_nothing() {
    deterministic::Runner::default().start(|ctx| async move {
        let (orgs, mut chain) = four(&ctx).await;
        // A member who is not an admin may neither propose nor vote.
        let p = propose(&mut chain, &orgs[0].member, json!({"kind": "set_weight", "org": "acme", "weight": 3}));
        assert_refused(&chain.run(vec![p]).await[0], "only an organisation admin");
        // Actions that do not fit the consortium.
        for (action, reason) in [
            (json!({"kind": "remove_org", "name": "nobody"}), "no organisation nobody"),
            (json!({"kind": "set_weight", "org": "acme", "weight": 0}), "weight must be"),
            (json!({"kind": "set_rules", "participation_pct": 0, "approval_pct": 50, "proposal_ttl_blocks": 10}), "thresholds are"),
            (json!({"kind": "set_deployers", "module": "notary", "orgs": []}), "are not governed"),
            (json!({"kind": "add_org", "name": "ACME", "ca_pem": orgs[1].ca}), "exists"),
            // A CA must name the organisation it is for.
            (json!({"kind": "add_org", "name": "other", "ca_pem": orgs[1].ca}), "O=other"),
        ] {
            let p = propose(&mut chain, &orgs[0].admin, action);
            assert_refused(&chain.run(vec![p]).await[0], reason);
        }
        let p = propose(&mut chain, &orgs[0].admin, json!({"kind": "set_weight", "org": "bolt", "weight": 2}));
        assert_eq!(chain.run(vec![p]).await, ["ok"]);
        // A double vote, and the proposer's organisation voting again.
        let v1 = vote(&mut chain, &orgs[1].admin, 1, false);
        let v2 = vote(&mut chain, &orgs[1].admin, 1, true);
        let v3 = vote(&mut chain, &orgs[0].admin, 1, true);
        let got = chain.run(vec![v1, v2, v3]).await;
        assert_eq!(got[0], "ok");
        assert_refused(&got[1], "bolt has voted on proposal 1");
        assert_refused(&got[2], "acme has voted on proposal 1");
        let v = vote(&mut chain, &orgs[1].admin, 9, true);
        assert_refused(&chain.run(vec![v]).await[0], "proposal 9 does not exist");
        // Nothing applied: bolt still weighs 1.
        assert_eq!(chain.exec.trust().current().org("bolt").unwrap().weight, 1);
        // One organisation cannot fill the agenda: four open proposals each.
        let more: Vec<_> = (2..=5)
            .map(|w| propose(&mut chain, &orgs[0].admin, json!({"kind": "set_weight", "org": "cole", "weight": w})))
            .collect();
        let got = chain.run(more).await;
        assert_eq!(got[..3], ["ok", "ok", "ok"]);
        assert_refused(&got[3], "acme has 4 proposals open");
        let other = propose(&mut chain, &orgs[1].admin, json!({"kind": "set_weight", "org": "cole", "weight": 9}));
        assert_eq!(chain.run(vec![other]).await, ["ok"]);
    });
}

#[test]
fn no_votes_reject_early_and_silence_expires() {
    deterministic::Runner::default().start(|ctx| async move {
        let (orgs, mut chain) = four(&ctx).await;
        // Rules first: proposals open for 5 blocks (approved by three).
        let [p, a, b] = carried(&mut chain, &orgs, 1, json!({"kind": "set_rules", "participation_pct": 51, "approval_pct": 51, "proposal_ttl_blocks": 5}));
        let r = chain.execute(vec![p, a, b]).await;
        assert_eq!(events(&r), ["proposed 1", "voted 1", "voted 1", "approved 1", "applied 1"]);
        assert_eq!(chain.exec.trust().current().rules().proposal_ttl_blocks, 5);

        // Two no votes of four: no later vote can approve.
        let p = propose(&mut chain, &orgs[0].admin, json!({"kind": "set_weight", "org": "acme", "weight": 5}));
        let (a, b) = (vote(&mut chain, &orgs[1].admin, 2, false), vote(&mut chain, &orgs[2].admin, 2, false));
        let r = chain.execute(vec![p, a, b]).await;
        assert_eq!(events(&r), ["proposed 2", "voted 2", "voted 2", "rejected 2"]);

        // Only the proposer approves: at its last voting height it expires.
        let p = propose(&mut chain, &orgs[0].admin, json!({"kind": "set_weight", "org": "acme", "weight": 5}));
        let created = chain.height + 1;
        chain.execute(vec![p]).await;
        let mut seen = Vec::new();
        while chain.height < created + 5 {
            seen.extend(events(&chain.execute(vec![]).await));
        }
        assert_eq!(seen, ["expired 3"]);
        let v = vote(&mut chain, &orgs[1].admin, 3, true);
        assert_refused(&chain.run(vec![v]).await[0], "proposal 3 is expired");
        assert_eq!(chain.exec.trust().current().org("acme").unwrap().weight, 1);
    });
}

#[test]
fn a_removed_organisation_signs_nothing_and_cannot_vote() {
    deterministic::Runner::default().start(|ctx| async move {
        let (orgs, mut chain) = four(&ctx).await;
        let p = propose(
            &mut chain,
            &orgs[0].admin,
            json!({"kind": "remove_org", "name": "dyna"}),
        );
        let (a, b) = (
            vote(&mut chain, &orgs[1].admin, 1, true),
            vote(&mut chain, &orgs[2].admin, 1, true),
        );
        // A second proposal dyna would like to vote on.
        let q = propose(
            &mut chain,
            &orgs[0].admin,
            json!({"kind": "set_weight", "org": "bolt", "weight": 2}),
        );
        let r = chain.execute(vec![p, a, b, q]).await;
        assert_eq!(
            events(&r),
            [
                "proposed 1",
                "voted 1",
                "voted 1",
                "approved 1",
                "proposed 2",
                "applied 1"
            ]
        );
        assert!(chain.exec.trust().current().org("dyna").is_none());
        assert_eq!(chain.exec.trust().current().total_weight(), 3);
        let v = vote(&mut chain, &orgs[3].admin, 2, true);
        let n = notarise(&mut chain, &orgs[3].member, 1);
        for got in chain.run(vec![v, n]).await {
            assert_refused(&got, "unknown_organisation");
        }
        // Removing the only organisation allowed to deploy leaves nobody
        // allowed, not everybody.
        let p = propose(
            &mut chain,
            &orgs[0].admin,
            json!({"kind": "set_deployers", "module": "workflow", "orgs": ["cole"]}),
        );
        let (a, b) = (
            vote(&mut chain, &orgs[1].admin, 3, true),
            vote(&mut chain, &orgs[2].admin, 3, true),
        );
        chain.execute(vec![p, a, b]).await;
        let p = propose(
            &mut chain,
            &orgs[0].admin,
            json!({"kind": "remove_org", "name": "cole"}),
        );
        let a = vote(&mut chain, &orgs[1].admin, 4, true);
        let r = chain.execute(vec![p, a]).await;
        assert_eq!(
            events(&r),
            ["proposed 4", "voted 4", "approved 4", "applied 4"]
        );
        let d = chain.call_module(
            &orgs[0].member,
            "workflow",
            "deploy",
            json!({"xml": "<x/>", "bindings": {}}),
        );
        assert_refused(
            &chain.run(vec![d]).await[0],
            "acme may not deploy processes",
        );
    });
}

#[test]
fn a_rotated_ca_keeps_old_certificates_until_the_stated_height() {
    deterministic::Runner::default().start(|ctx| async move {
        let (orgs, mut chain) = four(&ctx).await;
        // bolt's new CA (another scheme, made elsewhere) and a member under it.
        let new_key = PrivateKey::generate(Scheme::Ed25519).unwrap();
        let new_ca = issue_ca(&new_key, &spec("bolt CA 2", "bolt", Role::Ca)).unwrap();
        let fresh = member(
            &new_key,
            &new_ca,
            "bolt new clerk",
            "bolt",
            Role::Member,
            Scheme::Ed25519,
        );
        let old_until = 8;
        let p = propose(
            &mut chain,
            &orgs[1].admin,
            json!({"kind": "replace_ca", "org": "bolt", "ca_pem": new_ca, "old_until": old_until}),
        );
        let (a, b) = (
            vote(&mut chain, &orgs[0].admin, 1, true),
            vote(&mut chain, &orgs[2].admin, 1, true),
        );
        let r = chain.execute(vec![p, a, b]).await;
        assert_eq!(
            events(&r),
            [
                "proposed 1",
                "voted 1",
                "voted 1",
                "approved 1",
                "applied 1"
            ]
        );
        let mut n = 0;
        while chain.height < old_until {
            n += 1;
            let (old, new) = (
                notarise(&mut chain, &orgs[1].member, n),
                notarise(&mut chain, &fresh, 100 + n),
            );
            assert_eq!(
                chain.run(vec![old, new]).await,
                ["ok", "ok"],
                "height {}",
                chain.height + 1
            );
        }
        // From old_until + 1 only the new CA's certificates count.
        let (old, new) = (
            notarise(&mut chain, &orgs[1].member, 50),
            notarise(&mut chain, &fresh, 150),
        );
        let got = chain.run(vec![old, new]).await;
        assert_refused(&got[0], "not_issued_by_organisation_ca");
        assert_eq!(got[1], "ok");
        assert_eq!(chain.exec.trust().current().cas("bolt").len(), 1);
    });
}

#[test]
fn a_fourth_ca_waits_until_a_grace_period_ends() {
    deterministic::Runner::default().start(|ctx| async move {
        let (orgs, mut chain) = four(&ctx).await;
        let rotate = |chain: &mut Chain, n: u64, old_until: u64| {
            let key = PrivateKey::generate(Scheme::Ed25519).unwrap();
            let ca = issue_ca(&key, &spec(&format!("bolt CA {n}"), "bolt", Role::Ca)).unwrap();
            vec![
                propose(chain, &orgs[1].admin, json!({"kind": "replace_ca", "org": "bolt", "ca_pem": ca, "old_until": old_until})),
                vote(chain, &orgs[0].admin, n, true),
                vote(chain, &orgs[2].admin, n, true),
            ]
        };
        for n in 1..=2 {
            let txs = rotate(&mut chain, n, 100);
            // Three transactions and the block's trailing receipt (applied).
            assert_eq!(chain.run(txs).await, ["ok"; 4]);
        }
        assert_eq!(chain.exec.trust().current().cas("bolt").len(), 3);
        let txs = rotate(&mut chain, 3, 100);
        let got = chain.run(txs).await;
        assert_refused(&got[0], "bolt already has 3 CAs trusted");
    });
}

#[test]
fn votes_count_as_the_consortium_stands_when_it_decides() {
    deterministic::Runner::default().start(|ctx| async move {
        let (orgs, mut chain) = four(&ctx).await;
        let [p, a, b] = carried(&mut chain, &orgs, 1, json!({"kind": "set_rules", "participation_pct": 51, "approval_pct": 51, "proposal_ttl_blocks": 6}));
        chain.execute(vec![p, a, b]).await;
        // Proposal 2: acme and dyna approve, bolt rejects — 2 of 3 voting.
        let p = propose(&mut chain, &orgs[0].admin, json!({"kind": "set_weight", "org": "acme", "weight": 4}));
        let created = chain.height + 1;
        let (a, b) = (vote(&mut chain, &orgs[3].admin, 2, true), vote(&mut chain, &orgs[1].admin, 2, false));
        assert_eq!(events(&chain.execute(vec![p, a, b]).await), ["proposed 2", "voted 2", "voted 2"]);
        // dyna is removed meanwhile (proposal 3): its approval no longer counts.
        let [p, a, b] = carried(&mut chain, &orgs, 3, json!({"kind": "remove_org", "name": "dyna"}));
        chain.execute(vec![p, a, b]).await;
        assert_eq!(chain.exec.trust().current().total_weight(), 3);
        // At proposal 2's last voting height: acme yes, bolt no of 3 — 67 %
        // voted, 50 % approve < 51 %: expired. Counted at voting time
        // (dyna's yes) it would have passed.
        let mut seen = Vec::new();
        while chain.height < created + 6 {
            seen.extend(events(&chain.execute(vec![]).await));
        }
        assert_eq!(seen, ["expired 2"]);

        // Approved at the deadline: 2 yes, 1 no of 3 (weights 1).
        let p = propose(&mut chain, &orgs[0].admin, json!({"kind": "set_weight", "org": "cole", "weight": 2}));
        let created = chain.height + 1;
        let a = vote(&mut chain, &orgs[1].admin, 4, false);
        chain.execute(vec![p, a]).await;
        let c = vote(&mut chain, &orgs[2].admin, 4, true);
        // cole's yes makes 2 of 3 = 67 % ≥ 51 % of the total: approved early.
        assert_eq!(events(&chain.execute(vec![c]).await), ["voted 4", "approved 4", "applied 4"]);
        assert!(chain.height < created + 6);
        assert_eq!(chain.exec.trust().current().org("cole").unwrap().weight, 2);
    });
}

#[test]
fn a_change_holds_from_its_stated_height_and_deployers_are_governed() {
    deterministic::Runner::default().start(|ctx| async move {
        let (orgs, mut chain) = four(&ctx).await;
        let p = chain.call_module(
            &orgs[0].admin,
            "governance",
            "propose",
            json!({"action": {"kind": "set_deployers", "module": "workflow", "orgs": ["acme"]}, "effective_at": 6}),
        );
        let (a, b) = (vote(&mut chain, &orgs[1].admin, 1, true), vote(&mut chain, &orgs[2].admin, 1, true));
        let r = chain.execute(vec![p, a, b]).await;
        assert_eq!(events(&r), ["proposed 1", "voted 1", "voted 1", "approved 1"]);
        let xml = |id: &str| {
            format!(
                r#"<definitions xmlns="http://www.omg.org/spec/BPMN/20100524/MODEL" targetNamespace="t"><process id="{id}" isExecutable="true"><startEvent id="s"/><sequenceFlow id="f" sourceRef="s" targetRef="e"/><endEvent id="e"/></process></definitions>"#
            )
        };
        let deploy = |chain: &mut Chain, who: &Member, id: &str| {
            chain.call_module(who, "workflow", "deploy", json!({"xml": xml(id), "bindings": {"start": "any"}}))
        };
        // Height 2..=5: anyone may still deploy.
        let d = deploy(&mut chain, &orgs[1].member, "early");
        assert_eq!(chain.run(vec![d]).await, ["ok"]);
        // Applied at the end of block 5, so bolt still deploys in block 5.
        while chain.height < 4 {
            assert_eq!(events(&chain.execute(vec![]).await), Vec::<String>::new());
        }
        let d = deploy(&mut chain, &orgs[1].member, "still");
        let r = chain.execute(vec![d]).await;
        assert_eq!(chain.height, 5);
        assert_eq!(status(&r[0].status), "ok");
        assert_eq!(events(&r), ["applied 1"]);
        // Height 6: only acme.
        let (d, e) = (deploy(&mut chain, &orgs[1].member, "late"), deploy(&mut chain, &orgs[0].member, "acmes"));
        let got = chain.run(vec![d, e]).await;
        assert_refused(&got[0], "bolt may not deploy processes");
        assert_eq!(got[1], "ok");
    });
}

#[test]
fn the_stored_consortium_is_what_a_restarted_node_loads() {
    deterministic::Runner::default().start(|ctx| async move {
        let (orgs, mut chain) = four(&ctx).await;
        let newco = org("newco", Scheme::Sm2);
        let [p, a, b] = carried(&mut chain, &orgs, 1, json!({"kind": "add_org", "name": "newco", "org_kind": "regulator", "ca_pem": newco.ca}));
        chain.execute(vec![p, a, b]).await;
        let genesis = ingot_execution::Consortium::of_members(
            ["acme", "bolt", "cole", "dyna"].iter().zip(&orgs).map(|(n, o)| (*n, o.ca.as_str())),
        )
        .unwrap();
        // And a CA rotation with its grace height, and new rules.
        let key = PrivateKey::generate(Scheme::Ed25519).unwrap();
        let ca = issue_ca(&key, &spec("acme CA 2", "acme", Role::Ca)).unwrap();
        let p = propose(&mut chain, &orgs[0].admin, json!({"kind": "replace_ca", "org": "acme", "ca_pem": ca, "old_until": 40}));
        let q = propose(&mut chain, &orgs[0].admin, json!({"kind": "set_rules", "participation_pct": 70, "approval_pct": 60, "proposal_ttl_blocks": 99}));
        let votes = [2, 3].iter().flat_map(|&id| [vote(&mut chain, &orgs[1].admin, id, true), vote(&mut chain, &orgs[2].admin, id, true)]).collect::<Vec<_>>();
        let mut txs = vec![p, q];
        txs.extend(votes);
        chain.execute(txs).await;
        let loaded = LiveConsortium::load(genesis, &chain.state, chain.height + 1).await.unwrap().current();
        let live = chain.exec.trust().current();
        assert_eq!(loaded.orgs(), live.orgs());
        assert_eq!(loaded.rules(), live.rules());
        assert_eq!(loaded.rules().proposal_ttl_blocks, 99);
        assert_eq!(loaded.expires_at(), Some(41));
        for (a, b) in loaded.entries().iter().zip(live.entries()) {
            let cas = |e: &ingot_module::OrgEntry| e.cas.iter().map(|c| (c.ca.der.clone(), c.until)).collect::<Vec<_>>();
            assert_eq!(cas(a), cas(b), "{}", a.name);
        }
        assert_eq!(loaded.cas("acme").len(), 2);
        assert!(loaded.is_regulator("newco"));
        assert!(loaded.identify(&newco.member.der).is_ok());
        let _ = newco.key;
    });
}

#[test]
fn chain_parameters_hold_from_the_next_block_and_are_bounded() {
    deterministic::Runner::default().start(|ctx| async move {
        let (orgs, mut chain) = four(&ctx).await;
        // A vote cannot leave the consortium unable to vote again.
        let p = propose(&mut chain, &orgs[0].admin, json!({"kind": "set_params", "max_work_per_tx": 1000}));
        assert_refused(&chain.run(vec![p]).await[0], "max_work_per_tx is 200000..=");
        let p = propose(&mut chain, &orgs[0].admin, json!({"kind": "set_params", "idle_heartbeat_ms": 10}));
        assert_refused(&chain.run(vec![p]).await[0], "idle_heartbeat_ms is 1000..=");
        // A process large enough to cost more than 200,000 work units.
        let doc = "x".repeat(40_000);
        let xml = format!(
            r#"<definitions xmlns="http://www.omg.org/spec/BPMN/20100524/MODEL" targetNamespace="t"><process id="big" isExecutable="true"><documentation>{doc}</documentation><startEvent id="s"/><sequenceFlow id="f" sourceRef="s" targetRef="e"/><endEvent id="e"/></process></definitions>"#
        );
        let deploy = chain.call_module(&orgs[1].member, "workflow", "deploy", json!({"xml": xml, "bindings": {"start": "any"}}));
        let r = chain.execute(vec![deploy]).await;
        assert_eq!(status(&r[0].status), "ok");
        assert!(r[0].work_used > 200_000, "the process costs {}", r[0].work_used);

        let [p, a, b] = carried(&mut chain, &orgs, 1, json!({"kind": "set_params", "max_block_txs": 500, "idle_heartbeat_ms": 2000, "max_work_per_tx": 200_000}));
        let again = chain.call_module(&orgs[1].member, "workflow", "deploy", json!({"xml": xml.replace("big", "big2"), "bindings": {"start": "any"}}));
        let r = chain.execute(vec![p, a, b, again]).await;
        // Approved and applied in this block: its deployment still ran under the old limit.
        assert_eq!(events(&r), ["proposed 1", "voted 1", "voted 1", "approved 1", "applied 1"]);
        assert_eq!(status(&r[3].status), "ok");
        let params = *chain.exec.trust().current().params();
        assert_eq!(params.max_block_txs, Some(500));
        assert_eq!(params.idle_heartbeat_ms, Some(2000));
        let third = chain.call_module(&orgs[1].member, "workflow", "deploy", json!({"xml": xml.replace("big", "big3"), "bindings": {"start": "any"}}));
        assert_refused(&chain.run(vec![third]).await[0], "200000");
        // A restarted node loads them.
        let genesis = ingot_execution::Consortium::of_members(
            ["acme", "bolt", "cole", "dyna"].iter().zip(&orgs).map(|(n, o)| (*n, o.ca.as_str())),
        )
        .unwrap();
        let loaded = LiveConsortium::load(genesis, &chain.state, chain.height + 1).await.unwrap().current();
        assert_eq!(*loaded.params(), params);
        // Unset again (0): the built-in limit holds.
        let [p, a, b] = carried(&mut chain, &orgs, 2, json!({"kind": "set_params"}));
        chain.execute(vec![p, a, b]).await;
        assert_eq!(*chain.exec.trust().current().params(), ingot_module::ChainParams::default());
        let fourth = chain.call_module(&orgs[1].member, "workflow", "deploy", json!({"xml": xml.replace("big", "big4"), "bindings": {"start": "any"}}));
        assert_eq!(chain.run(vec![fourth]).await, ["ok"]);
    });
}

/// An observer node's p2p key (raw Ed25519, hex).
const OBSERVER_KEY: &str = "3b6a27bcceb6a42d62a3a8d02a6f0d73653215771de243a63ac048a18b59da29";

#[test]
fn observers_are_admitted_and_withdrawn_by_vote_and_survive_a_restart() {
    deterministic::Runner::default().start(|ctx| async move {
        let (orgs, mut chain) = four(&ctx).await;
        let add = json!({"kind": "add_observer", "name": "acme-archive", "org": "acme", "public_key": OBSERVER_KEY, "p2p_address": "archive.cole.example:30310"});
        // Refused with their reasons, nothing proposed.
        let mut bad_key = add.clone();
        bad_key["public_key"] = json!("00");
        let mut no_org = add.clone();
        no_org["org"] = json!("nobody");
        let mut bad_address = add.clone();
        bad_address["p2p_address"] = json!("archive.cole.example");
        let mut bad_port = add.clone();
        bad_port["p2p_address"] = json!("10.0.0.1:0");
        let mut bad_name = add.clone();
        bad_name["name"] = json!("cole archive");
        // Another organisation's admin may not propose acme's observer.
        let p = propose(&mut chain, &orgs[1].admin, add.clone());
        assert_refused(&chain.run(vec![p]).await[0], "only an admin of acme may propose an observer node of acme");
        // Keys no one can prove holding: the identity, a small-order point,
        // a non-canonical encoding.
        let mut identity = [0u8; 32];
        identity[0] = 1;
        let mut non_canonical = [0xffu8; 32];
        non_canonical[31] = 0x7f;
        for key in [identity, [0u8; 32], non_canonical] {
            let mut weak = add.clone();
            weak["public_key"] = json!(hex::encode(key));
            let p = propose(&mut chain, &orgs[0].admin, weak);
            assert_refused(&chain.run(vec![p]).await[0], "not a usable Ed25519 public key");
        }
        for (action, reason) in [
            (no_org, "no organisation nobody"),
            (bad_address, "p2p_address is host:port"),
            (bad_port, "p2p_address is host:port"),
            (bad_name, "an observer name is"),
            (json!({"kind": "remove_observer", "public_key": OBSERVER_KEY}), "no observer node has that key"),
        ] {
            let p = propose(&mut chain, &orgs[0].admin, action);
            assert_refused(&chain.run(vec![p]).await[0], reason);
        }
        // A malformed key does not even encode.
        let err = ingot_execution::args::from_json("governance", "propose", &json!({"action": bad_key})).unwrap_err();
        assert!(err.contains("64 hex digits"), "{err}");

        let [p, a, b] = carried(&mut chain, &orgs, 1, add.clone());
        let r = chain.execute(vec![p, a, b]).await;
        assert_eq!(events(&r), ["proposed 1", "voted 1", "voted 1", "approved 1", "applied 1"]);
        let c = chain.exec.trust().current();
        let key: [u8; 32] = hex::decode(OBSERVER_KEY).unwrap().try_into().unwrap();
        let seat = c.observers().get(&key).expect("admitted");
        assert_eq!((seat.name.as_str(), seat.org.as_str()), ("acme-archive", "acme"));
        assert_eq!(seat.p2p_address, "archive.cole.example:30310");

        // The same key, the same name, and removing its organisation are refused.
        let mut same_name = add.clone();
        same_name["public_key"] = json!(hex::encode([0x11u8; 32]));
        for (action, reason) in [
            (add.clone(), "that observer is admitted already"),
            (same_name, "an observer named acme-archive is admitted already"),
            (json!({"kind": "remove_org", "name": "acme"}), "acme operates an observer node"),
        ] {
            let p = propose(&mut chain, &orgs[0].admin, action);
            assert_refused(&chain.run(vec![p]).await[0], reason);
        }

        // A restarted node loads the observers.
        let genesis = || {
            ingot_execution::Consortium::of_members(
                ["acme", "bolt", "cole", "dyna"].iter().zip(&orgs).map(|(n, o)| (*n, o.ca.as_str())),
            )
            .unwrap()
        };
        let loaded = LiveConsortium::load(genesis(), &chain.state, chain.height + 1).await.unwrap().current();
        assert_eq!(loaded.observers(), c.observers());

        // Withdrawn by vote: gone, and cole may then leave.
        let [p, a, b] = carried(&mut chain, &orgs, 2, json!({"kind": "remove_observer", "public_key": OBSERVER_KEY}));
        let r = chain.execute(vec![p, a, b]).await;
        assert_eq!(events(&r), ["proposed 2", "voted 2", "voted 2", "approved 2", "applied 2"]);
        assert!(chain.exec.trust().current().observers().is_empty());
        let loaded = LiveConsortium::load(genesis(), &chain.state, chain.height + 1).await.unwrap().current();
        assert!(loaded.observers().is_empty());
        let [p, a, b] = carried(&mut chain, &orgs, 3, json!({"kind": "remove_org", "name": "acme"}));
        let r = chain.execute(vec![p, a, b]).await;
        assert_eq!(events(&r), ["proposed 3", "voted 3", "voted 3", "approved 3", "applied 3"]);
    });
}

#[test]
fn two_admissions_of_one_key_in_one_block_admit_it_once() {
    deterministic::Runner::default().start(|ctx| async move {
        let (orgs, mut chain) = four(&ctx).await;
        let add = json!({"kind": "add_observer", "name": "acme-archive", "org": "acme", "public_key": OBSERVER_KEY, "p2p_address": "10.0.0.9:30310"});
        let [p1, a1, b1] = carried(&mut chain, &orgs, 1, add.clone());
        let p2 = propose(&mut chain, &orgs[0].admin, add);
        let a2 = vote(&mut chain, &orgs[1].admin, 2, true);
        let b2 = vote(&mut chain, &orgs[2].admin, 2, true);
        let r = chain.execute(vec![p1, a1, b1, p2, a2, b2]).await;
        let applied: Vec<_> = r
            .iter()
            .flat_map(|r| &r.events)
            .filter(|e| e.module == "governance" && (e.kind == "applied" || e.kind == "apply_failed"))
            .map(|e| e.kind.clone())
            .collect();
        assert_eq!(applied, ["applied", "apply_failed"]);
        assert_eq!(chain.exec.trust().current().observers().len(), 1);
    });
}

/// What a test can compare of the consortium before and after a decision.
fn snapshot(c: &ingot_module::Consortium) -> String {
    let cas: Vec<usize> = c.orgs().keys().map(|o| c.cas(o).len()).collect();
    format!(
        "{:?} {:?} {:?} {cas:?} {:?}",
        c.orgs(),
        c.rules(),
        c.params(),
        c.observers()
    )
}

#[test]
fn every_action_passes_and_fails_by_the_thresholds() {
    let newco = org("newco", Scheme::Sm2);
    let bolt_ca2 = {
        let key = PrivateKey::generate(Scheme::P256).unwrap();
        issue_ca(&key, &spec("bolt CA 2", "bolt", Role::Ca)).unwrap()
    };
    let actions = [
        json!({"kind": "add_org", "name": "newco", "ca_pem": newco.ca}),
        json!({"kind": "remove_org", "name": "dyna"}),
        json!({"kind": "replace_ca", "org": "bolt", "ca_pem": bolt_ca2, "old_until": 1000}),
        json!({"kind": "set_rules", "participation_pct": 75, "approval_pct": 75, "proposal_ttl_blocks": 50}),
        json!({"kind": "set_weight", "org": "cole", "weight": 3}),
        json!({"kind": "set_deployers", "module": "workflow", "orgs": ["acme"]}),
        json!({"kind": "set_params", "max_block_txs": 100}),
        json!({"kind": "add_observer", "name": "acme-archive", "org": "acme", "public_key": OBSERVER_KEY, "p2p_address": "10.0.0.9:30310"}),
    ];
    for action in actions {
        let kind = action["kind"].as_str().unwrap().to_string();
        deterministic::Runner::default().start(|ctx| async move {
            let (orgs, mut chain) = four(&ctx).await;
            let before = snapshot(&chain.exec.trust().current());
            // Two of four reject: no later vote could approve.
            let p = propose(&mut chain, &orgs[0].admin, action.clone());
            let (a, b) = (
                vote(&mut chain, &orgs[1].admin, 1, false),
                vote(&mut chain, &orgs[2].admin, 1, false),
            );
            let r = chain.execute(vec![p, a, b]).await;
            assert_eq!(
                events(&r),
                ["proposed 1", "voted 1", "voted 1", "rejected 1"],
                "{kind}"
            );
            chain.execute(vec![]).await;
            assert_eq!(
                snapshot(&chain.exec.trust().current()),
                before,
                "{kind}: rejected changes nothing"
            );
            // Three of four approve: applied.
            let p = propose(&mut chain, &orgs[0].admin, action.clone());
            let (a, b) = (
                vote(&mut chain, &orgs[1].admin, 2, true),
                vote(&mut chain, &orgs[2].admin, 2, true),
            );
            let r = chain.execute(vec![p, a, b]).await;
            assert_eq!(
                events(&r),
                [
                    "proposed 2",
                    "voted 2",
                    "voted 2",
                    "approved 2",
                    "applied 2"
                ],
                "{kind}"
            );
            let c = chain.exec.trust().current();
            match kind.as_str() {
                "add_org" => assert!(c.org("newco").is_some()),
                "remove_org" => assert!(c.org("dyna").is_none()),
                "replace_ca" => assert_eq!(c.cas("bolt").len(), 2),
                "set_rules" => assert_eq!(c.rules().approval_pct, 75),
                "set_weight" => assert_eq!(c.org("cole").unwrap().weight, 3),
                // Not a consortium change: the deployers list is state.
                "set_deployers" => assert_eq!(snapshot(&c), before),
                "set_params" => assert_eq!(c.params().max_block_txs, Some(100)),
                "add_observer" => assert_eq!(c.observers().len(), 1),
                _ => unreachable!(),
            }
            if kind != "set_deployers" {
                assert_ne!(snapshot(&c), before, "{kind}");
            }
        });
    }
}

/// A validator's consensus key (raw Ed25519, hex), from a seed.
fn validator_key(seed: u64) -> [u8; 32] {
    PrivateKey::from_raw(Scheme::Ed25519, &[seed as u8; 32])
        .unwrap()
        .public_key()
        .raw_bytes()
        .unwrap()
        .try_into()
        .unwrap()
}

/// [`four`] with epochs of `EPOCH` blocks and validators 1..=4 of acme,
/// bolt, cole and dyna from genesis.
const EPOCH: u64 = 20;

async fn four_with_validators(
    ctx: &deterministic::Context,
) -> (Vec<Org>, Chain, ingot_execution::Consortium) {
    let (orgs, _) = four(ctx).await;
    let cas: Vec<String> = orgs.iter().map(|o| o.ca.clone()).collect();
    let base = || {
        let seats = ["acme", "bolt", "cole", "dyna"]
            .iter()
            .enumerate()
            .map(|(i, org)| {
                (
                    validator_key(i as u64 + 1),
                    ingot_module::ValidatorSeat {
                        name: format!("{org}-v"),
                        org: org.to_string(),
                        genesis_not_after: 0,
                        p2p_address: String::new(),
                        added_at: 0,
                        removed_at: None,
                    },
                )
            })
            .collect();
        ingot_execution::Consortium::of_members(
            ["acme", "bolt", "cole", "dyna"]
                .iter()
                .zip(&cas)
                .map(|(n, ca)| (*n, ca.as_str())),
        )
        .unwrap()
        .with_validator_registry(seats)
        .with_epoch_length(EPOCH)
    };
    let chain = Chain::open(ctx, LiveConsortium::new(base()), "gov-validators").await;
    (orgs, chain, base())
}

fn keys(seeds: &[u64]) -> Vec<[u8; 32]> {
    let mut k: Vec<_> = seeds.iter().map(|s| validator_key(*s)).collect();
    k.sort();
    k
}

#[test]
fn validators_change_by_vote_two_epochs_on_one_change_at_a_time() {
    deterministic::Runner::default().start(|ctx| async move {
        let (orgs, mut chain, genesis) = four_with_validators(&ctx).await;
        let new = hex::encode(validator_key(5));
        let add = json!({"kind": "add_validator", "name": "acme-v2", "org": "acme", "public_key": new, "p2p_address": "10.0.0.15:30300"});
        // Only acme's admin may propose acme's validator; a key that is a
        // validator's already, a bad address, an unknown key to remove.
        let p = propose(&mut chain, &orgs[1].admin, add.clone());
        assert_refused(&chain.run(vec![p]).await[0], "only an admin of acme may propose a validator of acme");
        let mut existing = add.clone();
        existing["public_key"] = json!(hex::encode(validator_key(2)));
        let mut bad_address = add.clone();
        bad_address["p2p_address"] = json!("10.0.0.15");
        for (action, reason) in [
            (existing, "that key is, or was, a validator's"),
            (bad_address, "p2p_address is host:port"),
            (json!({"kind": "remove_validator", "public_key": new}), "no validator has that key"),
        ] {
            let p = propose(&mut chain, &orgs[0].admin, action);
            assert_refused(&chain.run(vec![p]).await[0], reason);
        }

        // Decided at height h in epoch k: the set changes at epoch k + 2.
        let [p, a, b] = carried(&mut chain, &orgs, 1, add.clone());
        let r = chain.execute(vec![p, a, b]).await;
        assert_eq!(events(&r), ["proposed 1", "voted 1", "voted 1", "approved 1", "applied 1"]);
        let decided = chain.height; // applied for the next height
        let c = chain.exec.trust().current();
        let k = (decided + 1) / EPOCH;
        assert_eq!(c.validator_set_for(k + 1), keys(&[1, 2, 3, 4]));
        assert_eq!(c.validator_set_for(k + 2), keys(&[1, 2, 3, 4, 5]));
        assert!(c.connected_validators(decided + 1).contains_key(&validator_key(5)));
        // Any later view answers the same for earlier epochs.
        assert_eq!(c.validator_set_for(0), keys(&[1, 2, 3, 4]));

        // A second change waits until the first took effect.
        let remove = json!({"kind": "remove_validator", "public_key": hex::encode(validator_key(2))});
        let p = propose(&mut chain, &orgs[1].admin, remove.clone());
        assert_refused(&chain.run(vec![p]).await[0], "another validator change has not taken effect yet");
        while chain.height < (k + 2) * EPOCH {
            chain.run(vec![]).await;
        }
        // Any organisation may propose removing another's validator.
        let [p, a, b] = carried(&mut chain, &orgs, 2, remove);
        let r = chain.execute(vec![p, a, b]).await;
        assert_eq!(events(&r), ["proposed 2", "voted 2", "voted 2", "approved 2", "applied 2"]);
        let c = chain.exec.trust().current();
        let k2 = (chain.height + 1) / EPOCH;
        assert_eq!(c.validator_set_for(k2 + 1), keys(&[1, 2, 3, 4, 5]));
        assert_eq!(c.validator_set_for(k2 + 2), keys(&[1, 3, 4, 5]));
        // bolt's removed validator stays connected until its removal holds.
        assert!(c.connected_validators(chain.height + 1).contains_key(&validator_key(2)));
        assert!(!c.connected_validators((k2 + 2) * EPOCH).contains_key(&validator_key(2)));
        assert!(!c.operates_validator("bolt"));

        // A restarted node loads the registry, removals included.
        let loaded = LiveConsortium::load(genesis, &chain.state, chain.height + 1)
            .await
            .unwrap()
            .current();
        assert_eq!(loaded.validator_registry(), c.validator_registry());
        assert_eq!(loaded.validator_set_for(k2 + 2), keys(&[1, 3, 4, 5]));

        // Replaced: one out, one in, at one boundary; a removed key never returns.
        while chain.height < (k2 + 2) * EPOCH {
            chain.run(vec![]).await;
        }
        let mut again = add.clone();
        again["public_key"] = json!(hex::encode(validator_key(2)));
        let p = propose(&mut chain, &orgs[0].admin, again);
        assert_refused(&chain.run(vec![p]).await[0], "that key is, or was, a validator's");
        let replace = json!({"kind": "replace_validator", "old_public_key": hex::encode(validator_key(3)), "name": "cole-v2", "public_key": hex::encode(validator_key(6)), "p2p_address": "cole.example:30300"});
        let p = propose(&mut chain, &orgs[0].admin, replace.clone());
        assert_refused(&chain.run(vec![p]).await[0], "only an admin of cole may propose a validator of cole");
        let p = propose(&mut chain, &orgs[2].admin, replace);
        let a = vote(&mut chain, &orgs[0].admin, 3, true);
        let b = vote(&mut chain, &orgs[1].admin, 3, true);
        let r = chain.execute(vec![p, a, b]).await;
        assert_eq!(events(&r), ["proposed 3", "voted 3", "voted 3", "approved 3", "applied 3"]);
        let c = chain.exec.trust().current();
        let k3 = (chain.height + 1) / EPOCH;
        assert_eq!(c.validator_set_for(k3 + 2), keys(&[1, 4, 5, 6]));
        assert_eq!(c.validator(&validator_key(6)).unwrap().org, "cole");
    });
}

#[test]
fn a_chain_without_epochs_keeps_its_validators() {
    deterministic::Runner::default().start(|ctx| async move {
        let (orgs, mut chain) = four(&ctx).await;
        let p = propose(&mut chain, &orgs[0].admin, json!({"kind": "add_validator", "name": "acme-v2", "org": "acme", "public_key": hex::encode(validator_key(5)), "p2p_address": "10.0.0.15:30300"}));
        assert_refused(&chain.run(vec![p]).await[0], "its validator set is fixed");
    });
}
