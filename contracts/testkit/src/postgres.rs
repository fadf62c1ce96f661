//! A real PostgreSQL server for the tests: started once per test process (`initdb` into a
//! temporary directory, then `postgres` on a free loopback port, as the `postgres` user when the
//! tests run as root, which the server refuses to run as), and a fresh database for each caller
//! of [`database`]. The server runs with `fsync=off` (the tests check behaviour, not durability
//! against power loss); a watcher process stops it and removes its directory when the test
//! process exits, however it exits.
//!
//! The binaries come from `VERDICT_PG_BIN`, else `PATH`, else Debian's `/usr/lib/postgresql/*/bin`
//! (`scripts/install_postgres.sh` installs Debian's package).

use std::{
    path::{Path, PathBuf},
    process::{Child, ChildStdin, Command, Stdio},
    sync::{
        atomic::{AtomicU64, Ordering},
        Mutex, OnceLock,
    },
    time::{Duration, Instant},
};

/// The running server.
struct Server {
    port: u16,
    bin: PathBuf,
    /// Held open: the watcher stops the server when it closes (at process exit).
    _watcher: Mutex<(Child, ChildStdin)>,
}

static SERVER: OnceLock<Result<Server, String>> = OnceLock::new();
static NEXT: AtomicU64 = AtomicU64::new(0);

/// The directory holding `initdb`, `postgres` and `psql`.
fn bin_dir() -> Result<PathBuf, String> {
    if let Ok(dir) = std::env::var("VERDICT_PG_BIN") {
        return Ok(PathBuf::from(dir));
    }
    let on_path = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .unwrap_or_default()
        .into_iter()
        .find(|d| d.join("initdb").is_file() && d.join("postgres").is_file());
    if let Some(d) = on_path {
        // Through symlinks (e.g. /usr/local/bin) to the directory that also has psql and
        // pg_isready.
        let real = std::fs::canonicalize(d.join("postgres")).ok().and_then(|p| p.parent().map(Path::to_path_buf));
        return Ok(real.unwrap_or(d));
    }
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .map_err(|_| "no PostgreSQL found: run scripts/install_postgres.sh (Debian's package) or set VERDICT_PG_BIN")?
        .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
        .filter(|d| d.join("initdb").is_file())
        .collect();
    versions.sort_by_key(|d| d.parent().and_then(|v| v.file_name()?.to_str()?.parse::<u32>().ok()).unwrap_or(0));
    versions.pop().ok_or_else(|| "no initdb under /usr/lib/postgresql/*/bin".into())
}

fn is_root() -> bool {
    Command::new("id").arg("-u").output().is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

/// `program` as the server's user: `runuser -u postgres` when we are root.
fn as_server_user(program: &Path, root: bool) -> Command {
    if root {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(program);
        c
    } else {
        Command::new(program)
    }
}

fn run(mut c: Command, what: &str) -> Result<(), String> {
    let out = c.output().map_err(|e| format!("{what}: {e}"))?;
    if !out.status.success() {
        return Err(format!("{what} failed: {}", String::from_utf8_lossy(&out.stderr)));
    }
    Ok(())
}

fn start() -> Result<Server, String> {
    let bin = bin_dir()?;
    let root = is_root();
    let dir = tempfile::Builder::new().prefix("verdict-pg-").tempdir().map_err(|e| e.to_string())?.keep();
    let data = dir.join("data");
    if root {
        let mut c = Command::new("chown");
        c.args(["-R", "postgres:postgres"]).arg(&dir);
        run(c, "chown the server's directory to postgres")?;
    }
    let mut init = as_server_user(&bin.join("initdb"), root);
    init.arg("-D").arg(&data).args(["-U", "postgres", "--auth=trust", "--no-sync", "-E", "UTF8", "--no-locale"]);
    run(init, "initdb")?;
    let port = crate::free_port();
    let mut server = as_server_user(&bin.join("postgres"), root);
    server
        .arg("-D")
        .arg(&data)
        .args(["-p", &port.to_string(), "-h", "127.0.0.1", "-k"])
        .arg(&dir)
        .args(["-c", "fsync=off", "-c", "max_connections=400", "-c", "shared_buffers=32MB"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(dir.join("server.log")).map_err(|e| e.to_string())?);
    server.spawn().map_err(|e| format!("cannot start postgres: {e}"))?;
    // Stops the server (fast shutdown) and removes its directory once our end of its stdin closes.
    let mut watcher = Command::new("sh")
        .args([
            "-c",
            r#"read _; kill -INT "$(head -n 1 "$1/data/postmaster.pid" 2>/dev/null)" 2>/dev/null
               for _ in $(seq 100); do [ -e "$1/data/postmaster.pid" ] || break; sleep 0.1; done
               rm -rf "$1""#,
            "sh",
        ])
        .arg(&dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot start the server's watcher: {e}"))?;
    let stdin = watcher.stdin.take().ok_or("the watcher's stdin")?;
    let ready = Instant::now() + Duration::from_secs(30);
    loop {
        let ok = Command::new(bin.join("pg_isready"))
            .args(["-q", "-h", "127.0.0.1", "-p", &port.to_string()])
            .status()
            .is_ok_and(|s| s.success());
        if ok {
            break;
        }
        if Instant::now() > ready {
            let log = std::fs::read_to_string(dir.join("server.log")).unwrap_or_default();
            return Err(format!("postgres did not become ready in 30 s: {log}"));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Ok(Server { port, bin, _watcher: Mutex::new((watcher, stdin)) })
}

/// A fresh, empty database on the tests' server (started on first use): its `postgres://` URL.
///
/// # Panics
/// When no server can be started or the database cannot be made (a test cannot run without it).
pub fn database() -> String {
    let server = SERVER.get_or_init(start).as_ref().unwrap_or_else(|e| panic!("PostgreSQL for the tests: {e}"));
    let name = format!("verdict_{}_{}", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed));
    let mut c = Command::new(server.bin.join("psql"));
    c.args(["-q", "-h", "127.0.0.1", "-p", &server.port.to_string(), "-U", "postgres", "-d", "postgres", "-c"])
        .arg(format!("CREATE DATABASE {name}"));
    run(c, "CREATE DATABASE").unwrap_or_else(|e| panic!("{e}"));
    format!("postgres://postgres@127.0.0.1:{}/{name}", server.port)
}
