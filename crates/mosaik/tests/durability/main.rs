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
//! error naming the file and offset (`scenario.rs`). A `collections::Map`
//! kept with `CollectionConfig::with_storage` must survive SIGKILL of every
//! member at once (`map.rs`, `durability::map`).
//!
//! `harness = false`: this binary is both the test and its members
//! (`<exe> member ...`), whose harness is shared with `tests/restart`
//! (`tests/common_proc`). Flags such as `--nocapture` are ignored; a
//! positional filter selects scenarios by name (`durability::strict`,
//! `durability::map`).

// Shared with `tests/restart`; some of it only that test uses.
#[allow(dead_code)]
#[path = "../common_proc/check.rs"]
mod check;
#[allow(dead_code)]
#[path = "../common_proc/cluster.rs"]
mod cluster;
mod map;
#[path = "../common_proc/map_member.rs"]
mod map_member;
#[allow(dead_code)]
#[path = "../common_proc/member.rs"]
mod member;
#[allow(dead_code)]
#[path = "../common_proc/protocol.rs"]
mod protocol;
#[path = "../common_proc/runner.rs"]
mod runner;
mod scenario;
#[allow(dead_code)]
#[path = "../common_proc/wait.rs"]
mod wait;

use cluster::Mode;

fn main() {
    runner::main(
        "durability",
        &[Mode::DurableStrict, Mode::DurableMap],
        |mode| async move {
            match mode {
                Mode::DurableMap => map::run(mode).await,
                _ => scenario::run(mode).await,
            }
        },
    );
}
