//! Writes the seed corpora: each target's valid encodings from
//! `mosaik::__fuzz` into `corpus/<target>/seed-<i>` (run from `fuzz/`:
//! `cargo run --example seeds`). An example, not a bin, because
//! `cargo fuzz build` builds every bin as a fuzz target. Files are only
//! written, never removed, so a corpus grown by fuzzing is kept.

use std::{fs, path::Path};

fn main() -> std::io::Result<()> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus");
    for target in mosaik::__fuzz::targets() {
        let dir = root.join(target.name);
        fs::create_dir_all(&dir)?;
        let seeds = (target.seeds)();
        for (i, seed) in seeds.iter().enumerate() {
            assert!(
                (target.decode)(seed),
                "{}: seed {i} does not decode",
                target.name
            );
            fs::write(dir.join(format!("seed-{i}")), seed)?;
        }
        println!("{}: {} seeds", target.name, seeds.len());
    }
    Ok(())
}
