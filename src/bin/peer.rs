//! `peer`: parses arguments and starts the requested command.

use std::io::IsTerminal;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use swarmshare::common::magnet::Magnet;
use swarmshare::common::rate::parse_rate;
use swarmshare::peer::commands::{self, DownloadArgs};
use swarmshare::peer::dht::DhtConfig;
use swarmshare::peer::error::PeerError;
use swarmshare::peer::home::Layout;
use swarmshare::peer::index_client::IndexClient;
use swarmshare::peer::startup::Options;
use swarmshare::peer::torrent_maker::TorrentFormat;
use swarmshare::peer::{interactive, logging, tui};
use swarmshare::sys::resolve;

/// A swarmshare peer: shares upload/, searches the tracker, downloads in verified parts.
#[derive(Parser)]
#[command(
    version,
    after_help = "Without a COMMAND the peer stays online and opens its interactive interface: \
it shares upload/, and you search, download and watch from there (a full-screen view on a \
terminal; a line prompt with --plain or from a pipe, `help` lists its commands). Its log then \
goes to HOME/.swarmshare/peer.log and the screen shows only warnings. RUST_LOG sets the log \
levels (default info)."
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
    /// Address to accept peers on (default: every IPv4 and IPv6 address).
    #[arg(long, global = true, value_name = "ADDR", default_value = "::")]
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
    /// Neither offer nor act on peer exchange (BEP 11 ut_pex).
    #[arg(long, global = true)]
    no_pex: bool,
    /// Stay out of the Mainline DHT (BEP 5), which every peer joins otherwise.
    #[arg(long, global = true)]
    no_dht: bool,
    /// A DHT node to bootstrap from, HOST:PORT (repeatable); replaces the public routers.
    #[arg(long, global = true, value_name = "ADDR")]
    dht_bootstrap: Vec<String>,
    /// UDP port of the DHT node (default: the listen port's number if free, else any free port).
    #[arg(long, global = true, value_name = "PORT")]
    dht_port: Option<u16>,
    /// The torrents made for upload/ and `share --folder`: v1 (BEP 3, what
    /// every client reads), hybrid (v1 and v2 in one) or v2 (BEP 52 only).
    #[arg(long, global = true, value_enum, value_name = "FORMAT", default_value_t = TorrentFormat::V1)]
    torrent_format: TorrentFormat,
    /// With no command: resume unfinished downloads without asking.
    #[arg(long)]
    resume_all: bool,
    /// With no command: the line prompt, even on a terminal (the full-screen
    /// view opens when stdin and stdout are both terminals).
    #[arg(long, global = true)]
    plain: bool,
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
        /// A file name (or part of one), a 40-digit key, or a magnet link
        /// (quote it: it holds `&`).
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
type Addresses = (IndexClient, IpAddr, Vec<SocketAddr>, Option<DhtConfig>);

fn addresses(cli: &Cli) -> Result<Addresses, String> {
    let tracker = IndexClient::new(&cli.tracker_ip, cli.tracker_port)?;
    let bind = resolve::host(&cli.bind, 0)
        .map_err(|e| format!("invalid --bind address: {e}"))?
        .ip();
    let connect = cli
        .connect
        .iter()
        .map(|c| resolve::host_port(c).map_err(|e| format!("invalid --connect address: {e}")))
        .collect::<Result<_, _>>()?;
    let dht = if cli.no_dht {
        None
    } else {
        let bootstrap = cli
            .dht_bootstrap
            .iter()
            .map(|c| {
                resolve::host_port(c).map_err(|e| format!("invalid --dht-bootstrap address: {e}"))
            })
            .collect::<Result<_, _>>()?;
        Some(DhtConfig {
            bootstrap,
            port: cli.dht_port,
        })
    };
    Ok((tracker, bind, connect, dht))
}

fn is_magnet(s: &str) -> bool {
    s.get(..7)
        .is_some_and(|p| p.eq_ignore_ascii_case("magnet:"))
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let log_file = Layout::new(&cli.home).log_path();
    logging::init(if cli.command.is_none() {
        logging::Mode::Interactive { file: &log_file }
    } else {
        logging::Mode::Plain
    });
    let (tracker, bind, connect, dht) = match addresses(&cli) {
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
        pex: !cli.no_pex,
        dht,
        torrent_format: cli.torrent_format,
    };
    let result = match &cli.command {
        None if !cli.plain && std::io::stdin().is_terminal() && std::io::stdout().is_terminal() => {
            tui::run(&opts, cli.resume_all)
        }
        None => interactive::run(&opts, cli.resume_all),
        Some(Command::Serve) => commands::serve(&opts),
        Some(Command::Search { words, json }) => commands::search(&opts, words, *json),
        Some(Command::Download {
            target,
            torrent,
            seed,
            json,
        }) => {
            let magnet = match target
                .as_deref()
                .filter(|t| is_magnet(t))
                .map(Magnet::parse)
            {
                Some(Err(e)) => {
                    eprintln!("peer: invalid magnet link: {e}");
                    return ExitCode::from(2);
                }
                Some(Ok(m)) => Some(m),
                None => None,
            };
            commands::download(
                &opts,
                &DownloadArgs {
                    target: target.clone(),
                    magnet,
                    torrent: torrent.clone(),
                    seed: *seed,
                    json: *json,
                },
            )
        }
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
