#![doc = include_str!("../README.md")]

/// Writes a line to stdout like `println!`, but a reader that went away (`simctl list | head`)
/// ends the process quietly with exit 0 instead of a panic: it has read what it wanted.
macro_rules! say {
    ($($arg:tt)*) => {
        $crate::write_out(format_args!($($arg)*), true)
    };
}

/// As [`say!`], without the newline.
macro_rules! say_part {
    ($($arg:tt)*) => {
        $crate::write_out(format_args!($($arg)*), false)
    };
}

/// What [`say!`] and [`say_part!`] do.
fn write_out(args: std::fmt::Arguments<'_>, newline: bool) {
    let mut out = std::io::stdout().lock();
    let written = out.write_fmt(args).and_then(|()| {
        if newline {
            out.write_all(b"\n")
        } else {
            Ok(())
        }
    });
    if let Err(e) = written {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            std::process::exit(0);
        }
        eprintln!("simctl: cannot write to stdout: {e}");
        std::process::exit(Code::Error as i32);
    }
}

mod admin;
mod bounds;
mod config;
mod exit;
mod sandbox;
mod serve;
mod target;
mod verbs;

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::{Parser, Subcommand};
use serde_json::{Map, Value, json};

use crate::config::Config;
use crate::exit::{Code, Failure};
use crate::sandbox::{ADMIN_OFFSET, PROVIDERS, Sandboxes};
use crate::target::Target;
use crate::verbs::Output;

const ABOUT: &str = "One command line for the SIM SDK family: serve the provider sandboxes, \
or get, set, list, plan and apply SIM states on the real providers or a sandbox.";

const LONG_ABOUT: &str = "\
One command line for the SIM SDK family.

`simctl sandbox` serves stateful local stand-ins of Super SIM (KORE or Twilio), emnify, Sixfab \
Connect and EdgeIQ on 127.0.0.1, with an admin API, for tests written in any language.

The other verbs reach the real providers with the credentials in the environment \
(KORE_CLIENT_ID/KORE_CLIENT_SECRET or TWILIO_ACCOUNT_SID/TWILIO_AUTH_TOKEN, \
EMNIFY_APPLICATION_TOKEN, SIXFAB_API_KEY, EDGEIQ_API_TOKEN; SUPERSIM_BASE_URL, \
EMNIFY_BASE_URL, SIXFAB_BASE_URL, EDGEIQ_BASE_URL override where they send), or a sandbox: \
`--sandbox URL` (or SIMCTL_SANDBOX) with the admin URL `simctl sandbox` printed, or \
`--sandbox auto` to start one in this process for one command. A write to a real provider \
asks first; `--yes` answers yes.";

#[derive(Debug, Parser)]
#[command(name = "simctl", version, about = ABOUT, long_about = LONG_ABOUT, after_long_help = exit::TABLE)]
struct Cli {
    /// How to print results: `text` for a person, `json` for a script.
    #[arg(long, short = 'o', value_enum, default_value_t = Output::Text, global = true)]
    output: Output,

    /// Send to a sandbox instead of the real providers: the admin URL `simctl sandbox`
    /// printed (http://127.0.0.1:PORT), or `auto` to start one here for this command.
    #[arg(long, global = true, value_name = "URL|auto")]
    sandbox: Option<String>,

    /// Answer yes to the confirmation a write to a real provider asks for.
    #[arg(long, short = 'y', global = true)]
    yes: bool,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve the four provider sandboxes and the admin API on 127.0.0.1 until Ctrl-C or SIGTERM.
    #[command(long_about = SANDBOX_LONG, after_long_help = exit::TABLE)]
    Sandbox {
        /// Seed and set up the sandboxes from a TOML (`.toml`) or JSON file (see the README).
        #[arg(long, value_name = "FILE")]
        config: Option<PathBuf>,
        /// Listen on fixed ports: supersim on N, emnify N+1, sixfab N+2, edgeiq N+3, the
        /// admin API N+4. Absent or 0: ephemeral ports.
        #[arg(long, value_name = "N")]
        port_base: Option<u16>,
    },
    /// Show a SIM: its canonical state, the provider's word for it, name and ICCID.
    #[command(after_long_help = exit::TABLE)]
    Get {
        /// supersim (or kore, twilio), emnify, sixfab, edgeiq.
        provider: String,
        /// The provider's id of the SIM (Super SIM: SID or unique name; Sixfab: serial, UUID…).
        id: String,
    },
    /// Change a SIM's state and/or name; refused before sending when the provider's rules
    /// forbid it (exit 3).
    #[command(after_long_help = exit::TABLE)]
    Set {
        /// supersim (or kore, twilio), emnify, sixfab, edgeiq.
        provider: String,
        /// The provider's id of the SIM.
        id: String,
        /// The state to set: new, ready, active, inactive, retired (each provider takes some).
        #[arg(long)]
        state: Option<String>,
        /// The name to set (where the provider has names).
        #[arg(long)]
        name: Option<String>,
    },
    /// List a provider's SIMs, optionally only those in one state.
    #[command(after_long_help = exit::TABLE)]
    List {
        /// supersim (or kore, twilio), emnify, sixfab, edgeiq.
        provider: String,
        /// Only SIMs in this canonical state.
        #[arg(long)]
        state: Option<String>,
    },
    /// Plan a desired state from a CSV (`provider,id,target[,name]`): the charges first, then
    /// what would change for every row. Reads only.
    #[command(after_long_help = exit::TABLE)]
    Plan {
        /// The CSV file.
        file: PathBuf,
        /// Save the plan here, to apply later.
        #[arg(long, value_name = "PLAN")]
        out: Option<PathBuf>,
        /// Price books (JSON or TOML) with your contracts' prices.
        #[arg(long, value_name = "FILE")]
        prices: Option<PathBuf>,
    },
    /// Apply a saved plan: each SIM is read again and only what is still as the plan saw it is
    /// sent (a SIM changed since is reported stale). Each entry is applied whole or refused
    /// whole; a plan edited since `simctl plan` saved it is refused unless --allow-edited.
    #[command(after_long_help = exit::TABLE)]
    Apply {
        /// The plan `simctl plan --out` saved.
        plan: PathBuf,
        /// Wait up to this long (`90s`, `5m`, `1h`, `500ms`) for the changes left in progress
        /// (Super SIM's `scheduled`) to settle before reporting.
        #[arg(long, value_name = "DURATION")]
        wait: Option<String>,
        /// Apply a plan whose entries no longer match the digest `simctl plan` sealed them with
        /// (an edited plan). Each entry is still checked whole by the provider's rules.
        #[arg(long)]
        allow_edited: bool,
    },
}

const SANDBOX_LONG: &str = "\
Serve the four provider sandboxes and the admin API on 127.0.0.1 until Ctrl-C or SIGTERM \
(then exit 0).

Each sandbox is stateful and enforces its provider's rules; all four share one clock, virtual \
by default, that the admin API moves forward (POST /v1/clock/advance {\"months\": 3}).

Prints each provider's base URL, throwaway credentials and the environment a client would set, \
or with --output json one line, printed once every server listens:
{\"admin\": URL, \"clock\": {...}, \"providers\": {\"supersim\": {\"base_url\", \"dialect\", \
credentials, \"env\"}, \"emnify\": ..., \"sixfab\": ..., \"edgeiq\": ...}, \"env\": {...}}

Admin API (JSON): GET /v1/providers, GET /v1/state, GET /v1/{provider}/state, \
GET|DELETE /v1/{provider}/requests, POST /v1/{provider}/faults, POST /v1/{provider}/limits, \
POST /v1/{provider}/sims/{id}/usage, GET /v1/clock, POST /v1/clock/advance, \
GET /v1/sixfab/ledger. Every error is {\"error\": {\"message\": ...}} with a 4xx; every number \
has a bound (fault counts at most 10000, delays at most 600000 ms, a clock move at most a \
century: see the README), refused with a 400 that names it.";

/// How long the runtime waits, once a command is done, for tasks still running (a connection
/// past its grace period) before it drops them: the process exits whatever they wait for.
const RUNTIME_SHUTDOWN: Duration = Duration::from_millis(500);

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        // clap prints the help, the version or the usage error and exits 0 or 2.
        Err(e) => e.exit(),
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("simctl: cannot start the async runtime: {e}");
            return ExitCode::from(Code::Error as u8);
        }
    };
    let code = runtime.block_on(main_async(cli));
    runtime.shutdown_timeout(RUNTIME_SHUTDOWN);
    code
}

async fn main_async(cli: Cli) -> ExitCode {
    let output = cli.output;
    match run(cli).await {
        Ok(code) => ExitCode::from(code as u8),
        Err(failure) => {
            match output {
                Output::Json => say!("{}", failure.to_json()),
                Output::Text => eprintln!("simctl: {failure}"),
            }
            ExitCode::from(failure.code as u8)
        }
    }
}

async fn run(cli: Cli) -> Result<Code, Failure> {
    if let Command::Sandbox { config, port_base } = &cli.command {
        if cli.sandbox.is_some() {
            return Err(Failure::usage(
                "`simctl sandbox` serves a sandbox: --sandbox does not apply",
            ));
        }
        let config = match config {
            Some(path) => Config::load(path)?,
            None => Config::default(),
        };
        return serve(&config, *port_base, cli.output).await;
    }
    let target = Target::resolve(cli.sandbox.as_deref()).await?;
    match &cli.command {
        Command::Get { provider, id } => verbs::get(&target, provider, id, cli.output).await,
        Command::Set {
            provider,
            id,
            state,
            name,
        } => {
            verbs::set(
                &target,
                provider,
                id,
                state.as_deref(),
                name.as_deref(),
                cli.yes,
                cli.output,
            )
            .await
        }
        Command::List { provider, state } => {
            verbs::list(&target, provider, state.as_deref(), cli.output).await
        }
        Command::Plan { file, out, prices } => {
            verbs::plan(&target, file, out.as_deref(), prices.as_deref(), cli.output).await
        }
        Command::Apply {
            plan,
            wait,
            allow_edited,
        } => {
            let options = verbs::ApplyOptions {
                wait: wait.as_deref().map(verbs::parse_duration).transpose()?,
                allow_edited: *allow_edited,
            };
            verbs::apply(&target, plan, &options, cli.yes, cli.output).await
        }
        Command::Sandbox { .. } => unreachable!("handled above"),
    }
}

/// `simctl sandbox`: starts everything, prints where it is, serves until told to stop.
async fn serve(config: &Config, port_base: Option<u16>, output: Output) -> Result<Code, Failure> {
    let sandboxes = Sandboxes::start(config, port_base).await?;
    let admin_port = match port_base {
        None | Some(0) => 0,
        Some(base) => base + ADMIN_OFFSET,
    };
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", admin_port))
        .await
        .map_err(|e| {
            Failure::error(format!(
                "the admin API could not listen on 127.0.0.1:{admin_port}: {e}"
            ))
        })?;
    let addr = listener
        .local_addr()
        .map_err(|e| Failure::error(format!("the admin API has no address: {e}")))?;
    let url = format!("http://{addr}");
    let admin = Arc::new(admin::Admin {
        sandboxes,
        url: url.clone(),
    });
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let server = tokio::spawn(serve::serve(
        listener,
        admin::router(admin.clone()),
        stopped,
    ));

    let signals = StopSignals::listen()?;
    // Every server listens from here on: say where.
    let providers = admin.sandboxes.describe();
    let mut env = Map::new();
    for p in PROVIDERS {
        if let Some(vars) = providers[p]["env"].as_object() {
            env.extend(vars.clone());
        }
    }
    env.insert(target::SANDBOX_ENV.to_owned(), Value::from(url.clone()));
    let clock = admin::clock_json(&admin.sandboxes);
    match output {
        Output::Json => say!(
            "{}",
            json!({"admin": url, "clock": clock, "providers": providers, "env": env})
        ),
        Output::Text => print_blocks(&url, &clock, &providers, &env),
    }
    let _ = std::io::stdout().flush();

    signals.wait().await;
    // Every server stops at once, each within its grace period whatever its clients do (half a
    // request sent, a connection held open): the admin API and the four sandboxes.
    let _ = stop.send(true);
    let (_, ()) = tokio::join!(server, admin.sandboxes.shutdown());
    drop(admin);
    if output == Output::Text {
        eprintln!("simctl sandbox: stopped");
    }
    Ok(Code::Ok)
}

fn print_blocks(url: &str, clock: &Value, providers: &Value, env: &Map<String, Value>) {
    say!("simctl sandbox: four provider sandboxes on 127.0.0.1 (Ctrl-C to stop)");
    for p in PROVIDERS {
        let v = &providers[p];
        let title = match v["dialect"].as_str() {
            Some(d) => format!("{p} ({d})"),
            None => p.to_owned(),
        };
        say!("\n{title}");
        if let Some(o) = v.as_object() {
            for (k, val) in o {
                if let (false, Some(text)) = (k == "env" || k == "dialect", val.as_str()) {
                    say!("  {k:<18} {text}");
                }
            }
        }
        if let Some(vars) = v["env"].as_object() {
            for (k, val) in vars {
                say!("  export {k}={}", val.as_str().unwrap_or_default());
            }
        }
    }
    say!("\nadmin API");
    say!("  {:<18} {url}", "url");
    say!(
        "  {:<18} {} ({})",
        "clock",
        clock["now"].as_str().unwrap_or_default(),
        if clock["frozen"] == true {
            "virtual, frozen"
        } else if clock["virtual"] == true {
            "virtual: POST /v1/clock/advance moves it"
        } else {
            "real"
        }
    );
    say!("  export {}={url}", target::SANDBOX_ENV);
    say!(
        "\nall variables in one line:\n  export {}",
        env.iter()
            .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default()))
            .collect::<Vec<_>>()
            .join(" ")
    );
}

/// Ctrl-C and SIGTERM, listened for from the moment it is made: made before the startup line
/// is printed, so a test that stops the sandbox as soon as it has read the line is heard.
struct StopSignals {
    #[cfg(unix)]
    interrupt: tokio::signal::unix::Signal,
    #[cfg(unix)]
    terminate: tokio::signal::unix::Signal,
}

impl StopSignals {
    fn listen() -> Result<StopSignals, Failure> {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            let listen = |kind: SignalKind, name: &str| {
                signal(kind).map_err(|e| Failure::error(format!("cannot listen for {name}: {e}")))
            };
            Ok(StopSignals {
                interrupt: listen(SignalKind::interrupt(), "SIGINT")?,
                terminate: listen(SignalKind::terminate(), "SIGTERM")?,
            })
        }
        #[cfg(not(unix))]
        {
            Ok(StopSignals {})
        }
    }

    /// Waits for the first of them.
    async fn wait(mut self) {
        #[cfg(unix)]
        {
            tokio::select! {
                _ = self.interrupt.recv() => {}
                _ = self.terminate.recv() => {}
            }
        }
        #[cfg(not(unix))]
        {
            let _ = &mut self;
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}
