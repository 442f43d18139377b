//! The `main` of every multi-process test binary (`harness = false`): the
//! binary is both the test and its members. `<exe> member ...` runs one
//! member; anything else runs the scenarios whose name contains a positional
//! argument (all of them without one, like libtest; flags such as
//! `--nocapture` are ignored), and exits with 1 if any failed.

use {
    crate::{check::Outcome, cluster::Mode, member},
    std::future::Future,
};

/// Runs this process as a member or as the test `binary` over `modes`.
pub fn main<F, Fut>(binary: &str, modes: &[Mode], scenario: F)
where
    F: Fn(Mode) -> Fut,
    Fut: Future<Output = anyhow::Result<Outcome>>,
{
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("member") {
        // clap sees `member` as the program name.
        member::run(&args[1..]);
        return;
    }
    let filters: Vec<&String> = args
        .iter()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let mut failed = Vec::new();
    for &mode in modes {
        if !(filters.is_empty() || filters.iter().any(|f| mode.name().contains(f.as_str()))) {
            println!("{}: filtered out", mode.name());
            continue;
        }
        println!("{}: running", mode.name());
        match runtime.block_on(scenario(mode)) {
            Ok(outcome) => {
                println!("{}", outcome.summary);
                for failure in &outcome.failures {
                    eprintln!("{}: FAILED: {failure}", mode.name());
                }
                if !outcome.failures.is_empty() {
                    failed.push(mode.name());
                }
            }
            Err(err) => {
                eprintln!("{}: FAILED: {err:#}", mode.name());
                failed.push(mode.name());
            }
        }
    }
    if !failed.is_empty() {
        eprintln!("{binary}: failed scenarios: {}", failed.join(", "));
        std::process::exit(1);
    }
    println!("{binary}: ok");
}
