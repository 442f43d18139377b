//! Tests of one subscriber's queue.

use {super::*, core::time::Duration};

fn payload(n: u32, len: usize) -> Vec<u8> {
    let mut bytes = n.to_le_bytes().repeat(len.div_ceil(4));
    bytes.truncate(len);
    bytes
}

/// The payloads of what a drain took, in order, with runs split back
/// into their frames.
fn payloads(out: &mut Vec<Outgoing>) -> Vec<Vec<u8>> {
    let mut all = Vec::new();
    for item in out.drain(..) {
        match item {
            Outgoing::Frame(bytes) => all.push(bytes.to_vec()),
            Outgoing::Framed(mut frames) => {
                assert!(frames.len() <= RUN_BYTES, "run of {} bytes", frames.len());
                while !frames.is_empty() {
                    let len = u32::from_be_bytes(frames[..4].try_into().unwrap()) as usize;
                    all.push(frames[4..4 + len].to_vec());
                    frames = frames.slice(4 + len..);
                }
            }
        }
    }
    all
}

#[tokio::test]
async fn small_and_large_datums_come_out_framed_in_order() {
    let (tx, mut rx) = queue(1024);
    let sizes = [
        0,
        1,
        64,
        100,
        MAX_COPIED,
        MAX_COPIED + 1,
        64,
        3000,
        20_000,
        5,
    ];
    let mut sent = Vec::new();
    for (n, len) in (0u32..).zip(sizes.iter().cycle().take(200)) {
        let bytes = payload(n, *len);
        let shared = Bytes::from(bytes.clone());
        let encoded = if *len <= MAX_COPIED {
            Encoded::Copy(&bytes)
        } else {
            Encoded::Share(&shared)
        };
        tx.try_push(encoded).unwrap();
        sent.push(bytes);
    }
    let mut out = Vec::new();
    let mut got = Vec::new();
    let mut taken = Taken::default();
    while !rx.is_empty() {
        let t = rx.recv_many(&mut out, 3).await;
        assert!(out.len() <= 3);
        taken.datums += t.datums;
        taken.bytes += t.bytes;
        got.extend(payloads(&mut out));
    }
    assert_eq!(got, sent);
    assert_eq!(taken.datums, sent.len());
    assert_eq!(taken.bytes, sent.iter().map(Vec::len).sum::<usize>());
}

#[test]
fn a_run_holds_at_most_twice_its_frames_or_its_first_allocation() {
    let (tx, _rx) = queue(10_000);
    for n in 0..1000 {
        tx.try_push(Encoded::Copy(&payload(n, 60))).unwrap();
    }
    let state = tx.0.lock();
    assert!(state.items.len() > 1, "runs are cut at RUN_BYTES");
    for item in &state.items {
        let Item::Run { frames, .. } = item else {
            panic!("only small datums were pushed")
        };
        assert!(frames.len() <= RUN_BYTES);
        assert!(frames.capacity() <= (2 * frames.len()).max(RUN_START));
    }
}

#[test]
fn a_full_queue_refuses_until_drained() {
    let (tx, rx) = queue(2);
    let large = Bytes::from(vec![1; MAX_COPIED + 1]);
    tx.try_push(Encoded::Copy(b"a")).unwrap();
    assert!(!tx.is_full());
    tx.try_push(Encoded::Share(&large)).unwrap();
    assert!(tx.is_full());
    assert_eq!(tx.try_push(Encoded::Copy(b"c")), Err(Refused::Full));
    drop(rx);
    assert_eq!(tx.try_push(Encoded::Copy(b"d")), Err(Refused::Closed));
    assert!(!tx.is_full(), "a gone drainer's queue was emptied");
}

#[tokio::test]
async fn a_dropped_filler_ends_the_drain_after_what_is_queued() {
    let (tx, mut rx) = queue(4);
    tx.try_push(Encoded::Copy(b"x")).unwrap();
    drop(tx);
    let mut out = Vec::new();
    assert_eq!(rx.recv_many(&mut out, 64).await.datums, 1);
    assert_eq!(payloads(&mut out), vec![b"x".to_vec()]);
    assert_eq!(rx.recv_many(&mut out, 64).await, Taken::default());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_waiting_drainer_wakes_for_every_push_from_another_thread() {
    let (tx, mut rx) = queue(16);
    let total = 20_000u32;
    let filler = std::thread::spawn(move || {
        let mut sent = 0u32;
        while sent < total {
            // Spin on a full queue: the drainer must keep up by itself.
            if tx.try_push(Encoded::Copy(&sent.to_le_bytes())).is_ok() {
                sent += 1;
            }
        }
    });
    let mut out = Vec::new();
    let mut next = 0u32;
    let drained = tokio::time::timeout(Duration::from_secs(30), async {
        while rx.recv_many(&mut out, 7).await.datums > 0 {
            for bytes in payloads(&mut out) {
                assert_eq!(bytes, next.to_le_bytes());
                next += 1;
            }
        }
    })
    .await;
    filler.join().unwrap();
    assert!(drained.is_ok(), "drainer stalled at {next}");
    assert_eq!(next, total);
}

#[tokio::test(start_paused = true)]
async fn a_cancelled_wait_loses_nothing() {
    let (tx, mut rx) = queue(4);
    let mut out = Vec::new();
    let waited = tokio::time::timeout(Duration::from_secs(1), rx.recv_many(&mut out, 4)).await;
    assert!(waited.is_err(), "nothing was pushed");
    tx.try_push(Encoded::Copy(b"late")).unwrap();
    assert_eq!(rx.recv_many(&mut out, 4).await.datums, 1);
    assert_eq!(payloads(&mut out), vec![b"late".to_vec()]);
}
