//! What the demo prints: a live terminal view redrawn in place, or plain
//! lines for scripts and CI.

use {
    core::time::Duration,
    std::{collections::VecDeque, fmt::Write as _, io::Write},
};

/// Events kept on screen in the live view.
const LIVE_EVENTS: usize = 10;

/// Plain mode prints a status line at most this often.
const PLAIN_STATUS_EVERY: Duration = Duration::from_secs(2);

/// One member's line in the status table.
pub struct Row {
    /// Short peer id.
    pub id: String,
    /// Peers in its catalog.
    pub peers: usize,
    /// Stream items per second received over the last tick.
    pub rate: f64,
    /// Keys in its store replica.
    pub keys: u64,
    /// Committed index applied locally.
    pub committed: u64,
    /// Writes it had acknowledged.
    pub acked: usize,
    /// `leader`, `follower`, `producer`, ... as shown.
    pub role: String,
}

/// A status snapshot of the whole cluster.
pub struct Frame {
    /// Time since the demo started.
    pub elapsed: Duration,
    /// What the demo is doing now.
    pub phase: &'static str,
    /// The live members.
    pub rows: Vec<Row>,
}

/// The output mode.
pub enum View {
    /// Line-oriented output.
    Plain {
        /// When the last status line was printed.
        last: Option<Duration>,
    },
    /// A screen redrawn in place (ANSI).
    Live {
        /// The most recent events.
        events: VecDeque<String>,
    },
}

impl View {
    /// A view: plain or live.
    pub fn new(plain: bool) -> Self {
        if plain {
            Self::Plain { last: None }
        } else {
            Self::Live {
                events: VecDeque::with_capacity(LIVE_EVENTS + 1),
            }
        }
    }

    /// Reports something that happened.
    pub fn event(&mut self, elapsed: Duration, message: &str) {
        let line = format!("[{:>5.1}s] {message}", elapsed.as_secs_f64());
        match self {
            Self::Plain { .. } => println!("{line}"),
            Self::Live { events } => {
                events.push_back(line);
                // Bounded: the oldest event scrolls off.
                if events.len() > LIVE_EVENTS {
                    events.pop_front();
                }
            }
        }
    }

    /// Shows the cluster's current state.
    pub fn frame(&mut self, frame: &Frame) {
        match self {
            Self::Plain { last } => {
                if last.is_some_and(|t| frame.elapsed < t + PLAIN_STATUS_EVERY) {
                    return;
                }
                *last = Some(frame.elapsed);
                let members: Vec<String> = frame
                    .rows
                    .iter()
                    .map(|r| {
                        format!(
                            "{}({}) peers={} keys={} rate={:.0}/s",
                            r.id, r.role, r.peers, r.keys, r.rate
                        )
                    })
                    .collect();
                println!(
                    "[{:>5.1}s] status: {}: {}",
                    frame.elapsed.as_secs_f64(),
                    frame.phase,
                    members.join(", ")
                );
            }
            Self::Live { events } => {
                let mut out = String::new();
                // Home the cursor and clear the screen, then draw.
                out.push_str("\x1b[H\x1b[2J");
                // Writing to a String cannot fail.
                let _ = writeln!(
                    out,
                    "\x1b[1mmosaik demo\x1b[0m  {:>5.1}s  {}\n",
                    frame.elapsed.as_secs_f64(),
                    frame.phase
                );
                let _ = writeln!(
                    out,
                    "{:<12} {:<18} {:>5} {:>10} {:>6} {:>9} {:>6}",
                    "member", "role", "peers", "stream/s", "keys", "committed", "acked"
                );
                for r in &frame.rows {
                    let _ = writeln!(
                        out,
                        "{:<12} {:<18} {:>5} {:>10.0} {:>6} {:>9} {:>6}",
                        r.id, r.role, r.peers, r.rate, r.keys, r.committed, r.acked
                    );
                }
                out.push('\n');
                for line in events.iter() {
                    out.push_str(line);
                    out.push('\n');
                }
                let mut stdout = std::io::stdout().lock();
                let _ = stdout.write_all(out.as_bytes());
                let _ = stdout.flush();
            }
        }
    }

    /// Leaves the live view: prints its events so they stay readable.
    pub fn finish(&mut self) {
        if let Self::Live { events } = self {
            println!();
            events.clear();
        }
    }
}
