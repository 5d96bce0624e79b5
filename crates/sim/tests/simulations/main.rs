//! Every whole-validator simulation in one test binary. The simulations are
//! compiled with optimisation (see `[profile.dev.package.ingot-sim]` in the
//! workspace manifest), and each test binary instantiates the whole node
//! generically over the deterministic runtime again; one binary keeps that
//! compile cost to once.

mod consensus;
mod epochs;
mod explore;
mod governance;
mod observer;
mod storage_faults;
mod telemetry;
mod validator_sets;
mod workflow;
