//! `peer`: parses arguments and starts the requested command.

use std::io::{IsTerminal, Write};
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::Ordering;

use clap::{Parser, Subcommand};
use swarmshare::common::rate::parse_rate;
use swarmshare::peer::commands::{self, DownloadArgs};
use swarmshare::peer::error::PeerError;
use swarmshare::peer::index_client::IndexClient;
use swarmshare::peer::interactive;
use swarmshare::peer::startup::{LOG_PORT, Options};
use swarmshare::sys::resolve;

/// A swarmshare peer: shares upload/, searches the tracker, downloads in verified parts.
#[derive(Parser)]
#[command(version)]
#[command(
    after_help = "Without a COMMAND, the peer opens its interactive interface: it shares upload/, and you search, download and watch from there."
)]
struct Cli {
    /// The tracker's address: a dotted quad, an IPv6 literal or a host name.
    tracker_ip: String,
    /// The tracker's port.
    tracker_port: u16,
    /// Folder holding upload/, downloads/, torrents/ and the peer's state.
    #[arg(long, global = true, default_value = ".")]
    home: PathBuf,
    /// Port to accept peers on; 0 picks a free one.
    #[arg(long, global = true, default_value_t = 0)]
    listen: u16,
    /// Address to accept peers on (default: every interface).
    #[arg(long, global = true, value_name = "ADDR", default_value = "0.0.0.0")]
    bind: String,
    /// Upload limit in bytes per second (K and M suffixes allowed).
    #[arg(long, global = true, value_parser = parse_rate, value_name = "RATE")]
    upload_rate: Option<u64>,
    /// Download limit in bytes per second (K and M suffixes allowed).
    #[arg(long, global = true, value_parser = parse_rate, value_name = "RATE")]
    download_rate: Option<u64>,
    /// Peers unchoked at once, besides the optimistic unchoke.
    #[arg(long, global = true, default_value_t = 4)]
    upload_slots: usize,
    /// Peers connected at once per torrent (four times as many over all torrents).
    #[arg(long, global = true, default_value_t = 50, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    max_peers: u32,
    /// Also dial this peer (HOST:PORT) for every torrent, even while seeding (repeatable).
    #[arg(long, global = true, value_name = "ADDR")]
    connect: Vec<String>,
    /// With no command: resume unfinished downloads without asking.
    #[arg(long)]
    resume_all: bool,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Share upload/ and finished downloads until SIGINT or SIGTERM.
    Serve,
    /// Search the tracker by keywords.
    Search {
        #[arg(required = true)]
        words: Vec<String>,
        /// Print the tracker's answer as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Download a file by name or key, resuming what is already on disk.
    Download {
        /// A file name (or part of one) or a 40-digit key.
        #[arg(required_unless_present = "torrent")]
        target: Option<String>,
        /// Download straight from this .torrent file.
        #[arg(long, value_name = "FILE")]
        torrent: Option<PathBuf>,
        /// Stay online afterwards and share, like serve.
        #[arg(long)]
        seed: bool,
        /// Print one JSON summary at the end.
        #[arg(long)]
        json: bool,
    },
    /// Print a .torrent in the assignment's form: Name, Key, size, n_parts.
    Show { file: PathBuf },
    /// Share a folder as one multi-file torrent, now and at every later serve
    /// (a folder outside upload/ is copied into it).
    Share {
        #[arg(long, value_name = "PATH")]
        folder: PathBuf,
    },
    /// List the peer ledger, most preferred first.
    Peers {
        #[arg(long)]
        json: bool,
    },
}

/// The tracker, the listen address and the `--connect` peers, each checked
/// strictly (`1.2.3` is a typo, not 1.2.0.3) and resolved.
fn addresses(cli: &Cli) -> Result<(IndexClient, IpAddr, Vec<SocketAddr>), String> {
    let tracker = IndexClient::new(&cli.tracker_ip, cli.tracker_port)?;
    let bind = resolve::host(&cli.bind, 0)
        .map_err(|e| format!("invalid --bind address: {e}"))?
        .ip();
    let connect = cli
        .connect
        .iter()
        .map(|c| resolve::host_port(c).map_err(|e| format!("invalid --connect address: {e}")))
        .collect::<Result<_, _>>()?;
    Ok((tracker, bind, connect))
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // On a terminal, each log line first clears the progress line it would break.
    let clear = if std::io::stderr().is_terminal() {
        "\r\x1b[K"
    } else {
        ""
    };
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info"))
        .format(move |buf, record| {
            let port = LOG_PORT.load(Ordering::Relaxed);
            writeln!(
                buf,
                "{clear}[{} peer:{port}] {}",
                record.level(),
                record.args()
            )
        })
        .init();
    let (tracker, bind, connect) = match addresses(&cli) {
        Ok(x) => x,
        Err(e) => {
            // A mistyped address is a usage error, like clap's own.
            eprintln!("peer: {e}");
            return ExitCode::from(2);
        }
    };
    let opts = Options {
        tracker,
        home: cli.home.clone(),
        bind,
        listen_port: cli.listen,
        upload_rate: cli.upload_rate,
        download_rate: cli.download_rate,
        upload_slots: cli.upload_slots,
        max_peers: cli.max_peers as usize,
        connect,
    };
    let result = match &cli.command {
        None => interactive::run(&opts, cli.resume_all),
        Some(Command::Serve) => commands::serve(&opts),
        Some(Command::Search { words, json }) => commands::search(&opts, words, *json),
        Some(Command::Download {
            target,
            torrent,
            seed,
            json,
        }) => commands::download(
            &opts,
            &DownloadArgs {
                target: target.clone(),
                torrent: torrent.clone(),
                seed: *seed,
                json: *json,
            },
        ),
        Some(Command::Show { file }) => commands::show(file),
        Some(Command::Share { folder }) => commands::share(&opts, folder),
        Some(Command::Peers { json }) => commands::peers(&cli.home, *json),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(PeerError::Interrupted) => ExitCode::from(130),
        Err(e) => {
            eprintln!("peer: {e}");
            ExitCode::FAILURE
        }
    }
}
