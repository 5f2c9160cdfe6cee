//! `tracker_server`: parses arguments and starts the tracker.

use std::net::IpAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use swarmshare::tracker::server::{DEFAULT_MAX_CONNS_PER_IP, Tracker, TrackerConfig};

/// The swarmshare tracker: HTTP announce (BEP 3/23), scrape, publish and keyword search.
#[derive(Parser)]
#[command(version)]
struct Args {
    /// Address to listen on.
    #[arg(long, default_value = "0.0.0.0")]
    ip: IpAddr,
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

fn main() -> ExitCode {
    let args = Args::parse();
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info"))
        .format_target(false)
        .init();
    let config = TrackerConfig {
        ip: args.ip,
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
    let local = listener
        .local_addr()
        .map(|a| a.to_string())
        .unwrap_or_default();
    let t = tracker.clone();
    if let Err(e) = std::thread::Builder::new()
        .name("accept".into())
        .spawn(move || t.serve(listener))
    {
        eprintln!("tracker_server: cannot start: {e}");
        return ExitCode::FAILURE;
    }
    println!("tracker listening on {local}");
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
