//! The sans-IO consensus core of mosaik: a modified Raft as a pure, deterministic state machine.
//!
//! # The model
//!
//! An [`Engine`] is one group member. It does no I/O, reads no clock, draws no OS randomness
//! and spawns nothing. The shell (the async runtime, or the simulator) drives it:
//!
//! 1. feed an [`Input`] with the current time: `engine.handle(now, input)` — a timer tick, a
//!    message from a peer, a bond coming up or down, a client proposal or strong read;
//! 2. drain the [`Output`]s **in order** with [`Engine::poll_output`]: persist hard state and
//!    log writes, send messages, apply committed commands, answer requests;
//! 3. arm one timer for [`Engine::next_deadline`] and feed `Input::Tick` when it fires.
//! 4. feed `Input::Idle` when no other input is ready and [`Engine::holds_commit_notices`]
//!    says a leader waits to tell followers a new commit index (it batches those notices with
//!    the next entries it sends).
//!
//! Time is an [`Instant`] (milliseconds since an origin the shell picks). Randomness comes from a
//! splitmix64 generator seeded in [`Engine::new`]. A restart is a new engine built from the
//! state the shell persisted ([`Restored`]).
//!
//! # Two modes, one engine
//!
//! * **Dynamic** (default): the voters are this node plus the bonded peers that are not
//!   observers; a quorum is a majority of them. A lone member elects itself after the bootstrap
//!   delay. Both sides of a partition may make progress; when they merge, the side that loses
//!   has its conflicting committed entries overwritten, which the engine reports explicitly
//!   ([`Output::Reverted`]) so the state machine is rebuilt consistently. **Which side loses**
//!   is decided by the merge rule, never by the ballot round alone: at the first conflicting
//!   index the follower contests, and the leader compares the two histories from there on
//!   ([`Engine::committed_rank_at`], [`CommittedRank`]): the one backed by more voters wins, then
//!   the one that committed most recently, then the longer one. The winner's side overrules
//!   the loser ([`Overrule`]); an outranked leader steps down and yields. A side that committed
//!   nothing after the split (an empty member, a stale leader) always loses, and a lone member
//!   never reverts what two or more members committed.
//! * **Strict** ([`Config::min_quorum`] = `Some(n)`): additionally every election and every
//!   commit needs `n` votes / acknowledgements. With `n` above half of the largest membership,
//!   quorums always intersect and the group is linearizable under any partition.
//!
//! Terms are *ballots*: a round number plus the candidate that owns it ([`Term`]), so a term
//! has at most one leader even when partitioned sides pick the same round, and `(term, index)`
//! identifies an entry in every mode. Elections start with a pre-vote, so a node that cannot
//! win (stale log, or a healthy leader still in charge) never disrupts the group. Leaders step
//! down when they lose contact with a quorum (check-quorum), serve strong reads only after a
//! quorum round (read index), and commit only entries of their own term (Raft §5.4.2).
//!
//! # Example
//!
//! A lone member elects itself after the bootstrap delay and commits a proposal on its own:
//!
//! ```
//! use mosaik_raft::{Config, Engine, Input, Instant, Output, RequestId, Restored, Role};
//!
//! let mut node: Engine<u64, &str> =
//!     Engine::new(1, Config::default(), Restored::default(), Instant::ZERO, 42);
//! // No peers bonded: the first timeout (bootstrap delay + election timeout) elects it.
//! let deadline = node.next_deadline().unwrap();
//! node.handle(deadline, Input::Tick);
//! assert_eq!(node.role(), Role::Leader);
//!
//! node.handle(deadline, Input::Propose { request_id: RequestId(7), commands: vec!["hello"] });
//! let mut applied = Vec::new();
//! while let Some(output) = node.poll_output() {
//!     match output {
//!         // A real shell persists before going on, sends messages, and so on.
//!         Output::Apply { entries } => applied.extend(entries.into_iter().map(|(_, _, c)| c)),
//!         Output::Committed { request_id, result } => {
//!             assert_eq!(request_id, RequestId(7));
//!             assert!(result.is_ok());
//!         }
//!         _ => {}
//!     }
//! }
//! assert_eq!(applied, ["hello"]);
//! ```

mod config;
mod engine;
mod inline;
mod io;
mod log;
mod message;
mod progress;
mod pruned_terms;
mod quorum;
mod rank;
mod records;
mod retype;
mod rng;
mod types;

#[cfg(feature = "planted-bugs")]
pub use config::PlantedBug;
pub use config::{Config, LeadershipPreference};
pub use engine::{Engine, LEFT_VOTER_TIMEOUTS, MAX_FORWARDED_READS, MAX_ROUND, YIELD_TIMEOUTS};
pub use io::{CommitError, HardState, Input, Output, ProposeError, Restored};
pub use log::{Entry, Log, Payload};
pub use message::{AppendResult, Forward, Message, Overrule, Vote};
pub use progress::{Progress, ProgressState};
pub use pruned_terms::PrunedTerms;
pub use quorum::{QuorumRule, majority};
pub use rank::CommittedRank;
pub use records::{CommitRecords, MAX_COMMIT_RECORDS};
pub use types::{Cursor, Index, IndexRange, Instant, NodeId, RequestId, Role, Term};
