//! The harness of the bounded property tests of every peer-facing decoder
//! (the table of `crate::fuzzing`, which the cargo-fuzz targets in `fuzz/`
//! run too): valid encodings (the seed corpus) mutated many ways — bit
//! flips, boundary bytes, inserted huge varint lengths, truncation, splices
//! — and pure noise must decode or fail, never panic, and never take long
//! (a decoder that trusts a length prefix would allocate or loop on it).
//!
//! Iterations per decoder: `MOSAIK_FUZZ_ITERS` (default 2,000), or keep
//! going for `MOSAIK_FUZZ_SECS` seconds each. This is the bounded smoke of
//! `cargo test`; `scripts/fuzz` runs the coverage-guided targets long.

use {
    crate::fuzzing::Target,
    std::time::{Duration, Instant},
};

/// splitmix64: deterministic, seeded per decoder, no dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn byte(&mut self) -> u8 {
        self.next().to_le_bytes()[0]
    }

    fn below(&mut self, n: usize) -> usize {
        usize::try_from(self.next() % (n.max(1) as u64)).unwrap_or(0)
    }
}

/// One to four random mutations of `seed`.
fn mutate(rng: &mut Rng, seed: &[u8]) -> Vec<u8> {
    let mut bytes = seed.to_vec();
    for _ in 0..=rng.below(4) {
        let at = rng.below(bytes.len() + 1);
        match rng.below(7) {
            0 if !bytes.is_empty() => {
                let i = at.min(bytes.len() - 1);
                bytes[i] ^= 1 << rng.below(8);
            }
            1 if !bytes.is_empty() => {
                let i = at.min(bytes.len() - 1);
                bytes[i] = [0, 1, 0x7F, 0x80, 0xFF][rng.below(5)];
            }
            // A huge varint: a length prefix claiming billions.
            2 => {
                bytes.splice(at..at, [0xFF, 0xFF, 0xFF, 0xFF, 0x0F]);
            }
            3 => bytes.truncate(at),
            4 => {
                let end = (at + rng.below(16)).min(bytes.len());
                bytes.drain(at..end);
            }
            5 => {
                let noise: Vec<u8> = (0..rng.below(16)).map(|_| rng.byte()).collect();
                bytes.splice(at..at, noise);
            }
            _ => {
                let end = (at + rng.below(32)).min(bytes.len());
                let chunk = bytes[at..end].to_vec();
                bytes.splice(at..at, chunk);
            }
        }
    }
    bytes
}

fn budget() -> (usize, Option<Duration>) {
    let env = |k: &str| std::env::var(k).ok().and_then(|v| v.parse::<u64>().ok());
    let secs = env("MOSAIK_FUZZ_SECS").map(Duration::from_secs);
    let iters = env("MOSAIK_FUZZ_ITERS").map_or(2_000, |n| usize::try_from(n).unwrap_or(2_000));
    (iters, secs)
}

/// Feeds mutated seeds and noise to `decode`; each call must return (the
/// harness fails on a panic) within 100 ms.
pub(crate) fn fuzz(name: &str, seeds: &[Vec<u8>], mut decode: impl FnMut(&[u8]) -> bool) {
    let mut rng = Rng(u64::from(blake3::hash(name.as_bytes()).as_bytes()[0]) + 17);
    for seed in seeds {
        assert!(decode(seed), "{name}: a seed does not decode");
    }
    let (iters, secs) = budget();
    let started = Instant::now();
    let mut n = 0usize;
    let mut accepted = 0usize;
    while secs.map_or(n < iters, |s| started.elapsed() < s) {
        let input = if rng.below(10) == 0 {
            (0..rng.below(256)).map(|_| rng.byte()).collect()
        } else {
            let seed = rng.below(seeds.len());
            mutate(&mut rng, &seeds[seed])
        };
        let one = Instant::now();
        accepted += usize::from(decode(&input));
        assert!(
            one.elapsed() < Duration::from_millis(100),
            "{name}: a {} byte input took {:?}",
            input.len(),
            one.elapsed()
        );
        n += 1;
    }
    eprintln!(
        "fuzz {name}: {n} inputs, {accepted} decoded, {:?}",
        started.elapsed()
    );
}

/// Runs [`fuzz`] on every target of a table of `crate::fuzzing`.
pub(crate) fn fuzz_all(targets: &[Target]) {
    for t in targets {
        fuzz(t.name, &(t.seeds)(), t.decode);
    }
}

/// Every target, module by module (one test each, so `scripts/fuzz` can
/// report them apart); discovery's and the bond protocol's tests live with
/// their messages.
#[test]
fn streams_and_tickets_decoders() {
    let all = crate::fuzzing::targets();
    let here: Vec<Target> = all
        .into_iter()
        .filter(|t| {
            !crate::discovery::FUZZ_TARGETS
                .iter()
                .chain(crate::groups::FUZZ_TARGETS)
                .any(|o| o.name == t.name)
        })
        .collect();
    assert!(here.iter().any(|t| t.name == "jwt"));
    fuzz_all(&here);
}
