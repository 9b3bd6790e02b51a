//! Capabilities: the config's five sets, applied with the caps crate.

use caps::{CapSet, Capability, CapsHashSet};
use oci_spec::runtime::{Capabilities, LinuxCapabilities};
use std::str::FromStr;

use crate::error::ChildError;

/// The capabilities of the config, translated to what this kernel knows.
pub struct CapabilityPlan {
    bounding: Option<CapsHashSet>,
    effective: CapsHashSet,
    permitted: CapsHashSet,
    inheritable: CapsHashSet,
    ambient: CapsHashSet,
}

/// Translates a set; capabilities newer than the running kernel are left
/// out (the kernel could not grant them anyway), as runc does.
fn translate(set: &Option<Capabilities>, supported: &CapsHashSet) -> CapsHashSet {
    set.iter()
        .flatten()
        .filter_map(|c| {
            let name = serde_json::to_value(c).ok()?;
            Capability::from_str(name.as_str()?).ok()
        })
        .filter(|c| supported.contains(c))
        .collect()
}

impl CapabilityPlan {
    /// Builds the plan; no config section means no capabilities at all
    /// (bounding set untouched, as the spec leaves it to the runtime).
    pub fn new(config: Option<&LinuxCapabilities>) -> CapabilityPlan {
        let supported = caps::runtime::thread_all_supported();
        match config {
            None => CapabilityPlan {
                bounding: None,
                effective: CapsHashSet::new(),
                permitted: CapsHashSet::new(),
                inheritable: CapsHashSet::new(),
                ambient: CapsHashSet::new(),
            },
            Some(c) => CapabilityPlan {
                bounding: Some(translate(c.bounding(), &supported)),
                effective: translate(c.effective(), &supported),
                permitted: translate(c.permitted(), &supported),
                inheritable: translate(c.inheritable(), &supported),
                ambient: translate(c.ambient(), &supported),
            },
        }
    }

    /// Drops what the bounding set does not keep. Must run while init still
    /// has CAP_SETPCAP, before the user switch.
    pub fn apply_bounding(&self) -> Result<(), ChildError> {
        let Some(keep) = &self.bounding else {
            return Ok(());
        };
        for cap in caps::runtime::thread_all_supported() {
            if !keep.contains(&cap) {
                caps::drop(None, CapSet::Bounding, cap).map_err(|e| {
                    ChildError::msg(
                        format!("process.capabilities.bounding: drop {cap}"),
                        e.to_string(),
                    )
                })?;
            }
        }
        Ok(())
    }

    /// Sets effective, permitted, inheritable and ambient after the user
    /// switch (done with PR_SET_KEEPCAPS so permitted survives it).
    pub fn apply_sets(&self) -> Result<(), ChildError> {
        let set = |field: &str, cset: CapSet, value: &CapsHashSet| {
            caps::set(None, cset, value).map_err(|e| {
                ChildError::msg(format!("process.capabilities.{field}"), e.to_string())
            })
        };
        // Effective must stay within permitted at every step: widen
        // effective only after permitted is final.
        let current_permitted = caps::read(None, CapSet::Permitted).unwrap_or_default();
        // A capability berth does not hold itself cannot be granted: name it
        // rather than report capset's bare EPERM.
        let mut missing: Vec<String> = self
            .permitted
            .iter()
            .chain(&self.effective)
            .filter(|c| !current_permitted.contains(c))
            .map(|c| c.to_string())
            .collect();
        missing.sort();
        missing.dedup();
        if !missing.is_empty() {
            return Err(ChildError::msg(
                "process.capabilities",
                format!(
                    "{} cannot be granted: berth does not hold it (the host withheld it from berth's bounding set)",
                    missing.join(", ")
                ),
            ));
        }
        let interim: CapsHashSet = self
            .effective
            .intersection(&current_permitted)
            .copied()
            .collect();
        set("effective", CapSet::Effective, &interim)?;
        let effective_in_permitted: CapsHashSet =
            interim.intersection(&self.permitted).copied().collect();
        set("effective", CapSet::Effective, &effective_in_permitted)?;
        set("permitted", CapSet::Permitted, &self.permitted)?;
        set("effective", CapSet::Effective, &self.effective)?;
        set("inheritable", CapSet::Inheritable, &self.inheritable)?;
        // The kernel only lets a capability be ambient when it is both
        // permitted and inheritable; runc's default config lists ambient caps
        // without inheritable ones, which yields an empty ambient set there too.
        let ambient: CapsHashSet = self
            .ambient
            .iter()
            .filter(|c| self.inheritable.contains(c) && self.permitted.contains(c))
            .copied()
            .collect();
        if caps::runtime::ambient_set_supported().is_ok() {
            set("ambient", CapSet::Ambient, &ambient)?;
        }
        Ok(())
    }
}
