//! Real users' memoized functions (`#[cached]`, `#[once]`, `#[io_cached]`, `#[memoize]` and
//! hand-rolled global maps found by code search, helper-50), ported to `#[ttl_cached]` as a
//! migrating user would: `time = n` is `ttl = "ns"`, `#[once]` is `key: () = ()`, `convert` is
//! `key: Type = expr`, `Ignore: x` a key without `x`. One module per shape, each with a `main`
//! that checks values, that `Err`/`None` are not cached, hits and misses, and expiry on a
//! `ManualClock`. Sources are the code index's ids where the search did not name a repository.
#![deny(warnings)]

use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::time::Duration;

use cache_core::{ManualClock, ttl_cached};

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap()
}

mod once_destructured_extractor {
    // (index id 6857950893) `#[once(time = "60")] #[debug_handler] pub async fn
    // index(State(state): State<AppState>) -> IndexTemplate`: a destructured parameter, keyed
    // by nothing.
    use super::*;
    use std::sync::Arc;

    pub struct State<S>(pub S);
    #[derive(Clone)]
    pub struct AppState {
        pub name: Arc<str>,
    }
    #[derive(Clone, Debug, PartialEq)]
    pub struct IndexTemplate {
        pub title: String,
    }

    #[ttl_cached(ttl = "60s", key: () = ())]
    pub async fn index(State(state): State<AppState>) -> IndexTemplate {
        IndexTemplate { title: state.name.to_string() }
    }

    pub fn main() {
        let rt = rt();
        assert_eq!(rt.block_on(index(State(AppState { name: "a".into() }))).title, "a");
        assert_eq!(rt.block_on(index(State(AppState { name: "b".into() }))).title, "a");
    }
}

mod nested_fn_with_local_struct {
    // (index id 56622327780) `pub async fn dates_end() -> impl IntoResponse { #[derive(..)]
    // struct Dates {..} #[once(time = 30)] fn dates_end_calc(start_date: &DateTime<Utc>,
    // end_date: &DateTime<Utc>) -> Dates {..} .. }`: the value type is local to the outer body.
    use super::*;
    use std::time::SystemTime;

    pub async fn dates_end() -> i64 {
        #[derive(PartialEq, Clone, Debug)]
        struct Dates {
            days_left: i64,
        }

        #[ttl_cached(ttl = "30s", key: () = ())]
        fn dates_end_calc(start_date: &SystemTime, end_date: &SystemTime) -> Dates {
            let days = end_date.duration_since(*start_date).unwrap_or_default().as_secs() / 86_400;
            Dates { days_left: days as i64 }
        }
        let now = SystemTime::UNIX_EPOCH;
        let first = dates_end_calc(&now, &(now + Duration::from_secs(3 * 86_400)));
        let again = dates_end_calc(&now, &(now + Duration::from_secs(9 * 86_400)));
        assert_eq!(first, again);
        first.days_left
    }

    pub fn main() {
        assert_eq!(rt().block_on(dates_end()), 3);
    }
}

mod nested_in_generic_fn {
    // (index id 27804358405) inside `pub async fn serve_file<P, F>(..) where P: AsRef<Path>`:
    // `#[cached(time = 60, size = 4092, convert = "{file_path.to_owned()}", key = "PathBuf")]
    // async fn get_content(file_path: &Path) -> Result<String, Arc<std::io::Error>>`.
    use super::*;
    use std::path::Path;
    use std::sync::Arc;

    pub async fn serve_file<P, F>(file_path: P, adjust_resp: F) -> String
    where
        P: AsRef<Path>,
        F: FnOnce(String) -> String,
    {
        #[ttl_cached(ttl = "60s", capacity = 4092)]
        async fn get_content(file_path: &Path) -> Result<String, Arc<std::io::Error>> {
            match std::fs::read_to_string(file_path) {
                Ok(s) => Ok(s),
                Err(e) => Err(Arc::new(e)),
            }
        }
        match get_content(file_path.as_ref()).await {
            Ok(s) => adjust_resp(s),
            Err(e) => format!("error: {}", e.kind()),
        }
    }

    pub fn main() {
        let rt = rt();
        let path = std::env::temp_dir().join("review8-h50-serve-file.txt");
        std::fs::write(&path, "v1").unwrap();
        assert_eq!(rt.block_on(serve_file(&path, |s| s + "!")), "v1!");
        std::fs::write(&path, "v2").unwrap();
        assert_eq!(rt.block_on(serve_file(path.clone(), |s| s)), "v1");
        let missing = std::env::temp_dir().join("review8-h50-no-such-file");
        assert_eq!(rt.block_on(serve_file(missing, |s| s)), "error: entity not found");
        let _ = std::fs::remove_file(path);
    }
}

mod dyn_trait_param_custom_key {
    // (index id 38782787188) inside `#[tracing::instrument(level = "debug", skip_all,
    // fields(query = query.as_ref()))] pub async fn autocomplete(&self, provider: Provider,
    // query: impl AsRef<str>)`: `#[cached(size = 100, time = 86400, result = true, key =
    // "String", convert = r#"{query.to_string()}"#)] async fn inner(prov: &(dyn ProviderInfo +
    // Send + Sync), query: &str) -> Result<Vec<WggAutocomplete>>`.
    use super::*;

    pub trait ProviderInfo {
        fn autocomplete(&self, query: &str) -> Vec<String>;
    }
    pub struct Picnic;
    pub static CALLS: AtomicUsize = AtomicUsize::new(0);
    impl ProviderInfo for Picnic {
        fn autocomplete(&self, query: &str) -> Vec<String> {
            CALLS.fetch_add(1, SeqCst);
            vec![query.to_uppercase()]
        }
    }
    pub struct Service {
        prov: Picnic,
    }
    impl Service {
        #[tracing::instrument(level = "debug", skip_all, fields(query = query.as_ref()))]
        pub async fn autocomplete(&self, query: impl AsRef<str>) -> anyhow::Result<Vec<String>> {
            #[ttl_cached(ttl = "1d", capacity = 100, key: String = query.to_string())]
            async fn inner(
                prov: &(dyn ProviderInfo + Send + Sync),
                query: &str,
            ) -> anyhow::Result<Vec<String>> {
                anyhow::ensure!(!query.is_empty(), "empty query");
                Ok(prov.autocomplete(query))
            }
            inner(&self.prov, query.as_ref()).await
        }
    }

    pub fn main() {
        let rt = rt();
        let service = Service { prov: Picnic };
        assert!(rt.block_on(service.autocomplete("")).is_err());
        assert_eq!(rt.block_on(service.autocomplete("kaas")).unwrap(), ["KAAS"]);
        assert_eq!(rt.block_on(service.autocomplete(String::from("kaas"))).unwrap(), ["KAAS"]);
        assert_eq!(CALLS.load(SeqCst), 1);
    }
}

mod rc_param_outside_a_hashed_key {
    // (index id 43585466007) `#[cached::proc_macro::cached(key = "String", convert = r#"{
    // format!("{}{}", last_minute, { let mut hasher = DefaultHasher::default();
    // round.hash(&mut hasher); hasher.finish() }) }"#)] pub fn max_geodes(round: Round,
    // last_minute: u8, best: Rc<Cell<u16>>) -> Option<u16>`, counting calls in a `static mut`.
    use super::*;
    use std::cell::Cell;
    use std::collections::hash_map::DefaultHasher;
    use std::hash::{Hash, Hasher};
    use std::rc::Rc;

    #[derive(Hash, Clone, Copy)]
    pub struct Round {
        pub geodes: u16,
    }
    static mut CNT: u32 = 0;

    #[ttl_cached(
        ttl = "1h",
        cache = max_geodes_cache,
        key: String = format!("{}{}", last_minute, {
            let mut hasher = DefaultHasher::default();
            round.hash(&mut hasher);
            hasher.finish()
        })
    )]
    pub fn max_geodes(round: Round, last_minute: u8, best: Rc<Cell<u16>>) -> Option<u16> {
        unsafe { CNT += 1 };
        if round.geodes < best.get() {
            return None;
        }
        best.set(round.geodes);
        Some(round.geodes + u16::from(last_minute))
    }

    pub fn main() {
        let best = Rc::new(Cell::new(0));
        assert_eq!(max_geodes(Round { geodes: 3 }, 24, best.clone()), Some(27));
        assert_eq!(max_geodes(Round { geodes: 3 }, 24, Rc::new(Cell::new(9))), Some(27));
        assert_eq!(max_geodes(Round { geodes: 1 }, 24, best.clone()), None);
        assert_eq!(max_geodes(Round { geodes: 1 }, 24, Rc::new(Cell::new(0))), Some(25));
        assert_eq!(unsafe { CNT }, 3);
        let stats = max_geodes_cache().stats();
        assert_eq!((stats.hits, stats.misses, stats.inserts), (1, 3, 2));
    }
}

mod instrument_below_enum_key {
    // (index id 5176552824) `#[cached::proc_macro::cached(key = "GameEdition", convert =
    // r#"{ game_edition }"#, result)] #[tracing::instrument(level = "trace")] pub fn
    // request(game_edition: GameEdition) -> anyhow::Result<schema::Response>`.
    use super::*;

    #[derive(Clone, Copy, Debug, Hash, PartialEq, Eq)]
    pub enum GameEdition {
        Global,
        China,
    }
    #[derive(Clone, Debug)]
    pub struct Response {
        pub url: String,
    }

    #[ttl_cached(ttl = "1h", key: GameEdition = game_edition, cache = request_cache)]
    #[tracing::instrument(level = "trace")]
    pub fn request(game_edition: GameEdition) -> anyhow::Result<Response> {
        tracing::trace!("Fetching API for {:?}", game_edition);
        if game_edition == GameEdition::China {
            anyhow::bail!("blocked");
        }
        Ok(Response { url: format!("{game_edition:?}") })
    }

    pub fn main() {
        assert!(request(GameEdition::China).is_err());
        assert!(request(GameEdition::China).is_err());
        assert_eq!(request(GameEdition::Global).unwrap().url, "Global");
        assert_eq!(request(GameEdition::Global).unwrap().url, "Global");
        let stats = request_cache().stats();
        assert_eq!((stats.hits, stats.misses, stats.inserts), (1, 3, 1));
    }
}

mod two_owned_params_sized_cache {
    // (index id 17997914169) brush: `#[cached::proc_macro::cached(size = 64, result = true)]
    // fn parse_string_impl(s: String, parser_options: brush_parser::ParserOptions) ->
    // Result<brush_parser::ast::Program, brush_parser::ParseError>` (no expiry: ours needs one).
    use super::*;
    use std::sync::LazyLock;

    static CLOCK: LazyLock<ManualClock> = LazyLock::new(ManualClock::new);

    #[derive(Clone, Hash, PartialEq, Eq, Default)]
    pub struct ParserOptions {
        pub posix: bool,
    }
    #[derive(Debug)]
    pub struct ParseError(pub String);
    #[derive(Clone, Debug, PartialEq)]
    pub struct Program(pub Vec<String>);

    #[ttl_cached(ttl = "10m", capacity = 64, clock = CLOCK.clone(), cache = parse_cache)]
    fn parse_string_impl(s: String, parser_options: ParserOptions) -> Result<Program, ParseError> {
        let mut reader = std::io::BufReader::new(s.as_bytes());
        let mut line = String::new();
        std::io::BufRead::read_line(&mut reader, &mut line)
            .map_err(|e| ParseError(e.to_string()))?;
        if line.contains('(') && !parser_options.posix {
            return Err(ParseError("unbalanced".into()));
        }
        Ok(Program(line.split_whitespace().map(str::to_owned).collect()))
    }

    pub fn main() {
        let posix = ParserOptions { posix: true };
        assert!(!parse_string_impl("a (b".into(), ParserOptions::default()).unwrap_err().0.is_empty());
        assert_eq!(parse_string_impl("a (b".into(), posix.clone()).unwrap().0.len(), 2);
        parse_string_impl("a (b".into(), posix.clone()).unwrap();
        assert_eq!(parse_cache().stats().hits, 1);
        CLOCK.advance(Duration::from_secs(601));
        parse_string_impl("a (b".into(), posix).unwrap();
        assert_eq!(parse_cache().stats().inserts, 2);
    }
}

mod once_with_pool_and_macro_in_body {
    // (index id 267952801) Sui's indexer: `#[once(time = 2, result = true)] async fn
    // get_network_metrics_cached(cp: &PgConnectionPool) -> Result<NetworkMetrics,
    // IndexerError> { let metrics = read_only_blocking!(cp, |conn| ..)?; Ok(..) }`.
    use super::*;
    use std::sync::LazyLock;

    static CLOCK: LazyLock<ManualClock> = LazyLock::new(ManualClock::new);

    pub struct PgConnectionPool {
        pub rows: u32,
    }
    #[derive(Debug)]
    pub enum IndexerError {
        Db(String),
    }
    #[derive(Clone, Debug, PartialEq)]
    pub struct NetworkMetrics {
        pub tps: u32,
    }
    macro_rules! read_only_blocking {
        ($pool:expr, $query:expr) => {{
            let query = $query;
            query($pool.rows).map_err(IndexerError::Db)
        }};
    }

    #[ttl_cached(ttl = "2s", key: () = (), cache = metrics_cache, clock = CLOCK.clone())]
    async fn get_network_metrics_cached(
        cp: &PgConnectionPool,
    ) -> Result<NetworkMetrics, IndexerError> {
        let metrics = read_only_blocking!(cp, |rows: u32| if rows == 0 {
            Err("no rows".to_string())
        } else {
            Ok(rows)
        })?;
        Ok(NetworkMetrics { tps: metrics })
    }

    pub fn main() {
        let rt = rt();
        let metrics = |rows| rt.block_on(get_network_metrics_cached(&PgConnectionPool { rows }));
        let IndexerError::Db(message) = metrics(0).unwrap_err();
        assert_eq!(message, "no rows");
        assert_eq!(metrics(5).unwrap().tps, 5);
        assert_eq!(metrics(6).unwrap().tps, 5);
        CLOCK.advance(Duration::from_secs(3));
        assert_eq!(metrics(6).unwrap().tps, 6);
        assert_eq!(metrics_cache().stats().inserts, 2);
    }
}

mod once_option_let_else {
    // (index id 35997385975) `#[once(sync_writes=true)] pub fn get_repowalk_data(repo: &Repo)
    // -> Option<WalkerResult> { let Ok(mut walker) = repo.revwalk() else { return None }; .. }`.
    use super::*;

    pub struct Repo {
        pub head: Option<u32>,
    }
    #[derive(Clone)]
    pub struct WalkerResult {
        pub insertions: Option<f64>,
    }

    #[ttl_cached(ttl = "1h", key: () = (), cache = repowalk_cache)]
    pub fn get_repowalk_data(repo: &Repo) -> Option<WalkerResult> {
        #[allow(clippy::question_mark)]
        let Some(head) = repo.head else {
            return None
        };
        let insertions: Vec<usize> = Vec::with_capacity(500);
        Some(WalkerResult { insertions: Some(f64::from(head) + insertions.len() as f64) })
    }

    pub fn main() {
        assert!(get_repowalk_data(&Repo { head: None }).is_none());
        assert_eq!(get_repowalk_data(&Repo { head: Some(2) }).unwrap().insertions, Some(2.0));
        assert_eq!(get_repowalk_data(&Repo { head: None }).unwrap().insertions, Some(2.0));
        assert_eq!(repowalk_cache().len(), 1);
    }
}

mod static_item_in_body {
    // (index id 15590561412) geph: `#[cached::proc_macro::cached(time = 10)] fn
    // is_geph_pid(pid: u32) -> bool { static SYSTEM: Lazy<RwLock<sysinfo::System>> = ..; .. }`.
    use super::*;
    use std::collections::HashMap;
    use std::sync::{LazyLock, RwLock};

    static REFRESHES: AtomicUsize = AtomicUsize::new(0);

    #[ttl_cached(ttl = "10s")]
    fn is_geph_pid(pid: u32) -> bool {
        static SYSTEM: LazyLock<RwLock<HashMap<u32, String>>> = LazyLock::new(Default::default);
        REFRESHES.fetch_add(1, SeqCst);
        SYSTEM.write().unwrap().insert(7, "geph4-client".into());
        SYSTEM.read().unwrap().get(&pid).is_some_and(|exe| exe.contains("geph"))
    }

    pub fn main() {
        assert!(is_geph_pid(7));
        assert!(is_geph_pid(7));
        assert!(!is_geph_pid(8));
        assert_eq!(REFRESHES.load(SeqCst), 2);
    }
}

mod once_result_builder_chain {
    // (index id 12396824088) `#[once(time = 10, result = true, sync_writes = true)] pub async
    // fn arrivals() -> Result<Vec<Arc<TrainArrival>>, reqwest::Error>` over a commented
    // `reqwest::Client::builder()` chain.
    use super::*;
    use std::sync::{Arc, LazyLock};

    static CLOCK: LazyLock<ManualClock> = LazyLock::new(ManualClock::new);
    static FAIL_FIRST: AtomicUsize = AtomicUsize::new(1);

    #[derive(Debug)]
    pub struct HttpError {
        pub status: u16,
    }
    pub struct ClientBuilder {
        insecure: bool,
    }
    impl ClientBuilder {
        pub fn danger_accept_invalid_certs(mut self, accept: bool) -> Self {
            self.insecure = accept;
            self
        }
        pub fn build(self) -> Result<(), HttpError> {
            if self.insecure { Ok(()) } else { Err(HttpError { status: 495 }) }
        }
    }
    pub fn builder() -> ClientBuilder {
        ClientBuilder { insecure: false }
    }
    #[derive(Debug)]
    pub struct TrainArrival {
        pub station: String,
    }

    #[ttl_cached(ttl = "10s", key: () = (), cache = arrivals_cache, clock = CLOCK.clone())]
    pub async fn arrivals() -> Result<Vec<Arc<TrainArrival>>, HttpError> {
        let arrs: Result<Vec<TrainArrival>, HttpError> = builder()
            // ugh always have SSL probs
            .danger_accept_invalid_certs(FAIL_FIRST.fetch_sub(1, SeqCst) == 0)
            .build()
            .map(|()| vec![TrainArrival { station: "FIVE POINTS".into() }]);
        Ok(arrs?.into_iter().map(Arc::new).collect())
    }

    pub fn main() {
        let rt = rt();
        assert_eq!(rt.block_on(arrivals()).unwrap_err().status, 495);
        let first = rt.block_on(arrivals()).unwrap();
        assert_eq!(first[0].station, "FIVE POINTS");
        assert!(Arc::ptr_eq(&first[0], &rt.block_on(arrivals()).unwrap()[0]));
        let stats = arrivals_cache().stats();
        assert_eq!((stats.hits, stats.misses, stats.inserts), (1, 2, 1));
    }
}

mod once_anyhow_env_match {
    // (index id 25189698134) `#[once(time=300, sync_writes=true, result = true)] fn
    // get_application_directories() -> Result<Vec<PathBuf>>` (anyhow's), matching on
    // `env::var_os`.
    use super::*;
    use std::path::PathBuf;

    #[ttl_cached(ttl = "300s")]
    fn get_application_directories() -> anyhow::Result<Vec<PathBuf>> {
        let xdg_home = match std::env::var_os("REVIEW8_H50_XDG_DATA_HOME") {
            Some(path) => PathBuf::from(path),
            None => {
                let home = std::env::var_os("HOME")
                    .or_else(|| std::env::var_os("USERPROFILE"))
                    .unwrap_or_else(|| "/".into());
                PathBuf::from(home).join(".local/share")
            }
        };
        Ok(vec![xdg_home.join("applications")])
    }

    pub fn main() {
        let dirs = get_application_directories().unwrap();
        assert_eq!(get_application_directories().unwrap(), dirs);
    }
}

mod once_json_wrapper_return {
    // (index id 11959600306) `#[once(time = 60, sync_writes = false)] pub async fn
    // ra_get_quote() -> Json<Value> { match generate_quote(None, None) { Ok(..) =>
    // Json(json!(..)), Err(e) => Json(json!(..)) } }`.
    use super::*;
    use std::collections::HashMap;

    #[derive(Clone, Debug, PartialEq)]
    pub struct Json<T>(pub T);

    #[ttl_cached(ttl = "60s")]
    pub async fn ra_get_quote() -> Json<HashMap<&'static str, String>> {
        match Ok::<_, String>(vec![1u8, 2]) {
            Ok(quote) => Json(HashMap::from([
                ("status", "Success".to_string()),
                ("data", format!("{quote:?}")),
            ])),
            Err(e) => Json(HashMap::from([("status", "Failed".to_string()), ("error", e)])),
        }
    }

    pub fn main() {
        assert_eq!(rt().block_on(ra_get_quote()).0["status"], "Success");
    }
}

mod str_key_nested_map_value {
    // (index id 31527443106) `#[once(sync_writes = true)] pub fn
    // prepare_pf_ancestry_names_builder(json_path: &str) -> HashMap<(String, Gender),
    // HashMap<String, Vec<char>>>` (keyed here by the path, which the user would want).
    use super::*;
    use std::collections::HashMap;

    #[derive(Clone, Copy, Hash, PartialEq, Eq, Debug)]
    pub enum Gender {
        Female,
        Male,
    }

    #[ttl_cached(ttl = "1d", cache = names_cache)]
    pub fn prepare_pf_ancestry_names_builder(
        json_path: &str,
    ) -> HashMap<(String, Gender), HashMap<String, Vec<char>>> {
        let mut names = HashMap::new();
        names.insert(
            (json_path.to_string(), Gender::Female),
            HashMap::from([("elf".to_string(), vec!['a'])]),
        );
        names.insert((json_path.to_string(), Gender::Male), HashMap::new());
        names
    }

    pub fn main() {
        assert_eq!(prepare_pf_ancestry_names_builder("pf.json").len(), 2);
        assert_eq!(prepare_pf_ancestry_names_builder("pf.json").len(), 2);
        assert_eq!(names_cache().stats().hits, 1);
    }
}

mod memoize_ignore_runtime {
    // (index id 24548982736) `#[memoize(TimeToLive: Duration::from_secs(10), Ignore:
    // runtime)] fn is_playing(path: String, runtime: &Runtime) -> bool`.
    use super::*;

    pub struct Runtime(tokio::runtime::Runtime);
    static LOOKUPS: AtomicUsize = AtomicUsize::new(0);

    #[ttl_cached(ttl = Duration::from_secs(10), key: String = path.clone(), cache = playing)]
    fn is_playing(path: String, runtime: &Runtime) -> bool {
        LOOKUPS.fetch_add(1, SeqCst);
        runtime
            .0
            .block_on(async { Ok::<Vec<u8>, ()>(path.into_bytes()) })
            .map(|it| !it.is_empty())
            .unwrap_or(false)
    }

    pub fn main() {
        let runtime = Runtime(rt());
        assert!(is_playing("p".into(), &runtime));
        assert!(is_playing("p".into(), &runtime));
        assert!(!is_playing(String::new(), &runtime));
        assert_eq!(LOOKUPS.load(SeqCst), 2);
        assert_eq!(playing().len(), 2);
    }
}

mod memoize_const_in_body_format_macro {
    // (index id 31602717883) `#[memoize(TimeToLive: Duration::from_millis(500))] pub fn
    // get_cached_framerate() -> f64 { const DIR: &str = "/tmp/mangohud"; let file = run!("ls -t
    // {DIR} | head -1"); .. }`.
    use super::*;

    macro_rules! run {
        ($($arg:tt)*) => { format!($($arg)*) };
    }

    #[ttl_cached(ttl = Duration::from_millis(500))]
    pub fn get_cached_framerate() -> f64 {
        const DIR: &str = "/tmp/mangohud";
        let file = run!("ls -t {DIR} | head -1");
        let fps = run!("tail -1 {DIR}/{} | cut -d, -f1", file.trim());
        fps.len() as f64
    }

    pub fn main() {
        assert!(get_cached_framerate() > 0.0);
        assert_eq!(get_cached_framerate(), get_cached_framerate());
    }
}

mod memoize_option_question_mark {
    // (index id 31192499530) `#[memoize(TimeToLive: std::time::Duration::from_secs(1))] fn
    // read_cmdline(pid: u32) -> Option<String> { .. File::open(path).ok()?; .. }`.
    use super::*;

    #[ttl_cached(ttl = std::time::Duration::from_secs(1), cache = cmdline_cache)]
    fn read_cmdline(pid: u32) -> Option<String> {
        let path = format!("/proc/{pid}/cmdline");
        let file = std::fs::File::open(path).ok()?;
        let mut buf_reader = std::io::BufReader::new(file);
        let mut contents = String::new();
        std::io::Read::read_to_string(&mut buf_reader, &mut contents).ok()?;
        Some(contents)
    }

    pub fn main() {
        assert!(read_cmdline(u32::MAX).is_none());
        assert!(read_cmdline(u32::MAX).is_none());
        assert_eq!(cmdline_cache().stats().inserts, 0);
        assert_eq!(cmdline_cache().stats().misses, 2);
    }
}

mod unit_result_inline_format_key {
    // (index id 48072584399) a Discord bot: `#[cached(time = 60, key = "String", convert =
    // r##"{ format!("{guild_id}{user_id}{role_id}{:?}", client.token().unwrap()) }"##)] pub
    // async fn add_guild_member_role(guild_id: Id<GuildMarker>, user_id: Id<UserMarker>,
    // role_id: Id<RoleMarker>, client: &Client) -> Result<(), StatusCode>` over
    // `retry_on_rl(|| async { .. })`.
    use super::*;
    use std::marker::PhantomData;

    #[derive(Clone, Copy, Debug, PartialEq)]
    pub struct Id<M>(u64, PhantomData<M>);
    impl<M> std::fmt::Display for Id<M> {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(f, "{}", self.0)
        }
    }
    pub fn id<M>(n: u64) -> Id<M> {
        Id(n, PhantomData)
    }
    pub struct GuildMarker;
    pub struct UserMarker;
    pub struct RoleMarker;
    pub struct Client {
        token: Option<String>,
    }
    impl Client {
        pub fn token(&self) -> Option<&str> {
            self.token.as_deref()
        }
    }
    #[derive(Clone, Copy, Debug, PartialEq)]
    pub struct StatusCode(pub u16);
    static PUTS: AtomicUsize = AtomicUsize::new(0);

    async fn retry_on_rl<F, Fut, T>(f: F) -> Result<T, StatusCode>
    where
        F: Fn() -> Fut,
        Fut: std::future::Future<Output = Result<T, StatusCode>>,
    {
        f().await
    }

    #[ttl_cached(ttl = "60s", cache = role_cache,
        key: String = format!("{guild_id}{user_id}{role_id}{:?}", client.token().unwrap()))]
    pub async fn add_guild_member_role(
        guild_id: Id<GuildMarker>,
        user_id: Id<UserMarker>,
        role_id: Id<RoleMarker>,
        client: &Client,
    ) -> Result<(), StatusCode> {
        retry_on_rl(|| async {
            PUTS.fetch_add(1, SeqCst);
            if role_id.0 == 0 { Err(StatusCode(403)) } else { Ok(()) }
        })
        .await
    }

    pub fn main() {
        let rt = rt();
        let client = Client { token: Some("t".into()) };
        assert_eq!(
            rt.block_on(add_guild_member_role(id(1), id(2), id(0), &client)),
            Err(StatusCode(403))
        );
        rt.block_on(add_guild_member_role(id(1), id(2), id(3), &client)).unwrap();
        rt.block_on(add_guild_member_role(id(1), id(2), id(3), &client)).unwrap();
        assert_eq!(PUTS.load(SeqCst), 2);
        assert_eq!(role_cache().stats().hits, 1);
    }
}

mod option_param_shadowed_in_match {
    // (index id 1603517062) `#[cached(sync_writes = "by_key", time = 3600, time_refresh =
    // false)] async fn get_comic(id: Option<u32>) -> Json<Comic> { let url = match id {
    // Some(id) => format!(..), None => .. }; .. }`: `time_refresh = false` is fixed expiry.
    use super::*;
    use std::sync::LazyLock;

    static CLOCK: LazyLock<ManualClock> = LazyLock::new(ManualClock::new);

    #[derive(Clone, Debug, PartialEq)]
    pub struct Comic {
        pub image: String,
    }

    #[ttl_cached(ttl = "1h", expiry = "fixed", cache = comic_cache, clock = CLOCK.clone())]
    async fn get_comic(id: Option<u32>) -> Comic {
        let url = match id {
            Some(id) => format!("https://example.invalid/index.php?id={}", id),
            None => "https://example.invalid/index.php".to_string(),
        };
        Comic { image: url }
    }

    pub fn main() {
        let rt = rt();
        assert!(rt.block_on(get_comic(Some(3))).image.ends_with("id=3"));
        rt.block_on(get_comic(None));
        CLOCK.advance(Duration::from_secs(1800));
        rt.block_on(get_comic(None));
        CLOCK.advance(Duration::from_secs(1801));
        rt.block_on(get_comic(None));
        let stats = comic_cache().stats();
        assert_eq!((stats.hits, stats.inserts), (1, 3));
    }
}

mod instrument_above_doc_below {
    // (index id 16737316127) `#[instrument] #[cached(size = 1, time = 7200)] /// Get featured
    // albums pub async fn featured_playlists(featured_type: PlaylistFeaturedType) ->
    // Result<Vec<Playlist>>`: the doc comment between the attribute and the function.
    use super::*;

    #[derive(Clone, Copy, Debug, Hash, PartialEq, Eq)]
    pub enum PlaylistFeaturedType {
        EditorPicks,
        LastCreated,
    }
    #[derive(Clone, Debug)]
    pub struct Playlist {
        pub title: String,
    }

    #[tracing::instrument]
    #[ttl_cached(ttl = "7200s", capacity = 1, cache = featured_cache)]
    /// Get featured playlists
    pub async fn featured_playlists(
        featured_type: PlaylistFeaturedType,
    ) -> anyhow::Result<Vec<Playlist>> {
        Ok(vec![Playlist { title: format!("{featured_type:?}") }])
    }

    pub fn main() {
        let rt = rt();
        let picks = rt.block_on(featured_playlists(PlaylistFeaturedType::EditorPicks)).unwrap();
        assert_eq!(picks[0].title, "EditorPicks");
        rt.block_on(featured_playlists(PlaylistFeaturedType::LastCreated)).unwrap();
        assert_eq!(featured_cache().len(), 1);
    }
}

mod cfg_gated_explicit_return {
    // (index id 53250733852) `#[cfg(feature = " public-ip")] #[cached(size = 1, time = 600)]
    // pub async fn retrieve_public_ip() -> Result<IpAddr, DnsError> { return
    // public_ip::addr().await.ok_or(..); }`, with a disabled twin.
    use super::*;
    use std::net::IpAddr;

    #[derive(Debug)]
    pub enum DnsError {
        Failed(String),
    }

    #[cfg(not(any()))]
    #[ttl_cached(ttl = "600s", capacity = 1)]
    pub async fn retrieve_public_ip() -> Result<IpAddr, DnsError>
    {
        return Some(IpAddr::from([127, 0, 0, 1]))
            .ok_or(DnsError::Failed("Failed to retrieve public ip".to_owned()));
    }

    #[cfg(any())]
    #[ttl_cached(ttl = "600s", capacity = 1)]
    pub async fn retrieve_public_ip() -> Result<IpAddr, DnsError> {
        Err(DnsError::Failed(String::new()))
    }

    pub fn main() {
        assert!(rt().block_on(retrieve_public_ip()).unwrap().is_loopback());
        let DnsError::Failed(_) = DnsError::Failed(String::new());
    }
}

mod const_duration_and_capacity {
    // (index id 43078530392) `#[cached(size = 1, time = 2_500_000)] fn get_bearer_token() ->
    // Auth`, with the ttl and size written as consts.
    use super::*;
    use std::sync::LazyLock;

    static CLOCK: LazyLock<ManualClock> = LazyLock::new(ManualClock::new);
    const TOKEN_TTL: Duration = Duration::from_secs(2_500_000);
    const ONE: usize = 1;

    #[derive(Clone, Debug)]
    pub struct Auth {
        pub access_token: String,
    }

    #[ttl_cached(ttl = TOKEN_TTL, capacity = ONE, clock = CLOCK.clone(), cache = bearer_cache)]
    fn get_bearer_token() -> Auth {
        let login: (String, String) = ("id".into(), "secret".into());
        let url = format!(
            "https://id.twitch.tv/oauth2/token?client_id={}&client_secret={}",
            login.0, login.1
        );
        Auth { access_token: url.len().to_string() }
    }

    pub fn main() {
        assert_eq!(get_bearer_token().access_token, get_bearer_token().access_token);
        CLOCK.advance(Duration::from_secs(2_500_001));
        get_bearer_token();
        assert_eq!(bearer_cache().stats().inserts, 2);
    }
}

mod pathbuf_named_format_argument {
    // (index id 15469987168) `#[cached(size = 1, time = 3600, result = true, sync_writes =
    // true)] pub async fn load_channel_list(log_dir: std::path::PathBuf) ->
    // anyhow::Result<HashMap<String, schema::Channel>> { log::info!("Cache miss: .. {log_dir}",
    // log_dir = log_dir.display()); .. }`.
    use super::*;
    use std::collections::HashMap;
    use std::path::PathBuf;

    static MISSES: AtomicUsize = AtomicUsize::new(0);

    #[derive(Clone, Debug)]
    pub struct Channel {
        pub name: String,
    }

    #[ttl_cached(ttl = "3600s", capacity = 1)]
    pub async fn load_channel_list(
        log_dir: std::path::PathBuf,
    ) -> anyhow::Result<HashMap<String, Channel>> {
        let message = format!("Cache miss: reading the channel list from {log_dir}", log_dir = log_dir.display());
        MISSES.fetch_add(message.len().min(1), SeqCst);
        let mut channels = HashMap::new();
        let name = log_dir.to_string_lossy().into_owned();
        channels.insert(name.clone(), Channel { name });
        Ok(channels)
    }

    pub fn main() {
        let rt = rt();
        let list = rt.block_on(load_channel_list(PathBuf::from("/logs"))).unwrap();
        assert_eq!(list["/logs"].name, "/logs");
        rt.block_on(load_channel_list(PathBuf::from("/logs/"))).unwrap();
        assert_eq!(MISSES.load(SeqCst), 1);
    }
}

mod box_dyn_error_results {
    // (index id 38481944284) `pub fn download_sflow_h() -> Result<String, Box<dyn
    // std::error::Error>>` (not `Send`), and a `BoxResult<T>` alias with a `Send + Sync` error
    // from an async fn spawned on tokio.
    use super::*;

    type BoxResult<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

    #[ttl_cached(ttl = "1d")]
    pub fn download_sflow_h() -> Result<String, Box<dyn std::error::Error>> {
        let content: String = "struct sflow".parse::<String>()?;
        if content.is_empty() {
            return Err("empty".into());
        }
        Ok(content)
    }

    #[ttl_cached(ttl = "1h", cache = download_cache)]
    pub async fn download(url: String) -> BoxResult<String> {
        tokio::task::yield_now().await;
        if url.is_empty() {
            return Err("empty url".into());
        }
        Ok(format!("body of {url}"))
    }

    pub fn main() {
        assert_eq!(download_sflow_h().unwrap(), "struct sflow");
        let rt = rt();
        let spawned = |url: &str| {
            let url = url.to_string();
            rt.block_on(async { tokio::spawn(download(url)).await.unwrap() })
        };
        assert_eq!(spawned("a").unwrap(), "body of a");
        assert_eq!(spawned("a").unwrap(), "body of a");
        assert!(spawned("").is_err());
        assert_eq!(download_cache().len(), 1);
        assert_eq!(download_cache().stats().hits, 1);
    }
}

mod cow_static_and_arc_str {
    // Region labels as `Cow<'static, str>` keyed by `Arc<str>`, and `&Arc<str>` keyed by
    // `Arc<str>` (the index's i18n helpers).
    use super::*;
    use std::borrow::Cow;
    use std::sync::Arc;

    #[ttl_cached(ttl = "1h")]
    pub fn region_label(code: Arc<str>) -> Cow<'static, str> {
        match &*code {
            "us" => Cow::Borrowed("United States"),
            other => Cow::Owned(other.to_uppercase()),
        }
    }

    #[ttl_cached(ttl = "1h", cache = upper_cache)]
    pub fn region_upper(code: &Arc<str>) -> Arc<str> {
        Arc::from(code.to_uppercase())
    }

    pub fn main() {
        assert_eq!(region_label("us".into()), "United States");
        assert_eq!(region_label("fr".into()), "FR");
        let fr: Arc<str> = Arc::from("fr");
        assert!(Arc::ptr_eq(&region_upper(&fr), &region_upper(&Arc::from("fr"))));
        assert_eq!(upper_cache().stats().hits, 1);
    }
}

mod underscore_param_only_in_key {
    // (index id 30358259604) `#[cached::proc_macro::cached(name = "CACHE", result = true, ..,
    // convert = r#"{ repo_identifier(url, _sha, branch_name) }"#)]`: `_sha` read by the key only.
    use super::*;

    #[ttl_cached(ttl = "1d", key: String = format!("{url}#{_sha}#{branch_name}"), cache = loc_cache)]
    fn get_statistics(url: &str, _sha: &str, branch_name: &str) -> Result<Vec<(String, u32)>, String> {
        Ok(vec![(format!("{url}@{branch_name}"), 1)])
    }

    pub fn main() {
        assert_eq!(get_statistics("u", "s1", "main").unwrap()[0].1, 1);
        get_statistics("u", "s2", "main").unwrap();
        get_statistics("u", "s2", "main").unwrap();
        assert_eq!(loc_cache().len(), 2);
    }
}

mod pub_crate_handle {
    // A `pub(crate)` function in a `pub(crate)` module, its handle read from outside it.
    pub(crate) mod users {
        use cache_core::ttl_cached;

        #[ttl_cached(ttl = "5m", cache = users_cache)]
        pub(crate) fn user_name(id: u64) -> String {
            format!("user{id}")
        }
    }

    pub fn main() {
        assert_eq!(users::user_name(4), "user4");
        assert_eq!(users::users_cache().len(), 1);
    }
}

mod static_str_key_from_enum {
    // (index id 57169477662) `#[cached(ttl = 3600, convert = r#"{ <&str>::from(folder) }"#,
    // key = "&'static str", sync_writes = "by_key")] pub(crate) async fn fetch_index(r2:
    // &AmazonS3, folder: IndexFolder) -> Result<Bytes, VersionStoreError>`.
    use super::*;

    #[derive(Debug, Clone, Copy)]
    pub(crate) enum IndexFolder {
        Images,
        Icons,
    }
    impl From<IndexFolder> for &'static str {
        fn from(folder: IndexFolder) -> Self {
            match folder {
                IndexFolder::Images => "images",
                IndexFolder::Icons => "icons",
            }
        }
    }
    pub struct AmazonS3 {
        pub bucket: String,
    }
    #[derive(Debug)]
    pub enum VersionStoreError {
        Missing,
    }

    /// Fetch the cached JSON file-tree index for `folder`.
    #[ttl_cached(ttl = "3600s", key: &'static str = <&str>::from(folder), cache = index_cache)]
    pub(crate) async fn fetch_index(
        r2: &AmazonS3,
        folder: IndexFolder,
    ) -> Result<Vec<u8>, VersionStoreError> {
        let folder = <&str>::from(folder);
        if r2.bucket.is_empty() {
            return Err(VersionStoreError::Missing);
        }
        Ok(format!("assets-api-res/{folder}/index.json.zst").into_bytes())
    }

    pub fn main() {
        let rt = rt();
        let (empty, full) = (AmazonS3 { bucket: String::new() }, AmazonS3 { bucket: "b".into() });
        assert!(matches!(
            rt.block_on(fetch_index(&empty, IndexFolder::Images)),
            Err(VersionStoreError::Missing)
        ));
        assert!(rt.block_on(fetch_index(&full, IndexFolder::Images)).is_ok());
        assert!(rt.block_on(fetch_index(&empty, IndexFolder::Images)).is_ok());
        assert!(rt.block_on(fetch_index(&full, IndexFolder::Icons)).is_ok());
        assert_eq!(index_cache().len(), 2);
    }
}

mod renamed_anyhow_alias_constant_key {
    // (index id 8067262501) `use anyhow::Result as AnyResult; #[cached(result = true,
    // sync_writes = true, key = "&'static str", convert = r#"{ "k8s" }"#, ..)] pub async fn
    // get_k8s_status(k8s_client: &K8sClient) -> AnyResult<String>`.
    use super::*;
    use anyhow::Result as AnyResult;

    pub struct K8sClient {
        pub version: &'static str,
    }
    impl K8sClient {
        async fn get_server_version(&self) -> AnyResult<String> {
            anyhow::ensure!(!self.version.is_empty(), "unreachable API server");
            Ok(self.version.into())
        }
    }

    #[ttl_cached(ttl = "30s", key: &'static str = "k8s", cache = status_cache)]
    pub async fn get_k8s_status(k8s_client: &K8sClient) -> AnyResult<String> {
        Ok(format!("{:?}", k8s_client.get_server_version().await?))
    }

    pub fn main() {
        let rt = rt();
        assert!(rt.block_on(get_k8s_status(&K8sClient { version: "" })).is_err());
        assert_eq!(rt.block_on(get_k8s_status(&K8sClient { version: "v1.30" })).unwrap(), "\"v1.30\"");
        assert_eq!(rt.block_on(get_k8s_status(&K8sClient { version: "v2" })).unwrap(), "\"v1.30\"");
        assert_eq!(status_cache().stats().inserts, 1);
    }
}

mod recursive_static_str_key {
    // (index id 34084045572) Advent of Code: `#[cached(key = "&'static str", convert =
    // r#"{ name }"#)] pub fn evaluate(name: &'static str, monkeys: &HashMap<&'static str,
    // Monkey>) -> i64`, recursive.
    use super::*;
    use std::collections::HashMap;

    pub enum Monkey {
        Number(i64),
        Add(&'static str, &'static str),
    }

    #[ttl_cached(ttl = "1h", key: &'static str = name, cache = evaluate_cache)]
    pub fn evaluate(name: &'static str, monkeys: &HashMap<&'static str, Monkey>) -> i64 {
        match &monkeys[name] {
            Monkey::Number(n) => *n,
            Monkey::Add(left, right) => evaluate(left, monkeys) + evaluate(right, monkeys),
        }
    }

    pub fn main() {
        let monkeys = HashMap::from([
            ("root", Monkey::Add("a", "a")),
            ("a", Monkey::Add("b", "b")),
            ("b", Monkey::Number(3)),
        ]);
        assert_eq!(evaluate("root", &monkeys), 12);
        let stats = evaluate_cache().stats();
        assert_eq!((stats.misses, stats.hits), (3, 2));
    }
}

mod huge_ttl_saturates {
    // (index id 14103848180) `#[io_cached(time = 100000000000000000, disk = true, map_error =
    // ..)] pub async fn is_spam(s: &str) -> Result<bool, anyhow::Error>`.
    use super::*;

    #[ttl_cached(ttl = Duration::from_secs(100000000000000000), cache = spam_cache)]
    pub async fn is_spam(s: &str) -> Result<bool, anyhow::Error> {
        Ok(s.contains("airdrop"))
    }

    pub fn main() {
        let rt = rt();
        assert!(rt.block_on(is_spam("free airdrop")).unwrap());
        assert!(rt.block_on(is_spam("free airdrop")).unwrap());
        assert_eq!(spam_cache().stats().hits, 1);
    }
}

mod static_lifetime_value_type {
    // (index id 52477494410) `#[io_cached(.., ty = "AsyncRedisCache<Uuid, Title<'_>>", ..)]
    // async fn get_cached_title_by_id(id: Uuid) -> sqlx::Result<Title<'static>>`.
    use super::*;
    use std::borrow::Cow;

    #[derive(Clone, Debug)]
    pub struct Title<'a> {
        pub name: Cow<'a, str>,
    }

    #[ttl_cached(ttl = "10m")]
    async fn get_cached_title_by_id(id: u128) -> Result<Title<'static>, String> {
        if id == 0 {
            return Err("RowNotFound".into());
        }
        Ok(Title { name: format!("title{id}").into() })
    }

    pub fn main() {
        let rt = rt();
        assert!(rt.block_on(get_cached_title_by_id(0)).is_err());
        assert_eq!(rt.block_on(get_cached_title_by_id(3)).unwrap().name, "title3");
    }
}

mod key_from_one_of_two_params {
    // (index id 21175251093) `#[io_cached(.., convert = "{stop_id}", ..)] pub async fn
    // cached_get_stop(stop_id: u32, state: Arc<AppState>) -> Result<BussesInStopResponse,
    // anyhow::Error>`.
    use super::*;
    use std::sync::Arc;

    pub struct AppState {
        pub stops: Vec<u32>,
    }
    #[derive(Clone, Debug)]
    pub struct BussesInStopResponse {
        pub stop: u32,
    }

    #[ttl_cached(ttl = "600s", key: u32 = stop_id, cache = stop_cache)]
    pub async fn cached_get_stop(
        stop_id: u32,
        state: Arc<AppState>,
    ) -> Result<BussesInStopResponse, anyhow::Error> {
        let stop = *state
            .stops
            .iter()
            .find(|s| **s == stop_id)
            .ok_or_else(|| anyhow::anyhow!("no stop {stop_id}"))?;
        Ok(BussesInStopResponse { stop })
    }

    pub fn main() {
        let rt = rt();
        let state = Arc::new(AppState { stops: vec![1] });
        assert!(rt.block_on(cached_get_stop(2, state.clone())).is_err());
        assert_eq!(rt.block_on(cached_get_stop(1, state.clone())).unwrap().stop, 1);
        let other = Arc::new(AppState { stops: vec![] });
        assert_eq!(rt.block_on(cached_get_stop(1, other)).unwrap().stop, 1);
        assert_eq!(stop_cache().stats().hits, 1);
    }
}

mod async_trait_calls_inherent_cached_fn {
    // (the code index's onion messenger) `#[async_trait] impl ClientManager for
    // MessagingClient { async fn get_or_create(onion_addr: &str) -> Result<MessagingClient> {
    // .. CLIENTS.read().await .. } }` over a `lazy_static!` map, ported with the cached
    // `async fn` an inherent one that the trait method calls (the attribute on the trait
    // method itself: ui/pass/review8-async-trait.rs).
    use super::*;
    use async_trait::async_trait;

    #[derive(Clone, Debug)]
    pub struct MessagingClient {
        pub addr: String,
    }
    static CONNECTS: AtomicUsize = AtomicUsize::new(0);

    impl MessagingClient {
        async fn new(addr: &str) -> anyhow::Result<Self> {
            CONNECTS.fetch_add(1, SeqCst);
            anyhow::ensure!(addr.ends_with(".onion"), "Invalid hostname '{}'", addr);
            Ok(Self { addr: addr.to_string() })
        }

        #[ttl_cached(ttl = "1h", cache = Self::clients)]
        async fn cached(onion_addr: &str) -> anyhow::Result<MessagingClient> {
            MessagingClient::new(onion_addr).await
        }
    }

    #[async_trait]
    pub trait ClientManager {
        async fn get_or_create(onion_addr: &str) -> anyhow::Result<MessagingClient>;
    }

    #[async_trait]
    impl ClientManager for MessagingClient {
        async fn get_or_create(onion_addr: &str) -> anyhow::Result<MessagingClient> {
            Self::cached(onion_addr).await
        }
    }

    pub fn main() {
        let rt = rt();
        assert!(rt.block_on(MessagingClient::get_or_create("bad")).is_err());
        assert_eq!(rt.block_on(MessagingClient::get_or_create("a.onion")).unwrap().addr, "a.onion");
        rt.block_on(MessagingClient::get_or_create("a.onion")).unwrap();
        assert_eq!(CONNECTS.load(SeqCst), 2);
        assert_eq!(MessagingClient::clients().stats().hits, 1);
    }
}

mod extern_c_no_mangle {
    // A C-callable lookup, `#[unsafe(no_mangle)] pub extern "C" fn`, memoized.
    use super::*;

    #[unsafe(no_mangle)]
    #[ttl_cached(ttl = "1h")]
    pub extern "C" fn review8_h50_lookup_code(code: u32) -> u32 {
        code * 2
    }

    pub fn main() {
        let f: extern "C" fn(u32) -> u32 = review8_h50_lookup_code;
        assert_eq!(f(2), 4);
    }
}

mod macro_rules_getters_with_key_type {
    // Getters written by a `macro_rules!`, whose ttl is a `$ttl:literal` and whose key type a
    // `$k:ty` fragment.
    use super::*;

    macro_rules! cached_getter {
        ($name:ident, $ttl:literal, $k:ty, $url:expr) => {
            #[ttl_cached(ttl = $ttl, key: $k = <$k>::default())]
            pub fn $name(_region: &str) -> String {
                format!("GET {}", $url)
            }
        };
    }
    cached_getter!(get_config, "5m", String, "https://example.invalid/config");
    cached_getter!(get_flags, "30s", u8, "https://example.invalid/flags");

    pub fn main() {
        assert_eq!(get_config("eu"), get_config("us"));
        assert!(get_flags("x").ends_with("flags"));
    }
}

mod instrument_ret_destructured_unsafe_env {
    // (index id 6692326003) `#[once(time = "60")] #[instrument(ret)] pub async fn
    // index(State(state): State<AppState>) -> IndexTemplate`, with an edition-2024 `unsafe`
    // `env::set_var` in the body (index id 42538935595's `default_pkcs11`).
    use super::*;

    pub struct State<S>(pub S);
    #[derive(Clone, Debug)]
    pub struct AppState;
    #[derive(Clone, Debug, PartialEq)]
    pub struct IndexTemplate {
        pub version: String,
    }

    #[ttl_cached(ttl = "60s", key: () = ())]
    #[tracing::instrument(ret, skip_all)]
    pub async fn index(State(_state): State<AppState>) -> IndexTemplate {
        unsafe { std::env::set_var("REVIEW8_H50_SEEN", "1") };
        IndexTemplate { version: std::env::var("REVIEW8_H50_SEEN").unwrap_or_default() }
    }

    pub fn main() {
        assert_eq!(rt().block_on(index(State(AppState))).version, "1");
    }
}

mod many_params_clippy_allow {
    // `#[allow(clippy::too_many_arguments)]` over eight key parameters, one borrowed.
    use super::*;

    #[allow(clippy::too_many_arguments)]
    #[ttl_cached(ttl = "1m")]
    pub fn price(a: u8, b: u8, c: u8, d: u8, e: u8, f: u8, g: u8, h: &str) -> String {
        format!("{a}{b}{c}{d}{e}{f}{g}{h}")
    }

    pub fn main() {
        assert_eq!(price(1, 2, 3, 4, 5, 6, 7, "x"), "1234567x");
    }
}

mod per_host_client_result {
    // A per-host HTTP client (`fn client_for(host: &str, ..) -> Result<reqwest::Client,
    // reqwest::Error>` in the index's API wrappers), the error not `Clone`.
    use super::*;

    #[derive(Clone, Debug)]
    pub struct HttpClient {
        pub base: String,
    }
    #[derive(Debug)]
    pub struct BuildError;

    #[ttl_cached(ttl = "1h", capacity = 64, cache = clients)]
    pub fn http_client_for(host: &str, timeout_secs: u64) -> Result<HttpClient, BuildError> {
        if timeout_secs == 0 {
            return Err(BuildError);
        }
        Ok(HttpClient { base: format!("https://{host}") })
    }

    pub fn main() {
        assert!(matches!(http_client_for("h", 0), Err(BuildError)));
        assert_eq!(http_client_for("h", 5).unwrap().base, "https://h");
        http_client_for("h", 5).unwrap();
        assert_eq!(clients().stats().hits, 1);
    }
}

fn main() {
    once_destructured_extractor::main();
    nested_fn_with_local_struct::main();
    nested_in_generic_fn::main();
    dyn_trait_param_custom_key::main();
    rc_param_outside_a_hashed_key::main();
    instrument_below_enum_key::main();
    two_owned_params_sized_cache::main();
    once_with_pool_and_macro_in_body::main();
    once_option_let_else::main();
    static_item_in_body::main();
    once_result_builder_chain::main();
    once_anyhow_env_match::main();
    once_json_wrapper_return::main();
    str_key_nested_map_value::main();
    memoize_ignore_runtime::main();
    memoize_const_in_body_format_macro::main();
    memoize_option_question_mark::main();
    unit_result_inline_format_key::main();
    option_param_shadowed_in_match::main();
    instrument_above_doc_below::main();
    cfg_gated_explicit_return::main();
    const_duration_and_capacity::main();
    pathbuf_named_format_argument::main();
    box_dyn_error_results::main();
    cow_static_and_arc_str::main();
    underscore_param_only_in_key::main();
    pub_crate_handle::main();
    static_str_key_from_enum::main();
    renamed_anyhow_alias_constant_key::main();
    recursive_static_str_key::main();
    huge_ttl_saturates::main();
    static_lifetime_value_type::main();
    key_from_one_of_two_params::main();
    async_trait_calls_inherent_cached_fn::main();
    extern_c_no_mangle::main();
    macro_rules_getters_with_key_type::main();
    instrument_ret_destructured_unsafe_env::main();
    many_params_clippy_allow::main();
    per_host_client_result::main();
}
