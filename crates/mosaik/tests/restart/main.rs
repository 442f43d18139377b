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
    runner::main("restart", &[Mode::Dynamic, Mode::Strict], scenario::run);
}
