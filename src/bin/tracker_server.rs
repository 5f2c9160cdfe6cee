//! `tracker_server`: parses arguments and starts the tracker.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use swarmshare::sys::resolve;
use swarmshare::tracker::server::{DEFAULT_MAX_CONNS_PER_IP, Tracker, TrackerConfig};

/// The swarmshare tracker: HTTP announce (BEP 3/23), scrape, publish and keyword search.
#[derive(Parser)]
#[command(version)]
struct Args {
    /// Address to listen on: a dotted quad, an IPv6 literal or a host name.
    #[arg(long, default_value = "0.0.0.0")]
    ip: String,
    /// Port to listen on.
    #[arg(long, default_value_t = 6969)]
    port: u16,
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

/// The page's address for a browser on this machine: the bound address, or
/// loopback when bound to every interface.
fn page_url(local: SocketAddr) -> String {
    let ip = match local.ip() {
        IpAddr::V4(v4) if v4.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(v6) if v6.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    format!("http://{}/", SocketAddr::new(ip, local.port()))
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
    let config = TrackerConfig {
        ip,
        port: args.port,
        data_dir: args.data_dir,
        interval_secs: args.interval,
        max_conns_per_ip: args.max_conns_per_ip as usize,
    };
    let (tracker, listener) = match Tracker::bind(&config) {
        Ok(x) => x,
        Err(e) => {
            eprintln!("tracker_server: {e}");
            return ExitCode::FAILURE;
        }
    };
    let local = listener.local_addr().ok();
    let t = tracker.clone();
    if let Err(e) = std::thread::Builder::new()
        .name("accept".into())
        .spawn(move || t.serve(listener))
    {
        eprintln!("tracker_server: cannot start: {e}");
        return ExitCode::FAILURE;
    }
    if let Some(local) = local {
        swarmshare::say!("tracker listening on {local}");
        swarmshare::say!("tracker page: {}", page_url(local));
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
