//! Many containers in a row must leave nothing behind.

use integration_tests::*;
use std::time::Instant;

const RUNS: usize = 100;

#[test]
fn hundred_sequential_runs_leak_nothing() {
    require_root!();
    let env = Env::exclusive("soak");
    let mut b = Bundle::new(&env);
    b.set_args(&["true"]);
    let before = Snapshot::take(&env);
    let start = Instant::now();
    for i in 0..RUNS {
        let id = env.new_id();
        let out = env.run(&mut b, &id);
        assert_eq!(out.code, 0, "run #{i} ({id}):\n{}", out.describe());
    }
    eprintln!("{RUNS} runs of `true` in {:?}", start.elapsed());
    let after = Snapshot::take(&env);
    assert_no_leaks(&before, &after);
    assert!(env.root_entries().is_empty(), "{:?}", env.root_entries());
}

/// 32 runs, 8 at a time: concurrent creates, starts and deletes on one
/// state root leave nothing behind either. (`make soak` runs the long
/// versions in soak_long.rs.)
#[test]
fn concurrent_runs_eight_at_a_time_leak_nothing() {
    require_root!();
    let env = Env::exclusive("soak8");
    let mut b = Bundle::new(&env);
    b.set_args(&["true"]);
    let before = Snapshot::take(&env);
    let start = Instant::now();
    for wave in 0..4 {
        let runs: Vec<Running> = (0..8)
            .map(|_| {
                let id = env.new_id();
                // A config.json per container: concurrent creates must not
                // read one that another test step is rewriting.
                let dir = env.dir().join(format!("cfg-{id}"));
                std::fs::create_dir_all(&dir).unwrap();
                let mut c = b.config().clone();
                c["root"]["path"] = b.rootfs().display().to_string().into();
                c["linux"]["cgroupsPath"] = format!("/berth-test/{id}").into();
                std::fs::write(dir.join("config.json"), c.to_string()).unwrap();
                env.spawn(&["run", "--bundle", &dir.display().to_string(), &id])
            })
            .collect();
        for r in runs {
            let out = r.wait(std::time::Duration::from_secs(60));
            // A container that exits at once still starts (see
            // concurrency.rs::start_of_a_container_that_exits_at_once_succeeds).
            assert_eq!(out.code, 0, "wave {wave}:\n{}", out.describe());
        }
    }
    eprintln!("32 runs, 8 at a time, in {:?}", start.elapsed());
    assert_no_leaks(&before, &Snapshot::take(&env));
    assert!(env.root_entries().is_empty(), "{:?}", env.root_entries());
}
