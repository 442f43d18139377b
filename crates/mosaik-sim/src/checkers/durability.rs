//! The ordering contract: what a message vouches for is already durable when it is sent.
//!
//! A vote's *term* must be persisted before the vote is sent, and an acknowledgement must not
//! cover entries that are not on disk. Whether the vote itself was persisted is deliberately
//! left to its consequence (two leaders in one round, see `election`), so that the planted
//! `double-vote` bug is proven to be caught by the safety property, not by this shortcut.

use mosaik_raft::{AppendResult, Message, Output, Vote};

use super::{Checker, View};
use crate::harness::Out;

/// Checks every `Send` against the node's disk at the moment it is sent.
pub struct PersistBeforeSend;

impl Checker for PersistBeforeSend {
    fn name(&self) -> &'static str {
        "persist-before-send"
    }

    fn on_output(&mut self, view: &View<'_>, out: &Out) -> Result<(), String> {
        let Output::Send { msg, to } = out else {
            return Ok(());
        };
        let disk = &view.node.disk;
        match msg {
            Message::AppendEntriesResponse {
                result: AppendResult::Success { match_index },
                ..
            } if *match_index > disk.last_index() => Err(format!(
                "acknowledged {match_index} to {to} with only {} stored",
                disk.last_index()
            )),
            // Pre-vote grants (kind "PreVoteResponse") promise nothing and persist nothing.
            Message::RequestVoteResponse {
                term,
                vote: Vote::Granted,
                ..
            } if msg.kind() == "RequestVoteResponse" && term.round() > disk.hard.term.round() => {
                Err(format!(
                    "granted a vote in {term} to {to} with term {} persisted",
                    disk.hard.term
                ))
            }
            Message::AppendEntries { term, .. } if *term != disk.hard.term => Err(format!(
                "sent AppendEntries in {term} with term {} persisted",
                disk.hard.term
            )),
            _ => Ok(()),
        }
    }
}
