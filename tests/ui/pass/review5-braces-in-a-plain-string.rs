//! A string literal in a macro that is no format string (`matches!`'s pattern): its
//! "{tenant}" is text. Valid code.
use std::time::Duration;

use cache_core::ttl_cached;

#[derive(Clone)]
pub struct Route {
    pub template: &'static str,
}

#[ttl_cached(ttl = "1h", expire_after = |_: &String, r: &Route| {
    if matches!(r.template, "/t/{tenant}/token") { Some(Duration::from_secs(60)) } else { None }
})]
fn route(tenant: &str) -> Route {
    let _ = tenant;
    Route { template: "/t/{tenant}/token" }
}

fn main() {
    assert_eq!(route("a").template, "/t/{tenant}/token");
}
