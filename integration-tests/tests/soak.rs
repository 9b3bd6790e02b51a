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
