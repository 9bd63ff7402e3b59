//! How the cache keeps an object's JSON: compressed with zstd against a dictionary, the JSON
//! of one object of the same kind that the operator had already reconciled.
//!
//! Objects of one kind share nearly all of their JSON: every key, the condition types and
//! reasons, the shape of the deployment history. Compressed alone, a MendixEnvironment's
//! 1.4 KB of JSON still takes 550 bytes; against another environment's JSON it takes about
//! 150, because what the two share is written as references into the dictionary. At ten
//! thousand environments that is the larger part of the cache.
//!
//! The dictionary is the first object the cache holds with a settled Ready condition (one the
//! operator has reconciled, so it carries a status like the others will); the objects cached
//! before it keep their JSON as it is until their next change. It is chosen once per cache and
//! kept: every object compressed against it needs it to be read again.

use std::borrow::Cow;
use std::io;
use std::sync::OnceLock;

use zstd::bulk::{Compressor, Decompressor};
use zstd::dict::{DecoderDictionary, EncoderDictionary};

/// zstd's fastest level: against a dictionary it compresses within 6 % of level 3.
const LEVEL: i32 = 1;

/// No object of the API server is larger (etcd's limit on a value is 1.5 MiB), so a body that
/// claims more is damaged.
const MAX_JSON: usize = 3 << 20;

/// The dictionary of one cache, once it has one.
#[derive(Default)]
pub struct Codec {
    dictionary: OnceLock<Dictionary>,
}

/// The dictionary digested once for each direction.
struct Dictionary {
    compress: EncoderDictionary<'static>,
    decompress: DecoderDictionary<'static>,
}

/// An object's JSON as the cache keeps it.
#[derive(Clone)]
pub enum Body {
    /// As it came, before the cache had a dictionary.
    Json(Box<[u8]>),
    /// Compressed against the cache's dictionary.
    Compressed(Box<[u8]>),
}

impl Codec {
    /// `json` in the form the cache keeps; `settled` says whether it may become the dictionary.
    pub fn encode(&self, json: Vec<u8>, settled: bool) -> io::Result<Body> {
        let dictionary = match self.dictionary.get() {
            Some(dictionary) => dictionary,
            None if settled => self.dictionary.get_or_init(|| Dictionary {
                compress: EncoderDictionary::copy(&json, LEVEL),
                decompress: DecoderDictionary::copy(&json),
            }),
            None => return Ok(Body::Json(json.into_boxed_slice())),
        };
        let compressed =
            Compressor::with_prepared_dictionary(&dictionary.compress)?.compress(&json)?;
        Ok(Body::Compressed(compressed.into_boxed_slice()))
    }

    /// The JSON `body` was made from.
    pub fn decode<'a>(&self, body: &'a Body) -> io::Result<Cow<'a, [u8]>> {
        match body {
            Body::Json(json) => Ok(Cow::Borrowed(json)),
            Body::Compressed(compressed) => {
                let dictionary = self.dictionary.get().ok_or_else(|| {
                    io::Error::other("a compressed body, and the cache has no dictionary")
                })?;
                Decompressor::with_prepared_dictionary(&dictionary.decompress)?
                    .decompress(compressed, MAX_JSON)
                    .map(Cow::Owned)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn environment(i: u32) -> Vec<u8> {
        format!(
            r#"{{"spec":{{"packageId":"2222-{i:04}","target":{{"mendixCloud":{{"appId":"bench-{i:05}","mode":"Test"}}}}}},"status":{{"conditions":[{{"type":"Ready","status":"True","reason":"Running","message":"package 2222-{i:04} is running"}}],"history":[{{"result":"Succeeded","trigger":"SpecChange"}}]}}}}"#
        )
        .into_bytes()
    }

    #[test]
    fn json_is_kept_as_it_is_until_a_settled_object_gives_the_dictionary() {
        let codec = Codec::default();
        let before = codec.encode(environment(1), false).expect("encoded");
        assert!(matches!(before, Body::Json(_)));
        let first = codec.encode(environment(2), true).expect("encoded");
        assert!(matches!(first, Body::Compressed(_)));
        let later = codec.encode(environment(3), false).expect("encoded");
        assert!(matches!(later, Body::Compressed(_)));
        if let Body::Compressed(bytes) = &later {
            assert!(
                bytes.len() * 3 < environment(3).len(),
                "{} bytes",
                bytes.len()
            );
        }
        for (body, i) in [(before, 1), (first, 2), (later, 3)] {
            assert_eq!(codec.decode(&body).expect("decoded"), environment(i));
        }
    }

    #[test]
    fn a_compressed_body_without_the_dictionary_is_an_error_not_a_panic() {
        let learned = Codec::default();
        let body = learned.encode(environment(1), true).expect("encoded");
        let error = Codec::default().decode(&body).expect_err("no dictionary");
        assert!(error.to_string().contains("no dictionary"), "{error}");
    }
}
