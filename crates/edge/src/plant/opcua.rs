//! OPC UA: a subscription to the configured node ids (async-opcua client,
//! security None, anonymous). Each data change becomes a sample with the
//! source's timestamp (the server's, else the gateway's time of arrival).

use super::{config::OpcUaSource, fixed_point, now_ms, PlantStats, Sample};
use ingot_device::measurement;
use opcua::{
    client::{ClientBuilder, DataChangeCallback, IdentityToken, MonitoredItem, SessionPollResult},
    crypto::SecurityPolicy,
    types::{
        DataValue, MessageSecurityMode, MonitoredItemCreateRequest, NodeId, TimestampsToReturn,
        UserTokenPolicy, Variant,
    },
};
use std::{
    path::PathBuf,
    str::FromStr,
    sync::{atomic::Ordering, Arc},
    time::Duration,
};
use tokio::sync::mpsc;
use tracing::{info, warn};

/// Wait between attempts to (re)connect, doubling up to the maximum.
const RETRY_MIN: Duration = Duration::from_millis(500);
const RETRY_MAX: Duration = Duration::from_secs(30);
/// Samples the subscription may queue for the batcher; when the batcher is
/// that far behind, further changes are counted as dropped.
const SAMPLE_QUEUE: usize = 10_000;

/// Ends a task when dropped (this attempt's event-loop watcher).
struct AbortOnDrop(tokio::task::JoinHandle<()>);
impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// An OPC UA value as a number, or `None` (strings, structures, ...).
pub fn variant_number(v: &Variant) -> Option<f64> {
    match v {
        Variant::Boolean(b) => Some(if *b { 1.0 } else { 0.0 }),
        other => other.as_f64(),
    }
}

/// Subscribe to `src` until the batcher is gone, reconnecting with backoff.
/// `pki_dir` holds the client's certificate store (unused with security
/// None, but the client insists on the directories).
pub async fn run(
    src: OpcUaSource,
    pki_dir: PathBuf,
    out: mpsc::Sender<Sample>,
    stats: Arc<PlantStats>,
) {
    let mut retry = RETRY_MIN;
    loop {
        match subscribe(&src, &pki_dir, &out, &stats, &mut retry).await {
            Ok(()) => return,
            Err(e) => {
                stats.source_errors.fetch_add(1, Ordering::Relaxed);
                warn!(endpoint = %src.endpoint, error = %format!("{e:#}"), "OPC UA source failed; retrying");
            }
        }
        if out.is_closed() {
            return;
        }
        tokio::time::sleep(retry).await;
        retry = (retry * 2).min(RETRY_MAX);
    }
}

async fn subscribe(
    src: &OpcUaSource,
    pki_dir: &std::path::Path,
    out: &mpsc::Sender<Sample>,
    stats: &Arc<PlantStats>,
    retry: &mut Duration,
) -> anyhow::Result<()> {
    let ids: Vec<NodeId> = src
        .nodes
        .iter()
        .map(|n| {
            NodeId::from_str(&n.node_id)
                .map_err(|e| anyhow::anyhow!("node id `{}`: {e}", n.node_id))
        })
        .collect::<anyhow::Result<_>>()?;
    let mut client = ClientBuilder::new()
        .application_name("ingot-edge")
        .application_uri("urn:ingot-edge")
        .product_uri("urn:ingot-edge")
        .pki_dir(pki_dir)
        .create_sample_keypair(false)
        .trust_server_certs(true)
        // No reconnection inside the client: a lost connection ends this
        // attempt and the next one subscribes afresh (a server that restarted
        // has forgotten the session and its subscriptions).
        .session_retry_limit(0)
        .client()
        .map_err(|e| anyhow::anyhow!("OPC UA client: {e:?}"))?;
    let (session, event_loop) = client
        .connect_to_matching_endpoint(
            (
                src.endpoint.as_str(),
                SecurityPolicy::None.to_str(),
                MessageSecurityMode::None,
                UserTokenPolicy::anonymous(),
            ),
            IdentityToken::Anonymous,
        )
        .await?;
    // The client's event loop, watched: the first (re)connection is ours;
    // a lost connection, or the client reconnecting by itself, ends this
    // attempt.
    let (lost_tx, mut lost) = tokio::sync::oneshot::channel::<String>();
    let watcher = tokio::spawn(async move {
        use futures::StreamExt;
        let mut events = std::pin::pin!(event_loop.enter());
        let mut connected = false;
        let why = loop {
            match events.next().await {
                Some(Ok(SessionPollResult::Reconnected(_))) if !connected => connected = true,
                Some(Ok(SessionPollResult::Reconnected(_))) => {
                    break "the session was re-established".to_string()
                }
                Some(Ok(SessionPollResult::ConnectionLost(code))) => {
                    break format!("connection lost: {code}")
                }
                Some(Ok(_)) => {}
                Some(Err(code)) => break format!("{code}"),
                None => break "the client stopped".to_string(),
            }
        };
        let _ = lost_tx.send(why);
    });
    let _stop_watcher = AbortOnDrop(watcher);
    if !session.wait_for_connection().await {
        anyhow::bail!("could not connect to {}", src.endpoint);
    }
    // Data changes arrive on the client's task; they are forwarded through a
    // bounded queue (a callback must not block).
    let (tx, mut rx) = mpsc::channel::<Sample>(SAMPLE_QUEUE);
    let points = src.nodes.clone();
    let cb_stats = stats.clone();
    let callback = DataChangeCallback::new(move |dv: DataValue, item: &MonitoredItem| {
        let Some(point) = (item.client_handle() as usize)
            .checked_sub(1)
            .and_then(|i| points.get(i))
        else {
            return;
        };
        let good = dv.status.is_none_or(|s| s.is_good());
        let value = dv
            .value
            .as_ref()
            .filter(|_| good)
            .and_then(variant_number)
            .and_then(|v| fixed_point(v, point.scale));
        let Some(value) = value else {
            cb_stats.unusable.fetch_add(1, Ordering::Relaxed);
            return;
        };
        let at = dv
            .source_timestamp
            .or(dv.server_timestamp)
            .map(|t| t.as_chrono().timestamp_millis())
            .and_then(|ms| u64::try_from(ms).ok())
            .unwrap_or_else(now_ms);
        cb_stats.samples.fetch_add(1, Ordering::Relaxed);
        let sample = Sample {
            equipment: point.equipment.clone(),
            timestamp_ms: at,
            measurement: measurement(&point.measurement, value, point.scale, &point.unit),
        };
        if tx.try_send(sample).is_err() {
            cb_stats.readings_dropped.fetch_add(1, Ordering::Relaxed);
        }
    });
    let subscription = session
        .create_subscription(
            Duration::from_millis(src.publishing_ms),
            30,
            10,
            0,
            0,
            true,
            callback,
        )
        .await?;
    let requests: Vec<MonitoredItemCreateRequest> = ids
        .iter()
        .enumerate()
        .map(|(i, id)| {
            let mut r: MonitoredItemCreateRequest = id.clone().into();
            r.requested_parameters.client_handle = i as u32 + 1;
            r.requested_parameters.sampling_interval = src.publishing_ms as f64;
            r.requested_parameters.queue_size = 10;
            r
        })
        .collect();
    let created = session
        .create_monitored_items(subscription, TimestampsToReturn::Both, requests)
        .await?;
    let mut monitored = 0;
    for (point, result) in src.nodes.iter().zip(&created) {
        if result.result.status_code.is_good() {
            monitored += 1;
        } else {
            // Counted once per subscription: the node is missing on the
            // server (or not readable); the others are read regardless.
            stats.source_errors.fetch_add(1, Ordering::Relaxed);
            warn!(endpoint = %src.endpoint, node = %point.node_id, status = %result.result.status_code, "OPC UA node cannot be monitored");
        }
    }
    if monitored == 0 {
        anyhow::bail!("none of the {} nodes can be monitored", src.nodes.len());
    }
    info!(endpoint = %src.endpoint, monitored, of = src.nodes.len(), "OPC UA source subscribed");
    *retry = RETRY_MIN;
    loop {
        tokio::select! {
            sample = rx.recv() => {
                let Some(sample) = sample else { break };
                if out.send(sample).await.is_err() {
                    let _ = session.disconnect().await;
                    return Ok(());
                }
            }
            why = &mut lost => {
                anyhow::bail!("OPC UA session ended: {}", why.unwrap_or_else(|_| "the client stopped".into()));
            }
        }
    }
    anyhow::bail!("OPC UA subscription closed")
}
