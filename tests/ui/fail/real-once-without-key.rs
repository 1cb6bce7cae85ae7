// A Zitadel client's `#[once(time = 1800)]` ported as a plain `#[ttl_cached]`: the borrowed
// arguments become the key, and the service account is neither `Hash` nor `Eq`.
use cache_core::ttl_cached;

pub struct ServiceAccount {
    pub key_id: String,
}

#[ttl_cached(ttl = "1800s", expiry = "fixed")]
pub async fn obtain_access_token(service_account: &ServiceAccount, issuer: &str) -> String {
    format!("{issuer}|{}", service_account.key_id)
}

fn main() {}
