//! Catch-up discipline: a member that restarted with empty storage and was put in catch-up
//! (`Input::BeginCatchUp`) neither votes nor campaigns until its engine says it caught up
//! (`Output::CaughtUp`).
//!
//! A vote is a promise about what the voter stored ("your log is at least as up to date as
//! mine", "I did not vote for anyone else this round"); a member that lost its storage cannot
//! keep promises it made before, so until it holds everything the group committed its vote
//! could complete a quorum that lacks an acknowledged write (strict mode) or a second leader in
//! one round. Pre-vote grants count too: the engine's observers abstain from both.
//!
//! Members the shell did not put in catch-up (today's engine, which has no such input) are not
//! judged here: what their votes cause is judged by
//! [`AcknowledgedWrites`](super::AcknowledgedWrites) and the other safety checkers.

use mosaik_raft::{Message, Output, Role, Vote};

use super::{Checker, View};
use crate::harness::{CatchUp, Out};

/// Flags votes and campaigns of members in catch-up.
pub struct CatchUpDiscipline;

impl Checker for CatchUpDiscipline {
    fn name(&self) -> &'static str {
        "catch-up"
    }

    fn on_output(&mut self, view: &View<'_>, out: &Out) -> Result<(), String> {
        let Some(CatchUp {
            begun: true, since, ..
        }) = view.node.catch_up
        else {
            return Ok(());
        };
        match out {
            Output::Send {
                to,
                msg:
                    msg @ Message::RequestVoteResponse {
                        term,
                        vote: Vote::Granted,
                        ..
                    },
            } => Err(format!(
                "granted a {} in {term} to {to} while catching up (restarted empty at {since} ms)",
                msg.kind()
            )),
            Output::RoleChanged(role @ (Role::Candidate | Role::Leader)) => Err(format!(
                "became {role:?} while catching up (restarted empty at {since} ms)"
            )),
            _ => Ok(()),
        }
    }
}
