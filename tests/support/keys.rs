//! Keys for rotation tests: numbered, shaped like real ones, and what the upstream received.

use super::FakeUpstream;

/// A personal access token shaped like a real one, different for every `n`.
pub fn numbered_key(n: usize) -> String {
    format!("lsv2_pt_{n:032}_{n:010}")
}

impl FakeUpstream {
    /// The `x-api-key` of every request so far, in order; `""` where none was sent.
    pub fn keys_seen(&self) -> Vec<String> {
        self.requests()
            .iter()
            .map(|r| r.header("x-api-key").unwrap_or("").to_owned())
            .collect()
    }
}
