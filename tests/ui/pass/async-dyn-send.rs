//! README: "the returned future is `Send` whenever the body's is". An `async fn` whose value
//! or error type holds a `dyn Trait + Send + Sync` (here `Box<dyn Error + Send + Sync>`, the
//! usual boxed error, and `Arc<dyn Model>`) cannot be `tokio::spawn`ed.
use std::sync::Arc;

use cache_core::ttl_cached;

type Res<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

#[ttl_cached(ttl = "60s")]
async fn get_coverage(name: String) -> Res<u64> {
    if name.is_empty() {
        return Err("empty".into());
    }
    Ok(90)
}

trait Model: Send + Sync {}
struct Gpt;
impl Model for Gpt {}

#[ttl_cached(ttl = "1h")]
async fn model(name: String) -> Arc<dyn Model> {
    let _ = name;
    let m: Arc<dyn Model> = Arc::new(Gpt);
    m
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .build()
        .unwrap();
    rt.block_on(async {
        assert_eq!(
            tokio::spawn(get_coverage("x".into()))
                .await
                .unwrap()
                .unwrap(),
            90
        );
        tokio::spawn(model("x".into())).await.unwrap();
    });
}
