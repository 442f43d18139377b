//! Random operation sequences against an in-memory model, reopening after
//! syncs: replay (checkpoints, reclaimed segments, the prune/reset rules)
//! must always give back exactly the model.

mod common;

use {
    common::{TestDir, open_small, segments},
    mosaik_wal::Wal,
};

/// xorshift64*: deterministic and dependency-free.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) % n.max(1)
    }
}

#[derive(Default, Clone)]
struct Model {
    base: u64,
    base_meta: Vec<u8>,
    entries: Vec<Vec<u8>>,
    hard_state: Option<Vec<u8>>,
    snapshot: Option<u64>,
}

impl Model {
    fn last(&self) -> u64 {
        self.base + self.entries.len() as u64
    }
}

fn check(wal: &Wal, model: &Model) {
    assert_eq!(wal.base(), (model.base, model.base_meta.as_slice()));
    assert_eq!(wal.last_index(), model.last());
    assert_eq!(wal.hard_state(), model.hard_state.as_deref());
    assert_eq!(wal.snapshot().map(|s| s.index), model.snapshot);
    let got: Vec<Vec<u8>> = wal
        .entries(..)
        .unwrap()
        .into_iter()
        .map(|(_, e)| e)
        .collect();
    assert!(got == model.entries, "entries differ");
}

#[test]
fn random_operations_survive_reopen() {
    let mut reclaimed = 0;
    for seed in 1..=12u64 {
        let dir = TestDir::new("model");
        let mut rng = Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15));
        let (mut wal, _) = open_small(dir.path(), 600);
        let mut model = Model::default();
        for step in 0..400u64 {
            match rng.below(100) {
                0..=44 => {
                    let batch: Vec<Vec<u8>> = (0..=rng.below(4))
                        .map(|i| {
                            vec![
                                u8::try_from((step + i) % 256).unwrap();
                                usize::try_from(rng.below(120)).unwrap()
                            ]
                        })
                        .collect();
                    wal.append(model.last() + 1, &batch).unwrap();
                    model.entries.extend(batch);
                }
                45..=54 if model.last() > model.base => {
                    let from = model.base + 1 + rng.below(model.last() - model.base);
                    wal.truncate_from(from).unwrap();
                    model
                        .entries
                        .truncate(usize::try_from(from - model.base - 1).unwrap());
                }
                55..=62 => {
                    let state = step.to_le_bytes().to_vec();
                    wal.set_hard_state(&state).unwrap();
                    model.hard_state = Some(state);
                }
                63..=67 => {
                    let at = model.base + rng.below(model.last() - model.base + 1);
                    wal.save_snapshot(at, b"m", &at.to_le_bytes()).unwrap();
                    model.snapshot = Some(at);
                }
                68..=75 => {
                    if let Some(snap) = model
                        .snapshot
                        .filter(|&s| s > model.base && s <= model.last())
                    {
                        let at = model.base + 1 + rng.below(snap - model.base);
                        let meta = format!("p{at}").into_bytes();
                        wal.prune_to(at, &meta).unwrap();
                        model
                            .entries
                            .drain(..usize::try_from(at - model.base).unwrap());
                        (model.base, model.base_meta) = (at, meta);
                    }
                }
                76..=78 => {
                    if let Some(snap) = model.snapshot {
                        let meta = format!("r{snap}").into_bytes();
                        wal.reset_to(snap, &meta).unwrap();
                        model.entries.clear();
                        (model.base, model.base_meta) = (snap, meta);
                    }
                }
                79..=92 => wal.sync().unwrap(),
                93..=99 => {
                    wal.sync().unwrap();
                    drop(wal);
                    let (reopened, rec) = open_small(dir.path(), 600);
                    assert_eq!(rec.torn_tail, None, "seed {seed} step {step}");
                    wal = reopened;
                }
                _ => {}
            }
            check(&wal, &model);
        }
        wal.sync().unwrap();
        drop(wal);
        let (wal, _) = open_small(dir.path(), 600);
        check(&wal, &model);
        reclaimed += u32::from(!segments(dir.path())[0].ends_with("wal-00000000000000000001.log"));
    }
    // Replays that start after deleted segments (checkpoint + hole) were exercised.
    assert!(reclaimed > 0);
}
