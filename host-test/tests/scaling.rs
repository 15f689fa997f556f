//! A quick guard against a gross performance regression, judged by a ratio and never by a time:
//! with every wiring on (`../shared/bench/every-wiring.yaml`), eight times the apps must cost well
//! under sixteen times the time through the runner (linear is eight; the quadratic engine this
//! guards against took sixty). Figures and targets live in BENCHMARKS.md (`bench/run.sh`).

use std::process::Command;
use std::time::{Duration, Instant};

use crate::util::{self, describe, TempDir};

fn apps(shared: &std::path::Path, n: usize) -> Vec<u8> {
    let out = Command::new("python3").arg(shared.join("bench/gen_apps.py")).arg(n.to_string()).output().unwrap();
    assert!(out.status.success(), "gen_apps.py {n}: {}", describe(&out));
    out.stdout
}

/// The fastest of three renders (the least disturbed by other work on the machine).
fn fastest(dir: &TempDir, config: &std::path::Path, input: &[u8]) -> Duration {
    (0..3)
        .map(|_| {
            let mut cmd = util::postwire(&dir.join("cache"));
            cmd.args(["--config", config.to_str().unwrap(), "--namespace", "bench"]);
            let start = Instant::now();
            let out = util::run(&mut cmd, input);
            let took = start.elapsed();
            assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
            took
        })
        .min()
        .unwrap()
}

#[test]
fn every_wiring_scales_linearly() {
    let Some(shared) = util::shared("every_wiring_scales_linearly") else { return };
    let dir = TempDir::new("scaling");
    let config = shared.join("bench/every-wiring.yaml");
    let (small, large) = (apps(&shared, 100), apps(&shared, 800));
    fastest(&dir, &config, &small); // warm the compiled-module cache
    let (a, b) = (fastest(&dir, &config, &small), fastest(&dir, &config, &large));
    let ratio = b.as_secs_f64() / a.as_secs_f64();
    eprintln!("every wiring: 100 apps {a:?}, 800 apps {b:?}: {ratio:.1}x for 8x the input");
    assert!(ratio < 16.0, "8x the input cost {ratio:.1}x the time (100 apps {a:?}, 800 apps {b:?}): superlinear");
}
