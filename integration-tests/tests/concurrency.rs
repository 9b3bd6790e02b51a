//! Commands racing each other on one state root: the flock on the state
//! directory and the exclusive mkdir must keep state.json whole, let exactly
//! one create of an ID win, and never deadlock (every wait has a limit).

use integration_tests::*;
use serde_json::Value;
use std::fs;
use std::time::{Duration, Instant};

const LIMIT: Duration = Duration::from_secs(90);

/// A bundle directory of its own for `id` (config.json with the container's
/// cgroup path) sharing `b`'s rootfs, so concurrent creates never read a
/// config.json another one is rewriting.
fn bundle_for(env: &Env, b: &Bundle, id: &str) -> String {
    let dir = env.dir().join(format!("cfg-{id}"));
    fs::create_dir_all(&dir).unwrap();
    let mut c = b.config().clone();
    c["root"]["path"] = b.rootfs().display().to_string().into();
    c["linux"]["cgroupsPath"] = format!("/berth-test/{id}").into();
    fs::write(dir.join("config.json"), c.to_string()).unwrap();
    dir.display().to_string()
}

/// state.json parses and names the container.
#[track_caller]
fn state_json_is_whole(env: &Env, id: &str) {
    let p = env.root().join(id).join("state.json");
    let text = fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    let v: Value = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("corrupt {}: {e}\n{text}", p.display()));
    assert_eq!(v["id"], id, "{text}");
}

#[test]
fn two_creates_of_one_id_exactly_one_wins() {
    require_root!();
    let env = Env::exclusive("dupcreate");
    let mut b = Bundle::new(&env);
    b.set_args(&["sleep", "100"]);
    let bp = b.path().display().to_string();
    let before = Snapshot::take(&env);
    for round in 0..10 {
        let id = env.new_id();
        env.prepare(&mut b, &id);
        let one = env.spawn(&["create", "--bundle", &bp, &id]);
        let two = env.spawn(&["create", "--bundle", &bp, &id]);
        let outs = [one.wait(LIMIT), two.wait(LIMIT)];
        let won: Vec<&Out> = outs.iter().filter(|o| o.code == 0).collect();
        let lost: Vec<&Out> = outs.iter().filter(|o| o.code != 0).collect();
        assert_eq!(
            won.len(),
            1,
            "round {round}: {} creates succeeded:\n{}\n{}",
            won.len(),
            outs[0].describe(),
            outs[1].describe()
        );
        let loser = lost[0];
        assert_eq!(loser.code, 1, "{}", loser.describe());
        assert_eq!(loser.stderr.lines().count(), 1, "{}", loser.describe());
        assert!(
            loser.stderr.contains("already exists"),
            "round {round}: {}",
            loser.describe()
        );
        state_json_is_whole(&env, &id);
        assert_eq!(env.status(&id), "created");
        env.berth(&["delete", "--force", &id]).ok();
    }
    assert_no_leaks(&before, &Snapshot::take(&env));
}

#[test]
fn create_racing_delete_leaves_a_consistent_state() {
    require_root!();
    let env = Env::exclusive("createdelete");
    let mut b = Bundle::new(&env);
    b.set_args(&["sleep", "100"]);
    let bp = b.path().display().to_string();
    let before = Snapshot::take(&env);
    let (mut deleted, mut survived) = (0, 0);
    for round in 0..24 {
        let id = env.new_id();
        env.prepare(&mut b, &id);
        let create = env.spawn(&["create", "--bundle", &bp, &id]);
        // Vary the head start of create from none to a few milliseconds.
        std::thread::sleep(Duration::from_micros(250 * (round % 12)));
        // With --force a missing container is fine (exit 0), as engines
        // expect: delete either comes first and finds nothing, or waits for
        // create's lock and removes the container.
        let delete = env.spawn(&["delete", "--force", &id]);
        let c = create.wait(LIMIT);
        let d = delete.wait(LIMIT);
        assert_eq!(c.code, 0, "round {round}: create:\n{}", c.describe());
        assert_eq!(
            d.code,
            0,
            "round {round}: delete --force:\n{}",
            d.describe()
        );
        // list always works; whatever is left is whole and deletable.
        env.berth(&["list"]).ok();
        if env.root_entries().contains(&id) {
            survived += 1;
            state_json_is_whole(&env, &id);
            assert_eq!(env.status(&id), "created");
            env.berth(&["delete", "--force", &id]).ok();
        } else {
            deleted += 1;
            assert!(env.container_procs().is_empty(), "round {round}");
            assert!(env.cgroup_dirs().is_empty(), "round {round}");
        }
    }
    eprintln!("create vs delete --force: deleted {deleted}, delete first {survived}");
    assert_no_leaks(&before, &Snapshot::take(&env));
}

/// `delete --force` while a create of the same ID runs must succeed: either
/// nothing is there yet, or it waits for create's lock. `state` at the same
/// time says the container does not exist, or reports it whole.
#[test]
fn delete_force_during_create_never_fails() {
    require_root!();
    let env = Env::exclusive("deleteduring");
    let mut b = Bundle::new(&env);
    b.set_args(&["sleep", "100"]);
    let bp = b.path().display().to_string();
    let before = Snapshot::take(&env);
    for round in 0..100 {
        let id = env.new_id();
        env.prepare(&mut b, &id);
        let create = env.spawn(&["create", "--bundle", &bp, &id]);
        let state = env.spawn(&["state", &id]);
        let delete = env.spawn(&["delete", "--force", &id]);
        let d = delete.wait(LIMIT);
        let s = state.wait(LIMIT);
        create.wait(LIMIT);
        let _ = env.berth(&["delete", "--force", &id]);
        assert_eq!(d.code, 0, "round {round}: delete: {}", d.describe());
        if s.code == 0 {
            let v: Value = serde_json::from_str(&s.stdout)
                .unwrap_or_else(|e| panic!("round {round}: state: {e}: {}", s.describe()));
            assert_eq!(v["id"], id.as_str(), "round {round}: {}", s.stdout);
        } else {
            assert!(
                s.code == 1 && s.stderr.contains("does not exist"),
                "round {round}: state: {}",
                s.describe()
            );
        }
    }
    assert!(env.root_entries().is_empty(), "{:?}", env.root_entries());
    assert_no_leaks(&before, &Snapshot::take(&env));
}

/// Waits for every process; panics with all outputs on any failure.
#[track_caller]
fn all_ok(what: &str, procs: Vec<Running>) -> Duration {
    let t0 = Instant::now();
    let outs: Vec<Out> = procs.into_iter().map(|p| p.wait(LIMIT)).collect();
    let failed: Vec<String> = outs
        .iter()
        .filter(|o| o.code != 0)
        .map(|o| format!("{:?}: {}", o.args, o.describe()))
        .collect();
    assert!(failed.is_empty(), "{what}:\n{}", failed.join("\n"));
    t0.elapsed()
}

#[test]
fn thirty_two_containers_at_once() {
    require_root!();
    const N: usize = 32;
    let env = Env::exclusive("thirtytwo");
    let mut b = Bundle::new(&env);
    b.set_args(&["sleep", "100"]);
    let ids: Vec<String> = (0..N).map(|_| env.new_id()).collect();
    let before = Snapshot::take(&env);
    let t0 = Instant::now();
    let bundles: Vec<String> = ids.iter().map(|id| bundle_for(&env, &b, id)).collect();
    let creates = ids
        .iter()
        .zip(&bundles)
        .map(|(id, bp)| env.spawn(&["create", "--bundle", bp, id]))
        .collect();
    all_ok("32 creates", creates);
    for id in &ids {
        state_json_is_whole(&env, id);
    }
    let starts = ids.iter().map(|id| env.spawn(&["start", id])).collect();
    all_ok("32 starts", starts);
    // Readers while the writers run: list and state never fail.
    let mut procs: Vec<Running> = ids
        .iter()
        .map(|id| env.spawn(&["delete", "--force", id]))
        .collect();
    procs.extend((0..4).map(|_| env.spawn(&["list"])));
    all_ok("32 deletes with lists", procs);
    eprintln!(
        "32 containers created, started and deleted in {:?}",
        t0.elapsed()
    );
    assert!(env.root_entries().is_empty(), "{:?}", env.root_entries());

    // And 32 foreground runs at once.
    b.set_args(&["true"]);
    let t0 = Instant::now();
    let ids: Vec<String> = (0..N).map(|_| env.new_id()).collect();
    let bundles: Vec<String> = ids.iter().map(|id| bundle_for(&env, &b, id)).collect();
    let runs: Vec<Running> = ids
        .iter()
        .zip(&bundles)
        .map(|(id, bp)| env.spawn(&["run", "--bundle", bp, id]))
        .collect();
    // Every one exits 0, though `true` exits at once (see
    // start_of_a_container_that_exits_at_once_succeeds).
    let outs: Vec<Out> = runs.into_iter().map(|r| r.wait(LIMIT)).collect();
    let failed: Vec<String> = outs
        .iter()
        .filter(|o| o.code != 0)
        .map(|o| format!("{:?}: {}", o.args, o.describe()))
        .collect();
    assert!(failed.is_empty(), "32 runs:\n{}", failed.join("\n"));
    eprintln!("32 concurrent runs in {:?}", t0.elapsed());
    assert!(env.root_entries().is_empty(), "{:?}", env.root_entries());
    assert_no_leaks(&before, &Snapshot::take(&env));
}

/// `start` of a container whose process exits at once (`true`), many at a
/// time: init writes the FIFO byte and exits between start's read and its
/// liveness check, and start must still see the byte.
#[test]
fn start_of_a_container_that_exits_at_once_succeeds() {
    require_root!();
    let env = Env::exclusive("startrace");
    let mut b = Bundle::new(&env);
    b.set_args(&["true"]);
    for wave in 0..15 {
        let ids: Vec<String> = (0..32).map(|_| env.new_id()).collect();
        let runs: Vec<Running> = ids
            .iter()
            .map(|id| env.spawn(&["run", "--bundle", &bundle_for(&env, &b, id), id]))
            .collect();
        for r in runs {
            let out = r.wait(LIMIT);
            assert_eq!(out.code, 0, "wave {wave}: {}", out.describe());
        }
    }
}
