//! Modbus TCP: registers polled every `poll_ms` (tokio-modbus). All values of
//! one poll carry the gateway's time of that poll, so an equipment's
//! registers read together form one reading.

use super::{
    config::{ModbusPoint, ModbusSource, RegisterKind},
    now_ms, PlantStats, Sample,
};
use ingot_device::measurement;
use std::{
    sync::{atomic::Ordering, Arc},
    time::Duration,
};
use tokio::sync::mpsc;
use tokio_modbus::prelude::*;
use tracing::{info, warn};

/// Most registers one read request may ask for (Modbus: 125 for function
/// codes 3 and 4).
pub const MAX_READ_REGISTERS: u16 = 125;
/// Unused registers a read may span between two points before they are read
/// apart (a span over registers the server lacks is refused whole; then its
/// points are read one by one).
pub const MAX_SPAN_GAP: u16 = 16;
const _: () = assert!(MAX_SPAN_GAP < MAX_READ_REGISTERS);

/// Points read with one request: registers `start .. start + count` of one kind.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Span {
    pub kind: RegisterKind,
    pub start: u16,
    pub count: u16,
    /// Indices of the points it holds.
    pub points: Vec<usize>,
}

/// Group points into as few reads as the limits allow.
pub fn spans(points: &[ModbusPoint]) -> Vec<Span> {
    let mut order: Vec<usize> = (0..points.len()).collect();
    order.sort_by_key(|&i| (points[i].kind == RegisterKind::Input, points[i].address));
    let mut out: Vec<Span> = Vec::new();
    for i in order {
        let p = &points[i];
        let end = p.address as u32 + p.words as u32; // exclusive
        if let Some(span) = out.last_mut() {
            let span_end = span.start as u32 + span.count as u32;
            if span.kind == p.kind
                && p.address as u32 <= span_end + MAX_SPAN_GAP as u32
                && end - span.start as u32 <= MAX_READ_REGISTERS as u32
            {
                span.count = (end.max(span_end) - span.start as u32) as u16;
                span.points.push(i);
                continue;
            }
        }
        out.push(Span {
            kind: p.kind,
            start: p.address,
            count: p.words as u16,
            points: vec![i],
        });
    }
    out
}

/// Longest one connect or read may take.
const IO_TIMEOUT: Duration = Duration::from_secs(3);
/// Wait between reconnection attempts, doubling up to the maximum.
const RETRY_MIN: Duration = Duration::from_millis(500);
const RETRY_MAX: Duration = Duration::from_secs(30);

/// The integer a point's registers hold (high word first for two words).
pub fn register_value(point: &ModbusPoint, words: &[u16]) -> Option<i64> {
    match (point.words, point.signed, words) {
        (1, false, [w]) => Some(*w as i64),
        (1, true, [w]) => Some(*w as i16 as i64),
        (2, false, [hi, lo]) => Some(((*hi as u32) << 16 | *lo as u32) as i64),
        (2, true, [hi, lo]) => Some(((*hi as u32) << 16 | *lo as u32) as i32 as i64),
        _ => None,
    }
}

/// Poll `src` until the batcher is gone, reconnecting with backoff.
pub async fn run(src: ModbusSource, out: mpsc::Sender<Sample>, stats: Arc<PlantStats>) {
    let mut retry = RETRY_MIN;
    let mut last_error = String::new();
    loop {
        let error = match poll_connected(&src, &out, &stats, &mut retry).await {
            Ok(()) => return, // the batcher stopped
            Err(e) => format!("{e:#}"),
        };
        stats.source_errors.fetch_add(1, Ordering::Relaxed);
        if error != last_error {
            warn!(address = %src.address, %error, "Modbus source failed; retrying");
            last_error = error;
        }
        tokio::time::sleep(retry).await;
        retry = (retry * 2).min(RETRY_MAX);
    }
}

async fn poll_connected(
    src: &ModbusSource,
    out: &mpsc::Sender<Sample>,
    stats: &PlantStats,
    retry: &mut Duration,
) -> anyhow::Result<()> {
    let addr = tokio::net::lookup_host(&src.address)
        .await?
        .next()
        .ok_or_else(|| anyhow::anyhow!("{} resolves to no address", src.address))?;
    let mut ctx = tokio::time::timeout(IO_TIMEOUT, tcp::connect_slave(addr, Slave(src.unit)))
        .await
        .map_err(|_| anyhow::anyhow!("connect timed out"))??;
    info!(address = %src.address, unit = src.unit, points = src.registers.len(), "Modbus source connected");
    let groups = spans(&src.registers);
    // Points the server refuses (an exception), logged when they start and
    // stop failing rather than on every poll.
    let mut failing: std::collections::BTreeSet<usize> = Default::default();
    let mut tick = tokio::time::interval(Duration::from_millis(src.poll_ms));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let at = now_ms();
        for span in &groups {
            let mut exception_text = String::new();
            let values: Vec<(usize, Option<Vec<u16>>)> =
                match read(&mut ctx, span.kind, span.start, span.count).await? {
                    Ok(words) => span
                        .points
                        .iter()
                        .map(|&i| {
                            let p = &src.registers[i];
                            let from = (p.address - span.start) as usize;
                            (
                                i,
                                words
                                    .get(from..from + p.words as usize)
                                    .map(<[u16]>::to_vec),
                            )
                        })
                        .collect(),
                    // Refused whole: read its points apart, so one missing
                    // register costs only its own point.
                    Err(exception) if span.points.len() > 1 => {
                        let mut apart = Vec::with_capacity(span.points.len());
                        for &i in &span.points {
                            let p = &src.registers[i];
                            apart.push((
                                i,
                                read(&mut ctx, p.kind, p.address, p.words as u16)
                                    .await?
                                    .ok(),
                            ));
                        }
                        exception_text = exception.to_string();
                        apart
                    }
                    Err(exception) => {
                        exception_text = exception.to_string();
                        vec![(span.points[0], None)]
                    }
                };
            *retry = RETRY_MIN;
            for (i, words) in values {
                let point = &src.registers[i];
                if words.is_none() && failing.insert(i) {
                    warn!(address = %src.address, register = point.address, equipment = %point.equipment,
                        measurement = %point.measurement, exception = %exception_text,
                        "Modbus server refuses this register; counted as unusable until it answers");
                } else if words.is_some() && failing.remove(&i) {
                    info!(address = %src.address, register = point.address, "Modbus register answers again");
                }
                let Some(value) = words.as_deref().and_then(|w| register_value(point, w)) else {
                    stats.unusable.fetch_add(1, Ordering::Relaxed);
                    continue;
                };
                stats.samples.fetch_add(1, Ordering::Relaxed);
                let sample = Sample {
                    equipment: point.equipment.clone(),
                    timestamp_ms: at,
                    measurement: measurement(&point.measurement, value, point.scale, &point.unit),
                };
                if out.send(sample).await.is_err() {
                    return Ok(());
                }
            }
        }
    }
}

/// One read request: the registers, or the server's exception; an error
/// when the connection failed or timed out.
async fn read(
    ctx: &mut client::Context,
    kind: RegisterKind,
    start: u16,
    count: u16,
) -> anyhow::Result<Result<Vec<u16>, ExceptionCode>> {
    let request = async {
        match kind {
            RegisterKind::Holding => ctx.read_holding_registers(start, count).await,
            RegisterKind::Input => ctx.read_input_registers(start, count).await,
        }
    };
    match tokio::time::timeout(IO_TIMEOUT, request).await {
        Err(_) => anyhow::bail!("read of register {start} timed out"),
        Ok(Err(e)) => anyhow::bail!("read of register {start}: {e}"),
        Ok(Ok(answer)) => Ok(answer),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn point(words: u8, signed: bool) -> ModbusPoint {
        ModbusPoint {
            equipment: "acme:P".into(),
            measurement: "m".into(),
            kind: RegisterKind::Holding,
            address: 0,
            words,
            signed,
            scale: 0,
            unit: String::new(),
        }
    }

    #[test]
    fn neighbouring_registers_are_read_together_within_the_limits() {
        let at = |kind, address, words| ModbusPoint {
            kind,
            address,
            words,
            ..point(1, false)
        };
        use RegisterKind::{Holding, Input};
        let points = vec![
            at(Holding, 10, 2),  // 0
            at(Input, 0, 1),     // 1
            at(Holding, 0, 1),   // 2
            at(Holding, 12, 1),  // 3
            at(Holding, 100, 1), // 4: 100 - 13 > gap
            at(Holding, 230, 1), // 5: would make the span 131 long
            at(Holding, 113, 1), // 6
            at(Input, 40, 1),    // 7: gap 39 > 16
        ];
        let got: Vec<(RegisterKind, u16, u16, Vec<usize>)> = spans(&points)
            .into_iter()
            .map(|s| (s.kind, s.start, s.count, s.points))
            .collect();
        assert_eq!(
            got,
            [
                (Holding, 0, 13, vec![2, 0, 3]),
                (Holding, 100, 14, vec![4, 6]),
                (Holding, 230, 1, vec![5]),
                (Input, 0, 1, vec![1]),
                (Input, 40, 1, vec![7]),
            ]
        );
    }

    #[test]
    fn registers_become_integers_by_width_and_sign() {
        assert_eq!(register_value(&point(1, false), &[0xFFFF]), Some(65_535));
        assert_eq!(register_value(&point(1, true), &[0xFFFF]), Some(-1));
        assert_eq!(
            register_value(&point(2, false), &[0x0001, 0x0002]),
            Some(65_538)
        );
        assert_eq!(register_value(&point(2, true), &[0xFFFF, 0xFFFE]), Some(-2));
        assert_eq!(register_value(&point(2, false), &[1]), None);
    }
}
