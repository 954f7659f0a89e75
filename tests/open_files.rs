//! The soft open-file limit is raised to the hard one at start, and a limit still too small
//! for `limits.max_connections` is named in a warning. One test in its own binary: it changes
//! the limit of the whole process.
#![cfg(unix)]

mod support;

use langsmith_proxy::open_files::{self, OpenFiles};
use rustix::process::{getrlimit, setrlimit, Resource, Rlimit};
use support::CapturedLogs;

#[test]
fn the_soft_limit_is_raised_and_a_short_one_named() {
    let logs = CapturedLogs::global();
    let hard = getrlimit(Resource::Nofile).maximum;
    let low = 256;
    setrlimit(
        Resource::Nofile,
        Rlimit {
            current: Some(low),
            maximum: hard,
        },
    )
    .expect("lowering the soft limit is always allowed");

    let raised = open_files::raise();

    assert_eq!(raised.was, Some(low));
    let now = getrlimit(Resource::Nofile).current;
    assert_eq!(raised.now, now);
    assert!(now.is_some_and(|now| now > low), "{raised:?}");
    assert!(hard.is_none() || now == hard, "{raised:?} with the hard limit {hard:?}");

    // 1,000 connections do not fit in 256 descriptors; 50 do.
    OpenFiles {
        was: Some(low),
        now: Some(low),
    }
    .report(50);
    assert!(!logs.text().contains("limits.max_connections"));
    OpenFiles {
        was: Some(low),
        now: Some(low),
    }
    .report(1000);
    let text = logs.text();
    assert!(
        text.contains("limits.max_connections = 1000 may need 2064 open files"),
        "{text}"
    );
    assert!(text.contains("LimitNOFILE"), "{text}");
}
