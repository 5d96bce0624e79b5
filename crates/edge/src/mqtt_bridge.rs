//! External-broker mode: the gateway subscribes to `ingot/telemetry/#` on an
//! existing broker (Mosquitto, EMQX, ...) with a persistent session (fixed
//! client id, clean session off) and manual acknowledgements: the broker
//! keeps every QoS 1 message until the gateway has durably queued it (or
//! refused it), so a gateway restart loses nothing and the broker buffers
//! while the gateway is down.

use crate::ingest::{Incoming, Verdict};
use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};
use tracing::{info, warn};

pub struct BridgeConfig {
    pub host: String,
    pub port: u16,
    pub client_id: String,
    pub max_packet: usize,
}

pub async fn run(cfg: BridgeConfig, ingest: mpsc::Sender<Incoming>) -> anyhow::Result<()> {
    let mut opts = MqttOptions::new(&cfg.client_id, &cfg.host, cfg.port);
    opts.set_clean_session(false)
        .set_manual_acks(true)
        .set_keep_alive(Duration::from_secs(30))
        .set_max_packet_size(cfg.max_packet, cfg.max_packet)
        .set_inflight(100);
    let (client, mut events) = AsyncClient::new(opts, 1024);
    info!(broker = %format!("{}:{}", cfg.host, cfg.port), "subscribing to the external broker");
    loop {
        match events.poll().await {
            Ok(Event::Incoming(Packet::ConnAck(_))) => {
                // Subscribing again on every connection is harmless and covers
                // brokers that dropped the session.
                client
                    .subscribe(
                        format!("{}#", crate::ingest::TOPIC_PREFIX),
                        QoS::AtLeastOnce,
                    )
                    .await?;
            }
            Ok(Event::Incoming(Packet::Publish(p))) => {
                let (reply, rx) = oneshot::channel();
                ingest
                    .send(Incoming {
                        topic: p.topic.clone(),
                        payload: p.payload.clone(),
                        reply,
                    })
                    .await
                    .map_err(|_| anyhow::anyhow!("gateway shutting down"))?;
                let client = client.clone();
                tokio::spawn(async move {
                    // Stored or refused: the broker may forget it. Not stored:
                    // leave it unacknowledged; the broker redelivers it after
                    // reconnecting.
                    if let Ok(Verdict::Accepted | Verdict::Duplicate | Verdict::Refused(..)) =
                        rx.await
                    {
                        let _ = client.ack(&p).await;
                    }
                });
            }
            Ok(_) => {}
            Err(e) => {
                warn!(error = %e, "external broker connection lost; reconnecting");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }
}
