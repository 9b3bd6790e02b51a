//! What each fuzz target feeds its input through. Shared with the corpus
//! replay in `integration-tests/tests/hostile.rs` (included there with
//! `#[path]`), so the replay exercises exactly what the fuzzer does.
//!
//! Every function must return normally for every input: errors are fine,
//! panics, aborts, hangs and stack overflows are the bugs.

/// config.json text through `parse_config` and `validate`, as
/// `Bundle::load` does. A config that passes must survive a round trip
/// through serde and validate again.
pub fn config(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(spec) = berth::bundle::parse_config(text) else {
        return;
    };
    if berth::bundle::validate(&spec).is_ok() {
        let again = serde_json::to_string(&spec).expect("a parsed spec serialises");
        let spec2 = berth::bundle::parse_config(&again).expect("a serialised spec parses");
        assert!(
            berth::bundle::validate(&spec2).is_ok(),
            "a valid config is invalid after a round trip: {again}"
        );
    }
}

/// state.json bytes as `berth state`/`delete` read them; a state that
/// parses must round-trip and produce a report.
pub fn state(data: &[u8]) {
    let Ok(saved) = serde_json::from_slice::<berth::state::SavedState>(data) else {
        return;
    };
    let text = serde_json::to_vec(&saved).expect("a parsed state serialises");
    let back: berth::state::SavedState =
        serde_json::from_slice(&text).expect("a serialised state parses");
    assert_eq!(back.id, saved.id);
    assert_eq!(back.pid, saved.pid);
    for status in [
        berth::Status::Creating,
        berth::Status::Created,
        berth::Status::Running,
        berth::Status::Paused,
        berth::Status::Stopped,
    ] {
        let report = saved.report(status);
        serde_json::to_string(&report).expect("a report serialises");
    }
}

/// The argument layer of the CLI that lives in the library: signal names
/// (`kill`) and container IDs (every command). The clap parser itself is in
/// the binary crate and not reachable from here. The input is split at NUL
/// bytes like an argv.
pub fn cli(data: &[u8]) {
    for arg in data.split(|&b| b == 0) {
        let Ok(s) = std::str::from_utf8(arg) else {
            continue;
        };
        if let Ok(sig) = berth::signal::parse_signal(s) {
            assert!(sig > 0 && sig <= 64, "{s:?} gave signal {sig}");
        }
        if berth::state::validate_id(s).is_ok() {
            assert!(
                !s.is_empty()
                    && s.len() <= berth::state::MAX_ID_LEN
                    && !s.contains('/')
                    && s != "."
                    && s != "..",
                "{s:?} accepted as an ID"
            );
        }
    }
}
