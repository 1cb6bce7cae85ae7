//! Compile tests: every misuse of `#[ttl_cached]` is an error that points at the offending
//! tokens (`ui/fail`, each with its expected `.stderr`), and every supported shape compiles
//! and runs (`ui/pass`).

#[test]
fn ui() {
    let cases = trybuild::TestCases::new();
    cases.compile_fail("ui/fail/*.rs");
    cases.pass("ui/pass/*.rs");
}
