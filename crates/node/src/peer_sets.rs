//! Who this node's p2p network accepts. Primary (dialed): the validators
//! nodes stay connected to — genesis's (at the addresses each node's
//! configuration lists) and those added by vote (at their decided
//! address), a joiner from its decision on, a removed one until its removal
//! takes effect. Secondary (accepted when they connect from their admitted
//! host, never dialed): the observer nodes governance admitted, on
//! validators only; an observer tracks the validators only. The set is
//! tracked again whenever governance changes any of it.

use commonware_cryptography::ed25519::PublicKey;
use commonware_p2p::{Address, AddressableManager, AddressableTrackedPeers};
use commonware_utils::ordered::Map;
use ingot_execution::modules::governance::records::MAX_VOTED_VALIDATORS;
use ingot_module::{ObserverSeat, ValidatorSeat};
use std::{collections::BTreeMap, net::SocketAddr, time::Duration};

/// How often the roster governance decided is compared with the tracked
/// one (a change holds from the next block; a second is well inside a
/// vote's timescale).
pub const RECHECK_INTERVAL: Duration = Duration::from_secs(1);
/// How often addresses are resolved again (an address may change, or a
/// name may start resolving), besides at every change.
pub const RESOLVE_INTERVAL: Duration = Duration::from_secs(30);
/// Longest wait for resolving every name: resolution runs on a blocking
/// thread, never on the runtime's workers.
pub const RESOLVE_TIMEOUT: Duration = Duration::from_secs(10);
const _: () = assert!(RESOLVE_TIMEOUT.as_secs() < RESOLVE_INTERVAL.as_secs());

/// The largest validator set a consortium whose genesis names
/// `genesis_validators` may ever run: votes grow it up to
/// `MAX_VOTED_VALIDATORS`, never past a larger genesis set.
pub fn max_validators(genesis_validators: usize) -> u32 {
    genesis_validators.max(MAX_VOTED_VALIDATORS) as u32
}

/// Most peers one tracked set may hold: every validator the consortium may
/// decide, one removed validator still voting until its removal takes
/// effect (changes go one at a time), and every observer it may admit.
/// Fixed at start, because the p2p network panics on a larger set — and kept
/// tight, because every channel's receive capacity is its rate quota times
/// this bound, and actors preallocate queues of that capacity (256 + 16
/// peers made the simulations three times slower).
pub fn max_peers_per_set(genesis_validators: usize) -> usize {
    max_validators(genesis_validators) as usize
        + 1
        + ingot_execution::modules::governance::records::MAX_OBSERVERS
}

/// Who governance says this node should be connected to, as of the last
/// block it executed.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Roster {
    pub validators: BTreeMap<[u8; 32], ValidatorSeat>,
    pub observers: BTreeMap<[u8; 32], ObserverSeat>,
}

/// Peers with the address to reach (or accept) them at.
pub type PeerList = Vec<(PublicKey, Address)>;

/// `host:port` resolved to its first address (a DNS name is resolved here,
/// on this node, never in consensus). Blocking.
pub fn resolve(address: &str) -> Option<SocketAddr> {
    std::net::ToSocketAddrs::to_socket_addrs(address)
        .ok()?
        .next()
}

/// Each `(key, name, host:port)` whose address resolves, with it. Blocking.
fn resolve_all<'a>(
    nodes: impl IntoIterator<Item = (&'a [u8; 32], &'a str, &'a str)>,
    what: &str,
) -> Vec<(PublicKey, Address)> {
    let mut resolved = Vec::new();
    for (raw, name, address) in nodes {
        let Ok(key) = crate::engine::parse_public_key(&hex::encode(raw)) else {
            continue;
        };
        match resolve(address) {
            Some(addr) => resolved.push((key, Address::Symmetric(addr))),
            None => tracing::warn!(
                node = %name,
                %address,
                "an admitted {what}'s address does not resolve; it cannot connect until it does"
            ),
        }
    }
    resolved
}

/// The admitted `observers` whose address resolves, with it. Blocking.
pub fn resolve_observers(
    observers: &BTreeMap<[u8; 32], ObserverSeat>,
) -> Vec<(PublicKey, Address)> {
    resolve_all(
        observers
            .iter()
            .map(|(k, s)| (k, s.name.as_str(), s.p2p_address.as_str())),
        "observer",
    )
}

/// The peer set of `roster`: its validators as primary — `genesis_peers`
/// at their configured addresses, the others at their decided ones — and,
/// when this node is one of them, its observers as secondary. Blocking.
pub fn roster_peers(
    genesis_peers: &[(PublicKey, Address)],
    roster: &Roster,
    me: &[u8; 32],
) -> (PeerList, PeerList) {
    let connected = |key: &PublicKey| {
        <[u8; 32]>::try_from(key.as_ref()).is_ok_and(|raw| roster.validators.contains_key(&raw))
    };
    let mut primary: Vec<_> = genesis_peers
        .iter()
        .filter(|(key, _)| connected(key))
        .cloned()
        .collect();
    let configured = |raw: &[u8; 32]| genesis_peers.iter().any(|(k, _)| k.as_ref() == raw);
    primary.extend(resolve_all(
        roster
            .validators
            .iter()
            .filter(|(k, s)| !configured(k) && !s.p2p_address.is_empty())
            .map(|(k, s)| (k, s.name.as_str(), s.p2p_address.as_str())),
        "validator",
    ));
    let secondary = if roster.validators.contains_key(me) {
        resolve_observers(&roster.observers)
    } else {
        Vec::new()
    };
    (primary, secondary)
}

/// The tracked set of `primary` and `secondary` peers.
pub fn peer_set(
    primary: &[(PublicKey, Address)],
    secondary: &[(PublicKey, Address)],
) -> AddressableTrackedPeers<PublicKey> {
    AddressableTrackedPeers::new(
        Map::from_iter_dedup(primary.iter().cloned()),
        Map::from_iter_dedup(secondary.iter().cloned()),
    )
}

/// Say what this node is to the consortium, and again when that changes.
fn log_role(roster: &Roster, me: &[u8; 32], said: &mut Option<(bool, bool)>) {
    let now = (
        roster.validators.contains_key(me),
        roster.observers.contains_key(me),
    );
    if *said == Some(now) {
        return;
    }
    match now {
        (true, _) => tracing::info!("the consortium runs this node as a validator"),
        (false, true) => tracing::info!("the consortium admits this observer node"),
        (false, false) => tracing::warn!(
            public_key = %hex::encode(me),
            "the consortium does not admit this node (as of the last block it executed): validators refuse its connection until governance admits this key from this host (add_observer or add_validator)"
        ),
    }
    *said = Some(now);
}

/// Track the peer set now and again whenever the roster or resolved
/// addresses change (runs until the node stops).
pub async fn track_loop<M, F>(
    mut manager: M,
    genesis_peers: Vec<(PublicKey, Address)>,
    me: [u8; 32],
    max_peers: usize,
    roster: F,
) where
    M: AddressableManager<PublicKey = PublicKey>,
    F: Fn() -> Roster,
{
    let mut seen: Option<Roster> = None;
    let mut resolved_at: Option<std::time::Instant> = None;
    let mut tracked: Option<(PeerList, PeerList)> = None;
    let mut id = 0u64;
    let mut said = None;
    loop {
        let now = roster();
        log_role(&now, &me, &mut said);
        let due = seen.as_ref() != Some(&now)
            || resolved_at.is_none_or(|at| at.elapsed() >= RESOLVE_INTERVAL);
        if due {
            let (peers, wanted) = (genesis_peers.clone(), now.clone());
            match tokio::time::timeout(
                RESOLVE_TIMEOUT,
                tokio::task::spawn_blocking(move || roster_peers(&peers, &wanted, &me)),
            )
            .await
            {
                Ok(Ok(peers)) => {
                    seen = Some(now);
                    resolved_at = Some(std::time::Instant::now());
                    let distinct = peers
                        .0
                        .iter()
                        .chain(&peers.1)
                        .map(|(k, _)| k)
                        .filter(|k| k.as_ref() != me)
                        .collect::<std::collections::BTreeSet<_>>()
                        .len();
                    if distinct > max_peers {
                        // Governance bounds the roster so this cannot happen;
                        // the p2p stack would panic on it, so keep the set
                        // tracked and say so rather than stop the node.
                        tracing::error!(
                            distinct,
                            max_peers,
                            "the roster governance decided exceeds the peer-set bound; keeping the peers tracked"
                        );
                    } else if tracked.as_ref() != Some(&peers) {
                        let set = peer_set(&peers.0, &peers.1);
                        tracing::info!(
                            set = id,
                            validators = set.primary.len(),
                            observers = set.secondary.len(),
                            "tracking peers"
                        );
                        let _ = manager.track(id, set);
                        id += 1;
                        tracked = Some(peers);
                    }
                }
                _ => tracing::warn!("resolving peer addresses timed out; trying again"),
            }
        }
        tokio::time::sleep(RECHECK_INTERVAL).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use commonware_cryptography::Signer;

    fn key(seed: u64) -> PublicKey {
        commonware_cryptography::ed25519::PrivateKey::from_seed(seed).public_key()
    }

    fn seat(name: &str, address: &str) -> ObserverSeat {
        ObserverSeat {
            name: name.into(),
            org: "acme".into(),
            p2p_address: address.into(),
        }
    }

    #[test]
    fn admitted_observers_resolve_and_unresolvable_ones_are_left_out() {
        let addr = |p: u16| Address::Symmetric(SocketAddr::from(([127, 0, 0, 1], p)));
        let validators = vec![(key(1), addr(9001)), (key(2), addr(9002))];
        let mut observers = BTreeMap::new();
        let observer: [u8; 32] = key(7).as_ref().try_into().unwrap();
        observers.insert(observer, seat("archive", "127.0.0.1:9100"));
        // Not resolvable: left out, the others still tracked.
        let unresolvable: [u8; 32] = key(8).as_ref().try_into().unwrap();
        observers.insert(unresolvable, seat("gone", "no-such-host.invalid:9100"));

        let resolved = resolve_observers(&observers);
        assert_eq!(resolved, vec![(key(7), addr(9100))]);
        let set = peer_set(&validators, &resolved);
        assert_eq!(set.primary.len(), 2);
        assert_eq!(set.secondary.len(), 1);
        assert!(set.secondary.keys().iter().any(|k| k == &key(7)));
    }

    #[test]
    fn the_set_bound_covers_every_validator_a_vote_may_add() {
        assert_eq!(max_validators(4), MAX_VOTED_VALIDATORS as u32);
        assert_eq!(max_validators(100), 100);
        assert_eq!(
            max_peers_per_set(4),
            MAX_VOTED_VALIDATORS + 1 + ingot_execution::modules::governance::records::MAX_OBSERVERS
        );
    }

    #[test]
    fn roster_peers_follow_governance() {
        let addr = |p: u16| Address::Symmetric(SocketAddr::from(([127, 0, 0, 1], p)));
        let raw = |seed: u64| -> [u8; 32] { key(seed).as_ref().try_into().unwrap() };
        let validator = |address: &str| ValidatorSeat {
            name: "v".into(),
            org: "acme".into(),
            genesis_not_after: 0,
            p2p_address: address.into(),
            added_at: 0,
            removed_at: None,
        };
        let genesis = vec![(key(1), addr(9001)), (key(2), addr(9002))];
        let mut roster = Roster::default();
        // Genesis validator 2 is no longer connected; 3 joined by vote.
        roster.validators.insert(raw(1), validator(""));
        roster
            .validators
            .insert(raw(3), validator("127.0.0.1:9003"));
        roster
            .observers
            .insert(raw(7), seat("archive", "127.0.0.1:9100"));
        let (primary, secondary) = roster_peers(&genesis, &roster, &raw(1));
        assert_eq!(primary, vec![(key(1), addr(9001)), (key(3), addr(9003))]);
        assert_eq!(secondary, vec![(key(7), addr(9100))]);
        // A node that is not a validator tracks no observers.
        let (_, secondary) = roster_peers(&genesis, &roster, &raw(7));
        assert!(secondary.is_empty());
    }
}
