//! `ferrovex jwks latest|rotate`: print or rotate the JWT signing keys, in the format Better
//! Auth's `getLatestJwks` prints (what belongs in the `JWKS` variable for static mode).

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context as _;
use ferrovex_auth::keys::{JwksRow, SigningKey, new_id, parse_jwks_env};
use ferrovex_auth::time::now_ms;

use crate::serve::{AuthArgs, open_engine, start_auth};

/// Flags of `ferrovex jwks`.
#[derive(clap::Args, Debug)]
pub struct JwksArgs {
    #[command(subcommand)]
    action: JwksAction,
    /// Directory holding the SQLite database.
    #[arg(
        long,
        global = true,
        env = "FERROVEX_DATA_DIR",
        default_value = "./ferrovex-data"
    )]
    data_dir: PathBuf,
    /// The PostgreSQL database of a deployment that keeps its data there (`DATABASE_URL`
    /// works too).
    #[arg(long, global = true, env = "FERROVEX_DATABASE_URL")]
    database_url: Option<String>,
    #[command(flatten)]
    auth: AuthArgs,
}

#[derive(clap::Subcommand, Debug)]
enum JwksAction {
    /// Print the newest key as a `JWKS` value (creating the first key if there is none).
    Latest,
    /// Add a new key; print every key, newest first, as a `JWKS` value. With `JWKS` set
    /// (static mode) the new key is added to those keys instead of the database.
    Rotate,
}

/// Runs the subcommand.
pub async fn jwks(app: &ferrovex_engine::App, args: JwksArgs) -> anyhow::Result<ExitCode> {
    let secret_given =
        args.auth.auth_secret.is_some() || std::env::var("BETTER_AUTH_SECRET").is_ok();
    if let (JwksAction::Rotate, Some(env), true) = (&args.action, &args.auth.jwks, secret_given) {
        // Static mode: no database involved.
        let secret = args
            .auth
            .auth_secret
            .clone()
            .or_else(|| std::env::var("BETTER_AUTH_SECRET").ok())
            .unwrap_or_default();
        let mut keys = parse_jwks_env(env, &secret)?;
        let key =
            tokio::task::spawn_blocking(|| SigningKey::generate(new_id(), now_ms())).await??;
        keys.push(Arc::new(key));
        let rows = keys
            .iter()
            .rev()
            .map(|k| JwksRow::from_key(k, &secret).map(|r| r.to_json()))
            .collect::<Result<Vec<_>, _>>()?;
        println!("{}", serde_json::Value::Array(rows));
        return Ok(ExitCode::SUCCESS);
    }
    let storage =
        crate::serve::Storage::from_flags(&args.data_dir, args.database_url.as_deref(), "normal")?;
    let engine = open_engine(app, &storage, false, false)?;
    let mut auth_args = args.auth.clone();
    auth_args.jwks = None;
    let site_url = auth_args
        .site_url
        .clone()
        .unwrap_or_else(|| "http://127.0.0.1:3211".to_owned());
    let auth = start_auth(&engine, &auth_args, site_url)
        .await
        .context("cannot open the key store")?;
    let out = match args.action {
        JwksAction::Latest => auth.export_jwks(false).await?,
        JwksAction::Rotate => {
            auth.rotate_now().await?;
            auth.export_jwks(true).await?
        }
    };
    println!("{out}");
    drop(auth);
    tokio::task::spawn_blocking(move || engine.shutdown()).await?;
    Ok(ExitCode::SUCCESS)
}
