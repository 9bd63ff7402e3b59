//! Decoding of the protobuf request bodies kubectl sends for built-in kinds
//! (`kubectl create secret|configmap|namespace` post `application/vnd.kubernetes.protobuf`).
//! The sandbox answers in JSON; this turns such a body into the JSON object it stands for.
//! Covers the fields those commands set: ObjectMeta (name, generateName, namespace, labels,
//! annotations, finalizers, ownerReferences), ConfigMap, Secret and Namespace.

use base64::Engine;
use serde_json::{Map, Value, json};

use super::status::ApiError;

/// `k8s\0`: the prefix of every Kubernetes protobuf envelope.
const MAGIC: &[u8] = &[0x6b, 0x38, 0x73, 0x00];

enum Wire<'a> {
    Varint(u64),
    Bytes(&'a [u8]),
    Fixed,
}

struct Fields<'a> {
    buf: &'a [u8],
    pos: usize,
}

fn malformed(what: &str) -> ApiError {
    ApiError::bad_request(format!(
        "the protobuf request body is malformed ({what}); send JSON instead"
    ))
}

impl<'a> Fields<'a> {
    fn new(buf: &'a [u8]) -> Self {
        Fields { buf, pos: 0 }
    }

    fn varint(&mut self) -> Result<u64, ApiError> {
        let mut value = 0u64;
        for shift in (0..64).step_by(7) {
            let byte = *self
                .buf
                .get(self.pos)
                .ok_or_else(|| malformed("truncated varint"))?;
            self.pos += 1;
            value |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(malformed("varint too long"))
    }

    fn next_field(&mut self) -> Result<Option<(u64, Wire<'a>)>, ApiError> {
        if self.pos >= self.buf.len() {
            return Ok(None);
        }
        let tag = self.varint()?;
        let wire = match tag & 7 {
            0 => Wire::Varint(self.varint()?),
            1 | 5 => {
                self.pos += if tag & 7 == 1 { 8 } else { 4 };
                Wire::Fixed
            }
            2 => {
                let len = usize::try_from(self.varint()?).map_err(|_| malformed("length"))?;
                let end = self.pos.checked_add(len).filter(|e| *e <= self.buf.len());
                let end = end.ok_or_else(|| malformed("truncated field"))?;
                let bytes = &self.buf[self.pos..end];
                self.pos = end;
                Wire::Bytes(bytes)
            }
            _ => return Err(malformed("unsupported wire type")),
        };
        Ok(Some((tag >> 3, wire)))
    }
}

fn text(bytes: &[u8]) -> Result<String, ApiError> {
    String::from_utf8(bytes.to_vec()).map_err(|_| malformed("a string is not UTF-8"))
}

/// A `map<string, string|bytes>` entry: `{key = 1, value = 2}`.
fn map_entry(bytes: &[u8]) -> Result<(String, Vec<u8>), ApiError> {
    let (mut key, mut value) = (String::new(), Vec::new());
    let mut fields = Fields::new(bytes);
    while let Some((n, wire)) = fields.next_field()? {
        match (n, wire) {
            (1, Wire::Bytes(b)) => key = text(b)?,
            (2, Wire::Bytes(b)) => value = b.to_vec(),
            _ => {}
        }
    }
    Ok((key, value))
}

fn insert_text(map: &mut Map<String, Value>, bytes: &[u8]) -> Result<(), ApiError> {
    let (k, v) = map_entry(bytes)?;
    map.insert(k, Value::String(text(&v)?));
    Ok(())
}

fn insert_base64(map: &mut Map<String, Value>, bytes: &[u8]) -> Result<(), ApiError> {
    let (k, v) = map_entry(bytes)?;
    let encoded = base64::engine::general_purpose::STANDARD.encode(v);
    map.insert(k, Value::String(encoded));
    Ok(())
}

fn owner_reference(bytes: &[u8]) -> Result<Value, ApiError> {
    let mut out = Map::new();
    let mut fields = Fields::new(bytes);
    while let Some((n, wire)) = fields.next_field()? {
        match (n, wire) {
            (1, Wire::Bytes(b)) => out.insert("kind".into(), json!(text(b)?)),
            (3, Wire::Bytes(b)) => out.insert("name".into(), json!(text(b)?)),
            (4, Wire::Bytes(b)) => out.insert("uid".into(), json!(text(b)?)),
            (5, Wire::Bytes(b)) => out.insert("apiVersion".into(), json!(text(b)?)),
            (6, Wire::Varint(v)) => out.insert("controller".into(), json!(v != 0)),
            (7, Wire::Varint(v)) => out.insert("blockOwnerDeletion".into(), json!(v != 0)),
            _ => None,
        };
    }
    Ok(Value::Object(out))
}

fn object_meta(bytes: &[u8]) -> Result<Value, ApiError> {
    let mut meta = Map::new();
    let (mut labels, mut annotations) = (Map::new(), Map::new());
    let (mut finalizers, mut owners) = (Vec::new(), Vec::new());
    let mut fields = Fields::new(bytes);
    while let Some((n, wire)) = fields.next_field()? {
        // Protobuf always carries empty strings; JSON would omit them.
        let Wire::Bytes(b) = wire else { continue };
        if b.is_empty() {
            continue;
        }
        match n {
            1 => {
                meta.insert("name".into(), json!(text(b)?));
            }
            2 => {
                meta.insert("generateName".into(), json!(text(b)?));
            }
            3 => {
                meta.insert("namespace".into(), json!(text(b)?));
            }
            6 => {
                meta.insert("resourceVersion".into(), json!(text(b)?));
            }
            11 => insert_text(&mut labels, b)?,
            12 => insert_text(&mut annotations, b)?,
            13 => owners.push(owner_reference(b)?),
            14 => finalizers.push(json!(text(b)?)),
            _ => {}
        }
    }
    for (field, value) in [
        ("labels", Value::Object(labels)),
        ("annotations", Value::Object(annotations)),
        ("finalizers", Value::Array(finalizers)),
        ("ownerReferences", Value::Array(owners)),
    ] {
        let empty = value.as_object().is_some_and(Map::is_empty)
            || value.as_array().is_some_and(Vec::is_empty);
        if !empty {
            meta.insert(field.into(), value);
        }
    }
    Ok(Value::Object(meta))
}

/// The object of kind `kind` encoded in `bytes`.
fn object(kind: &str, bytes: &[u8]) -> Result<Value, ApiError> {
    let mut obj = Map::new();
    let (mut data, mut binary, mut string_data) = (Map::new(), Map::new(), Map::new());
    let mut finalizers = Vec::new();
    let mut fields = Fields::new(bytes);
    while let Some((n, wire)) = fields.next_field()? {
        match (kind, n, wire) {
            (_, 1, Wire::Bytes(b)) => {
                obj.insert("metadata".into(), object_meta(b)?);
            }
            ("ConfigMap", 2, Wire::Bytes(b)) => insert_text(&mut data, b)?,
            ("ConfigMap", 3, Wire::Bytes(b)) => insert_base64(&mut binary, b)?,
            ("ConfigMap", 4, Wire::Varint(v)) | ("Secret", 5, Wire::Varint(v)) => {
                obj.insert("immutable".into(), json!(v != 0));
            }
            ("Secret", 2, Wire::Bytes(b)) => insert_base64(&mut data, b)?,
            ("Secret", 3, Wire::Bytes(b)) if !b.is_empty() => {
                obj.insert("type".into(), json!(text(b)?));
            }
            ("Secret", 4, Wire::Bytes(b)) => insert_text(&mut string_data, b)?,
            ("Namespace", 2, Wire::Bytes(spec)) => {
                let mut spec_fields = Fields::new(spec);
                while let Some((1, Wire::Bytes(f))) = spec_fields.next_field()? {
                    finalizers.push(json!(text(f)?));
                }
            }
            _ => {}
        }
    }
    for (field, map) in [
        ("data", data),
        ("binaryData", binary),
        ("stringData", string_data),
    ] {
        if !map.is_empty() {
            obj.insert(field.into(), Value::Object(map));
        }
    }
    if !finalizers.is_empty() {
        obj.insert("spec".into(), json!({"finalizers": finalizers}));
    }
    Ok(Value::Object(obj))
}

/// Decodes a `application/vnd.kubernetes.protobuf` body into its JSON object, or says which
/// kinds can be sent that way.
pub fn decode(body: &[u8]) -> Result<Value, ApiError> {
    let envelope = body
        .strip_prefix(MAGIC)
        .ok_or_else(|| malformed("missing the k8s protobuf prefix"))?;
    let (mut api_version, mut kind, mut raw) = (String::new(), String::new(), &[][..]);
    let mut fields = Fields::new(envelope);
    while let Some((n, wire)) = fields.next_field()? {
        match (n, wire) {
            (1, Wire::Bytes(type_meta)) => {
                let mut tm = Fields::new(type_meta);
                while let Some((m, w)) = tm.next_field()? {
                    match (m, w) {
                        (1, Wire::Bytes(b)) => api_version = text(b)?,
                        (2, Wire::Bytes(b)) => kind = text(b)?,
                        _ => {}
                    }
                }
            }
            (2, Wire::Bytes(b)) => raw = b,
            _ => {}
        }
    }
    if api_version != "v1" || !matches!(kind.as_str(), "ConfigMap" | "Secret" | "Namespace") {
        return Err(ApiError::unsupported_media_type(&format!(
            "application/vnd.kubernetes.protobuf for {api_version} {kind}; send JSON"
        )));
    }
    let mut obj = object(&kind, raw)?;
    obj["apiVersion"] = json!(api_version);
    obj["kind"] = json!(kind);
    Ok(obj)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(number: u8, bytes: &[u8]) -> Vec<u8> {
        let mut out = vec![(number << 3) | 2, bytes.len() as u8];
        out.extend_from_slice(bytes);
        out
    }

    #[test]
    fn decodes_a_secret_as_kubectl_create_sends_it() {
        let name = field(1, b"creds");
        let label = field(11, &[field(1, b"app"), field(2, b"demo")].concat());
        let meta = [name, label].concat();
        let data = field(2, &[field(1, b"apiKey"), field(2, b"s3cret")].concat());
        let kind = field(3, b"Opaque");
        let secret = [field(1, &meta), data, kind].concat();
        let type_meta = [field(1, b"v1"), field(2, b"Secret")].concat();
        let body = [MAGIC.to_vec(), field(1, &type_meta), field(2, &secret)].concat();
        let obj = decode(&body).map_err(|e| e.message).unwrap();
        assert_eq!(obj["kind"], "Secret");
        assert_eq!(obj["metadata"]["name"], "creds");
        assert_eq!(obj["metadata"]["labels"]["app"], "demo");
        assert_eq!(obj["data"]["apiKey"], "czNjcmV0");
        assert_eq!(obj["type"], "Opaque");
    }

    #[test]
    fn refuses_other_kinds_and_garbage() {
        let type_meta = [field(1, b"apps/v1"), field(2, b"Deployment")].concat();
        let body = [MAGIC.to_vec(), field(1, &type_meta)].concat();
        assert_eq!(decode(&body).map_err(|e| e.code).err(), Some(415));
        assert_eq!(decode(b"junk").map_err(|e| e.code).err(), Some(400));
        let truncated = [MAGIC.to_vec(), vec![0x0a, 0x7f, 0x01]].concat();
        assert_eq!(decode(&truncated).map_err(|e| e.code).err(), Some(400));
    }
}
