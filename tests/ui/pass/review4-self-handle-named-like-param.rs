//! `cache = Self::tenant` beside a parameter `tenant`: the generated code calls
//! `Self::tenant()`, which no parameter can hide. Valid code.
use cache_core::ttl_cached;

struct Plans;

impl Plans {
    #[ttl_cached(ttl = "1h", cache = Self::tenant)]
    fn plan(tenant: &str) -> String {
        tenant.to_uppercase()
    }
}

fn main() {
    assert_eq!(Plans::plan("a"), "A");
    assert_eq!(Plans::tenant().len(), 1);
}
