//! What a `command:` key source started does not outlive the proxy: a read still running when
//! the proxy exits (a reload on the blocking pool, which the runtime's shutdown abandons) is
//! killed with everything its shell started. One test in its own binary: the kill reaches every
//! command of the process.
#![cfg(target_os = "linux")]

use std::time::{Duration, Instant};

use langsmith_proxy::secret::{kill_running_commands, CommandSource};

/// Whether `pid` is still a live process (a zombie waiting for its reaper is not).
fn alive(pid: &str) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
        stat.rsplit(')')
            .next()
            .is_some_and(|rest| !rest.trim_start().starts_with('Z'))
    })
}

#[test]
fn commands_still_running_at_exit_are_killed_with_what_they_started() {
    let dir = tempfile::tempdir().expect("tempdir");
    let pid_file = dir.path().join("pid");
    // A background child, then the shell waits: the read would last 60 s.
    let command = format!(
        "sleep 60 & echo $! > {}.tmp && mv {0}.tmp {0}; wait",
        pid_file.display()
    );
    let source = CommandSource::new(command).with_timeout(Duration::from_secs(60));
    let started = Instant::now();
    let read = std::thread::spawn(move || source.run_blocking());
    let pid = loop {
        if let Ok(pid) = std::fs::read_to_string(&pid_file) {
            break pid.trim().to_owned();
        }
        assert!(started.elapsed() < Duration::from_secs(20), "the command never started");
        std::thread::yield_now();
    };
    assert!(alive(&pid));

    // The group is listed as soon as the shell is spawned, a moment after it may have started
    // work: kill until the read ends.
    while !read.is_finished() {
        kill_running_commands();
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the read waited out its command"
        );
        std::thread::yield_now();
    }
    let outcome = read.join().expect("the read thread");
    assert!(outcome.is_err(), "a killed command yields no key");
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "the read waited out its command"
    );
    let gone_by = Instant::now() + Duration::from_secs(10);
    while alive(&pid) {
        assert!(
            Instant::now() < gone_by,
            "the command's background child outlived the kill"
        );
        std::thread::yield_now();
    }
}
