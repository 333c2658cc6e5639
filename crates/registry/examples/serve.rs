//! Runs a registry for manual testing with real clients:
//! `cargo run -p berth-registry --example serve -- CONFIG.json`
//! or `... -- ADDR ROOT` (no TLS, no authentication). Stops on Ctrl-C.

use std::path::Path;

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let config = match args.as_slice() {
        [file] => berth_registry::Config::from_file(Path::new(file)),
        [addr, root] => match addr.parse() {
            Ok(addr) => Ok(berth_registry::Config::new(addr, root)),
            Err(e) => {
                eprintln!("bad address {addr}: {e}");
                std::process::exit(2);
            }
        },
        _ => {
            eprintln!("usage: serve CONFIG.json | serve ADDR ROOT");
            std::process::exit(2);
        }
    };
    let result = match config {
        Ok(config) => match berth_registry::bind(config).await {
            Ok(server) => {
                println!("listening on {}", server.local_addr());
                server
                    .run(async {
                        let _ = tokio::signal::ctrl_c().await;
                    })
                    .await
            }
            Err(e) => Err(e),
        },
        Err(e) => Err(e),
    };
    if let Err(e) = result {
        eprintln!("registry: {e}");
        std::process::exit(1);
    }
}
