use cache_core::TtlMap;

fn main() {
    let _map: TtlMap<String, u32> = TtlMap::builder().capacity(10).build();
}
