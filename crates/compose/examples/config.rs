//! Prints `docker compose config` for the project in the current directory.

fn main() {
    let result = berth_compose::LoadOptions::from_process()
        .and_then(berth_compose::load)
        .and_then(|p| {
            for w in &p.warnings {
                eprintln!("WARN {w}");
            }
            berth_compose::config::to_yaml(&p)
        });
    match result {
        Ok(yaml) => print!("{yaml}"),
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(1);
        }
    }
}
