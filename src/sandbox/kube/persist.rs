//! Saving the in-memory state to a file and loading it back, so a demo survives a restart.

use std::path::Path;

use serde_json::{Value, json};

use super::KubeSandbox;
use super::crds;

/// Writes `{"resourceVersion": N, "objects": [{"group", "resource", "object"}]}`.
pub fn save(sandbox: &KubeSandbox, path: &Path) -> std::io::Result<()> {
    let doc = {
        // One lock for both, so the resourceVersion matches the objects.
        let store = sandbox.lock();
        let objects: Vec<Value> = store
            .all_objects()
            .map(|((group, resource), obj)| json!({"group": group, "resource": resource, "object": **obj}))
            .collect();
        json!({"resourceVersion": store.rv(), "objects": objects})
    };
    let bytes = serde_json::to_vec(&doc).map_err(std::io::Error::other)?;
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, path)
}

/// Loads a state saved by [`save`]; CRDs are registered again so their kinds are served.
pub fn load(path: &Path) -> std::io::Result<KubeSandbox> {
    let bytes = std::fs::read(path)?;
    let doc: Value = serde_json::from_slice(&bytes).map_err(|e| {
        std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("{} is not a saved sandbox state: {e}", path.display()),
        )
    })?;
    let objects = doc["objects"].as_array().ok_or_else(|| {
        std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("{}: field `objects` must be a list", path.display()),
        )
    })?;
    let sandbox = KubeSandbox::new();
    {
        let mut store = sandbox.lock();
        for entry in objects {
            let (Some(group), Some(resource)) =
                (entry["group"].as_str(), entry["resource"].as_str())
            else {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    format!(
                        "{}: every object needs `group` and `resource`",
                        path.display()
                    ),
                ));
            };
            let object = entry["object"].clone();
            if group == "apiextensions.k8s.io" {
                crds::register_crd(&mut store, &object);
            }
            store.restore((group.to_string(), resource.to_string()), object);
        }
        if let Some(rv) = doc["resourceVersion"].as_u64() {
            store.set_rv(rv);
        }
    }
    Ok(sandbox)
}
