//! `#[cached(time = 3600, result = true)] pub async fn list() -> Result<Vec<Arc<dyn Model>>>`
//! (a real user's shape): the tail expression coerces `Arc<Gpt>` to `Arc<dyn Model>`, as in
//! any `async fn`. The same body compiles under the attribute on a sync fn.
use std::sync::Arc;

use cache_core::ttl_cached;

trait Model: Send + Sync {
    fn name(&self) -> String;
}

struct Gpt;

impl Model for Gpt {
    fn name(&self) -> String {
        "gpt".into()
    }
}

#[ttl_cached(ttl = "1h")]
async fn list() -> Result<Vec<Arc<dyn Model>>, String> {
    Ok(vec![Arc::new(Gpt)])
}

#[ttl_cached(ttl = "1h")]
async fn one(name: &str) -> Arc<dyn Model> {
    if name.is_empty() {
        return Arc::new(Gpt);
    }
    Arc::new(Gpt)
}

/// `?` converts its error into the declared one, as in any `async fn`.
#[ttl_cached(ttl = "1h")]
async fn parsed(text: &str) -> Result<Arc<dyn Model>, Box<dyn std::error::Error + Send + Sync>> {
    let _: u8 = text.parse()?;
    Ok(Arc::new(Gpt))
}

fn main() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    assert_eq!(rt.block_on(list()).unwrap()[0].name(), "gpt");
    assert_eq!(rt.block_on(one("x")).name(), "gpt");
    assert_eq!(rt.block_on(parsed("1")).unwrap().name(), "gpt");
    assert!(rt.block_on(parsed("x")).is_err());
}
