//! xv6's full usertests, slow tests included. A test binary of its own so that it runs after
//! `kernel.rs` (cargo runs test binaries in name order): the quick tests report a broken kernel
//! in minutes, before this run of up to twenty.

use std::time::Duration;

use anyhow::Result;
use harness::Session;

#[test]
#[ignore = "boots QEMU: run by `cargo xtask test`"]
fn usertests_full() -> Result<()> {
    let mut q = Session::shell("usertests_full")?;
    q.send_line("usertests")?;
    q.expect_verdict(Duration::from_secs(1200))
}
