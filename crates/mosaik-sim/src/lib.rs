//! Deterministic simulation support for the mosaik consensus core.
//!
//! - [`net`]: a seeded discrete-event network and clock (loss, delay, reordering, duplication,
//!   partitions, crashes, clock drift), the substrate the simulator runs consensus engines on.
//! - [`linearizability`]: a checker that decides whether a concurrent client history could have
//!   come from a sequential model, used to judge the simulated key-value clients.

pub mod linearizability;
pub mod net;
