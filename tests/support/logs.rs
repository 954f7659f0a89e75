//! Captures every log line (TRACE, JSON) of the test binary, for "the key never appears in a
//! log" assertions. The subscriber is global: a thread-local one misses events that tracing's
//! callsite cache filtered before it was set, which made captures flaky.

use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};

#[derive(Clone, Default)]
pub struct CapturedLogs {
    buffer: Arc<Mutex<Vec<u8>>>,
}

impl CapturedLogs {
    /// The binary-wide capture; installs the global subscriber on first use.
    pub fn global() -> Self {
        static GLOBAL: OnceLock<CapturedLogs> = OnceLock::new();
        GLOBAL
            .get_or_init(|| {
                let logs = Self::default();
                let writer = logs.clone();
                let subscriber = tracing_subscriber::fmt()
                    .json()
                    .with_max_level(tracing::Level::TRACE)
                    .with_writer(move || writer.clone())
                    .finish();
                tracing::subscriber::set_global_default(subscriber).expect("no other global subscriber");
                logs
            })
            .clone()
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.buffer.lock().expect("lock")).into_owned()
    }
}

impl Write for CapturedLogs {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.buffer.lock().expect("lock").extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
