//! A real SMTP server for the tests (aiosmtpd on 127.0.0.1, tests/support/smtp_sink.py) that
//! writes every accepted message to a directory, started and killed (by its own pid) per test.
//! Needs Python's aiosmtpd (`python3 -m pip install aiosmtpd`, done by tests/run.sh); without it
//! [`aiosmtpd_missing`] says so and the test prints SKIPPED.

#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

pub fn aiosmtpd_missing() -> bool {
    let ok = Command::new("python3")
        .args(["-c", "import aiosmtpd"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        println!("SKIPPED: Python's aiosmtpd is not installed (python3 -m pip install aiosmtpd)");
    }
    !ok
}

/// The SMTP server process; killed (by its own pid) when dropped.
pub struct Sink {
    child: Child,
    dir: tempfile::TempDir,
}

impl Sink {
    pub fn start(port: u16, fail_first_data: u32) -> Sink {
        let dir = tempfile::tempdir().expect("temp dir");
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/smtp_sink.py");
        let mut child = Command::new("python3")
            .arg(script)
            .args(["--port", &port.to_string()])
            .args(["--out", dir.path().to_str().expect("utf-8 temp path")])
            .args(["--fail-first-data", &fail_first_data.to_string()])
            .stdout(Stdio::piped())
            .spawn()
            .expect("start python3");
        // Wait for "ready" with a deadline, reading on a thread so a hung child cannot hang us.
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(stdout).read_line(&mut line);
            let _ = tx.send(line);
        });
        let line = rx
            .recv_timeout(Duration::from_secs(20))
            .expect("the SMTP server says ready");
        assert_eq!(line.trim(), "ready");
        Sink { child, dir }
    }

    /// The delivered messages, in arrival order.
    pub fn delivered(&self) -> Vec<String> {
        let mut files: Vec<PathBuf> = std::fs::read_dir(self.dir.path())
            .expect("read sink dir")
            .map(|e| e.expect("dir entry").path())
            .filter(|p| p.extension().is_some_and(|e| e == "eml"))
            .collect();
        files.sort();
        files
            .iter()
            .map(|p| std::fs::read_to_string(p).expect("read message"))
            .collect()
    }
}

impl Drop for Sink {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port()
}
