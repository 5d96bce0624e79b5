//! Explore fault schedules at length:
//!
//! ```text
//! cargo run -p ingot-sim --release --bin hunt -- --seeds 100000 [--from 0]
//! ```
//!
//! Prints progress (seeds per second, faults injected, violations) every 100
//! seeds and, for every failing seed, the violation and the shrunk schedule;
//! exits non-zero if any seed failed. With `--trace`, prints every seed's
//! trace (the deterministic runtime's digest of everything the run did): a
//! seed's trace is the same in every process on every machine. Replay one
//! seed with
//! `INGOT_EXPLORE_FROM=<seed> INGOT_EXPLORE_SEEDS=1 cargo test -p ingot-sim --test simulations explore`.

use ingot_sim::explore::{consortium_of, run_schedule_traced, shrink, Schedule};
use std::time::Instant;

fn flag(args: &[String], name: &str, default: u64) -> u64 {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .map(|v| {
            v.parse()
                .unwrap_or_else(|_| panic!("{name} takes a number"))
        })
        .unwrap_or(default)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let seeds = flag(&args, "--seeds", 1_000);
    let from = flag(&args, "--from", 0);
    let trace = args.iter().any(|a| a == "--trace");
    let started = Instant::now();
    let (mut faults, mut failures) = (0usize, Vec::new());
    for (done, seed) in (from..from + seeds).enumerate() {
        let schedule = Schedule::draw(seed);
        faults += schedule.faults.len() + schedule.byzantine.len();
        let run = run_schedule_traced(seed, &consortium_of(schedule.validators), &schedule);
        if trace {
            println!("seed {seed} trace {}", run.trace);
        }
        if let Err(violation) = run.outcome {
            let small = shrink(seed, &consortium_of, schedule);
            println!("FAIL seed {seed}: {violation}\n  shrunk schedule: {small:?}");
            failures.push(seed);
        }
        if (done + 1) % 100 == 0 || done + 1 == seeds as usize {
            let secs = started.elapsed().as_secs_f64();
            println!(
                "{} seeds in {secs:.0} s ({:.2} seeds/s), {faults} faults injected, {} violations",
                done + 1,
                (done + 1) as f64 / secs,
                failures.len()
            );
        }
    }
    if !failures.is_empty() {
        println!("failing seeds: {failures:?}");
        std::process::exit(1);
    }
}
