//! Multi-process kill -9 test of durable groups
//! (`cargo test -p mosaik --test durability`).
//!
//! Like `tests/restart`, every member is a real OS process that is killed
//! (SIGKILL) and started again with the same key and address; here each
//! member also keeps its log, hard state and snapshot in a `DurableStore`
//! in its own directory, and comes back on that directory. The group runs
//! in strict mode (`with_min_quorum(2)`). Acknowledged writes must survive
//! single kills, the loss of every member at once, a wiped directory and a
//! torn WAL tail; a WAL damaged in its middle must stop the member with an
//! error naming the file and offset (`scenario.rs`).
//!
//! `harness = false`: this binary is both the test and its members
//! (`<exe> member ...`), whose harness is shared with `tests/restart`
//! (`tests/common_proc`). Flags such as `--nocapture` are ignored; a
//! positional filter that `durability::strict` does not contain skips it.

// Shared with `tests/restart`; some of it only that test uses.
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

    let mode = Mode::DurableStrict;
    let filtered_out = args
        .iter()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .any(|f| !mode.name().contains(f.as_str()));
    if filtered_out {
        println!("{}: filtered out", mode.name());
        return;
    }

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    println!("{}: running", mode.name());
    match runtime.block_on(scenario::run(mode)) {
        Ok(outcome) => {
            println!("{}", outcome.summary);
            for failure in &outcome.failures {
                eprintln!("{}: FAILED: {failure}", mode.name());
            }
            if !outcome.failures.is_empty() {
                std::process::exit(1);
            }
        }
        Err(err) => {
            eprintln!("{}: FAILED: {err:#}", mode.name());
            std::process::exit(1);
        }
    }
    println!("durability: ok");
}
