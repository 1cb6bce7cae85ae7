// A mechanical port of a Sui bot's
// `#[cached(key = "String", convert = r##"{ obj_id.to_string() }"##, result = true)]`.
use cache_core::ttl_cached;

pub struct SuiClient;

#[ttl_cached(ttl = "1h", key = "String", convert = r##"{ obj_id.to_string() }"##)]
pub async fn get_object_cache(sui: &SuiClient, obj_id: &str) -> Result<String, String> {
    let _ = sui;
    Ok(obj_id.to_string())
}

fn main() {}
