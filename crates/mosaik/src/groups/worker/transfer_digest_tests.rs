//! Unit tests of [`Transfer`]'s content digests (issue 16, bug 8): holders
//! whose offers name another content are never mixed in, an assembled
//! snapshot that does not match the leader's digest is never handed out
//! (holders offer without digests, and only the leader is asked for its),
//! and the transfer recovers from an honest holder.
// Peers are `l` (the leader), `a`, `b` and `c` throughout.
#![allow(clippy::many_single_char_names)]

#[path = "transfer_digest_harness.rs"]
mod harness;

use {super::*, core::ops::Range, harness::*};

#[test]
fn holders_of_one_anchor_with_other_content_are_never_mixed() {
    let (l, a, b, c) = (peer(), peer(), peer(), peer());
    let (ours, theirs) = snapshots();
    // `b` (and later `c`) offers the leader's anchor with other content
    // and would serve it: stitched in, it would corrupt the snapshot.
    let offers = BTreeMap::from([
        (l, vec![ours]),
        (a, vec![ours]),
        (b, vec![theirs]),
        (c, vec![theirs]),
    ]);
    let answer = |p: PeerId, range: &Range<u64>| {
        if p == b || p == c {
            forged(range)
        } else {
            honest(range)
        }
    };
    let installed = Installed::default();
    let (mut t, asks) = Transfer::start(Index(50), l, settings(), [l, a, b]);
    let mut sends = Vec::new();
    for (p, _) in asks {
        let (more, _) = t.offer(p, offers[&p].clone(), store(&installed));
        sends.extend(more);
    }
    assert_eq!(t.anchor(), Some(ours.anchor));
    // `c` bonds after the choice: asked whether it holds the snapshot, it
    // offers the anchor with other content and is not taken as a source.
    sends.extend(t.bonded(c));
    let run = drive(
        &mut t,
        sends,
        (&offers, Queries::Digested),
        answer,
        &installed,
    );
    assert_eq!(run.done, ours.digest, "the leader's content");
    assert_eq!(run.mismatches, 0);
    assert_eq!(
        peers_fetched(&run),
        BTreeSet::from([a]),
        "holders of one digest, and the leader spared while one serves"
    );
    assert_eq!(*installed.0.lock().unwrap(), [honest(&(0..ITEMS))]);

    // More holders of the other content do not win: only the leader's
    // digest is fetched, from the leader alone.
    let offers = BTreeMap::from([(l, vec![ours]), (a, vec![theirs]), (b, vec![theirs])]);
    let (mut t, sends) = Transfer::start(Index(50), l, settings(), [l, a, b]);
    let run = drive(
        &mut t,
        sends,
        (&offers, Queries::Digested),
        answer,
        &installed,
    );
    assert_eq!(run.done, ours.digest);
    assert_eq!(peers_fetched(&run), BTreeSet::from([l]));
    assert!(
        run.digest_asks.is_empty(),
        "the leader's digest was offered"
    );
}

/// Holders offer without digests: one with other content is a source at
/// first, the leader's digest refuses the stitched result, and an honest
/// holder completes it. Only the leader is asked for its digest.
#[test]
fn undigested_offers_are_checked_against_the_leaders_digest() {
    let (l, a, b) = (peer(), peer(), peer());
    let (ours, theirs) = snapshots();
    let offers = BTreeMap::from([(l, vec![ours]), (a, vec![ours]), (b, vec![theirs])]);
    let answer = |p: PeerId, range: &Range<u64>| {
        if p == b { forged(range) } else { honest(range) }
    };
    let installed = Installed::default();
    let (mut t, sends) = Transfer::start(Index(50), l, settings(), [l, a, b]);
    let run = drive(
        &mut t,
        sends,
        (&offers, Queries::Undigested),
        answer,
        &installed,
    );
    assert_eq!(run.done, ours.digest, "the leader's content");
    assert!(run.mismatches >= 1, "b's ranges were in the first attempt");
    assert!(
        run.digest_asks.iter().all(|p| *p == l),
        "{:?}",
        run.digest_asks
    );
    assert!(!run.digest_asks.is_empty());
    assert_eq!(*installed.0.lock().unwrap(), [honest(&(0..ITEMS))]);
}

#[test]
fn an_altered_chunk_fails_the_check_and_an_honest_holder_completes() {
    let (l, a, b) = (peer(), peer(), peer());
    let (ours, _) = snapshots();
    // Everyone offers the same snapshot; `a` alters what it serves.
    let offers = BTreeMap::from([(l, vec![ours]), (a, vec![ours]), (b, vec![ours])]);
    let answer = |p: PeerId, range: &Range<u64>| {
        if p == a { forged(range) } else { honest(range) }
    };
    let installed = Installed::default();
    let (mut t, sends) = Transfer::start(Index(50), l, settings(), [l, a, b]);
    let run = drive(
        &mut t,
        sends,
        (&offers, Queries::Undigested),
        answer,
        &installed,
    );
    assert!(run.mismatches >= 1, "the stitched snapshot was refused");
    assert_eq!(run.done, ours.digest, "then fetched again");
    // Only the honest content was ever installed.
    assert_eq!(*installed.0.lock().unwrap(), [honest(&(0..ITEMS))]);
    // The first attempt used several sources; after the last mismatch the
    // snapshot came from one honest holder, and `a` got no request.
    let before: BTreeSet<PeerId> = run
        .fetches
        .iter()
        .filter(|(_, m)| *m == 0)
        .map(|(p, _)| *p)
        .collect();
    assert!(before.len() >= 2 && before.contains(&a));
    let last: BTreeSet<PeerId> = run
        .fetches
        .iter()
        .filter(|(_, m)| *m == run.mismatches)
        .map(|(p, _)| *p)
        .collect();
    assert_eq!(last.len(), 1, "one source after a mismatch: {last:?}");
    assert!(
        !last.contains(&a),
        "the forger served the accepted snapshot"
    );
    // At most one single-source round went to `a` (which banned it).
    assert!(run.mismatches <= 2, "{} mismatches", run.mismatches);
}

#[test]
fn a_lone_source_that_mismatches_is_banned() {
    let (l, a) = (peer(), peer());
    let (ours, _) = snapshots();
    let offers = BTreeMap::from([(l, vec![ours]), (a, vec![ours])]);
    let answer = |p: PeerId, range: &Range<u64>| {
        if p == a { forged(range) } else { honest(range) }
    };
    let installed = Installed::default();
    let (mut t, sends) = Transfer::start(Index(50), l, settings(), [l, a]);
    let run = drive(
        &mut t,
        sends,
        (&offers, Queries::Undigested),
        answer,
        &installed,
    );
    // Round 1: the follower alone (the leader serves only when no other
    // holder is left); its whole snapshot mismatches and it is banned.
    // Round 2: the leader alone.
    let round = |n: u64| -> Vec<PeerId> {
        let fetches = run.fetches.iter().filter(|(_, m)| *m == n);
        fetches.map(|(p, _)| *p).collect()
    };
    assert_eq!(run.mismatches, 1);
    assert!(!round(0).is_empty() && round(0).iter().all(|p| *p == a));
    assert!(!round(1).is_empty() && round(1).iter().all(|p| *p == l));
    assert_eq!(run.done, ours.digest);
    assert_eq!(*installed.0.lock().unwrap(), [honest(&(0..ITEMS))]);
}

#[test]
fn honest_holders_share_the_work_and_pass_the_check() {
    let (l, a, b) = (peer(), peer(), peer());
    let (ours, _) = snapshots();
    let offers = BTreeMap::from([(l, vec![ours]), (a, vec![ours]), (b, vec![ours])]);
    let installed = Installed::default();
    let (mut t, sends) = Transfer::start(Index(50), l, settings(), [l, a, b]);
    let run = drive(
        &mut t,
        sends,
        (&offers, Queries::Undigested),
        |_, r| honest(r),
        &installed,
    );
    assert_eq!(run.done, ours.digest);
    assert_eq!(run.mismatches, 0);
    assert!(peers_fetched(&run).len() >= 2, "several sources");
    assert_eq!(run.digest_asks, [l], "one digest, the leader's");
    assert_eq!(*installed.0.lock().unwrap(), [honest(&(0..ITEMS))]);
}

/// A holder that did not offer the snapshot at first (a late bond, or one
/// that had not taken it yet) joins the running fetch once it does,
/// unless its offer names another digest than the leader's.
#[test]
fn a_holder_offering_later_joins_the_fetch() {
    let (l, a) = (peer(), peer());
    let (ours, theirs) = snapshots();
    let installed = Installed::default();
    let (mut t, _) = Transfer::start(Index(50), l, settings(), [l, a]);
    let _ = t.offer(a, Vec::new(), store(&installed));
    let (sends, _) = t.offer(l, vec![ours], store(&installed));
    assert!(sends.iter().all(|(p, _)| *p == l), "the leader alone");
    // Another content under the anchor is no reason to join.
    let (sends, _) = t.offer(a, vec![theirs], store(&installed));
    assert!(sends.is_empty());
    let (sends, _) = t.offer(a, vec![undigested(ours)], store(&installed));
    assert!(
        sends
            .iter()
            .any(|(p, m)| *p == a && matches!(m, SyncMessage::Fetch { .. })),
        "a fetches too"
    );
    // Offering twice does not hand out a second range at once.
    let (sends, _) = t.offer(a, vec![undigested(ours)], store(&installed));
    assert!(sends.is_empty());
}

/// Every item can arrive before the leader's digest: nothing is handed
/// out until it does, and then the check runs.
#[test]
fn a_complete_fetch_waits_for_the_leaders_digest() {
    let (l, a) = (peer(), peer());
    let (ours, _) = snapshots();
    let installed = Installed::default();
    let (mut t, _) = Transfer::start(Index(50), l, settings(), [l, a]);
    let _ = t.offer(a, vec![undigested(ours)], store(&installed));
    let (mut queue, _) = t.offer(l, vec![undigested(ours)], store(&installed));
    assert!(
        queue.iter().any(|(p, m)| *p == l
            && matches!(m, SyncMessage::Digest { anchor } if *anchor == ours.anchor)),
        "the leader is asked for its digest"
    );
    let mut done = None;
    while let Some((p, msg)) = queue.pop() {
        if let SyncMessage::Fetch { anchor, range } = msg {
            let (more, progress) = t.data(p, anchor, range.start, &honest(&range));
            assert!(matches!(progress, Progress::Running), "no digest yet");
            queue.extend(more);
        }
    }
    assert!(installed.0.lock().unwrap().is_empty());
    // A follower's digest does not count, the leader's does.
    let (_, progress) = t.offer(a, vec![ours], store(&installed));
    assert!(matches!(progress, Progress::Running));
    let (_, progress) = t.offer(l, vec![ours], store(&installed));
    if let Progress::Done { digest, .. } = progress {
        done = Some(digest);
    }
    assert_eq!(done, ours.digest);
}

/// The leader no longer holding the snapshot (or unable to digest it)
/// answers a digest request without it: the transfer asks everyone again.
#[test]
fn a_leader_without_the_snapshot_starts_a_new_round() {
    let (l, a) = (peer(), peer());
    let (ours, _) = snapshots();
    let installed = Installed::default();
    let (mut t, _) = Transfer::start(Index(50), l, settings(), [l, a]);
    let _ = t.offer(a, vec![undigested(ours)], store(&installed));
    let _ = t.offer(l, vec![undigested(ours)], store(&installed));
    assert_eq!(t.anchor(), Some(ours.anchor));
    let (sends, _) = t.offer(l, Vec::new(), store(&installed));
    assert!(t.anchor().is_none(), "asking again");
    let asked: BTreeSet<PeerId> = sends
        .iter()
        .filter(|(_, m)| matches!(m, SyncMessage::Query { .. }))
        .map(|(p, _)| *p)
        .collect();
    assert_eq!(asked, BTreeSet::from([l, a]));
}

/// A new leader is asked for its digest; a lost request is sent again
/// after `snapshot_request_timeout`.
#[test]
fn the_digest_request_follows_the_leader_and_is_retried() {
    let (l, a, m) = (peer(), peer(), peer());
    let (ours, _) = snapshots();
    let installed = Installed::default();
    let settings = TransferSettings {
        snapshot_request_timeout: Duration::ZERO,
        ..settings()
    };
    let (mut t, _) = Transfer::start(Index(50), l, settings, [l, a]);
    let _ = t.offer(a, vec![undigested(ours)], store(&installed));
    let _ = t.offer(l, vec![undigested(ours)], store(&installed));
    let asks = |sends: &Sends| -> Vec<PeerId> {
        sends
            .iter()
            .filter(|(_, msg)| matches!(msg, SyncMessage::Digest { .. }))
            .map(|(p, _)| *p)
            .collect()
    };
    assert_eq!(asks(&t.set_leader(m)), [m]);
    assert!(t.set_leader(m).is_empty(), "unchanged: not asked twice");
    let (sends, _) = t.tick([l, a, m], || None);
    assert_eq!(asks(&sends), [m], "asked again");
}
