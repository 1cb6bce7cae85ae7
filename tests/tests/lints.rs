//! `#[ttl_cached]` under strict lint levels, checked by clippy: `tests/lints/` is a crate of
//! its own workspace (its own lockfile) that denies `warnings` and clippy's pedantic, nursery
//! and restriction groups (less a few that conflict with each other or are silly there too),
//! and puts `#[expect]` on memoized functions. The expansion must bring no warning of its
//! own: clippy skips the attribute's own tokens, but not the user's tokens it copies (a
//! parameter read by the key) nor a tail of ours it reports at the attribute
//! (`implicit_return`). trybuild runs rustc only, hence a crate. Built in
//! `CARGO_TARGET_TMPDIR`, so that later runs only rebuild what changed.
use std::process::{Command, Output};

fn cargo(args: &[&str]) -> Output {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/lints");
    Command::new(env!("CARGO"))
        .args(args)
        .args(["--manifest-path", &format!("{dir}/Cargo.toml"), "--locked"])
        .env(
            "CARGO_TARGET_DIR",
            concat!(env!("CARGO_TARGET_TMPDIR"), "/lints"),
        )
        .output()
        .expect("cargo runs")
}

#[test]
fn the_expansion_is_clean_under_clippy_s_strictest_groups() {
    let has_clippy = Command::new(env!("CARGO"))
        .args(["clippy", "--version"])
        .output()
        .is_ok_and(|output| output.status.success());
    // Not a skip: a toolchain without clippy fails here and says how to get it.
    assert!(
        has_clippy,
        "this test runs clippy: rustup component add clippy"
    );
    let output = cargo(&["clippy", "--quiet"]);
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(output.status.success(), "{text}");
    assert!(!text.contains("warning"), "{text}");
}
