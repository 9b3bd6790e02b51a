//! Runs a container from a bundle with the berth library and prints how it
//! exited.
//!
//! ```text
//! make demo   # creates ./demo (a busybox bundle)
//! cargo run --example run_busybox -p berth -- ./demo
//! ```

use std::process::ExitCode;

fn main() -> ExitCode {
    let Some(bundle) = std::env::args().nth(1) else {
        eprintln!("usage: run_busybox BUNDLE [ID]");
        return ExitCode::from(2);
    };
    let id = std::env::args()
        .nth(2)
        .unwrap_or_else(|| format!("example-{}", std::process::id()));
    let result = (|| -> berth::Result<i32> {
        let container = berth::ContainerBuilder::new(&id, &bundle)
            .root("/run/berth-example")
            .create()?;
        println!("created {} (init pid {})", container.id(), container.pid());
        container.start()?;
        println!("status: {}", container.status());
        let code = container.wait()?;
        container.delete(true)?;
        Ok(code)
    })();
    match result {
        Ok(code) => {
            println!("container exited with {code}");
            ExitCode::from(code.clamp(0, 255) as u8)
        }
        Err(e) => {
            eprintln!("run_busybox: {e}");
            ExitCode::from(1)
        }
    }
}
