//! Shared test harness: a fake LangSmith upstream, a test CA, the proxy started in-process
//! through `serve(...)`, and small client helpers. Every socket is on 127.0.0.1:0.
#![allow(dead_code, unused_imports)] // each test binary uses a different part of the harness

pub mod binary;
pub mod client;
pub mod keys;
pub mod langsmith;
pub mod logs;
pub mod proxy;
pub mod streaming;
pub mod tls;
pub mod upstream;

pub use binary::*;
pub use client::*;
pub use keys::*;
pub use langsmith::*;
pub use logs::*;
pub use proxy::*;
pub use streaming::*;
pub use tls::*;
pub use upstream::*;

/// A personal access token shaped like a real one; tests assert it never leaks.
pub const TEST_KEY: &str = "lsv2_pt_00000000000000000000000000000000abcdef12_1234567890";
pub const TEST_KEY_HINT: &str = "lsv2_pt_…7890";
