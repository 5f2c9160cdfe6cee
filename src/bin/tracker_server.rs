//! `tracker_server`: parses arguments and starts the tracker.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use swarmshare::sys::resolve;
use swarmshare::tracker::server::{DEFAULT_MAX_CONNS_PER_IP, Tracker, TrackerConfig};

/// The swarmshare tracker: HTTP and UDP announce (BEP 3/23/15, IPv6 by BEP 7),
/// scrape, publish and keyword search.
#[derive(Parser)]
#[command(version)]
struct Args {
    /// Address to listen on: a dotted quad, an IPv6 literal or a host name.
    /// `::` (the default) means every IPv4 and IPv6 address.
    #[arg(long, default_value = "::")]
    ip: String,
    /// Port to listen on, for HTTP and (unless --udp-port says otherwise) UDP.
    #[arg(long, default_value_t = 6969)]
    port: u16,
    /// UDP port for BEP 15 announces and scrapes (default: the HTTP port's number).
    #[arg(long, conflicts_with = "no_udp")]
    udp_port: Option<u16>,
    /// Do not answer UDP announces.
    #[arg(long)]
    no_udp: bool,
    /// Threads answering UDP, each on its own socket (default: one per core).
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=64))]
    udp_workers: Option<u64>,
    /// UDP datagrams a second one address may send before the rest are dropped; 0: no limit.
    #[arg(long, default_value_t = 1000)]
    udp_rate_limit: u32,
    /// Folder for published torrents and search_content.txt.
    #[arg(long, default_value = ".")]
    data_dir: PathBuf,
    /// Seconds between announces that peers are asked to keep; silence for two drops a peer.
    #[arg(long, default_value_t = 60, value_parser = clap::value_parser!(u32).range(1..=86400))]
    interval: u32,
    /// Open connections one IP address may hold at once; past it, new ones get 503.
    #[arg(long, default_value_t = DEFAULT_MAX_CONNS_PER_IP as u64, value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    max_conns_per_ip: u64,
}

/// The address a client on this machine reaches: the bound one, or IPv4
/// loopback when bound to every address (`::` takes IPv4 too).
fn local_url(scheme: &str, local: SocketAddr, path: &str) -> String {
    let ip = match local.ip() {
        ip if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        ip => ip,
    };
    format!("{scheme}://{}{path}", SocketAddr::new(ip, local.port()))
}

fn ipv6_available() -> bool {
    std::net::TcpListener::bind((Ipv6Addr::LOCALHOST, 0)).is_ok()
}

fn main() -> ExitCode {
    let args = Args::parse();
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info"))
        .format_target(false)
        .init();
    let ip = match resolve::host(&args.ip, 0) {
        Ok(a) => a.ip(),
        Err(e) => {
            // A mistyped address is a usage error, like clap's own.
            eprintln!("tracker_server: invalid --ip address: {e}");
            return ExitCode::from(2);
        }
    };
    let workers = args.udp_workers.map_or_else(
        || std::thread::available_parallelism().map_or(1, |n| n.get()),
        |n| n as usize,
    );
    let mut config = TrackerConfig {
        ip,
        port: args.port,
        data_dir: args.data_dir,
        interval_secs: args.interval,
        max_conns_per_ip: args.max_conns_per_ip as usize,
        udp_port: (!args.no_udp).then_some(args.udp_port.unwrap_or(0)),
        udp_workers: workers,
        udp_rate_limit: args.udp_rate_limit,
    };
    let mut bound = Tracker::bind(&config);
    if bound.is_err() && args.ip == "::" && !ipv6_available() {
        // The default on a machine without IPv6: every IPv4 address.
        config.ip = IpAddr::V4(Ipv4Addr::UNSPECIFIED);
        bound = Tracker::bind(&config);
    }
    let (tracker, listeners) = match bound {
        Ok(x) => x,
        Err(e) => {
            eprintln!("tracker_server: {e}");
            return ExitCode::FAILURE;
        }
    };
    let local = listeners.http.local_addr().ok();
    let udp_local = listeners.udp.first().and_then(|s| s.local_addr().ok());
    let t = tracker.clone();
    if let Err(e) = std::thread::Builder::new()
        .name("accept".into())
        .spawn(move || {
            if let Err(e) = t.serve(listeners) {
                eprintln!("tracker_server: cannot start: {e}");
                std::process::exit(1);
            }
        })
    {
        eprintln!("tracker_server: cannot start: {e}");
        return ExitCode::FAILURE;
    }
    if let Some(local) = local {
        swarmshare::say!("tracker listening on {local}");
        swarmshare::say!("tracker page: {}", local_url("http", local, "/"));
    }
    if let Some(udp) = udp_local {
        swarmshare::say!(
            "tracker UDP announce: {}",
            local_url("udp", udp, "/announce")
        );
    }
    let mut signals = match signal_hook::iterator::Signals::new([
        signal_hook::consts::SIGINT,
        signal_hook::consts::SIGTERM,
    ]) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("tracker_server: cannot handle signals: {e}");
            return ExitCode::FAILURE;
        }
    };
    if let Some(sig) = signals.forever().next() {
        // Holding the store's lock means no publish is half written when we exit.
        let _store = tracker.quiesce();
        log::info!("signal {sig}: shutting down");
    }
    ExitCode::SUCCESS
}
