//! `/openapi/v2` in the protobuf form client-go insists on (gnostic `openapi.v2.Document`).
//! Older kubectl (1.27) reads it to learn that the server validates fields itself
//! (`fieldValidation` on each kind's PATCH operation); it carries paths, not schemas.

use super::resources::{Registry, ResourceType};

fn varint(mut n: u64, out: &mut Vec<u8>) {
    while n >= 0x80 {
        out.push((n as u8) | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
}

/// A length-delimited field (strings and embedded messages).
fn field(out: &mut Vec<u8>, number: u64, bytes: &[u8]) {
    varint((number << 3) | 2, out);
    varint(bytes.len() as u64, out);
    out.extend_from_slice(bytes);
}

fn message(fields: &[(u64, &[u8])]) -> Vec<u8> {
    let mut out = Vec::new();
    for (n, b) in fields {
        field(&mut out, *n, b);
    }
    out
}

fn patch_operation(t: &ResourceType) -> Vec<u8> {
    // QueryParameterSubSchema{in=2, name=4, type=6} in NonBodyParameter(3) in Parameter(2)
    // in ParametersItem(1).
    let query = message(&[(2, b"query"), (4, b"fieldValidation"), (6, b"string")]);
    let non_body = message(&[(3, &query)]);
    let parameter = message(&[(2, &non_body)]);
    let item = message(&[(1, &parameter)]);
    // NamedAny{name=1, value=Any{yaml=2}}.
    let yaml = format!(
        "group: {:?}\nkind: {}\nversion: {}\n",
        t.group, t.kind, t.version
    );
    let any = message(&[(2, yaml.as_bytes())]);
    let extension = message(&[(1, b"x-kubernetes-group-version-kind"), (2, &any)]);
    let operation_id = format!("patch{}", t.kind);
    // Operation{operation_id=5, parameters=8, vendor_extension=13}.
    message(&[(5, operation_id.as_bytes()), (8, &item), (13, &extension)])
}

/// The protobuf-encoded swagger document of every served kind.
pub fn v2(registry: &Registry) -> Vec<u8> {
    let mut paths = Vec::new();
    for t in registry.all() {
        let base = if t.group.is_empty() {
            format!("/api/{}", t.version)
        } else {
            format!("/apis/{}/{}", t.group, t.version)
        };
        let path = if t.namespaced {
            format!("{base}/namespaces/{{namespace}}/{}/{{name}}", t.plural)
        } else {
            format!("{base}/{}/{{name}}", t.plural)
        };
        // PathItem{patch=8} in NamedPathItem{name=1, value=2}, repeated as Paths.path (2).
        let item = message(&[(8, &patch_operation(t))]);
        let named = message(&[(1, path.as_bytes()), (2, &item)]);
        field(&mut paths, 2, &named);
    }
    let info = message(&[(1, b"Kubernetes"), (2, b"unversioned")]);
    message(&[(1, b"2.0"), (2, &info), (8, &paths)])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints_and_fields_encode_as_protobuf() {
        let mut out = Vec::new();
        varint(300, &mut out);
        assert_eq!(out, [0xac, 0x02]);
        assert_eq!(message(&[(1, b"2.0")]), [0x0a, 3, b'2', b'.', b'0']);
        let doc = v2(&Registry::with_builtins());
        assert!(doc.windows(15).any(|w| w == b"fieldValidation"));
    }
}
