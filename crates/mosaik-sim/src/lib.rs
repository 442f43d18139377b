//! Deterministic simulation of the mosaik consensus core.
//!
//! - [`net`]: a seeded discrete-event network and clock (loss, delay, reordering, duplication,
//!   partitions, crashes, clock drift), the substrate the simulator runs consensus engines on.
//! - [`linearizability`]: a checker that decides whether a concurrent client history could have
//!   come from a sequential model, used to judge the simulated key-value clients.
//! - [`kv`]: the replicated key-value state machine.
//! - [`harness`]: K `mosaik-raft` engines, clients and a seeded fault schedule; one seed = one
//!   reproducible run ([`harness::run_seed`]).
//! - [`checkers`]: one safety checker per property, run after every simulated step.
//! - [`runtime`]: the real group runtime of `mosaik` (driver, group commit, sync, storage path)
//!   on a simulated transport and disks under a virtual clock, judged by the same checkers.

pub mod checkers;
pub mod harness;
pub mod kv;
pub mod linearizability;
pub mod net;
pub mod runtime;
