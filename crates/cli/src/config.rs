//! Loading the configuration: built-in defaults, then `aegis.toml` (`--config`
//! / `AEGIS_CONFIG`), then `AEGIS_*` environment variables, then the command
//! line. Any key may instead be read from a file: `AEGIS_KEK_FILE=/run/secrets/kek`
//! in the environment, or `kek_file = "/run/secrets/kek"` in the TOML file.
//! Unknown keys, values of the wrong type and values that cannot work all fail
//! with a message naming the key.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use aegis_server::Config;
use anyhow::{bail, Context};
use figment::providers::{Env, Format, Serialized, Toml};
use figment::value::{Dict, Value};
use figment::{Figment, Provider};

/// Sections of the file whose keys nest under `AEGIS_<SECTION>_…`.
const SECTIONS: &[&str] = &[
    "throttle", "argon2", "argon", "aiohttp", "import", "web", "passkeys", "metrics", "http",
    "cors", "oidc",
];

/// Variables the command line reads itself (not configuration keys).
const CLI_VARS: &[&str] = &["CONFIG", "DATABASE_URL", "LISTEN", "DATA_DIR", "LOG"];

/// Where the settings come from, besides the process environment.
pub struct Sources<'a> {
    /// The TOML file, if any.
    pub file: Option<&'a Path>,
    /// `--database` / `AEGIS_DATABASE_URL`.
    pub database: Option<String>,
    /// `--data-dir` / `AEGIS_DATA_DIR`.
    pub data_dir: Option<PathBuf>,
}

/// Maps `AEGIS_THROTTLE_IP_FAILURES` to `throttle.ip_failures` and so on.
pub fn env_key(key: &str) -> String {
    // figment hands over the variable's own case (ARGON2_MEMORY_KIB).
    let key = key.to_ascii_lowercase();
    for section in SECTIONS {
        if let Some(rest) = key.strip_prefix(section).and_then(|r| r.strip_prefix('_')) {
            return format!("{section}.{rest}");
        }
    }
    key
}

/// The commented sample `aegis.toml`: every setting, its default, what it does.
pub const SAMPLE: &str = include_str!("../../../aegis.example.toml");

/// The effective configuration as TOML, secrets masked; unset optional keys
/// are listed in a comment (TOML has no null).
pub fn effective_toml(config: &Config) -> anyhow::Result<String> {
    let serde_json::Value::Object(mut all) = config.masked() else {
        bail!("the configuration is not a table");
    };
    let unset: Vec<String> = strip_nulls(&mut all, "");
    let table: toml::Value = serde_json::from_value(serde_json::Value::Object(all))
        .context("rendering the configuration")?;
    let mut text = toml::to_string(&table).context("rendering the configuration")?;
    if !unset.is_empty() {
        text = format!("# unset: {}\n{text}", unset.join(", "));
    }
    Ok(text)
}

fn strip_nulls(map: &mut serde_json::Map<String, serde_json::Value>, prefix: &str) -> Vec<String> {
    let mut unset = Vec::new();
    map.retain(|k, v| {
        if v.is_null() {
            unset.push(format!("{prefix}{k}"));
            false
        } else {
            true
        }
    });
    for (k, v) in map.iter_mut() {
        if let serde_json::Value::Object(inner) = v {
            unset.extend(strip_nulls(inner, &format!("{prefix}{k}.")));
        }
    }
    unset
}

/// Loads, checks and returns the configuration in force.
pub fn load(sources: &Sources<'_>) -> anyhow::Result<Config> {
    load_from(sources, std::env::vars())
}

/// [`load`] with the environment given (for tests).
pub fn load_from(
    sources: &Sources<'_>,
    env: impl IntoIterator<Item = (String, String)>,
) -> anyhow::Result<Config> {
    let env: Vec<(String, String)> = env
        .into_iter()
        .filter(|(k, _)| k.starts_with("AEGIS_"))
        .collect();
    let mut fig = Figment::from(Serialized::defaults(Config::default()));
    if let Some(path) = sources.file {
        anyhow::ensure!(path.exists(), "config file {} not found", path.display());
        fig = fig.merge(Toml::file_exact(path));
    }
    // The process environment (figment's Env, which names each variable in its
    // errors), then `env` itself (the same in production; what a test gives).
    let known = Config::known_keys();
    fig = fig.merge(
        Env::prefixed("AEGIS_").filter_map(move |k| config_key(k.as_str(), &known).map(Into::into)),
    );
    let known = Config::known_keys();
    for (name, value) in &env {
        let Some(var) = name.strip_prefix("AEGIS_") else {
            continue;
        };
        match config_key(var, &known) {
            // Already read by Env above when it is the process's own.
            Some(key) if std::env::var(name).as_ref() != Ok(value) => {
                fig = fig.merge(Serialized::default(&key, parse_env_value(value)));
            }
            Some(_) => {}
            // A typo must not pass silently; the test suite's own variables are no typo.
            None if !is_cli_var(var) && !var.starts_with("TEST_") => {
                eprintln!("warning: {name} names no setting; ignored");
            }
            None => {}
        }
    }
    fig = merge_secret_files(fig, &env)?;
    check_unknown_keys(&fig)?;
    let mut config: Config = fig.extract().map_err(describe)?;
    config.core = fig.extract().map_err(describe)?;
    // The Argon spec's name for the setting (`[argon] open_registration`) wins.
    if let Some(open) = config.argon.open_registration {
        config.core.open_registration = open;
    }
    if let Some(db) = &sources.database {
        config.database = Some(db.clone());
    }
    if let Some(dir) = &sources.data_dir {
        config.data_dir = dir.clone();
    }
    config
        .validate()
        .map_err(|e| anyhow::anyhow!("invalid configuration: {e}"))?;
    Ok(config)
}

/// The key an `AEGIS_…` variable sets, if it sets one: not the command line's
/// own variables, not `…_FILE`, and only keys aegis knows (other programs'
/// `AEGIS_…` variables are none of its business).
fn config_key(name: &str, known: &[String]) -> Option<String> {
    if is_cli_var(name) {
        return None;
    }
    let key = env_key(name);
    let top = key.split('.').next().unwrap_or(&key);
    known.iter().any(|k| k == top).then_some(key)
}

/// The command line's own variables and `…_FILE` (read separately).
fn is_cli_var(name: &str) -> bool {
    let upper = name.to_ascii_uppercase();
    CLI_VARS.contains(&upper.as_str()) || upper.ends_with("_FILE")
}

/// An environment value as figment's Env reads it (`true`, `12`, `[a, b]`…).
fn parse_env_value(raw: &str) -> Value {
    raw.parse().unwrap_or_else(|_| Value::from(raw.to_owned()))
}

/// `AEGIS_<KEY>_FILE` variables and `<key>_file` entries of the file: the key's
/// value is the file's content (one trailing newline removed).
fn merge_secret_files(mut fig: Figment, env: &[(String, String)]) -> anyhow::Result<Figment> {
    let mut files: BTreeMap<String, PathBuf> = BTreeMap::new();
    if let Ok(data) = fig.data() {
        for dict in data.values() {
            collect_file_keys(dict, "", &mut files);
        }
    }
    for (name, path) in env {
        let Some(key) = name
            .strip_prefix("AEGIS_")
            .and_then(|k| k.strip_suffix("_FILE"))
        else {
            continue;
        };
        let key = match key {
            "DATABASE_URL" => "database".to_owned(),
            other => env_key(other),
        };
        files.insert(key, PathBuf::from(path));
    }
    for (key, path) in files {
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("`{key}_file`: reading {}", path.display()))?;
        let value = text
            .strip_suffix('\n')
            .map(|t| t.strip_suffix('\r').unwrap_or(t))
            .unwrap_or(&text)
            .to_owned();
        if value.is_empty() {
            bail!("`{key}_file`: {} is empty", path.display());
        }
        fig = fig.merge(Serialized::default(&key, value));
    }
    Ok(fig)
}

fn collect_file_keys(dict: &Dict, prefix: &str, out: &mut BTreeMap<String, PathBuf>) {
    for (k, v) in dict {
        let path = if prefix.is_empty() {
            k.clone()
        } else {
            format!("{prefix}.{k}")
        };
        match v {
            Value::Dict(_, inner) => collect_file_keys(inner, &path, out),
            Value::String(_, s) => {
                if let Some(base) = path.strip_suffix("_file") {
                    out.insert(base.to_owned(), PathBuf::from(s));
                }
            }
            _ => {}
        }
    }
}

/// Refuses top-level keys that neither the server nor the core knows (the
/// sections refuse their own unknown keys when extracted).
fn check_unknown_keys(fig: &Figment) -> anyhow::Result<()> {
    let known = Config::known_keys();
    let data = fig.data().map_err(describe)?;
    for dict in data.values() {
        for (key, value) in dict {
            let base = key.strip_suffix("_file").unwrap_or(key);
            if known.iter().any(|k| k == key) || (base != key && known.iter().any(|k| k == base)) {
                continue;
            }
            let origin = fig
                .get_metadata(value.tag())
                .map(origin)
                .unwrap_or_default();
            bail!("invalid configuration: unknown key `{key}`{origin}");
        }
    }
    Ok(())
}

/// ` (from TOML file /etc/aegis.toml)`, ` (from AEGIS_ environment variable(s))`.
fn origin(m: &figment::Metadata) -> String {
    match &m.source {
        Some(figment::Source::File(path)) => format!(" (from {} {})", m.name, path.display()),
        _ => format!(" (from {})", m.name),
    }
}

/// figment's error, with the key it is about written out.
fn describe(e: figment::Error) -> anyhow::Error {
    let mut lines = Vec::new();
    for err in e {
        let key = err.path.join(".");
        let origin = err.metadata.as_ref().map(origin).unwrap_or_default();
        let key = key.strip_prefix("default.").unwrap_or(&key).to_owned();
        if key.is_empty() {
            lines.push(format!("{}{origin}", err.kind));
        } else {
            lines.push(format!("`{key}`: {}{origin}", err.kind));
        }
    }
    anyhow::anyhow!("invalid configuration: {}", lines.join("; "))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load_toml(text: &str, env: &[(&str, &str)]) -> anyhow::Result<Config> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("aegis.toml");
        std::fs::write(&path, text)?;
        let env = env.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned()));
        load_from(
            &Sources {
                file: Some(&path),
                database: None,
                data_dir: None,
            },
            env,
        )
    }

    fn err(text: &str, env: &[(&str, &str)]) -> String {
        format!("{:#}", load_toml(text, env).unwrap_err())
    }

    #[test]
    fn the_sample_documents_every_key_and_loads() {
        let defaults = serde_json::to_value(Config::default().masked()).unwrap();
        fn keys(v: &serde_json::Value, prefix: &str, out: &mut Vec<String>) {
            if let serde_json::Value::Object(m) = v {
                for (k, v) in m {
                    let path = format!("{prefix}{k}");
                    if v.is_object() {
                        keys(v, &format!("{path}."), out);
                    } else {
                        out.push(path);
                    }
                }
            }
        }
        let mut all = Vec::new();
        keys(&defaults, "", &mut all);
        // Each key appears in the sample as `key =` or `# key =`, under its section.
        let mut section = String::new();
        let mut documented = Vec::new();
        for line in SAMPLE.lines() {
            let line = line.trim_start_matches('#').trim();
            if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
                section = format!("{name}.");
            } else if let Some((k, _)) = line.split_once(" = ") {
                if !k.contains(' ') {
                    documented.push(format!("{section}{k}"));
                }
            }
        }
        for k in &all {
            assert!(documented.contains(k), "{k} is not in aegis.example.toml");
        }
        // The sample as written loads, and sets only what the defaults set.
        let c = load_toml(SAMPLE, &[]).unwrap();
        assert_eq!(
            serde_json::to_value(c.masked()).unwrap(),
            defaults,
            "the sample's values must be the defaults"
        );
    }

    #[test]
    fn the_specs_dialect_keys_load() {
        // `[argon] open_registration` (argon.md §2) wins over the core's key.
        let c = load_toml(
            "open_registration = true\n[argon]\nopen_registration = false\n",
            &[],
        )
        .unwrap();
        assert!(!c.core.open_registration);
        let c = load_toml("", &[("AEGIS_ARGON_OPEN_REGISTRATION", "false")]).unwrap();
        assert!(!c.core.open_registration);
        assert!(load_toml("", &[]).unwrap().core.open_registration);
        // `[aiohttp] refresh_rotation` (aiohttp-aegis.md §6.1) is kept for that dialect.
        let c = load_toml("[aiohttp]\nrefresh_rotation = false\n", &[]).unwrap();
        assert_eq!(c.aiohttp.refresh_rotation, Some(false));
        assert!(c.core.refresh_rotation);
    }

    #[test]
    fn network_settings_load_from_file_and_env() {
        let c = load_toml(
            "trusted_proxies = [\"127.0.0.1\", \"10.0.0.0/8\"]\n\
             [http]\nmax_connections_per_ip = 16\n\
             [cors]\nallowed_origins = [\"https://panel.example.com\"]\n",
            &[
                ("AEGIS_HTTP_HEADER_READ_TIMEOUT_S", "5"),
                ("AEGIS_METRICS_PUBLIC", "true"),
                ("AEGIS_METRICS_ALLOWED_NETWORKS", "[192.168.0.0/16, ::1]"),
            ],
        )
        .unwrap();
        let trusted: Vec<String> = c.trusted_proxies.iter().map(|n| n.to_string()).collect();
        assert_eq!(trusted, ["127.0.0.1", "10.0.0.0/8"]);
        assert!(c.trusted_proxies[0].contains("::ffff:127.0.0.1".parse().unwrap()));
        assert_eq!(c.http.max_connections_per_ip, 16);
        assert_eq!(c.http.header_read_timeout_s, 5);
        assert_eq!(c.http.idle_timeout_s, 60);
        assert_eq!(c.cors.allowed_origins, ["https://panel.example.com"]);
        assert!(c.metrics.public);
        assert_eq!(c.metrics.allowed_networks.len(), 2);
        let c = load_toml("", &[("AEGIS_TRUSTED_PROXIES", "[::1/128, 172.16.0.0/12]")]).unwrap();
        assert_eq!(c.trusted_proxies.len(), 2);
        let e = err("trusted_proxies = [\"10.0.0.0/40\"]\n", &[]);
        assert!(e.contains("trusted_proxies"), "{e}");
        let e = err("[cors]\nallowed_origins = [\"*\"]\n", &[]);
        assert!(e.contains("cors.allowed_origins"), "{e}");
        let e = err("[http]\nidle_timeout_s = 0\n", &[]);
        assert!(e.contains("http.idle_timeout_s"), "{e}");
    }

    #[test]
    fn effective_toml_masks_and_lists_unset() {
        let c = Config {
            kek: Some("AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=".into()),
            ..Config::default()
        };
        let text = effective_toml(&c).unwrap();
        assert!(!text.contains("AAECAwQF"), "{text}");
        assert!(text.contains("# unset: "), "{text}");
        assert!(text.contains("[throttle]"), "{text}");
        let back: toml::Value = toml::from_str(&text).unwrap();
        assert_eq!(back["kek"].as_str(), Some(aegis_server::config::MASK));
    }

    #[test]
    fn env_keys_nest_sections() {
        assert_eq!(env_key("throttle_ip_failures"), "throttle.ip_failures");
        assert_eq!(env_key("argon2_memory_kib"), "argon2.memory_kib");
        assert_eq!(env_key("public_url"), "public_url");
        assert_eq!(env_key("ARGON2_MEMORY_KIB"), "argon2.memory_kib");
        assert_eq!(env_key("THROTTLE_IP_FAILURES"), "throttle.ip_failures");
        assert_eq!(env_key("IMPORT_LEASE_S"), "import.lease_s");
        assert_eq!(env_key("METRICS_LISTEN"), "metrics.listen");
        assert_eq!(env_key("HTTP_MAX_CONNECTIONS"), "http.max_connections");
        assert_eq!(env_key("CORS_ALLOWED_ORIGINS"), "cors.allowed_origins");
        assert_eq!(
            env_key("ARGON_OPEN_REGISTRATION"),
            "argon.open_registration"
        );
        assert_eq!(
            env_key("AIOHTTP_REFRESH_ROTATION"),
            "aiohttp.refresh_rotation"
        );
    }

    #[test]
    fn file_then_env_then_defaults() {
        let c = load_toml(
            "access_ttl_s = 600\n[throttle]\nip_failures = 7\n",
            &[("AEGIS_THROTTLE_IP_FAILURES", "9")],
        )
        .unwrap();
        assert_eq!(c.core.access_ttl_s, 600);
        assert_eq!(c.core.throttle.ip_failures, 9);
        assert_eq!(c.core.throttle.account_failures, 10);
    }

    #[test]
    fn database_timeout_loads_from_file_and_env() {
        assert_eq!(load_toml("", &[]).unwrap().database_timeout_ms, 2000);
        let c = load_toml("database_timeout_ms = 1500\n", &[]).unwrap();
        assert_eq!(c.database_timeout_ms, 1500);
        let c = load_toml(
            "database_timeout_ms = 1500\n",
            &[("AEGIS_DATABASE_TIMEOUT_MS", "800")],
        )
        .unwrap();
        assert_eq!(c.database_timeout_ms, 800);
        let e = err("database_timeout_ms = 0\n", &[]);
        assert!(e.contains("database_timeout_ms"), "{e}");
    }

    #[test]
    fn bad_values_name_their_key() {
        let e = err("[throttle]\nip_failures = \"many\"\n", &[]);
        assert!(e.contains("`throttle.ip_failures`"), "{e}");
        assert!(e.contains("aegis.toml"), "{e}");
        let e = err("access_ttl_s = 7200\n", &[]);
        assert!(e.contains("`access_ttl_s`"), "{e}");
        let e = err("log_format = \"xml\"\n", &[]);
        assert!(e.contains("`log_format`"), "{e}");
        let e = err("", &[("AEGIS_ARGON2_ITERATIONS", "zero")]);
        assert!(e.contains("`argon2.iterations`"), "{e}");
    }

    #[test]
    fn unknown_keys_are_refused() {
        let e = err("acess_ttl_s = 600\n", &[]);
        assert!(e.contains("unknown key `acess_ttl_s`"), "{e}");
        let e = err("[web]\nbogus = 1\n", &[]);
        assert!(e.contains("bogus"), "{e}");
    }

    #[test]
    fn secrets_come_from_files() {
        let dir = tempfile::tempdir().unwrap();
        let kek = dir.path().join("kek");
        let value = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
        std::fs::write(&kek, format!("{value}\n")).unwrap();
        let db = dir.path().join("db");
        std::fs::write(&db, "postgres://app:pw@db/aegis").unwrap();
        let c = load_toml(
            &format!("kek_file = {:?}\n", kek.display().to_string()),
            &[("AEGIS_DATABASE_URL_FILE", db.to_str().unwrap())],
        )
        .unwrap();
        assert_eq!(c.kek.as_deref(), Some(value));
        assert_eq!(c.database.as_deref(), Some("postgres://app:pw@db/aegis"));
        let e = err(
            "",
            &[("AEGIS_KEK_FILE", dir.path().join("nope").to_str().unwrap())],
        );
        assert!(e.contains("`kek_file`"), "{e}");
    }
}
