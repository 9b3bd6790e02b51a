//! Links the `berth` binary following a symbol ordering file when
//! scripts/build-release.sh names one in BERTH_LINK_ORDER (lld only; see
//! scripts/symbol-order.sh for why). A build script rather than RUSTFLAGS so
//! that a new list relinks only this binary, not every crate.
fn main() {
    println!("cargo:rerun-if-env-changed=BERTH_LINK_ORDER");
    if let Some(order) = std::env::var_os("BERTH_LINK_ORDER").filter(|o| !o.is_empty()) {
        let order = order.to_string_lossy();
        println!("cargo:rerun-if-changed={order}");
        println!("cargo:rustc-link-arg-bins=-Wl,--symbol-ordering-file={order}");
        println!("cargo:rustc-link-arg-bins=-Wl,--no-warn-symbol-ordering");
    }
}
