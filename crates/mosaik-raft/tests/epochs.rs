//! Storage epochs: a member that lost its storage answers with a new epoch, and what its
//! earlier lives acknowledged or were told no longer counts. Also: a life that ends its
//! catch-up counts at once for the entries it already holds.

mod common;

use std::time::Duration;

use common::{Cluster, Cmd, Id, fast_config};
use mosaik_raft::{AppendResult, Index, Input, Message, Term, Vote};

/// A 3-member cluster that committed two writes, then had every member cut off from the others
/// (no unbonding): the cluster, its leader and one follower.
fn cut_off_after_two_writes(seed: u64) -> (Cluster, Id, Id) {
    members_cut_off_after_two_writes(3, seed)
}

/// As `cut_off_after_two_writes`, with `n` members.
fn members_cut_off_after_two_writes(n: u64, seed: u64) -> (Cluster, Id, Id) {
    let mut cluster = Cluster::new(n, &fast_config(), seed);
    let leader = cluster.wait_for_leader();
    assert_eq!(cluster.write_through_leader(&[1, 2]), vec![1, 2]);
    let ids = cluster.ids();
    let follower = *ids.iter().find(|id| **id != leader).expect("a follower");
    let alone: Vec<&[Id]> = ids.iter().map(core::slice::from_ref).collect();
    cluster.partition(&alone, false);
    (cluster, leader, follower)
}

/// Every other member answers `follower`'s term query with the leader's term: a member that
/// lost its storage ends its catch-up only once `⌈n/2⌉` voters told it their term, in dynamic
/// mode as in strict (`engine/term_query.rs`; simulator, dynamic seed 82030310).
fn answer_term_queries(cluster: &mut Cluster, leader: Id, follower: Id) {
    for from in cluster.ids() {
        if from != follower {
            let answer = term_answer(cluster, leader, follower, from);
            cluster.input(follower, answer);
        }
    }
}

/// `from`'s answer, as a voter with the leader's term, to `follower`'s current term query.
fn term_answer(cluster: &Cluster, leader: Id, follower: Id, from: Id) -> Input<Id, Cmd> {
    let msg = Message::TermAnswer {
        term: cluster.engine(leader).term(),
        epoch: cluster.engine(follower).hard_state().epoch,
        voter: true,
        catching_up: false,
    };
    Input::Message { from, msg }
}

/// `follower`'s answer in `term` to the leader: `result`, with its vote and storage epoch.
fn answer_from(
    follower: Id,
    term: Term<Id>,
    result: AppendResult<Id>,
    (vote, epoch): (Vote, u64),
) -> Input<Id, Cmd> {
    Input::Message {
        from: follower,
        msg: Message::AppendEntriesResponse {
            term,
            seq: 0,
            result,
            vote,
            epoch,
        },
    }
}

/// The leader's whole log and its commit index as an `AppendEntries` to storage `epoch`, its
/// committed rank announced with `weight` (the leader's own when `None`).
fn announcement(cluster: &Cluster, leader: Id, epoch: u64, weight: Option<u64>) -> Input<Id, Cmd> {
    let engine = cluster.engine(leader);
    let rank = engine.committed_rank();
    Input::Message {
        from: leader,
        msg: Message::AppendEntries {
            term: engine.term(),
            leader,
            prev_log_position: mosaik_raft::Cursor::zero(),
            entries: engine.log().entries(Index(1), usize::MAX),
            leader_commit: engine.commit_index(),
            rank: mosaik_raft::CommittedRank {
                weight: weight.unwrap_or(rank.weight),
                ..rank
            },
            overrule: None,
            seq: 0,
            epoch,
        },
    }
}

/// `cut_off_after_two_writes`, then a third entry the leader alone holds, and the follower
/// restarted empty (catching up, with a storage epoch of its own). Answers of any of the
/// follower's lives are fed to the leader by hand.
struct Loss {
    cluster: Cluster,
    leader: Id,
    follower: Id,
    /// The entry only the leader holds.
    entry: Index,
    term: Term<Id>,
    /// The new life's storage epoch.
    epoch: u64,
}

impl Loss {
    fn new(seed: u64) -> Self {
        let (mut cluster, leader, follower) = cut_off_after_two_writes(seed);
        cluster.propose(leader, vec![3]);
        let entry = cluster.engine(leader).last_log().index;
        assert!(cluster.engine(leader).commit_index() < entry);
        let term = cluster.engine(leader).term();
        cluster.restart_empty(follower, true);
        let epoch = cluster.engine(follower).hard_state().epoch;
        Loss {
            cluster,
            leader,
            follower,
            entry,
            term,
            epoch,
        }
    }

    /// The follower's life of storage epoch `epoch` answers the leader.
    fn answer(&mut self, result: AppendResult<Id>, vote: Vote, epoch: u64) {
        let input = answer_from(self.follower, self.term, result, (vote, epoch));
        self.cluster.input(self.leader, input);
    }

    /// What a life that holds nothing of the entry answers.
    fn behind(&self) -> AppendResult<Id> {
        AppendResult::Conflict {
            rejected_prev: self.entry,
            hint: Index(1),
            conflict_term: None,
        }
    }

    /// What a life that holds the entry answers.
    fn holds(&self) -> AppendResult<Id> {
        AppendResult::Success {
            match_index: self.entry,
        }
    }

    /// Whether the leader committed the entry.
    fn committed(&self) -> bool {
        self.cluster.engine(self.leader).commit_index() >= self.entry
    }
}

/// A follower acknowledged an entry, then lost its storage; the acknowledgement of its earlier
/// life reaches the leader only after the new life answered. Counting it would commit an entry
/// the leader alone holds, and the new life could then elect a leader without it (simulator,
/// strict mode, seed 9206664). The leader knows the new life by its storage epoch and drops
/// the earlier life's answers.
#[test]
fn a_late_acknowledgement_of_a_lost_life_is_not_counted() {
    let mut loss = Loss::new(21);
    let epoch = loss.epoch;
    assert_ne!(
        epoch, 0,
        "a storage begun after a loss has an epoch of its own"
    );
    // The new life, catching up, answers first (it holds nothing); then the earlier life's
    // acknowledgement of the entry arrives.
    loss.answer(loss.behind(), Vote::Abstained, epoch);
    loss.answer(loss.holds(), Vote::Granted, 0);
    assert!(
        !loss.committed(),
        "the leader counted an acknowledgement of a lost life"
    );
}

/// Two losses in one leader term: a late abstaining answer of the life before the current one
/// must not make the leader adopt that life's epoch again, or its late acknowledgements (it
/// caught up and acknowledged before losing its storage once more) would count.
#[test]
fn a_life_two_losses_back_is_not_adopted_again() {
    let mut loss = Loss::new(22);
    let epoch = loss.epoch;
    let earlier = epoch - 0x5555; // the life between the first loss and this one
    // The earlier life, catching up, then this one, catching up: each has a higher epoch than
    // the one before, and the leader adopts it.
    loss.answer(loss.behind(), Vote::Abstained, earlier);
    loss.answer(loss.behind(), Vote::Abstained, epoch);
    // Late: the earlier life's catch-up answer, then its acknowledgement of the entry.
    loss.answer(loss.behind(), Vote::Abstained, earlier);
    loss.answer(loss.holds(), Vote::Granted, earlier);
    assert!(
        !loss.committed(),
        "the leader counted an acknowledgement of a life two losses back"
    );
}

/// A member catching up after losing its storage ends its catch-up only on what a leader
/// announced to its own storage epoch: an announcement sent before the leader heard from this
/// life may lack commits that counted the earlier life's acknowledgements.
#[test]
fn a_catch_up_counts_only_announcements_to_its_own_epoch() {
    let (mut cluster, leader, follower) = cut_off_after_two_writes(23);
    cluster.restart_empty(follower, true);
    answer_term_queries(&mut cluster, leader, follower);
    let epoch = cluster.engine(follower).hard_state().epoch;
    let commit = cluster.engine(leader).commit_index();
    let (elsewhere, own) = (
        announcement(&cluster, leader, 0, None),
        announcement(&cluster, leader, epoch, None),
    );
    cluster.input(follower, elsewhere);
    assert_eq!(
        cluster.engine(follower).commit_index(),
        commit,
        "the entries are taken"
    );
    assert!(
        cluster.engine(follower).is_catching_up(),
        "an announcement to another epoch ended the catch-up"
    );
    cluster.input(follower, own);
    assert!(!cluster.engine(follower).is_catching_up());
}

/// A follower that ends its catch-up answers `Granted` for entries it already acknowledged
/// while abstaining: the leader commits them at once, not only with its next entry.
#[test]
fn a_caught_up_life_counts_at_once_for_what_it_holds() {
    let mut loss = Loss::new(24);
    let epoch = loss.epoch;
    loss.answer(loss.holds(), Vote::Abstained, epoch);
    assert!(!loss.committed(), "abstained");
    loss.answer(loss.holds(), Vote::Granted, epoch);
    assert!(loss.committed());
}

/// A re-bond starts the follower's progress afresh, and a late abstaining answer of an earlier
/// life (it was catching up itself) may arrive after the current life answered on the new
/// bond: its lower epoch is ignored, or the current life's answers would be for the rest of
/// the term (simulator, strict seed 19034789).
#[test]
fn a_late_answer_of_an_earlier_life_is_ignored_after_a_rebond() {
    let mut loss = Loss::new(25);
    let epoch = loss.epoch;
    let earlier = epoch - 0x77; // a life that was catching up when it was lost
    loss.answer(loss.behind(), Vote::Abstained, earlier);
    // The bond is replaced; the new life answers on the new one, then the earlier life's late
    // answer arrives.
    let (leader, follower) = (loss.leader, loss.follower);
    loss.cluster
        .input(leader, Input::PeerUnbonded { peer: follower });
    let preference = mosaik_raft::LeadershipPreference::Normal;
    let bonded = Input::PeerBonded {
        peer: follower,
        preference,
    };
    loss.cluster.input(leader, bonded);
    loss.answer(loss.behind(), Vote::Abstained, epoch);
    loss.answer(loss.behind(), Vote::Abstained, earlier);
    loss.answer(loss.holds(), Vote::Granted, epoch);
    assert!(
        loss.committed(),
        "the current life's acknowledgement was ignored"
    );
}

/// A follower lost its storage and caught up under another leader (the other side of a
/// partition); back with this leader it answers as a voter at once, with a higher epoch than
/// the life this leader counted: it is counted (dynamic seed 20014897 left it unrepaired for
/// good when only an abstaining answer could introduce a new life).
#[test]
fn a_new_life_caught_up_elsewhere_is_counted() {
    let mut loss = Loss::new(26);
    let progress = loss.cluster.engine(loss.leader).progress().expect("leads");
    assert_eq!(
        progress[&loss.follower].epoch,
        Some(0),
        "the first life's storage epoch"
    );
    let epoch = loss.epoch;
    assert!(epoch > 0);
    loss.answer(loss.holds(), Vote::Granted, epoch);
    assert!(loss.committed());
}

/// Dynamic mode: a member catching up after losing its storage ends its catch-up only on a
/// leader whose commit was acknowledged by at least half the voter members (rounded up; here
/// 2 of 3: a commit weighing 2, the leader's voter count, both of which acknowledged it).
/// A leader alone, one restarted from an older disk while the other holder is down, may lack
/// what a majority stored (simulator, dynamic seed 54043098).
#[test]
fn a_catch_up_waits_for_a_leader_that_committed_with_half_the_voters() {
    assert_eq!(lightest_weight_caught_up_from(3), 2);
}

/// Dynamic mode: a member that lost its storage also waits until `⌈n/2⌉` of the other voters
/// told it their round, here both others of 3, whatever the leader's commit weighs. Its
/// earlier life may have helped a newer round commit an entry; a deposed leader whose bonds
/// are stale does not know that round, and catching up from it alone lent it the majority
/// that replaced that entry (simulator, dynamic seed 82030310). Any `⌈n/2⌉` others include a
/// holder of a majority's write, whose round then fences the stale leader off.
#[test]
fn a_dynamic_catch_up_waits_for_half_the_voters_rounds() {
    let (mut cluster, leader, follower) = cut_off_after_two_writes(27);
    cluster.restart_empty(follower, true);
    let epoch = cluster.engine(follower).hard_state().epoch;
    let full = announcement(&cluster, leader, epoch, Some(3));
    cluster.input(follower, full.clone());
    assert!(
        cluster.engine(follower).is_catching_up(),
        "caught up before any voter told its round"
    );
    let third = *(cluster.ids().iter())
        .find(|id| **id != leader && **id != follower)
        .expect("a third member");
    cluster.input(follower, term_answer(&cluster, leader, follower, leader));
    cluster.input(follower, full.clone());
    assert!(
        cluster.engine(follower).is_catching_up(),
        "caught up with one round of the two needed"
    );
    cluster.input(follower, term_answer(&cluster, leader, follower, third));
    cluster.input(follower, full);
    assert!(!cluster.engine(follower).is_catching_up());
}

/// As above with 5 and 7 members: a commit weighing `w` was acknowledged by `⌊w/2⌋ + 1`, which
/// must reach half the members (rounded up), so 4 of 5 and 6 of 7 (a weight of 3 in a group of
/// 5 is two acknowledgements, which can miss both other copies of a majority's write).
#[test]
fn a_catch_up_needs_four_of_five_and_six_of_seven() {
    assert_eq!(lightest_weight_caught_up_from(5), 4);
    assert_eq!(lightest_weight_caught_up_from(7), 6);
}

/// In a dynamic group of `n` that committed two writes, a follower restarted empty is sent the
/// leader's whole log with its commit announced at weights 1, 2, ... (the leader's real rank
/// otherwise): the first weight that ends its catch-up.
fn lightest_weight_caught_up_from(n: u64) -> u64 {
    let (mut cluster, leader, follower) = members_cut_off_after_two_writes(n, 25);
    cluster.restart_empty(follower, true);
    answer_term_queries(&mut cluster, leader, follower);
    let epoch = cluster.engine(follower).hard_state().epoch;
    let commit = cluster.engine(leader).commit_index();
    for weight in 1..=n {
        let announce = announcement(&cluster, leader, epoch, Some(weight));
        cluster.input(follower, announce);
        assert_eq!(cluster.engine(follower).commit_index(), commit);
        if !cluster.engine(follower).is_catching_up() {
            return weight;
        }
    }
    panic!("no weight up to {n} ended the catch-up");
}

/// Dynamic mode: a commit's weight is the size of the leader's voter set when it was made, and
/// a member catching up needs one heavy enough for the voters it knows. When another member
/// finishes its catch-up in an idle group, the voter set grows but the latest commit keeps its
/// weight: once a quorum of the grown set holds that commit, the leader records it with the
/// set's size, so the member still catching up does not wait for the next write (simulator,
/// dynamic seed 60000006 with reckless restarts: it waited for good).
#[test]
fn an_idle_leader_reweighs_its_commit_when_its_voter_set_grows_during_a_catch_up() {
    use mosaik_raft::LeadershipPreference::{Normal, Observer};
    let mut cluster = Cluster::new(3, &fast_config(), 31);
    let leader = cluster.wait_for_leader();
    assert_eq!(cluster.write_through_leader(&[1]), vec![1]);
    let ids = cluster.ids();
    let followers: Vec<Id> = ids.into_iter().filter(|id| *id != leader).collect();
    let (first, second) = (followers[0], followers[1]);
    let advertise = |cluster: &mut Cluster, to: Id, peer: Id, preference| {
        cluster.input(to, Input::PeerBonded { peer, preference });
    };
    // Both followers lose their storage, the second cut off for now; the leader learns that
    // both are observers, the first that the second is one.
    cluster.isolate(second, false);
    for id in [first, second] {
        cluster.restart_empty(id, true);
    }
    for (to, peer) in [(leader, first), (leader, second), (first, second)] {
        advertise(&mut cluster, to, peer, Observer);
    }
    // The leader commits alone (weight 1); the first member knows one other voter and catches
    // up from that commit.
    assert_eq!(cluster.write_through_leader(&[2]), vec![2]);
    assert!(
        cluster.run_until(Duration::from_secs(2), |c| !c
            .engine(first)
            .is_catching_up()),
        "the first member did not catch up from a weight-1 commit among two voters"
    );
    assert_eq!(cluster.engine(leader).committed_rank().weight, 1);
    // The second comes back knowing two voters (the first a voter again), so it needs a commit
    // of weight 2; no more writes come.
    advertise(&mut cluster, leader, first, Normal);
    cluster.heal();
    let before = cluster.engine(leader).last_log().index;
    let ok = cluster.run_until(Duration::from_secs(2), |c| {
        !c.engine(second).is_catching_up()
    });
    assert!(ok, "the second member waited for a write that never came");
    let engine = cluster.engine(leader);
    assert_eq!(engine.last_log().index, before, "no entry appended");
    assert_eq!(engine.committed_rank().weight, 2);
}
