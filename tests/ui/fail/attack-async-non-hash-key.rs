use cache_core::ttl_cached;

#[derive(Clone, PartialEq)]
pub struct Point(f32, f32);

#[ttl_cached(ttl = "1h")]
async fn locate(point: Point) -> String {
    format!("{}", point.0 + point.1)
}

fn main() {}
