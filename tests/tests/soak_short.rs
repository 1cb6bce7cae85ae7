//! The soak's short mode (see `src/bin/soak.rs`), so `cargo test --workspace` runs it: 2 s of
//! 8 threads over maps with a real-time TTL of 5 ms, checking bounded memory, exact single
//! flight and that no thread hangs. Its output is shown if it fails.

use std::process::Command;

#[test]
fn soak_short_mode_passes() {
    let out = Command::new(env!("CARGO_BIN_EXE_soak"))
        .args(["--secs", "2"])
        .output()
        .expect("the soak binary starts");
    assert!(
        out.status.success(),
        "the soak failed ({}):\n{}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
}
