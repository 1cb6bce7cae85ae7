//! `#[ttl_cached]` in crates of older editions: `tests/editions/` is a workspace of its own
//! (its own lockfile) with crates of editions 2018 and 2021 whose tests this runs, and one of
//! edition 2015 that must fail to compile with the attribute's message. The attribute's own
//! tokens are of its crate's edition, 2024; what is the user's must keep the user's edition.
//! Built in `CARGO_TARGET_TMPDIR`, so that later runs only rebuild what changed.
use std::process::{Command, Output};

fn cargo(args: &[&str]) -> Output {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/editions");
    Command::new(env!("CARGO"))
        .args(args)
        .args(["--manifest-path", &format!("{dir}/Cargo.toml"), "--locked"])
        .env(
            "CARGO_TARGET_DIR",
            concat!(env!("CARGO_TARGET_TMPDIR"), "/editions"),
        )
        .output()
        .expect("cargo runs")
}

fn text(output: &Output) -> String {
    let (out, err) = (&output.stdout, &output.stderr);
    format!(
        "{}{}",
        String::from_utf8_lossy(out),
        String::from_utf8_lossy(err)
    )
}

#[test]
fn crates_of_editions_2018_and_2021_keep_their_semantics() {
    let output = cargo(&["test", "--workspace", "--exclude", "e2015-errors"]);
    assert!(output.status.success(), "{}", text(&output));
}

/// syn's `compile_error!` names `::core`, which is no path in an edition 2015 crate.
#[test]
fn an_edition_2015_crate_gets_the_attribute_s_message() {
    let output = cargo(&["build", "-p", "e2015-errors"]);
    let text = text(&output);
    assert!(!output.status.success(), "{text}");
    assert!(text.contains("error: unknown option `max_size`"), "{text}");
    assert!(!text.contains("cannot find"), "{text}");
    assert_eq!(text.matches("error:").count(), 2, "{text}"); // and cargo's "could not compile"
}
