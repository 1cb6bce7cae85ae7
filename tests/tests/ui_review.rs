//! Only the review's compile cases (ui/pass/review-*, ui/fail/review-*), for a quick run;
//! `ui.rs` runs them with the rest.

#[test]
fn ui_review() {
    let cases = trybuild::TestCases::new();
    cases.compile_fail("ui/fail/review-*.rs");
    cases.pass("ui/pass/review-*.rs");
}
