//! Multi-process crash test (`cargo test -p mosaik --test restart`).
//!
//! In-process tests drop a `Network` to "kill" a member; here every member
//! is a real OS process that is killed (SIGKILL) and started again with the same
//! key and address, like a crashed server coming back. Acknowledged writes
//! must survive that on every replica (SPEC: `execute` returning `Ok` means
//! committed), in dynamic mode and in strict mode.
//!
//! `harness = false`: this binary is both the test and its members.
//! `<exe> member ...` runs one member (`member.rs`); anything else runs the
//! scenarios, which start members by re-executing this binary. The process
//! harness (members, their control, the checks) lives in `tests/common_proc`,
//! shared with the `durability` test. Positional
//! arguments filter scenarios by name like libtest (`restart::dynamic`,
//! `restart::strict`; durable members are the `durability` test's); flags such
//! as `--nocapture` are ignored.

// The process harness is shared with `tests/durability` (`tests/common_proc`);
// some of it only that test uses.
#[allow(dead_code)]
#[path = "../common_proc/check.rs"]
mod check;
#[allow(dead_code)]
#[path = "../common_proc/cluster.rs"]
mod cluster;
#[allow(dead_code)]
#[path = "../common_proc/member.rs"]
mod member;
#[allow(dead_code)]
#[path = "../common_proc/protocol.rs"]
mod protocol;
mod scenario;
#[allow(dead_code)]
#[path = "../common_proc/wait.rs"]
mod wait;

use cluster::Mode;

fn main() {
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
    let modes: Vec<Mode> = [Mode::Dynamic, Mode::Strict]
        .into_iter()
        .filter(|m| filters.is_empty() || filters.iter().any(|f| m.name().contains(f.as_str())))
        .collect();

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let mut failed = Vec::new();
    for mode in modes {
        println!("{}: running", mode.name());
        match runtime.block_on(scenario::run(mode)) {
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
        eprintln!("restart: failed scenarios: {}", failed.join(", "));
        std::process::exit(1);
    }
    println!("restart: ok");
}
