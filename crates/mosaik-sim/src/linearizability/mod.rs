//! A linearizability checker for client histories.
//!
//! A history is linearizable when every operation can be given one instant between its call and
//! its return at which it took effect, such that applying the operations in that order to a
//! sequential [`Model`] produces exactly the outputs the clients saw. [`check`] searches for such
//! an order with Wing & Gong's algorithm, improved as in Lowe's "Testing for linearizability"
//! (2017): just-in-time linearization, memoization of `(linearized set, model state)` pairs, and
//! checking independent parts (for a key-value store: keys) separately.
//!
//! Operations that never returned are handled soundly: they may take effect at any point after
//! their call, or never. They are also what makes checking expensive, so the memo treats a
//! configuration as explored when one with fewer of them placed was (see `memo`), and a model may
//! declare some of them irrelevant ([`Model::droppable`]; [`KvModel`] drops timed-out writes
//! whose value nobody read).
//!
//! Cost: close to linear in the length of a partition, exponential in how many operations
//! overlap in time within it. Proving a violation explores every order up to the violation, so it
//! costs more than accepting a correct history. Every check runs under a [`Budget`]; running out
//! yields [`Verdict::Unknown`], which callers must count and report rather than treat as a pass.
//!
//! ```
//! use mosaik_sim::linearizability::{check, Budget, KvInput, KvModel, KvOutput, Operation};
//!
//! let put = KvInput::Put { key: 1_u64, value: 7_u64 };
//! let get = KvInput::Get { key: 1 };
//! let history = vec![
//!     Operation::completed(0, put, 0, 10, KvOutput::Ok),
//!     // Read after the write finished, yet saw nothing: a stale read.
//!     Operation::completed(1, get, 20, 30, KvOutput::Value(None)),
//! ];
//! let verdict = check(&KvModel::new(), &history, Budget::steps(10_000));
//! assert!(verdict.is_violation(), "{verdict}");
//! ```

mod budget;
mod check;
mod entries;
mod kv;
mod memo;
mod model;
#[cfg(test)]
mod oracle;
mod search;
#[cfg(test)]
mod testkit;
mod verdict;

pub use budget::{Budget, Limit};
pub use check::check;
pub use kv::{KvInput, KvModel, KvOutput};
pub use model::{Model, Operation};
pub use verdict::{Exhausted, IndexedOp, Verdict, Violation};
